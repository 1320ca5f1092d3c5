// What the train and resume commands share: a run's options from the invocation, and its report.
#pragma once

#include <trainyard/train/training_run.h>

#include "commands.h"

namespace trainyard::runner {

/// Stop handlers installed; the stop flag, the process's start and the test faults set.
RunOptions run_options(const Invocation& invocation);
/// A trial of a sweep (options.sweep_id) with a pruner gets it as a callback, reading the other
/// trials from `db`.
void add_sweep_pruner(RunOptions& options, const std::string& db);
/// The end of a run, for the log; the process's exit code.
int report(const RunOutcome& outcome);

}  // namespace trainyard::runner
