// A recorded run taken up again by the runner (--resume, --evaluate): its results database, its
// stored configuration, and the folder its relative paths resolve from.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace trainyard::runner
