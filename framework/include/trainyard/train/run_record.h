// What a training run reports about itself: its status, what is known when it starts, and each
// finished epoch. The trainer produces these and a RunRecorder (recorder.h) keeps them; the
// results store is one such keeper, and the results tool reads them back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace trainyard {

/// kPruned: a sweep's pruner ended the trial early (its stop_reason says why); like kFinished,
/// its trial is done.
enum class RunStatus { kRunning, kFinished, kFailed, kInterrupted, kPruned };
/// "running", "finished", "failed", "interrupted", "pruned": the text the results database holds.
const char* to_string(RunStatus status);
/// Finished or pruned: the run has nothing left to train, and a sweep's trial whose latest run
/// ended so is done (not run again).
bool is_done(RunStatus status);
/// The status a stored text names; nullopt for any other text.
std::optional<RunStatus> parse_run_status(const std::string& text);
/// Every status, in the order above (for listing what is accepted).
std::vector<std::string> run_status_names();

/// The split whose accuracy picks a run's best epoch (train.select_on, resolved): the validation
/// split when the dataset has one, so that the test split's figures stay unbiased.
enum class SelectionSplit { kTest, kVal };
/// "test" or "val": the text runs.select_on holds.
const char* to_string(SelectionSplit split);

/// What is known about a run when it starts.
struct RunRecord {
  std::string experiment;
  std::string experiment_file;
  std::string config_yaml;  // the resolved configuration
  std::string host;
  std::string device;
  std::string torch_version;
  std::int64_t seed = 0;
  std::string model_plugin;  // "resnet50 1.0.0"
  std::string dataset_plugin;
  std::string optimizer_plugin;
  std::int64_t num_parameters = 0;
  std::int64_t num_classes = 0;
  std::int64_t train_size = 0;
  std::int64_t test_size = 0;
  std::int64_t val_size = 0;  // 0: no validation split
  SelectionSplit select_on = SelectionSplit::kTest;
  std::string precision;                                       // resolved: fp32, bf16 or fp16
  std::string git_revision;                                    // of the experiment file's repository; empty outside one
  std::int64_t world_size = 1;                                 // processes that trained the run together
  std::string distributed_backend;                             // gloo or nccl; empty for one process
  std::optional<std::int64_t> sweep_id;                        // the sweep this run is a trial of
  std::string trial_key;                                       // the trial's overrides, canonical text
  std::vector<std::pair<std::string, std::string>> overrides;  // key, value as given
  std::string checkpoint_root;                                 // output.checkpoints, absolute
  std::string working_dir;                                     // absolute: where relative paths resolve
  std::string init_source;  // model.init_from resolved: what the model started from; empty: its own init
};

/// A sweep trial as the worker running it holds it (`runner --worker`): the trial, the claim's
/// attempt and the worker. The attempt is the fencing token: a worker that took the trial over
/// made a later claim, and the earlier holder may then write nothing more of the trial's run.
struct TrialLease {
  std::int64_t trial_id = 0;
  std::int64_t attempt = 0;
  std::string worker;
};

/// One finished epoch.
struct EpochRecord {
  std::int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
  std::optional<double> val_loss, val_accuracy;  // when the dataset has a validation split
  double learning_rate = 0;
  double epoch_seconds = 0;
  double train_images_per_second = 0, test_images_per_second = 0;
  double data_wait_fraction = 0;  // share of the training time spent waiting for batches
  /// Time the training thread spent on the epoch's checkpoint, outside epoch_seconds: serializing
  /// the state, and waiting for the previous epoch's write when it had not finished yet.
  double checkpoint_seconds = 0;
};

/// What one process spent on a run outside its epochs shows in these: start-up (from the
/// process's start to the run's first epoch: loading plugins, building the model, reading or
/// decoding the data) and the whole wall time to the run's end.
struct ProcessTimes {
  double startup_seconds = 0;
  double wall_seconds = 0;
};

/// The accuracy that ranks `epoch` among its run's epochs: of the validation split or the test
/// split. Throws std::logic_error when the validation figure is asked of an epoch without one.
double selection_accuracy(const EpochRecord& epoch, SelectionSplit split);

/// Whether `epoch` beats `best` (none yet: it does) on the selection split; a tie keeps the
/// earlier epoch.
bool better_epoch(const EpochRecord& epoch, const std::optional<EpochRecord>& best, SelectionSplit split);

}  // namespace trainyard
