// Runs a sweep: each trial in its own runner process (a crash or an out-of-memory kill takes one
// trial down, not the sweep), N at a time, recorded in the results database so that running the
// same sweep again skips what finished and redoes the rest.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "trainyard/sweep/sweep.h"

namespace trainyard {

class ResultsStore;

struct SweepRunOptions {
  std::string runner_path;  // the runner executable that runs one trial
  std::string experiment_file;
  std::vector<std::string> base_sets;  // the user's --set KEY=VALUE, given to every trial
  int jobs = kJobsAuto;                // trials at once; kJobsAuto: choose_jobs decides
  /// Counts SIGINT/SIGTERM: the first stops the trials cleanly (each marks its run interrupted),
  /// a second stops them at once.
  const std::atomic<int>* stop_signals = nullptr;
  /// sweep.tpe: the resolved configuration of a trial the search chooses as it goes (the
  /// experiment with the trial's overrides); throws ConfigError for one that is not valid.
  std::function<ExperimentConfig(const SweepTrial&)> resolve_trial;
  /// Given, trials start as copies of this process that run their command line (start_trial).
  RunCommandLine run_here;
};

/// What a trial is taken to need before the sweep has seen one end or recorded one: a guess on
/// the side of caution, replaced by the largest peak a trial shows (ChildExit::peak_rss_mib).
inline constexpr double kUnmeasuredTrialMib = 4096;
/// The share of the memory available at the sweep's start its trials may fill together; the
/// rest is the margin for what one trial's peak does not show of another (a larger batch size).
inline constexpr double kTrialsMemoryShare = 0.8;

/// How many trials a sweep runs at once, and why (the sweep's log says it).
struct JobsChoice {
  int jobs = 1;
  std::string reason;
};

/// `jobs` as given; for kJobsAuto: one trial per GPU when there are GPUs, otherwise one per core
/// (each then gets one thread) but no more than `kTrialsMemoryShare` of `available_mib` holds at
/// `trial_mib` each (one when the memory is not known). A TPE search or a pruner decides from the
/// trials done before, so it runs one at a time: its seed then gives the same sweep every time.
JobsChoice choose_jobs(const SweepSpec& spec, int jobs, int cores, int gpus, std::optional<double> available_mib,
                       double trial_mib);

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
