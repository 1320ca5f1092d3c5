// One training run of an experiment: set up the device, threads and process group, build the
// plugins' objects, train and evaluate each epoch, and report through a RunRecorder and the
// callbacks. The run as the runner starts it, recorded in the results store, is run_experiment
// (trainyard/store/store_recorder.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainyard/config/experiment_config.h"
#include "trainyard/train/callbacks.h"
#include "trainyard/train/fault_injection.h"
#include "trainyard/train/recorder.h"
#include "trainyard/train/run_record.h"

namespace trainyard {

class PluginRegistry;

struct RunOutcome {
  std::int64_t run_id = 0;
  RunStatus status = RunStatus::kRunning;
  std::string error;        // for kFailed
  std::string stop_reason;  // why a callback ended the run before train.epochs (early stopping)
  std::vector<EpochRecord> epochs;
  std::optional<EpochRecord> best;  // by accuracy on the selection split (select_on)
  SelectionSplit select_on = SelectionSplit::kTest;
  std::string checkpoint_path;  // of the best epoch
  std::string db_path;
  std::int64_t num_parameters = 0;
  bool taken_over = false;  // another worker took the trial over; this process wrote nothing more
};

struct RunOptions {
  /// Set (from a signal handler, say) to stop at the next batch; the run is marked interrupted.
  const std::atomic<bool>* stop_requested = nullptr;
  /// When the run is a trial of a sweep: the sweep, the trial's key and its overrides.
  std::optional<std::int64_t> sweep_id;
  std::string trial_key;
  std::vector<Override> trial_overrides;
  /// When a sweep worker runs the trial: its lease, checked before every write (see RunTakenOver).
  std::optional<TrialLease> trial_lease;
  /// Continue this run (interrupted, failed or killed) in its own row, from its "last"
  /// checkpoint; `config` must be the run's stored configuration.
  std::optional<std::int64_t> resume_run_id;
  /// When the process started, to report the time to the first training batch.
  std::optional<std::chrono::steady_clock::time_point> process_start;
  /// Called after the built-in callbacks (the epoch's log line, early stopping), in order.
  std::vector<std::shared_ptr<TrainingCallback>> callbacks;
  /// Faults for tests; empty in production (the runner passes FaultInjector::from_environment()).
  FaultInjector faults;
};

/// Opens the recorder of a run. Called once, on rank 0 (the only process of a one-process run),
/// before the dataset and model are built, so an unusable store fails the run before it starts.
using RecorderFactory = std::function<std::unique_ptr<RunRecorder>()>;

/// Runs `config` to the end. After each epoch the run's "last" checkpoint
/// (<checkpoints>/run-<id>/last.pt: model, optimizer, generators, loss scaler, epoch) is replaced
/// atomically, so a run stopped at any moment can be resumed exactly (RunOptions::resume_run_id).
/// Bad input found before the run starts (a dataset folder without images, an unusable
/// database, an unavailable device) throws InputError and records no run. Once the run's record
/// exists, a failure is recorded in it (status failed, error text) and returned in the outcome
/// rather than thrown.
RunOutcome train_run(const ExperimentConfig& config, const PluginRegistry& registry, const RunOptions& options,
                     const RecorderFactory& open_recorder);

}  // namespace trainyard
