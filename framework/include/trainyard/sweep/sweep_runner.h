// Runs a sweep: each trial in its own runner process (a crash or an out-of-memory kill takes one
// trial down, not the sweep), N at a time, recorded in the results database so that running the
// same sweep again skips what finished and redoes the rest.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trainyard/sweep/sweep.h"

namespace trainyard {

class ResultsStore;

struct SweepRunOptions {
  std::string runner_path;  // the runner executable that runs one trial
  std::string experiment_file;
  std::vector<std::string> base_sets;  // the user's --set KEY=VALUE, given to every trial
  int jobs = 1;
  /// Counts SIGINT/SIGTERM: the first stops the trials cleanly (each marks its run interrupted),
  /// a second stops them at once.
  const std::atomic<int>* stop_signals = nullptr;
  /// sweep.tpe: the resolved configuration of a trial the search chooses as it goes (the
  /// experiment with the trial's overrides); throws ConfigError for one that is not valid.
  std::function<ExperimentConfig(const SweepTrial&)> resolve_trial;
  /// Given, trials start as copies of this process that run their command line (start_trial).
  RunCommandLine run_here;
};

struct SweepOutcome {
  std::int64_t sweep_id = 0;
  int finished = 0, pruned = 0, failed = 0, interrupted = 0, skipped = 0;
};

/// Runs the trials not yet finished. `configs[i]` is trial i's resolved configuration (from
/// validate_trials); the sweep's database is configs[0]'s. A TPE sweep's `trials` are its start-up
/// draws; it adds the trials an earlier run chose, then chooses the rest as places free up.
SweepOutcome run_sweep(const SweepSpec& spec, const std::vector<SweepTrial>& trials,
                       const std::vector<ExperimentConfig>& configs, const SweepRunOptions& options);

/// "epochs trained: 22 of the 48 a sweep without pruning or early stopping would (46%)": what a
/// sweep saved, as the sweep summary and `results best` say it.
std::string epochs_spent_text(std::int64_t trained, std::int64_t unpruned);

/// The summary table of a sweep: one line per trial, best test accuracy first.
std::string format_sweep_summary(ResultsStore& store, std::int64_t sweep_id);

}  // namespace trainyard
