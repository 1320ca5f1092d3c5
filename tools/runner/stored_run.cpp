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

}  // namespace trainyard::runner
