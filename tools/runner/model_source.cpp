#include "model_source.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <memory>
#include <numeric>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/image_files.h>

namespace fs = std::filesystem;

namespace trainyard::runner {
namespace {

bool is_run_id(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// A run's package, written to a private temporary file for the Predictor and removed after.
class TemporaryPackage {
 public:
  explicit TemporaryPackage(const ModelPackage& package) {
    std::string name = (fs::temp_directory_path() / "trainyard-predict-XXXXXX").string();
    const int fd = mkstemp(name.data());
    if (fd < 0) throw std::runtime_error("cannot create a temporary file in " + fs::temp_directory_path().string());
    close(fd);
    path_ = name;
    write_model_package(path_, package);
  }
  ~TemporaryPackage() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TemporaryPackage(const TemporaryPackage&) = delete;
  TemporaryPackage& operator=(const TemporaryPackage&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string checked_policy(const std::string& policy, const std::string& option) {
  if (policy != "fail" && policy != "skip")
    throw InputError(option + ": --on-bad-image '" + policy + "': accepted: fail, skip");
  return policy;
}

}  // namespace

ModelSource open_model_source(const Invocation& invocation, const std::string& source, PluginRegistry& registry,
                              const std::string& option) {
  std::string policy = invocation.on_bad_image.empty() ? "fail" : checked_policy(invocation.on_bad_image, option);
  std::error_code ec;
  if (fs::exists(source, ec) || !is_run_id(source)) return {Predictor::open(source), policy};
  return open_packaged_run(invocation, package_stored_run(invocation, std::stoll(source), registry, option), option);
}

ModelSource open_packaged_run(const Invocation& invocation, const PackagedRun& packaged, const std::string& option) {
  std::string policy =
      invocation.on_bad_image.empty() ? packaged.dataset_on_bad_image : checked_policy(invocation.on_bad_image, option);
  const TemporaryPackage temporary(packaged.package);
  return {Predictor::open(temporary.path().string()), policy};
}

std::vector<std::string> image_files(const std::vector<std::string>& inputs, const std::string& option) {
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (fs::is_regular_file(input, ec)) {
      files.push_back(input);
      continue;
    }
    if (!fs::is_directory(input, ec)) throw InputError(option + ": '" + input + "' is neither a file nor a folder");
    try {
      for (const auto& file : images_below(input)) files.push_back(file.string());
    } catch (const std::invalid_argument& e) {
      throw InputError(option + ": " + e.what());
    }
  }
  if (files.empty()) throw InputError(option + ": no image (.jpg, .jpeg, .png) among the files and folders given");
  return files;
}

std::vector<std::size_t> ranked_classes(const Prediction& p, std::size_t top) {
  std::vector<std::size_t> order(p.probabilities.size());
  std::iota(order.begin(), order.end(), 0);
  const auto label = static_cast<std::size_t>(p.label);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (a == label || b == label) return a == label && b != label;
    return p.probabilities[a] > p.probabilities[b];
  });
  order.resize(std::min(top, order.size()));
  return order;
}

std::vector<Prediction> classify_files(const ModelSource& model, const std::vector<std::string>& files,
                                       const std::string& option, std::size_t& skipped) {
  std::vector<std::pair<std::size_t, std::string>> errors;
  const auto start = std::chrono::steady_clock::now();
  auto predictions = model.predictor.predict_files_skipping(files, errors);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("{} images classified in {:.2f} s ({:.1f} images/s, batches of the run's size)",
               files.size() - errors.size(), seconds, static_cast<double>(files.size()) / std::max(seconds, 1e-9));
  if (!errors.empty() && model.on_bad_image == "fail") {
    throw InputError(option + ": " + errors.front().second + " (" + std::to_string(errors.size()) +
                     " file(s) could not be read; --on-bad-image skip leaves them out)");
  }
  for (const auto& [index, message] : errors) spdlog::warn("skipping image {}", message);
  skipped = errors.size();
  return predictions;
}

}  // namespace trainyard::runner
