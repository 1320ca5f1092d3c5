#include "model_init.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include <spdlog/spdlog.h>

#include "trainyard/errors.h"
#include "trainyard/package/model_package.h"
#include "trainyard/suggest.h"
#include "trainyard/train/recorder.h"

namespace fs = std::filesystem;

namespace trainyard {
namespace {

constexpr const char* kKey = "model.init_from";

bool is_run_id(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// The source's model archive (parameters and buffers as Module::save wrote them), its classes,
// and what it is, for the record.
struct SourceWeights {
  torch::serialize::InputArchive archive;
  std::vector<std::string> class_names;
  std::string what;
};

SourceWeights read_package(const fs::path& file) {
  const ModelPackage package = read_model_package(file);  // checked: InputError naming the file
  SourceWeights source;
  source.archive.load_from(package.weights.data(), package.weights.size());
  source.class_names = package.class_names;
  std::string run;
  for (const auto& [key, value] : package.provenance) {
    if (key == "run") run = value;
  }
  source.what = "model package" + (run.empty() ? std::string() : " of run " + run);
  return source;
}

SourceWeights read_checkpoint_file(const fs::path& file) {
  SourceWeights source;
  torch::serialize::InputArchive checkpoint;
  c10::IValue value;
  try {
    checkpoint.load_from(file.string());
    checkpoint.read("model", source.archive);
    if (checkpoint.try_read("class_names", value)) {
      for (const c10::IValue& name : value.toList().vec()) source.class_names.push_back(name.toStringRef());
    }
  } catch (const c10::Error& e) {
    throw InputError(std::string(kKey) + ": '" + file.string() +
                     "' is neither a Trainyard checkpoint nor a model package (" + e.what_without_backtrace() + ")");
  }
  source.what = "checkpoint";
  if (checkpoint.try_read("epoch", value) && value.isInt()) source.what += ", epoch " + std::to_string(value.toInt());
  return source;
}

// "layer1.0.conv1.weight": the child archives layer1, 0 and conv1, then the tensor `weight`.
bool find_tensor(torch::serialize::InputArchive& root, const std::string& name, bool buffer, torch::Tensor& out) {
  std::vector<std::string> parts;
  std::stringstream stream(name);
  for (std::string part; std::getline(stream, part, '.');) parts.push_back(part);
  std::vector<torch::serialize::InputArchive> chain(parts.size());  // sized once: pointers stay valid
  torch::serialize::InputArchive* current = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!current->try_read(parts[i], chain[i])) return false;
    current = &chain[i];
  }
  return current->try_read(parts.back(), out, buffer);
}

std::vector<std::string> skip_patterns(const std::string& text) {
  std::vector<std::string> patterns;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) patterns.push_back(item);
  }
  return patterns;
}

bool matches(const std::string& name, const std::string& pattern) {
  return name == pattern ||
         (name.size() > pattern.size() && name.compare(0, pattern.size(), pattern) == 0 && name[pattern.size()] == '.');
}

std::string shape_text(const torch::Tensor& t) {
  std::string text = "[";
  for (std::int64_t d = 0; d < t.dim(); ++d) text += (d ? ", " : "") + std::to_string(t.size(d));
  return text + "]";
}

// The classifier head: the same tensor but for its first dimension, which is each side's class count.
bool is_head(const torch::Tensor& target, const torch::Tensor& source, std::int64_t classes,
             std::int64_t source_classes) {
  if (target.dim() != source.dim() || target.dim() == 0 || target.size(0) != classes ||
      source.size(0) != source_classes)
    return false;
  for (std::int64_t d = 1; d < target.dim(); ++d) {
    if (target.size(d) != source.size(d)) return false;
  }
  return true;
}

// What happened to each of the model's tensors.
struct InitPlan {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (model's, source's)
  std::vector<std::string> head, skipped, refused;
  std::vector<bool> pattern_used;
};

InitPlan plan_init(Model& model, std::int64_t classes, SourceWeights& source, const std::vector<std::string>& skip) {
  InitPlan plan;
  plan.pattern_used.assign(skip.size(), false);
  const auto source_classes = static_cast<std::int64_t>(source.class_names.size());
  auto visit = [&](const std::string& name, const torch::Tensor& tensor, bool buffer) {
    for (std::size_t i = 0; i < skip.size(); ++i) {
      if (matches(name, skip[i])) {
        plan.pattern_used[i] = true;
        plan.skipped.push_back(name);
        return;
      }
    }
    torch::Tensor found;
    if (!find_tensor(source.archive, name, buffer, found)) {
      plan.refused.push_back(name + " " + shape_text(tensor) + ": not in the source");
    } else if (found.sizes() == tensor.sizes()) {
      plan.copies.emplace_back(tensor, found);
    } else if (is_head(tensor, found, classes, source_classes)) {
      plan.head.push_back(name);
    } else {
      plan.refused.push_back(name + " " + shape_text(tensor) + ": the source's is " + shape_text(found));
    }
  };
  for (const auto& p : model.named_parameters()) visit(p.key(), p.value(), false);
  for (const auto& b : model.named_buffers()) visit(b.key(), b.value(), true);
  return plan;
}

std::string joined(const std::vector<std::string>& names, std::size_t most) {
  std::string text;
  for (std::size_t i = 0; i < names.size() && i < most; ++i) text += (i ? ", " : "") + names[i];
  if (names.size() > most) text += ", ... (" + std::to_string(names.size()) + " in all)";
  return text;
}

// An init_skip entry that names nothing is a typo, not a wish: say what it might have meant.
void refuse_unused_patterns(const InitPlan& plan, const std::vector<std::string>& skip, Model& model) {
  std::vector<std::string> names;
  for (const auto& p : model.named_parameters()) {
    names.push_back(p.key());
    names.push_back(p.key().substr(0, p.key().find('.')));
  }
  for (std::size_t i = 0; i < skip.size(); ++i) {
    if (plan.pattern_used[i]) continue;
    std::string message = "model.init_skip: '" + skip[i] + "' names no parameter or buffer of the model";
    if (auto near = nearest_name(skip[i], names)) message += " (did you mean '" + *near + "'?)";
    throw InputError(message);
  }
}

}  // namespace

ModelInitSource resolve_init_source(const ExperimentConfig& config, const RunRecorder& recorder) {
  const std::string& from = config.model_init.from;
  std::error_code ec;
  if (is_run_id(from) && !fs::exists(from, ec)) {
    const std::int64_t run_id = std::stoll(from);
    const RecordedRun run = recorder.recorded_run(run_id);
    if (!run.exists) {
      throw InputError(std::string(kKey) + ": " + from + ": no run " + from + " in " + recorder.location() +
                       " (a run id of output.db, a checkpoint file or a model package)");
    }
    const fs::path folder = run.checkpoint_folder.empty()
                                ? fs::path(config.output.checkpoints) / ("run-" + std::to_string(run_id))
                                : fs::path(run.checkpoint_folder);
    const fs::path best = fs::absolute(folder / "best.pt", ec);
    if (!fs::is_regular_file(best, ec)) {
      throw InputError(std::string(kKey) + ": " + from + ": run " + from + " has no best checkpoint at '" +
                       best.string() + "'");
    }
    // A file's path made absolute, so that the record still says which database once read elsewhere.
    std::string db = recorder.location();
    if (db.find("://") == std::string::npos) db = fs::absolute(db, ec).lexically_normal().string();
    return {best, "best.pt of run " + from + " in " + db};
  }
  const fs::path file = fs::absolute(from, ec);
  if (!fs::is_regular_file(file, ec)) {
    throw InputError(std::string(kKey) + ": '" + from +
                     "' is not a file (give a run id of output.db, a checkpoint file or a model package)");
  }
  return {file, file.string()};
}

std::string initialize_model(Model& model, std::int64_t num_classes, const ModelInitSource& source,
                             const ModelInitSettings& settings) {
  SourceWeights weights =
      looks_like_model_package(source.file) ? read_package(source.file) : read_checkpoint_file(source.file);
  const auto skip = skip_patterns(settings.skip);
  InitPlan plan = plan_init(model, num_classes, weights, skip);
  refuse_unused_patterns(plan, skip, model);
  if (!plan.refused.empty()) {
    throw InputError(std::string(kKey) + ": the model does not fit '" + source.file.string() + "' (" + weights.what +
                     "): " + joined(plan.refused, 6) + ". List what should keep the plugin's init in model.init_skip");
  }
  {
    torch::NoGradGuard no_grad;
    for (auto& [to, from] : plan.copies) to.copy_(from);
  }
  const std::string description = source.description + " (" + weights.what + ")";
  spdlog::info("model: initialized from {}: {} tensors loaded", description, plan.copies.size());
  if (!plan.head.empty()) {
    spdlog::info("model: re-initialized for {} classes (the source had {}): {}", num_classes,
                 weights.class_names.size(), joined(plan.head, 8));
  } else if (weights.class_names.size() == static_cast<std::size_t>(num_classes) && !weights.class_names.empty()) {
    spdlog::info("model: the source's classifier head is kept (the same {} classes)", num_classes);
  }
  if (!plan.skipped.empty()) spdlog::info("model: left as built (model.init_skip): {}", joined(plan.skipped, 8));
  return description;
}

}  // namespace trainyard
