// Runs and their epochs: begun, recorded, finished, resumed, read back; and what the runs of a
// dead process left behind.
#include "trainyard/store/results_store.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "store_sql.h"
#include "trainyard/errors.h"
#include "trainyard/system/utf8.h"
#include "trainyard/system/process_identity.h"

namespace fs = std::filesystem;

namespace trainyard {

using namespace store_sql;  // the store's shared SQL helpers

double peak_memory_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return buffer;
}

void ResultsStore::heartbeat(std::int64_t run_id) {
  db_->query_idempotent("UPDATE runs SET heartbeat_at = ? WHERE id = ?", {utc_timestamp(), run_id});
}

std::vector<std::int64_t> ResultsStore::mark_abandoned_runs(const std::string& host) {
  // A run still 'running' whose process no longer exists on this host was killed (kill -9, OOM
  // killer, power loss): say so, instead of leaving it running forever. The pid alone is not
  // enough: after a reboot, or once the pid is reused, another process has it (this one, even).
  std::vector<std::int64_t> marked;
  SqlWriteTransaction transaction(*db_);
  const auto running = db_->query(
      "SELECT id, pid, coalesce(pid_start, '') FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL",
      {host});
  for (std::size_t i = 0; i < running.size(); ++i) {
    const auto id = running.integer(i, 0), pid = running.integer(i, 1);
    if (process_is_alive(static_cast<int>(pid), running.text(i, 2))) continue;
    db_->query(R"sql(
      UPDATE runs SET status = 'interrupted', ended_at = coalesce(heartbeat_at, started_at),
                      error = ? WHERE id = ? AND status = 'running')sql",
               {"its process (pid " + std::to_string(pid) + " on " + host +
                    ") ended without finishing the run; last heard of at the time in ended_at",
                id});
    marked.push_back(id);
  }
  transaction.commit();
  return marked;
}

ResumableRun ResultsStore::resume_run(std::int64_t run_id, const std::string& host, const std::string& device) {
  std::vector<std::int64_t> abandoned = mark_abandoned_runs(host);
  SqlWriteTransaction transaction(*db_);
  const auto row = db_->query(R"sql(
    SELECT status, coalesce(host, ''), coalesce(pid, 0), config_yaml, coalesce(experiment_file, ''),
           sweep_id, coalesce(trial_key, '') FROM runs WHERE id = ?)sql",
                              {run_id});
  if (row.empty()) {
    const auto range = db_->query("SELECT coalesce(min(id) || '..' || max(id), 'none') FROM runs").text(0, 0);
    throw InputError("--resume " + std::to_string(run_id) + ": no such run in '" + path_ +
                     "' (run ids there: " + range + ")");
  }
  const RunStatus status = stored_status(row.text(0, 0), run_id);
  if (status == RunStatus::kFinished) {
    throw InputError("--resume " + std::to_string(run_id) + ": the run finished; there is nothing to resume");
  }
  if (status == RunStatus::kRunning) {
    throw InputError("--resume " + std::to_string(run_id) + ": the run is still running (pid " +
                     std::to_string(row.integer(0, 2)) + " on " + row.text(0, 1) + "); stop it first");
  }
  ResumableRun run;
  run.id = run_id;
  run.config_yaml = row.text(0, 3);
  run.experiment_file = row.text(0, 4);
  if (!row.is_null(0, 5)) run.sweep_id = row.integer(0, 5);
  run.trial_key = row.text(0, 6);
  run.abandoned = std::move(abandoned);
  db_->query(R"sql(
    UPDATE runs SET status = 'running', ended_at = NULL, error = NULL, stop_reason = NULL, host = ?, pid = ?, pid_start = ?,
                    heartbeat_at = ?, device = coalesce(?, device) WHERE id = ?)sql",
             {host, static_cast<std::int64_t>(getpid()), text_or_null(process_start_key(getpid())), utc_timestamp(),
              text_or_null(device), run_id});
  transaction.commit();
  return run;
}

void ResultsStore::truncate_epochs(std::int64_t run_id, std::int64_t last_epoch) {
  SqlWriteTransaction transaction(*db_);
  db_->query("DELETE FROM epochs WHERE run_id = ? AND epoch > ?", {run_id, last_epoch});
  // The best of what remains: highest accuracy on the run's selection split, earliest epoch on a
  // tie (as training keeps it).
  const auto select_on = db_->query("SELECT coalesce(select_on, 'test') FROM runs WHERE id = ?", {run_id});
  const std::string accuracy = !select_on.empty() && select_on.text(0, 0) == "val" ? "val_accuracy" : "test_accuracy";
  db_->query("UPDATE runs SET best_epoch = (SELECT epoch FROM epochs WHERE run_id = ? ORDER BY " + accuracy +
                 " DESC, epoch LIMIT 1) WHERE id = ?",
             {run_id, run_id});
  db_->query(
      "UPDATE runs SET best_test_accuracy = (SELECT test_accuracy FROM epochs WHERE run_id = ? AND epoch = "
      "runs.best_epoch), best_selection_accuracy = (SELECT " +
          accuracy + " FROM epochs WHERE run_id = ? AND epoch = runs.best_epoch) WHERE id = ?",
      {run_id, run_id, run_id});
  transaction.commit();
}

std::int64_t ResultsStore::begin_run(const RunRecord& r) {
  SqlWriteTransaction transaction(*db_);
  const auto id = db_->query(R"sql(
    INSERT INTO runs (experiment, experiment_file, config_yaml, status, started_at, host, device,
                      torch_version, seed, model_plugin, dataset_plugin, optimizer_plugin,
                      num_parameters, num_classes, train_size, test_size, precision, sweep_id,
                      trial_key, pid, heartbeat_at, git_revision, world_size, distributed_backend,
                      val_size, select_on, init_source)
    VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    RETURNING id)sql",
                             {r.experiment,
                              r.experiment_file,
                              r.config_yaml,
                              utc_timestamp(),
                              r.host,
                              r.device,
                              r.torch_version,
                              r.seed,
                              r.model_plugin,
                              r.dataset_plugin,
                              r.optimizer_plugin,
                              r.num_parameters,
                              r.num_classes,
                              r.train_size,
                              r.test_size,
                              r.precision,
                              r.sweep_id ? SqlValue{*r.sweep_id} : SqlValue{},
                              r.trial_key,
                              static_cast<std::int64_t>(getpid()),
                              utc_timestamp(),
                              r.git_revision,
                              r.world_size,
                              text_or_null(r.distributed_backend),
                              r.val_size,
                              std::string(to_string(r.select_on)),
                              text_or_null(valid_utf8(r.init_source))})
                      .integer(0, 0);
  // The run's folder, named with the database's tag so no other database's run 'id' shares it.
  const std::string run_dir =
      r.checkpoint_root.empty() ? std::string() : (fs::path(r.checkpoint_root) / run_folder_name(id)).string();
  db_->query("UPDATE runs SET run_dir = ?, working_dir = ?, pid_start = ? WHERE id = ?",
             {text_or_null(run_dir), text_or_null(r.working_dir), text_or_null(process_start_key(getpid())), id});
  insert_config_rows(*db_, "run_config", id, r.config_yaml);
  for (const auto& [key, value] : r.overrides) {
    db_->query("INSERT INTO run_overrides (run_id, key, value) VALUES (?, ?, ?)", {id, key, value});
  }
  transaction.commit();
  return id;
}

bool ResultsStore::record_epoch(std::int64_t run_id, const EpochRecord& e, bool new_best,
                                const std::string& checkpoint_path, const TrialLease* lease) {
  SqlWriteTransaction transaction(*db_);
  if (lease && !holds_trial(*lease)) return false;  // rolled back: nothing written
  db_->query(
      R"sql(
    INSERT INTO epochs (run_id, epoch, train_loss, train_accuracy, val_loss, val_accuracy, test_loss,
                        test_accuracy, learning_rate, epoch_seconds, train_images_per_second,
                        test_images_per_second, data_wait_fraction, checkpoint_seconds, finished_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql",
      {run_id, e.epoch, e.train_loss, e.train_accuracy, real_or_null(e.val_loss), real_or_null(e.val_accuracy),
       e.test_loss, e.test_accuracy, e.learning_rate, e.epoch_seconds, e.train_images_per_second,
       e.test_images_per_second, e.data_wait_fraction, e.checkpoint_seconds, utc_timestamp()});
  heartbeat(run_id);
  if (new_best) {
    // The selection split's accuracy is the val figure only for a run that selects on it.
    db_->query(R"sql(
      UPDATE runs SET best_epoch = ?, best_test_accuracy = ?, checkpoint_path = ?,
        best_selection_accuracy = CASE WHEN select_on = 'val' THEN CAST(? AS DOUBLE PRECISION)
                                  ELSE CAST(? AS DOUBLE PRECISION) END WHERE id = ?)sql",
               {e.epoch, e.test_accuracy, checkpoint_path, real_or_null(e.val_accuracy), e.test_accuracy, run_id});
  }
  transaction.commit();
  return true;
}

void ResultsStore::add_process_times(std::int64_t run_id, const ProcessTimes& times) {
  db_->query(R"sql(
    UPDATE runs SET startup_seconds = coalesce(startup_seconds, 0) + CAST(? AS DOUBLE PRECISION),
                    wall_seconds = coalesce(wall_seconds, 0) + CAST(? AS DOUBLE PRECISION) WHERE id = ?)sql",
             {times.startup_seconds, times.wall_seconds, run_id});
}

void ResultsStore::finish_run(std::int64_t run_id, RunStatus status, const std::string& error,
                              const std::string& stop_reason) {
  db_->query_idempotent(
      "UPDATE runs SET status = ?, ended_at = ?, error = ?, stop_reason = ?, peak_memory_mib = ? WHERE id = ?",
      {std::string(to_string(status)), utc_timestamp(), text_or_null(error), text_or_null(valid_utf8(stop_reason)),
       peak_memory_mib(), run_id});
}

std::optional<StoredRun> ResultsStore::run(std::int64_t run_id) const {
  const auto row = db_->query(R"sql(
    SELECT id, experiment, status, config_yaml, started_at, coalesce(ended_at, ''),
           coalesce(device, ''), coalesce(error, ''), coalesce(checkpoint_path, ''),
           best_epoch, best_test_accuracy, coalesce(precision, ''), peak_memory_mib,
           coalesce(run_dir, ''), coalesce(working_dir, ''), (SELECT count(*) FROM epochs WHERE run_id = runs.id),
           coalesce(init_source, ''), coalesce(stop_reason, ''), sweep_id, coalesce(trial_key, '')
    FROM runs WHERE id = ?)sql",
                              {run_id});
  if (row.empty()) return std::nullopt;
  StoredRun r;
  r.id = row.integer(0, 0);
  r.experiment = row.text(0, 1);
  r.status = stored_status(row.text(0, 2), r.id);
  r.config_yaml = row.text(0, 3);
  r.started_at = row.text(0, 4);
  r.ended_at = row.text(0, 5);
  r.device = row.text(0, 6);
  r.error = row.text(0, 7);
  r.checkpoint_path = row.text(0, 8);
  if (!row.is_null(0, 9)) r.best_epoch = row.integer(0, 9);
  if (!row.is_null(0, 10)) r.best_test_accuracy = row.real(0, 10);
  r.precision = row.text(0, 11);
  if (!row.is_null(0, 12)) r.peak_memory_mib = row.real(0, 12);
  r.run_dir = row.text(0, 13);
  r.working_dir = row.text(0, 14);
  r.epoch_count = row.integer(0, 15);
  r.init_source = row.text(0, 16);
  r.stop_reason = row.text(0, 17);
  if (!row.is_null(0, 18)) r.sweep_id = row.integer(0, 18);
  r.trial_key = row.text(0, 19);
  return r;
}

std::vector<EpochRecord> ResultsStore::epochs(std::int64_t run_id) const {
  const auto rows = db_->query(R"sql(
    SELECT epoch, train_loss, train_accuracy, test_loss, test_accuracy, learning_rate,
           epoch_seconds, train_images_per_second, test_images_per_second, data_wait_fraction,
           val_loss, val_accuracy, checkpoint_seconds
    FROM epochs WHERE run_id = ? ORDER BY epoch)sql",
                               {run_id});
  std::vector<EpochRecord> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    // Early files may lack a figure (NULL): it reads as 0, as it always did.
    auto real = [&](std::size_t column) { return rows.is_null(i, column) ? 0.0 : rows.real(i, column); };
    EpochRecord e;
    e.epoch = rows.integer(i, 0);
    e.train_loss = real(1);
    e.train_accuracy = real(2);
    e.test_loss = real(3);
    e.test_accuracy = real(4);
    e.learning_rate = real(5);
    e.epoch_seconds = real(6);
    e.train_images_per_second = real(7);
    e.test_images_per_second = real(8);
    e.data_wait_fraction = real(9);
    if (!rows.is_null(i, 10)) e.val_loss = rows.real(i, 10);
    if (!rows.is_null(i, 11)) e.val_accuracy = rows.real(i, 11);
    e.checkpoint_seconds = real(12);
    out.push_back(e);
  }
  return out;
}

}  // namespace trainyard
