#include "stored_run.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/store/postgres_connection.h>

namespace trainyard::runner {
namespace {

std::string results_database(const Invocation& invocation, const std::string& option) {
  std::string db = invocation.resume_db;
  if (db.empty() && !invocation.experiment_file.empty()) {
    db = ExperimentDocument::load(invocation.experiment_file).section("output")["db"].as<std::string>("");
  }
  if (db.empty()) db = "results/trainyard.db";
  if (is_postgres_url(db)) return db;
  if (!std::filesystem::exists(db)) {
    throw InputError(option + ": no results database at '" + db + "' (give it with --db)");
  }
  return std::filesystem::absolute(db).string();
}

// The run's configuration names its data, cache and plugin folders as it was given them, often
// relative to where the run started: resolve them from there, as the run did. Runs recorded before
// the folder was kept resolve from here, as they always did.
void enter_working_folder(const std::string& option, const std::string& folder) {
  if (folder.empty()) return;
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) {
    throw InputError(option + ": the run started in '" + folder +
                     "', which is no longer a folder; its relative paths (dataset root, checkpoints, "
                     "plugin_paths) resolve from there. Nothing was changed");
  }
  if (std::filesystem::current_path(ec) == folder) return;
  std::filesystem::current_path(folder, ec);
  if (ec) throw InputError(option + ": cannot enter '" + folder + "', where the run started: " + ec.message());
  spdlog::info("{}: working in '{}', the folder the run started in", option, folder);
}

}  // namespace

StoredRunContext enter_stored_run(const Invocation& invocation, std::int64_t run_id, const std::string& option) {
  StoredRunContext context;
  context.db = results_database(invocation, option);
  ResultsStore store(context.db);
  auto stored = store.run(run_id);
  if (!stored) throw InputError(option + ": no such run in '" + store.path() + "'");
  context.run = std::move(*stored);
  enter_working_folder(option, context.run.working_dir);
  return context;
}

std::filesystem::path checkpoint_file(const std::string& choice, const StoredRun& run,
                                      const std::filesystem::path& started_in, const std::string& option) {
  namespace fs = std::filesystem;
  fs::path file;
  if (choice == "best" || choice == "last") {
    const fs::path folder = run.run_dir.empty() ? fs::path("results/checkpoints") / ("run-" + std::to_string(run.id))
                                                : fs::path(run.run_dir);
    file = folder / (choice + ".pt");
    if (choice == "best" && run.run_dir.empty() && !run.checkpoint_path.empty()) file = run.checkpoint_path;
  } else {
    file = fs::path(choice).is_absolute() ? fs::path(choice) : started_in / choice;
  }
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw InputError(option + ": no checkpoint at '" + fs::absolute(file, ec).string() +
                     "' (--checkpoint takes best, last or a checkpoint file)");
  }
  return fs::absolute(file, ec);
}

ExperimentConfig resolve_stored_config(const StoredRunContext& stored, PluginRegistry& registry,
                                       const std::vector<Override>& overrides) {
  const auto document = ExperimentDocument::parse(
      stored.run.config_yaml, "run " + std::to_string(stored.run.id) + " of " + stored.db, overrides);
  registry.discover(plugin_search_path(document.plugin_paths()));
  ExperimentConfig config = document.resolve(registry);
  config.output.db = stored.db;  // where the run is, whatever its config called it
  return config;
}

std::vector<std::pair<std::string, std::string>> run_provenance(const StoredRunContext& stored) {
  std::vector<std::pair<std::string, std::string>> provenance = {{"run", std::to_string(stored.run.id)},
                                                                 {"database", redact_location(stored.db)},
                                                                 {"experiment", stored.run.experiment},
                                                                 {"run_started_at", stored.run.started_at},
                                                                 {"exported_at", utc_timestamp()}};
  if (!stored.run.init_source.empty()) provenance.emplace_back("init_source", stored.run.init_source);
  return provenance;
}

}  // namespace trainyard::runner
