#include "trainyard/store/store_recorder.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "trainyard/store/postgres_connection.h"

namespace fs = std::filesystem;

namespace trainyard {

StoreRecorder::StoreRecorder(const std::string& location, std::optional<TrialLease> lease)
    : location_(location), store_(location), lease_(std::move(lease)) {}

namespace {
RunTakenOver taken_over(std::int64_t run_id, const TrialLease& lease) {
  return RunTakenOver("run " + std::to_string(run_id) + ": worker " + lease.worker + " no longer holds trial " +
                      std::to_string(lease.trial_id) +
                      " (its lease lapsed and another worker took the trial over); this copy stops "
                      "without writing anything more");
}
}  // namespace

void StoreRecorder::confirm_writer(std::int64_t run_id) {
  if (lease_ && !store_.holds_trial(*lease_)) throw taken_over(run_id, *lease_);
}

void StoreRecorder::mark_abandoned_runs(const std::string& host) {
  for (const auto id : store_.mark_abandoned_runs(host)) {
    spdlog::warn("run {} in {} was left 'running' by a process that is gone; marked interrupted", id, store_.path());
  }
}

void StoreRecorder::announce_run(std::int64_t run_id) const {
  const char* file = std::getenv("TRAINYARD_RUN_RECORD_FILE");
  if (!file || !*file) return;
  std::ofstream out(file, std::ios::trunc);
  out << run_id << "\n" << (is_postgres_url(location_) ? location_ : fs::absolute(location_).string()) << "\n";
}

std::int64_t StoreRecorder::begin_run(const RunRecord& run) {
  mark_abandoned_runs(run.host);
  const std::int64_t id = store_.begin_run(run);
  announce_run(id);
  return id;
}

void StoreRecorder::resume_run(std::int64_t run_id, const std::string& host, const std::string& device) {
  // The store marks the runs a dead process left 'running' first (once: this called it too).
  for (const auto id : store_.resume_run(run_id, host, device).abandoned) {
    spdlog::warn("run {} in {} was left 'running' by a process that is gone; marked interrupted", id, store_.path());
  }
  announce_run(run_id);
}

std::vector<EpochRecord> StoreRecorder::keep_epochs(std::int64_t run_id, std::int64_t last_epoch) {
  store_.truncate_epochs(run_id, last_epoch);
  return store_.epochs(run_id);
}

void StoreRecorder::record_epoch(std::int64_t run_id, const EpochRecord& epoch, bool new_best,
                                 const std::string& checkpoint_path) {
  if (!store_.record_epoch(run_id, epoch, new_best, checkpoint_path, lease_ ? &*lease_ : nullptr)) {
    throw taken_over(run_id, *lease_);
  }
}

void StoreRecorder::finish_run(std::int64_t run_id, RunStatus status, const std::string& error,
                               const std::string& stop_reason) {
  confirm_writer(run_id);
  store_.finish_run(run_id, status, error, stop_reason);
}

void StoreRecorder::record_process_times(std::int64_t run_id, const ProcessTimes& times) {
  confirm_writer(run_id);
  store_.add_process_times(run_id, times);
}

RecordedRun StoreRecorder::recorded_run(std::int64_t run_id) const {
  const auto run = store_.run(run_id);
  if (!run) return {};
  return RecordedRun{true, run->run_dir, run->epoch_count, run->status};
}

RunOutcome run_experiment(const ExperimentConfig& config, const PluginRegistry& registry, const RunOptions& options) {
  return train_run(config, registry, options,
                   [&] { return std::make_unique<StoreRecorder>(config.output.db, options.trial_lease); });
}

}  // namespace trainyard
