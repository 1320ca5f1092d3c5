// The results store as a run's recorder, and the run as the runner starts it: train_run
// recording into the experiment's output.db.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "trainyard/store/results_store.h"
#include "trainyard/train/recorder.h"
#include "trainyard/train/training_run.h"

namespace trainyard {

class StoreRecorder final : public RunRecorder {
 public:
  /// Opens (creating, migrating) the database at `location`; throws StoreError as ResultsStore does.
  /// With a `lease` (a trial a sweep worker runs), every write first checks that the lease still
  /// holds, and throws RunTakenOver, writing nothing, once another worker has the trial.
  explicit StoreRecorder(const std::string& location, std::optional<TrialLease> lease = std::nullopt);

  std::int64_t begin_run(const RunRecord& run) override;
  void resume_run(std::int64_t run_id, const std::string& host, const std::string& device) override;
  std::vector<EpochRecord> keep_epochs(std::int64_t run_id, std::int64_t last_epoch) override;
  void record_epoch(std::int64_t run_id, const EpochRecord& epoch, bool new_best,
                    const std::string& checkpoint_path) override;
  void finish_run(std::int64_t run_id, RunStatus status, const std::string& error,
                  const std::string& stop_reason) override;
  void record_process_times(std::int64_t run_id, const ProcessTimes& times) override;
  std::string location() const override { return store_.path(); }
  RecordedRun recorded_run(std::int64_t run_id) const override;
  void confirm_writer(std::int64_t run_id) override;

 private:
  // Runs of this host left 'running' by a process that is gone are marked interrupted first.
  void mark_abandoned_runs(const std::string& host);
  // `runner --nproc` asks rank 0 where its run is recorded (TRAINYARD_RUN_RECORD_FILE), so that
  // it can mark the run failed should rank 0 itself die.
  void announce_run(std::int64_t run_id) const;

  std::string location_;  // as configured (a URL with its password: never logged)
  ResultsStore store_;
  std::optional<TrialLease> lease_;
};

/// train_run with the experiment's results store (output.db) as its recorder.
RunOutcome run_experiment(const ExperimentConfig& config, const PluginRegistry& registry,
                          const RunOptions& options = {});

}  // namespace trainyard
