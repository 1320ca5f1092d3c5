// runner --evaluate RUN: a recorded run's checkpoint evaluated again on its own test (or
// validation) split, or on an ImageFolder (--data), the figures printed and kept in the run's
// database.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <ATen/Parallel.h>

#include <trainyard/errors.h>
#include <trainyard/image_files.h>
#include <trainyard/store/postgres_connection.h>
#include <trainyard/train/device.h>
#include <trainyard/train/evaluate_run.h>

#include "commands.h"
#include "model_source.h"
#include "stored_run.h"

namespace fs = std::filesystem;

namespace trainyard::runner {
namespace {

Split evaluated_split(const std::string& name, const std::string& option) {
  if (name == "test") return Split::kTest;
  if (name == "val") return Split::kVal;
  throw InputError(option + ": --split '" + name + "': accepted: test, val");
}

nlohmann::ordered_json as_json(std::int64_t run_id, std::int64_t evaluation_id, const EvaluationRecord& e) {
  nlohmann::ordered_json per_class = nlohmann::ordered_json::array();
  for (const auto& c : e.per_class) {
    per_class.push_back(
        {{"class", c.name}, {"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1}, {"support", c.support}});
  }
  nlohmann::ordered_json out = {{"run", run_id},
                                {"evaluation", evaluation_id},
                                {"checkpoint", e.checkpoint},
                                {"checkpoint_epoch", e.checkpoint_epoch},
                                {"data", e.data},
                                {"images", e.images},
                                {"accuracy", e.accuracy},
                                {"loss", e.loss}};
  if (e.top5_accuracy) out["top5_accuracy"] = *e.top5_accuracy;
  out["per_class"] = per_class;
  out["confusion"] = e.confusion;
  return out;
}

void print_table(std::ostream& out, std::int64_t run_id, const EvaluationRecord& e) {
  char line[256];
  out << "run " << run_id << ", " << e.checkpoint << " (epoch " << e.checkpoint_epoch << "), " << e.data
      << (e.data == "test" || e.data == "val" ? " split: " : ": ") << e.images << " images\n";
  std::snprintf(line, sizeof line, "accuracy %.2f%%  loss %.4f", 100 * e.accuracy, e.loss);
  out << line;
  if (e.top5_accuracy) {
    std::snprintf(line, sizeof line, "  top-5 accuracy %.2f%%", 100 * *e.top5_accuracy);
    out << line;
  }
  out << "\n\n";
  std::size_t width = 5;
  for (const auto& c : e.per_class) width = std::max(width, c.name.size());
  std::snprintf(line, sizeof line, "%-*s %9s %7s %7s %8s\n", static_cast<int>(width), "class", "precision", "recall",
                "f1", "support");
  out << line;
  for (const auto& c : e.per_class) {
    std::snprintf(line, sizeof line, "%-*s %9.4f %7.4f %7.4f %8lld\n", static_cast<int>(width), c.name.c_str(),
                  c.precision, c.recall, c.f1, static_cast<long long>(c.support));
    out << line;
  }
  out << "\nconfusion matrix (rows: true class, columns: predicted, in the order above)\n";
  for (std::size_t r = 0; r < e.confusion.size(); ++r) {
    std::snprintf(line, sizeof line, "%-*s", static_cast<int>(width), e.per_class[r].name.c_str());
    out << line;
    for (const auto count : e.confusion[r]) {
      std::snprintf(line, sizeof line, " %7lld", static_cast<long long>(count));
      out << line;
    }
    out << "\n";
  }
}

// The folder's labels in the run's numbering: each class folder must be one of the run's
// classes, and every class of the run must have a folder.
std::vector<std::int64_t> run_labels(const ImageFolderIndex& folder, const std::vector<std::string>& run_classes,
                                     const std::string& option, const std::string& root) {
  std::map<std::string, std::int64_t> label_of;
  for (std::size_t i = 0; i < run_classes.size(); ++i) label_of[run_classes[i]] = static_cast<std::int64_t>(i);
  std::vector<std::string> extra, missing;
  for (const auto& name : folder.class_names) {
    if (!label_of.count(name)) extra.push_back(name);
  }
  for (const auto& name : run_classes) {
    if (std::find(folder.class_names.begin(), folder.class_names.end(), name) == folder.class_names.end())
      missing.push_back(name);
  }
  auto joined = [](const std::vector<std::string>& names) {
    std::string text;
    for (const auto& name : names) text += (text.empty() ? "'" : ", '") + name + "'";
    return text;
  };
  if (!extra.empty() || !missing.empty()) {
    std::string message = option + ": the class folders of --data '" + root + "' are not the run's classes:";
    if (!extra.empty()) message += " not classes of the run: " + joined(extra) + ";";
    if (!missing.empty()) message += " no folder for: " + joined(missing) + ";";
    throw InputError(message + " the run's classes are " + joined(run_classes));
  }
  std::vector<std::int64_t> labels;
  labels.reserve(folder.labels.size());
  for (const auto label : folder.labels)
    labels.push_back(label_of.at(folder.class_names[static_cast<std::size_t>(label)]));
  return labels;
}

// Cross-entropy of one image from its logits, in double: log-sum-exp less the true class's logit.
double cross_entropy(const std::vector<float>& logits, std::int64_t true_class) {
  const double top = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (const float z : logits) sum += std::exp(static_cast<double>(z) - top);
  return top + std::log(sum) - static_cast<double>(logits.at(static_cast<std::size_t>(true_class)));
}

std::string provenance_value(const Predictor& predictor, const std::string& key) {
  for (const auto& [name, value] : predictor.provenance()) {
    if (name == key) return value;
  }
  return "";
}

// Every image of the folder classified as --predict classifies it (the same Predictor, batches and
// preprocessing), and the figures counted from those predictions.
EvaluationRecord evaluate_folder(const Invocation& invocation, std::int64_t run_id, PluginRegistry& registry,
                                 const std::string& option, std::string& db) {
  const std::string root = fs::absolute(invocation.data).lexically_normal().string();
  ImageFolderIndex folder;
  try {
    folder = index_image_folder(root, "--data");
  } catch (const std::invalid_argument& e) {
    throw InputError(option + ": " + e.what());
  }
  const PackagedRun packaged = package_stored_run(invocation, run_id, registry, option);
  db = packaged.db;
  const ModelSource model = open_packaged_run(invocation, packaged, option);
  const auto& classes = model.predictor.class_names();
  const auto labels = run_labels(folder, classes, option, root);
  std::vector<std::string> files;
  for (const auto& file : folder.files) files.push_back(file.string());
  std::size_t skipped = 0;
  const auto predictions = classify_files(model, files, option, skipped);

  ConfusionMatrix matrix(classes);
  double loss = 0.0;
  std::int64_t top5_hits = 0;
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    const Prediction& p = predictions[i];
    if (p.label < 0) continue;  // skipped, named in the log
    matrix.add(labels[i], p.label);
    loss += cross_entropy(p.logits, labels[i]);
    for (const auto c : ranked_classes(p, 5)) top5_hits += static_cast<std::int64_t>(c) == labels[i] ? 1 : 0;
  }
  if (matrix.total() == 0) throw InputError(option + ": no image of --data '" + root + "' could be read");
  EvaluationRecord record;
  record.checkpoint = provenance_value(model.predictor, "checkpoint");
  record.checkpoint_epoch = std::stoll("0" + provenance_value(model.predictor, "checkpoint_epoch"));
  record.data = root;
  record.images = matrix.total();
  record.loss = loss / static_cast<double>(matrix.total());
  record.accuracy = matrix.accuracy();
  if (classes.size() > 5) record.top5_accuracy = static_cast<double>(top5_hits) / static_cast<double>(matrix.total());
  record.per_class = matrix.per_class();
  record.confusion = matrix.counts();
  record.device = describe_device(torch::Device(torch::kCPU), at::get_num_threads());
  record.precision = packaged.package.precision;
  return record;
}

// The run's own split, through the trainer's pass: the figures the run recorded come back.
EvaluationRecord evaluate_split(const Invocation& invocation, std::int64_t run_id, PluginRegistry& registry,
                                const std::string& option, std::string& db) {
  const Split split = evaluated_split(invocation.split, option);
  const fs::path started_in = fs::current_path();
  const StoredRunContext stored = enter_stored_run(invocation, run_id, option);
  db = stored.db;
  EvaluationRequest request;
  request.checkpoint = checkpoint_file(invocation.checkpoint, stored.run, started_in, option);
  request.split = split;
  const ExperimentConfig config = resolve_stored_config(stored, registry);
  return evaluate_run(config, registry, request);
}

}  // namespace

int evaluate_command(const Invocation& invocation, PluginRegistry& registry) {
  const std::int64_t run_id = invocation.evaluate_id;
  const std::string option = "--evaluate " + std::to_string(run_id);
  const std::string format = invocation.format.empty() ? "table" : invocation.format;
  if (format != "table" && format != "json")
    throw InputError(option + ": --format '" + format + "': accepted: table, json");
  if (!invocation.data.empty() && invocation.split != "test")
    throw InputError(option + ": --data and --split exclude each other (the folder is the data evaluated on)");
  std::string db;
  const EvaluationRecord evaluation = invocation.data.empty()
                                          ? evaluate_split(invocation, run_id, registry, option, db)
                                          : evaluate_folder(invocation, run_id, registry, option, db);
  const std::int64_t evaluation_id = ResultsStore(db).record_evaluation(run_id, evaluation);
  spdlog::info("evaluation {} of run {} kept in {}", evaluation_id, run_id, redact_location(db));
  if (format == "json") {
    std::cout << as_json(run_id, evaluation_id, evaluation).dump(2) << "\n";
  } else {
    print_table(std::cout, run_id, evaluation);
  }
  return kExitOk;
}

}  // namespace trainyard::runner
