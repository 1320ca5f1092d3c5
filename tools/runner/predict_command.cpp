// runner --predict RUN|PACKAGE FILE_OR_DIR...: images classified by a run's model or a model
// package, through the Predictor (<trainyard/predictor.h>), as CSV or JSON.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/predictor.h>
#include <trainyard/system/durable_file.h>

#include "commands.h"

namespace fs = std::filesystem;

namespace trainyard::runner {
namespace {

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// The files named, and every image below the folders named (sorted, hidden entries skipped).
std::vector<std::string> image_files(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (fs::is_regular_file(input, ec)) {
      files.push_back(input);
      continue;
    }
    if (!fs::is_directory(input, ec)) throw InputError("--predict: '" + input + "' is neither a file nor a folder");
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) throw InputError("--predict: cannot list '" + input + "': " + ec.message());
      if (it->path().filename().string().rfind('.', 0) == 0) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && is_image_file(it->path())) found.push_back(it->path().string());
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  if (files.empty()) throw InputError("--predict: no image (.jpg, .jpeg, .png) among the files and folders given");
  return files;
}

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
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// The `top` classes of a prediction, most probable first; the model's own top-1 (argmax) leads on
// a tie.
std::vector<std::size_t> ranked(const Prediction& p, std::size_t top) {
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

std::string format_predictions(const std::vector<std::string>& files, const std::vector<Prediction>& predictions,
                               const std::vector<std::string>& classes, std::size_t top, const std::string& format) {
  std::ostringstream out;
  char number[32];
  auto probability = [&](float p) {
    std::snprintf(number, sizeof number, "%.6f", static_cast<double>(p));
    return std::string(number);
  };
  if (format == "json") {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (predictions[i].label < 0) continue;  // skipped, named in the log
      nlohmann::ordered_json top_classes = nlohmann::ordered_json::array();
      for (const auto c : ranked(predictions[i], top)) {
        top_classes.push_back({{"class", classes[c]}, {"probability", predictions[i].probabilities[c]}});
      }
      rows.push_back({{"file", files[i]},
                      {"class", predictions[i].class_name},
                      {"probability", predictions[i].probabilities[static_cast<std::size_t>(predictions[i].label)]},
                      {"top", top_classes}});
    }
    out << rows.dump(2) << "\n";
    return out.str();
  }
  out << "file,class,probability";
  for (std::size_t k = 2; k <= top; ++k) out << ",class_" << k << ",probability_" << k;
  out << "\n";
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (predictions[i].label < 0) continue;
    out << csv_field(files[i]);
    for (const auto c : ranked(predictions[i], top))
      out << "," << csv_field(classes[c]) << "," << probability(predictions[i].probabilities[c]);
    out << "\n";
  }
  return out.str();
}

}  // namespace

int predict_command(const Invocation& invocation, PluginRegistry& registry) {
  // `--predict 1 --db d.db photos/`: the option's values stop at --db, and the first path after
  // it lands where an experiment file would.
  std::vector<std::string> inputs = invocation.predict;
  if (!invocation.experiment_file.empty()) inputs.push_back(invocation.experiment_file);
  if (inputs.size() < 2) throw InputError("--predict RUN|PACKAGE FILE_OR_DIR...: give the images to classify");
  const std::string format = invocation.format.empty() ? "csv" : invocation.format;
  if (format != "csv" && format != "json")
    throw InputError("--predict: --format '" + format + "': accepted: csv, json");
  if (invocation.top < 1) throw InputError("--predict: --top " + std::to_string(invocation.top) + ": at least 1");
  if (invocation.on_bad_image != "fail" && invocation.on_bad_image != "skip") {
    throw InputError("--predict: --on-bad-image '" + invocation.on_bad_image + "': accepted: fail, skip");
  }
  const std::vector<std::string> files = image_files({inputs.begin() + 1, inputs.end()});
  std::unique_ptr<TemporaryPackage> temporary;
  std::string package_file = inputs.front();
  std::error_code ec;
  if (!fs::exists(package_file, ec) && is_run_id(package_file)) {
    const std::int64_t run_id = std::stoll(package_file);
    temporary = std::make_unique<TemporaryPackage>(
        package_stored_run(invocation, run_id, registry, "--predict " + package_file));
    package_file = temporary->path().string();
  }
  const Predictor predictor = Predictor::open(package_file);
  std::vector<std::pair<std::size_t, std::string>> errors;
  const auto start = std::chrono::steady_clock::now();
  const auto predictions = predictor.predict_files_skipping(files, errors);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("{} images classified in {:.2f} s ({:.1f} images/s, batches of the run's size)",
               files.size() - errors.size(), seconds, static_cast<double>(files.size()) / std::max(seconds, 1e-9));
  if (!errors.empty() && invocation.on_bad_image == "fail") {
    throw InputError("--predict: " + errors.front().second + " (" + std::to_string(errors.size()) +
                     " file(s) could not be read; --on-bad-image skip leaves them out)");
  }
  for (const auto& [index, message] : errors) spdlog::warn("skipping image {}", message);
  const std::string text =
      format_predictions(files, predictions, predictor.class_names(), static_cast<std::size_t>(invocation.top), format);
  if (invocation.out.empty()) {
    std::cout << text;
  } else {
    write_file_durably(invocation.out, text);
    spdlog::info("{} predictions written to {}", files.size() - errors.size(), invocation.out);
  }
  return kExitOk;
}

}  // namespace trainyard::runner
