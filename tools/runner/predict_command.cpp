// runner --predict RUN|PACKAGE FILE_OR_DIR...: images classified by a run's model or a model
// package, through the Predictor (<trainyard/predictor.h>), as CSV or JSON.
#include <algorithm>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/system/durable_file.h>

#include "commands.h"
#include "model_source.h"

namespace trainyard::runner {
namespace {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
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
      for (const auto c : ranked_classes(predictions[i], top)) {
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
    for (const auto c : ranked_classes(predictions[i], top))
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
  const std::string option = "--predict " + inputs.front();
  const std::string format = invocation.format.empty() ? "csv" : invocation.format;
  if (format != "csv" && format != "json")
    throw InputError(option + ": --format '" + format + "': accepted: csv, json");
  if (invocation.top < 1) throw InputError(option + ": --top " + std::to_string(invocation.top) + ": at least 1");
  const std::vector<std::string> files = image_files({inputs.begin() + 1, inputs.end()}, option);
  const ModelSource model = open_model_source(invocation, inputs.front(), registry, option);
  std::size_t skipped = 0;
  const auto predictions = classify_files(model, files, option, skipped);
  const std::string text = format_predictions(files, predictions, model.predictor.class_names(),
                                              static_cast<std::size_t>(invocation.top), format);
  if (invocation.out.empty()) {
    std::cout << text;
  } else {
    write_file_durably(invocation.out, text);
    spdlog::info("{} predictions written to {}", files.size() - skipped, invocation.out);
  }
  return kExitOk;
}

}  // namespace trainyard::runner
