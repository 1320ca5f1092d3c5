// One training run of an experiment: build the plugins' objects, train and evaluate each epoch,
// record every epoch in the results store, keep the best checkpoint.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trainyard/experiment_config.h"
#include "trainyard/results_store.h"

namespace trainyard {

class PluginRegistry;

struct RunOutcome {
  std::int64_t run_id = 0;
  RunStatus status = RunStatus::kRunning;
  std::string error;                      // for kFailed
  std::vector<EpochRecord> epochs;
  std::optional<EpochRecord> best;        // by test accuracy
  std::string checkpoint_path;            // of the best epoch
  std::string db_path;
  std::int64_t num_parameters = 0;
};

struct RunOptions {
  /// Set (from a signal handler, say) to stop at the next batch; the run is marked interrupted.
  const std::atomic<bool>* stop_requested = nullptr;
  /// When the run is a trial of a sweep: the sweep, the trial's key and its overrides.
  std::optional<std::int64_t> sweep_id;
  std::string trial_key;
  std::vector<Override> trial_overrides;
  /// Continue this run (interrupted, failed or killed) in its own row, from its "last"
  /// checkpoint; `config` must be the run's stored configuration.
  std::optional<std::int64_t> resume_run_id;
  /// When the process started, to report the time to the first training batch.
  std::optional<std::chrono::steady_clock::time_point> process_start;
};

/// Runs `config` to the end. After each epoch the run's "last" checkpoint
/// (<checkpoints>/run-<id>/last.pt: model, optimizer, generators, loss scaler, epoch) is replaced
/// atomically, so a run stopped at any moment can be resumed exactly (RunOptions::resume_run_id). Bad input found before the run starts (a dataset folder without
/// images, an unusable database, an unavailable device) throws InputError and writes no run.
/// Once the run's row exists, a failure is recorded in it (status failed, error text) and
/// returned in the outcome rather than thrown.
RunOutcome run_experiment(const ExperimentConfig& config, const PluginRegistry& registry,
                          const RunOptions& options = {});

}  // namespace trainyard
