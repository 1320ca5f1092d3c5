// runner --evaluate RUN: a recorded run's checkpoint evaluated again on its own test (or
// validation) split, the figures printed and kept in the run's database.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/store/postgres_connection.h>
#include <trainyard/train/evaluate_run.h>

#include "commands.h"
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
      << " split: " << e.images << " images\n";
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

}  // namespace

int evaluate_command(const Invocation& invocation, PluginRegistry& registry) {
  const std::int64_t run_id = invocation.evaluate_id;
  const std::string option = "--evaluate " + std::to_string(run_id);
  const std::string format = invocation.format.empty() ? "table" : invocation.format;
  if (format != "table" && format != "json")
    throw InputError(option + ": --format '" + format + "': accepted: table, json");
  const Split split = evaluated_split(invocation.split, option);
  const fs::path started_in = fs::current_path();
  const StoredRunContext stored = enter_stored_run(invocation, run_id, option);
  EvaluationRequest request;
  request.checkpoint = checkpoint_file(invocation.checkpoint, stored.run, started_in, option);
  request.split = split;
  const ExperimentConfig config = resolve_stored_config(stored, registry);
  const EvaluationRecord evaluation = evaluate_run(config, registry, request);
  const std::int64_t evaluation_id = ResultsStore(stored.db).record_evaluation(run_id, evaluation);
  spdlog::info("evaluation {} of run {} kept in {}", evaluation_id, run_id, redact_location(stored.db));
  if (format == "json") {
    std::cout << as_json(run_id, evaluation_id, evaluation).dump(2) << "\n";
  } else {
    print_table(std::cout, run_id, evaluation);
  }
  return kExitOk;
}

}  // namespace trainyard::runner
