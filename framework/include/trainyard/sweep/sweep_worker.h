// Sweep workers: `runner EXPERIMENT --worker`, started on any number of machines (by hand, or as
// a Slurm job array), share one sweep through its results database. Each claims the next pending
// trial atomically, runs it as a child process while renewing the trial's lease, records how it
// ended, and repeats until no trial is left. A worker that dies stops renewing; once its lease
// lapses another worker takes the trial over, so every trial finishes exactly once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trainyard/config/experiment_config.h"
#include "trainyard/sweep/sweep.h"

namespace trainyard {

struct SweepWorkerOptions {
  std::string runner_path;  // the runner executable that runs one trial
  std::string experiment_file;
  std::vector<std::string> base_sets;  // the user's --set KEY=VALUE, given to every trial
  /// How long a claim holds without renewal; renewed every third of it while the trial runs.
  double lease_seconds = 60.0;
  /// Counts SIGINT/SIGTERM: the first stops the running trial cleanly and hands it back to the
  /// queue; no new trial is claimed.
  const std::atomic<int>* stop_signals = nullptr;
  /// sweep.tpe: the resolved configuration of a trial the search chooses (SweepRunOptions').
  std::function<ExperimentConfig(const SweepTrial&)> resolve_trial;
  /// Given, trials start as copies of this process that run their command line (start_trial).
  RunCommandLine run_here;
};

struct WorkerOutcome {
  std::int64_t sweep_id = 0;
  int finished = 0, failed = 0, lost = 0, handed_back = 0;
};

/// The worker's name in the trials table: "HOST:PID".
std::string worker_name();

/// Runs trials of the sweep until none is pending or held by a live worker. `configs[i]` is
/// trial i's resolved configuration (from validate_trials); the sweep's database is configs[0]'s.
WorkerOutcome run_sweep_worker(const SweepSpec& spec, const std::vector<SweepTrial>& trials,
                               const std::vector<ExperimentConfig>& configs, const SweepWorkerOptions& options);

}  // namespace trainyard
