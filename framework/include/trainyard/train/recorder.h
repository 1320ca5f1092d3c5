// Where a run's record goes. The trainer calls a RunRecorder at the run's start, after each
// epoch and at its end; it never knows the storage engine (Lightning's Logger does the same job).
// The results store's implementation is StoreRecorder (trainyard/store/store_recorder.h); ranks
// above 0 of a data-parallel run, whose rank 0 keeps the record, use NullRecorder.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "trainyard/train/run_record.h"

namespace trainyard {

/// What a record holds of one run, read without changing it.
struct RecordedRun {
  bool exists = false;  // false: no such run in the record
  /// The run's checkpoint folder, absolute, as the record named it when the run began; empty when
  /// the record does not name one (a record from before folders were named, a NullRecorder): the
  /// run then uses <output.checkpoints>/run-<id>.
  std::string checkpoint_folder;
  std::int64_t epochs = 0;  // recorded so far
  RunStatus status = RunStatus::kRunning;
};

/// Thrown by a recorder when the run is no longer this process's to write: the sweep worker that
/// started it lost the trial's lease (it stalled past --lease) and another worker took the trial
/// over. The run stops at once and writes nothing more (no checkpoint, no epoch, not its end).
class RunTakenOver : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RunRecorder {
 public:
  virtual ~RunRecorder();

  /// Starts a new run's record; returns its id. The record names the run's checkpoint folder
  /// (see recorded_run), under `run.checkpoint_root`.
  virtual std::int64_t begin_run(const RunRecord& run) = 0;
  /// Takes run `run_id` up again in this process. Throws InputError when it cannot be resumed
  /// (unknown, finished, or still alive elsewhere).
  /// `host` and `device` say where it runs now (a sweep may give it another slot's GPU or threads).
  virtual void resume_run(std::int64_t run_id, const std::string& host, const std::string& device) = 0;
  /// A resumed run continues after `last_epoch`: drops the record's later epochs (they will be
  /// trained again) and returns those kept, in order.
  virtual std::vector<EpochRecord> keep_epochs(std::int64_t run_id, std::int64_t last_epoch) = 0;
  /// One finished epoch; `new_best` names `checkpoint_path` as the run's best (empty when
  /// output.keep writes no best.pt). The file is written after the record, off the training
  /// thread; the run's end waits for it, and a failed write fails the run.
  virtual void record_epoch(std::int64_t run_id, const EpochRecord& epoch, bool new_best,
                            const std::string& checkpoint_path) = 0;
  /// The run's end: `error` says why it failed or was interrupted; `stop_reason` why a finished
  /// run ended before train.epochs (early stopping); each empty otherwise.
  virtual void finish_run(std::int64_t run_id, RunStatus status, const std::string& error,
                          const std::string& stop_reason) = 0;
  /// The process's start-up and wall time for the run, just before finish_run (a resumed run
  /// adds each process's). Keeps nothing by default.
  virtual void record_process_times(std::int64_t run_id, const ProcessTimes& times) {
    (void)run_id;
    (void)times;
  }
  /// Where the record is, for messages (a URL's password hidden).
  virtual std::string location() const = 0;
  /// Throws RunTakenOver when this process may no longer write run `run_id`. Called before each
  /// epoch's checkpoints are written; record_epoch and finish_run check it themselves.
  virtual void confirm_writer(std::int64_t run_id) { (void)run_id; }
  /// Run `run_id` as the record holds it (its folder, epochs and status).
  virtual RecordedRun recorded_run(std::int64_t run_id) const {
    (void)run_id;
    return {};
  }
};

/// Keeps nothing: for a process whose run is recorded by another (a rank above 0).
class NullRecorder final : public RunRecorder {
 public:
  explicit NullRecorder(std::string location) : location_(std::move(location)) {}
  std::int64_t begin_run(const RunRecord&) override { return 0; }
  void resume_run(std::int64_t, const std::string&, const std::string&) override {}
  std::vector<EpochRecord> keep_epochs(std::int64_t, std::int64_t) override { return {}; }
  void record_epoch(std::int64_t, const EpochRecord&, bool, const std::string&) override {}
  void finish_run(std::int64_t, RunStatus, const std::string&, const std::string&) override {}
  std::string location() const override { return location_; }

 private:
  std::string location_;
};

}  // namespace trainyard
