// Where a run's record goes. The trainer calls a RunRecorder at the run's start, after each
// epoch and at its end; it never knows the storage engine (Lightning's Logger does the same job).
// The results store's implementation is StoreRecorder (trainyard/store/store_recorder.h); ranks
// above 0 of a data-parallel run, whose rank 0 keeps the record, use NullRecorder.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "trainyard/train/run_record.h"

namespace trainyard {

class RunRecorder {
 public:
  virtual ~RunRecorder();

  /// Starts a new run's record; returns its id (the checkpoint folder is named after it).
  virtual std::int64_t begin_run(const RunRecord& run) = 0;
  /// Takes run `run_id` up again in this process. Throws InputError when it cannot be resumed
  /// (unknown, finished, or still alive elsewhere).
  virtual void resume_run(std::int64_t run_id, const std::string& host) = 0;
  /// A resumed run continues after `last_epoch`: drops the record's later epochs (they will be
  /// trained again) and returns those kept, in order.
  virtual std::vector<EpochRecord> keep_epochs(std::int64_t run_id, std::int64_t last_epoch) = 0;
  /// One finished epoch; `new_best` names `checkpoint_path` as the run's best (already written).
  virtual void record_epoch(std::int64_t run_id, const EpochRecord& epoch, bool new_best,
                            const std::string& checkpoint_path) = 0;
  virtual void finish_run(std::int64_t run_id, RunStatus status, const std::string& error) = 0;
  /// Where the record is, for messages (a URL's password hidden).
  virtual std::string location() const = 0;
};

/// Keeps nothing: for a process whose run is recorded by another (a rank above 0).
class NullRecorder final : public RunRecorder {
 public:
  explicit NullRecorder(std::string location) : location_(std::move(location)) {}
  std::int64_t begin_run(const RunRecord&) override { return 0; }
  void resume_run(std::int64_t, const std::string&) override {}
  std::vector<EpochRecord> keep_epochs(std::int64_t, std::int64_t) override { return {}; }
  void record_epoch(std::int64_t, const EpochRecord&, bool, const std::string&) override {}
  void finish_run(std::int64_t, RunStatus, const std::string&) override {}
  std::string location() const override { return location_; }

 private:
  std::string location_;
};

}  // namespace trainyard
