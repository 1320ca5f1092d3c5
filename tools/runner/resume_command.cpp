#include "commands.h"

#include <filesystem>

#include <trainyard/errors.h>
#include <trainyard/store/postgres_connection.h>
#include <trainyard/store/results_store.h>
#include <trainyard/store/store_recorder.h>

#include "train_command.h"

namespace trainyard::runner {

// runner --resume RUN_ID: the run's stored configuration, resolved again, trained on from its
// last checkpoint in the same database row.
int resume_command(const Invocation& invocation, PluginRegistry& registry) {
  const std::int64_t run_id = invocation.resume_id;
  const std::string& experiment_file = invocation.experiment_file;
  std::string db = invocation.resume_db;
  if (db.empty() && !experiment_file.empty()) {
    db = trainyard::ExperimentDocument::load(experiment_file)
             .section("output")["db"]
             .as<std::string>("results/trainyard.db");
  }
  if (db.empty()) db = "results/trainyard.db";
  if (!trainyard::is_postgres_url(db) && !std::filesystem::exists(db)) {
    throw trainyard::InputError("--resume: no results database at '" + db + "' (give it with --db)");
  }
  std::string config_yaml;
  {
    trainyard::ResultsStore store(db);
    const auto stored = store.run(run_id);
    if (!stored) {
      throw trainyard::InputError("--resume " + std::to_string(run_id) + ": no such run in '" + store.path() + "'");
    }
    config_yaml = stored->config_yaml;
  }
  const auto document =
      trainyard::ExperimentDocument::parse(config_yaml, "run " + std::to_string(run_id) + " of " + db);
  registry.discover(trainyard::plugin_search_path(document.plugin_paths()));
  trainyard::ExperimentConfig config = document.resolve(registry);
  config.output.db = db;  // where the run is, whatever its config called it
  RunOptions options = run_options(invocation);
  options.resume_run_id = run_id;
  return report(run_experiment(config, registry, options));
}

}  // namespace trainyard::runner
