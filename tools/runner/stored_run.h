// A recorded run taken up again by the runner (--resume, --evaluate): its results database, its
// stored configuration, and the folder its relative paths resolve from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <trainyard/store/results_store.h>

#include "commands.h"

namespace trainyard::runner {

struct StoredRunContext {
  std::string db;  // absolute (a file), or the PostgreSQL URL
  StoredRun run;
};

/// The database `--db` names (else the experiment file's output.db, else results/trainyard.db),
/// the run `run_id` in it, and the process moved into the folder the run started in. `option`
/// ("--resume 3") names the request in errors, which are InputErrors: nothing was changed.
StoredRunContext enter_stored_run(const Invocation& invocation, std::int64_t run_id, const std::string& option);

/// --checkpoint best|last|FILE: best.pt or last.pt of the run's own folder, or any file (relative
/// to `started_in`, where the runner started before it entered the run's folder). Absolute; an
/// InputError when there is no such file.
std::filesystem::path checkpoint_file(const std::string& choice, const StoredRun& run,
                                      const std::filesystem::path& started_in, const std::string& option);

/// The run's stored configuration, resolved again (its plugins discovered), with `overrides`.
ExperimentConfig resolve_stored_config(const StoredRunContext& stored, PluginRegistry& registry,
                                       const std::vector<Override>& overrides = {});

/// What a model package says of the run it came from (runner --export, --predict RUN).
std::vector<std::pair<std::string, std::string>> run_provenance(const StoredRunContext& stored);

}  // namespace trainyard::runner
