#include "commands.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/store/postgres_connection.h>
#include <trainyard/store/results_store.h>
#include <trainyard/store/store_recorder.h>

#include "train_command.h"

namespace trainyard::runner {

namespace {

// The run's configuration names its data, cache and plugin folders as it was given them, often
// relative to where the run started: resolve them from there, as the run did. Runs recorded before
// the folder was kept resolve from here, as they always did.
void enter_working_folder(std::int64_t run_id, const std::string& folder) {
  if (folder.empty()) return;
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) {
    throw trainyard::InputError("--resume " + std::to_string(run_id) + ": the run started in '" + folder +
                                "', which is no longer a folder; its relative paths (dataset root, checkpoints, "
                                "plugin_paths) resolve from there. Nothing was changed");
  }
  if (std::filesystem::current_path(ec) == folder) return;
  std::filesystem::current_path(folder, ec);
  if (ec) {
    throw trainyard::InputError("--resume " + std::to_string(run_id) + ": cannot enter '" + folder +
                                "', where the run started: " + ec.message());
  }
  spdlog::info("run {}: resuming in '{}', the folder it started in", run_id, folder);
}

// --set on a resume: only where the run goes (its device, its threads), which a sweep gives each
// of its slots; a resumed run keeps the rest of its configuration, or it would not continue exactly.
std::vector<Override> placement_overrides(const Invocation& invocation) {
  std::vector<Override> overrides;
  for (const auto& text : invocation.sets) {
    Override o = parse_override(text);
    if (o.key != "device" && o.key != "train.threads") {
      throw InputError("--resume " + std::to_string(invocation.resume_id) + ": --set " + o.key +
                       ": a resumed run keeps its stored configuration; only device and train.threads "
                       "may be set (where it runs, not what it computes)");
    }
    overrides.push_back(std::move(o));
  }
  return overrides;
}

}  // namespace

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
  if (!trainyard::is_postgres_url(db)) db = std::filesystem::absolute(db).string();
  std::string config_yaml;
  {
    trainyard::ResultsStore store(db);
    const auto stored = store.run(run_id);
    if (!stored) {
      throw trainyard::InputError("--resume " + std::to_string(run_id) + ": no such run in '" + store.path() + "'");
    }
    config_yaml = stored->config_yaml;
    enter_working_folder(run_id, stored->working_dir);
  }
  const auto document = trainyard::ExperimentDocument::parse(config_yaml, "run " + std::to_string(run_id) + " of " + db,
                                                             placement_overrides(invocation));
  registry.discover(trainyard::plugin_search_path(document.plugin_paths()));
  trainyard::ExperimentConfig config = document.resolve(registry);
  config.output.db = db;  // where the run is, whatever its config called it
  RunOptions options = run_options(invocation);
  options.resume_run_id = run_id;
  return report(run_experiment(config, registry, options));
}

}  // namespace trainyard::runner
