// train_run: set-up (run_setup.h), the run's record (a RunRecorder), the epoch loop over the
// Trainer's passes, the callbacks around each epoch, and the run's end.
#include "trainyard/train/training_run.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <spdlog/spdlog.h>

#include "builtin_callbacks.h"
#include "checkpoint_writer.h"
#include "early_stopping.h"
#include "run_setup.h"
#include "trainer.h"
#include "trainyard/errors.h"
#include "trainyard/system/process_identity.h"
#include "trainyard/train/checkpoint.h"

namespace fs = std::filesystem;

namespace trainyard {

RunRecorder::~RunRecorder() = default;

namespace {

using Clock = std::chrono::steady_clock;

std::string read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw std::runtime_error("cannot read '" + path.string() + "'");
  return bytes;
}

EpochRecord epoch_record(std::int64_t epoch, const EpochTotals& train, const EpochTotals& test,
                         const std::optional<EpochTotals>& val, double seconds) {
  EpochRecord e;
  if (val) {
    e.val_loss = val->loss;
    e.val_accuracy = val->accuracy;
  }
  e.epoch = epoch;
  e.train_loss = train.loss;
  e.train_accuracy = train.accuracy;
  e.test_loss = test.loss;
  e.test_accuracy = test.accuracy;
  e.learning_rate = train.learning_rate;
  e.epoch_seconds = seconds;
  e.train_images_per_second = static_cast<double>(train.samples) / train.seconds;
  e.test_images_per_second = static_cast<double>(test.samples) / test.seconds;
  e.data_wait_fraction = train.wait_seconds / train.seconds;
  return e;
}

// One run from its first epoch (or where it resumes) to its end.
class RunLoop {
 public:
  RunLoop(const ExperimentConfig& config, const RunOptions& options, ExecutionPlan& plan, RunObjects& objects,
          Trainer& trainer, RunRecorder& recorder, RunOutcome& outcome, fs::path run_folder,
          std::vector<std::shared_ptr<TrainingCallback>> callbacks)
      : config_(config),
        options_(options),
        plan_(plan),
        objects_(objects),
        recorder_(recorder),
        outcome_(outcome),
        trainer_(trainer),
        run_folder_(std::move(run_folder)),
        callbacks_(std::move(callbacks)) {
    if (plan.writer()) {
      const FaultInjector& faults = options.faults;
      checkpoints_ = std::make_unique<CheckpointWriter>(run_folder_, config.output.best_optimizer,
                                                        [&faults](std::int64_t epoch) { faults.in_checkpoint(epoch); });
      config_yaml_ = config.to_yaml();
    }
  }

  // Trains the remaining epochs and records how the run ended. A failure is recorded, not thrown.
  void run() {
    bool stopped = false;
    try {
      std::int64_t first_epoch = 1;
      if (options_.resume_run_id) first_epoch = resume() + 1;
      times_.startup_seconds = process_uptime_seconds();
      if (outcome_.stop_reason.empty()) stopped = train_epochs(first_epoch);
      if (checkpoints_) checkpoints_->wait();  // on the disk before the run's end is recorded
      outcome_.status = stopped ? RunStatus::kInterrupted : pruned_ ? RunStatus::kPruned : RunStatus::kFinished;
      record_process_times();
      recorder_.finish_run(outcome_.run_id, outcome_.status, stopped ? "interrupted by a signal" : "",
                           outcome_.stop_reason);
      if (stopped)
        spdlog::warn("run {} interrupted after {} finished epoch(s)", outcome_.run_id, outcome_.epochs.size());
      if (!outcome_.stop_reason.empty())
        spdlog::info("run {} ended after epoch {}: {}", outcome_.run_id, outcome_.epochs.size(), outcome_.stop_reason);
    } catch (const RunTakenOver& e) {
      // Another process owns the run now: record nothing, not even this.
      outcome_.status = RunStatus::kFailed;
      outcome_.error = e.what();
      outcome_.taken_over = true;
      spdlog::error("{}", outcome_.error);
    } catch (...) {
      record_failure(std::current_exception());
    }
    for (auto& callback : callbacks_) callback->on_run_end(outcome_.status);
  }

 private:
  // Continues where the last checkpoint stands: epochs recorded after it are done again (they
  // come out the same), and the best so far is what the record holds up to it. Over several
  // processes rank 0 reads the checkpoint and sends its bytes to the others, so they need not see
  // its folder. Returns the epochs done.
  std::int64_t resume() {
    if (checkpoints_) checkpoints_->remove_leftovers();
    const fs::path last = run_folder_ / "last.pt";
    std::string saved_bytes;
    if (plan_.writer() && fs::exists(last)) saved_bytes = read_file_bytes(last);
    if (plan_.communicator) plan_.communicator->broadcast_bytes(saved_bytes);
    std::int64_t done = 0;
    if (!saved_bytes.empty()) {
      // A run's last epoch leaves last.pt without optimizer state (checkpoint_writer.h): a run
      // killed after it was written has every epoch done and is only finished here.
      const auto saved = load_checkpoint_bytes(saved_bytes, *objects_.model, objects_.optimizer.get());
      if (!saved.has_optimizer && saved.epoch != config_.train.epochs) {
        throw InputError("checkpoint '" + last.string() + "' holds no optimizer state: it is the final checkpoint of " +
                         std::to_string(saved.epoch) + " epochs, and the run has " +
                         std::to_string(config_.train.epochs) + "; it cannot be trained on");
      }
      const std::string owner = run_folder_.filename().string();
      if (plan_.writer() && !saved.owner.empty() && saved.owner != owner) {  // the others have no folder
        throw InputError("checkpoint '" + last.string() + "' belongs to " + saved.owner + ", not to " + owner +
                         " (this run); it was not loaded, and the run's recorded epochs are kept");
      }
      done = saved.epoch;
      restore_generator_states(saved.generator_states, plan_.device);
      trainer_.restore_loss_scale(saved.loss_scale, saved.loss_scale_clean_steps);
    }
    if (saved_bytes.empty() && plan_.writer() &&
        expects_last_checkpoint(config_.output, recorder_.recorded_run(outcome_.run_id).epochs)) {
      // The file went between the check before the resume and here: never trade epochs for it.
      throw InputError("checkpoint '" + last.string() + "' is missing; the run's recorded epochs are kept");
    }
    outcome_.epochs = recorder_.keep_epochs(outcome_.run_id, done);
    for (const auto& e : outcome_.epochs) {
      if (better_epoch(e, outcome_.best, objects_.select_on)) outcome_.best = e;
    }
    if (outcome_.best) outcome_.checkpoint_path = (run_folder_ / "best.pt").string();
    spdlog::info("run {} resumed after epoch {} of {}", outcome_.run_id, done, config_.train.epochs);
    RunResume resumed{outcome_.epochs, config_.train.epochs};
    for (auto& callback : callbacks_) callback->on_resume(resumed);
    if (resumed.stop) outcome_.stop_reason = resumed.stop_reason;  // it had ended there: train no more
    return done;
  }

  // Returns true when a signal stopped the run (on any process); false when it ran to its end or
  // a callback ended it.
  bool train_epochs(std::int64_t first_epoch) {
    for (std::int64_t epoch = first_epoch; epoch <= config_.train.epochs; ++epoch) {
      const auto epoch_start = Clock::now();
      const auto train = trainer_.pass(Split::kTrain, epoch);
      if (!train) return true;
      std::optional<EpochTotals> val;
      if (objects_.dataset->size(Split::kVal) > 0 && !(val = trainer_.pass(Split::kVal, epoch))) return true;
      const auto test = trainer_.pass(Split::kTest, epoch);
      if (!test) return true;
      const EpochRecord record =
          epoch_record(epoch, *train, *test, val, std::chrono::duration<double>(Clock::now() - epoch_start).count());
      if (!end_epoch(record)) break;
    }
    return false;
  }

  // Runs the callbacks, the checkpoint and the recorder around one finished epoch; false when a
  // callback asked the run to end here. The state is serialized before the epoch is recorded (so
  // the record holds what it cost) and written after (the resume point, last.pt, is never ahead
  // of the record), on the writer thread while the next epoch trains. The record may so name a
  // best.pt still being written: a run's end waits for it, and a failed write fails the run.
  bool end_epoch(EpochRecord record) {
    EpochEnd end{record, config_.train.epochs, objects_.select_on};
    end.new_best = better_epoch(record, outcome_.best, objects_.select_on);
    recorder_.confirm_writer(outcome_.run_id);  // before the checkpoints are written
    for (auto& callback : callbacks_) callback->on_epoch_end(end);
    CheckpointTargets targets;
    if (checkpoints_) {
      targets = checkpoint_targets(config_.output, record.epoch, config_.train.epochs, end.stop, end.new_best);
      if (targets.any()) record.checkpoint_seconds = snapshot_state(record, targets);
    }
    const std::string best_path = targets.best ? checkpoints_->best_path().string() : "";
    recorder_.record_epoch(outcome_.run_id, record, end.new_best, best_path);
    if (checkpoints_) checkpoints_->write_in_background(record.epoch);
    if (end.new_best) {
      outcome_.best = record;
      outcome_.checkpoint_path = best_path;
    }
    outcome_.epochs.push_back(record);
    for (auto& callback : callbacks_) callback->on_epoch_recorded(end);
    if (checkpoints_ && options_.faults.acts_after_epoch(record.epoch)) checkpoints_->wait();
    options_.faults.after_epoch(record.epoch);
    if (end.stop) outcome_.stop_reason = end.stop_reason.empty() ? "stopped by a callback" : end.stop_reason;
    pruned_ = end.stop && end.pruned;
    return !end.stop;
  }

  // Serializes the epoch's state for the checkpoint writer; returns the seconds the training
  // thread spent on it, the wait for the previous epoch's write included.
  double snapshot_state(const EpochRecord& record, CheckpointTargets targets) {
    const auto start = Clock::now();
    CheckpointInfo info;
    info.epoch = record.epoch;
    info.test_accuracy = record.test_accuracy;
    info.class_names = objects_.class_names;
    info.config_yaml = config_yaml_;
    info.owner = run_folder_.filename().string();
    info.generator_states = generator_states(plan_.device);
    info.loss_scale = trainer_.loss_scale();
    info.loss_scale_clean_steps = trainer_.loss_scale_clean_steps();
    checkpoints_->snapshot(*objects_.model, *objects_.optimizer, info, targets);
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  // What this process spent on the run outside its epochs, for the record.
  void record_process_times() {
    times_.wall_seconds = process_uptime_seconds();
    recorder_.record_process_times(outcome_.run_id, times_);
  }

  void record_failure(std::exception_ptr error) {
    outcome_.status = RunStatus::kFailed;
    outcome_.error = exception_message(error);
    spdlog::error("run {} failed: {}", outcome_.run_id, outcome_.error);
    try {
      if (checkpoints_) checkpoints_->wait();  // the previous epoch's files settle before the end
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
    }
    try {
      record_process_times();
      recorder_.finish_run(outcome_.run_id, outcome_.status, outcome_.error, "");
    } catch (const std::exception& e) {
      spdlog::error("could not record the failure in '{}': {}", outcome_.db_path, e.what());
    }
  }

  const ExperimentConfig& config_;
  const RunOptions& options_;
  ExecutionPlan& plan_;
  RunObjects& objects_;
  RunRecorder& recorder_;
  RunOutcome& outcome_;
  Trainer& trainer_;
  fs::path run_folder_;
  std::unique_ptr<CheckpointWriter> checkpoints_;  // rank 0's: the process that keeps the record
  std::string config_yaml_;                        // what each checkpoint carries
  bool pruned_ = false;                            // a pruner ended the run
  ProcessTimes times_;
  std::vector<std::shared_ptr<TrainingCallback>> callbacks_;
};

// The run's checkpoint folder as its record names it; a record that names none (one from before
// folders carried the database's tag) keeps the old <output.checkpoints>/run-<id>.
fs::path checkpoint_folder(const RunRecorder& recorder, std::int64_t run_id, const ExperimentConfig& config) {
  const RecordedRun recorded = recorder.recorded_run(run_id);
  if (!recorded.checkpoint_folder.empty()) return recorded.checkpoint_folder;
  return fs::path(config.output.checkpoints) / ("run-" + std::to_string(run_id));
}

// What runs around each epoch: its log line, early stopping when it is on, then the caller's.
// Throws InputError (before the run is recorded) for an early-stopping metric the run lacks.
std::vector<std::shared_ptr<TrainingCallback>> run_callbacks(const ExperimentConfig& config, const RunObjects& objects,
                                                             const RunOptions& options) {
  std::vector<std::shared_ptr<TrainingCallback>> callbacks{std::make_shared<EpochLogCallback>()};
  const bool has_val = objects.dataset->size(Split::kVal) > 0;
  if (auto stopping = make_early_stopping(config.train.early_stopping, objects.select_on, has_val))
    callbacks.push_back(std::move(stopping));
  callbacks.insert(callbacks.end(), options.callbacks.begin(), options.callbacks.end());
  return callbacks;
}

// A run with recorded epochs continues from its last checkpoint; without that file a resume
// would have to throw the epochs away and start over. Refuse before anything changes.
void refuse_resume_without_checkpoint(const RunRecorder& recorder, std::int64_t run_id,
                                      const ExperimentConfig& config) {
  const RecordedRun recorded = recorder.recorded_run(run_id);
  if (recorded.status == RunStatus::kFinished || !expects_last_checkpoint(config.output, recorded.epochs))
    return;  // the store refuses it, or nothing to lose (no last.pt was due yet: the run starts over)
  const fs::path last = checkpoint_folder(recorder, run_id, config) / "last.pt";
  std::error_code ec;
  if (fs::exists(last, ec)) return;
  throw InputError("--resume " + std::to_string(run_id) + ": the run recorded " + std::to_string(recorded.epochs) +
                   " epoch(s), but its checkpoint '" + fs::absolute(last, ec).string() +
                   "' is missing; nothing was changed (put the file back there to continue the run)");
}

}  // namespace

RunOutcome train_run(const ExperimentConfig& config, const PluginRegistry& registry, const RunOptions& options,
                     const RecorderFactory& open_recorder) {
  // Everything that can reject the input happens before the run is recorded. Over several
  // processes only rank 0 keeps the record and writes checkpoints.
  ExecutionPlan plan = plan_execution(config);
  std::unique_ptr<RunRecorder> recorder;
  if (plan.writer()) {
    recorder = open_recorder();
    check_writable_folder(config.output.checkpoints, "output.checkpoints");
  } else {
    recorder = std::make_unique<NullRecorder>("rank 0's record");
  }
  // Fine-tuning starts a run, never a resume: a resumed model continues from its own last.pt.
  std::optional<ModelInitSource> init;
  if (!config.model_init.from.empty() && !options.resume_run_id && plan.writer())
    init = resolve_init_source(config, *recorder);
  RunObjects objects = build_run_objects(config, registry, plan, init ? &*init : nullptr);
  auto callbacks = run_callbacks(config, objects, options);
  Trainer trainer(config, plan, objects, options);
  RunRecord record = describe_run(config, registry, plan, objects);
  record.sweep_id = options.sweep_id;
  record.trial_key = options.trial_key;
  for (const auto& o : options.trial_overrides) record.overrides.emplace_back(o.key, o.value);

  RunOutcome outcome;
  outcome.db_path = recorder->location();
  outcome.num_parameters = objects.num_parameters;
  outcome.select_on = objects.select_on;
  if (options.resume_run_id) {
    if (plan.writer()) refuse_resume_without_checkpoint(*recorder, *options.resume_run_id, config);
    recorder->resume_run(*options.resume_run_id, record.host, record.device);
    outcome.run_id = *options.resume_run_id;
  } else {
    outcome.run_id = recorder->begin_run(record);
  }
  fs::path run_folder = checkpoint_folder(*recorder, outcome.run_id, config);
  spdlog::info(
      "run {} started: {} epochs, batch {}{}, {} train / {} test images", outcome.run_id, config.train.epochs,
      config.train.batch_size,
      plan.launch.distributed() ? fmt::format(" per process x {} processes", plan.launch.world_size) : std::string(),
      record.train_size, record.test_size);
  RunLoop(config, options, plan, objects, trainer, *recorder, outcome, std::move(run_folder), std::move(callbacks))
      .run();
  return outcome;
}

}  // namespace trainyard
