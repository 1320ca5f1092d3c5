#include "trainyard/results_store.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <ctime>
#include <filesystem>

#include <SQLiteCpp/SQLiteCpp.h>

#include "trainyard/config_rows.h"
#include "trainyard/errors.h"

namespace fs = std::filesystem;

namespace trainyard {

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::kRunning: return "running";
    case RunStatus::kFinished: return "finished";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kInterrupted: return "interrupted";
  }
  return "unknown";
}

double peak_memory_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;   // Linux reports KiB
}

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return buffer;
}

namespace {

// Migration N takes a database from schema version N-1 to N. Append, never edit: files written
// by earlier builds replay exactly these steps.
const char* const kMigrations[] = {
    // 1: runs and their epochs.
    R"sql(
    CREATE TABLE runs (
      id                 INTEGER PRIMARY KEY,
      experiment         TEXT NOT NULL,
      experiment_file    TEXT,
      config_yaml        TEXT NOT NULL,
      status             TEXT NOT NULL
                         CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
      started_at         TEXT NOT NULL,
      ended_at           TEXT,
      host               TEXT,
      device             TEXT,
      torch_version      TEXT,
      seed               INTEGER,
      model_plugin       TEXT,
      dataset_plugin     TEXT,
      optimizer_plugin   TEXT,
      num_parameters     INTEGER,
      num_classes        INTEGER,
      train_size         INTEGER,
      test_size          INTEGER,
      best_epoch         INTEGER,
      best_test_accuracy REAL,
      checkpoint_path    TEXT,
      error              TEXT
    );
    CREATE INDEX runs_by_experiment ON runs (experiment, started_at);
    CREATE TABLE epochs (
      run_id                  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      epoch                   INTEGER NOT NULL,
      train_loss              REAL,
      train_accuracy          REAL,
      test_loss               REAL,
      test_accuracy           REAL,
      learning_rate           REAL,
      epoch_seconds           REAL,
      train_images_per_second REAL,
      test_images_per_second  REAL,
      data_wait_fraction      REAL,
      finished_at             TEXT NOT NULL,
      PRIMARY KEY (run_id, epoch)
    );
    )sql",
    // 2: what precision actually ran ("auto" in the config resolves per machine), and peak memory.
    R"sql(
    ALTER TABLE runs ADD COLUMN precision TEXT;
    ALTER TABLE runs ADD COLUMN peak_memory_mib REAL;
    )sql",
    // 3: sweeps, the overrides each run was started with (queryable), and the process behind a
    // running run, so one whose process died can be told from one still going.
    R"sql(
    CREATE TABLE sweeps (
      id              INTEGER PRIMARY KEY,
      name            TEXT NOT NULL,
      experiment_file TEXT NOT NULL,
      spec_yaml       TEXT NOT NULL,
      created_at      TEXT NOT NULL,
      UNIQUE (name, experiment_file)
    );
    ALTER TABLE runs ADD COLUMN sweep_id INTEGER REFERENCES sweeps (id);
    ALTER TABLE runs ADD COLUMN trial_key TEXT;
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
    CREATE INDEX runs_by_sweep ON runs (sweep_id, trial_key);
    CREATE TABLE run_overrides (
      run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      key    TEXT NOT NULL,
      value  TEXT NOT NULL,
      PRIMARY KEY (run_id, key)
    );
    )sql",
    // 4: every resolved config value as a row (filter and compare runs by any key), the git
    // revision of the experiment file's repository, an index for "best runs first", and the views
    // of kViews (created after this step, with run_config filled in for existing runs).
    R"sql(
    ALTER TABLE runs ADD COLUMN git_revision TEXT;
    CREATE TABLE run_config (
      run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      key    TEXT NOT NULL,
      value  TEXT NOT NULL,
      number REAL,
      PRIMARY KEY (run_id, key)
    );
    CREATE INDEX run_config_by_value ON run_config (key, value);
    CREATE INDEX run_config_by_number ON run_config (key, number);
    CREATE INDEX runs_by_best ON runs (best_test_accuracy);
    )sql",
    // 5: runs trained by several processes (data-parallel): how many, and over which backend.
    R"sql(
    ALTER TABLE runs ADD COLUMN world_size INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE runs ADD COLUMN distributed_backend TEXT;
    )sql",
};

// The views documented in the README, for users of the sqlite3 shell and pandas as much as for
// the results tool. "%s" is "" or "TEMP ": the tool creates them as temporary views when it
// reads a file written before they existed, so one definition serves both.
const char* const kViews = R"sql(
    CREATE %sVIEW IF NOT EXISTS run_best_epoch AS
      SELECT e.* FROM runs r JOIN epochs e ON e.run_id = r.id AND e.epoch = r.best_epoch;
    CREATE %sVIEW IF NOT EXISTS run_last_epoch AS
      SELECT e.* FROM runs r JOIN epochs e
        ON e.run_id = r.id AND e.epoch = (SELECT max(epoch) FROM epochs WHERE run_id = r.id);
    CREATE %sVIEW IF NOT EXISTS run_summary AS
      SELECT r.id AS run_id, r.experiment, r.status, r.sweep_id, r.trial_key, r.seed, r.precision,
             r.device, r.host, r.started_at, r.ended_at,
             (SELECT count(*) FROM epochs WHERE run_id = r.id) AS epochs,
             r.best_epoch, r.best_test_accuracy, b.test_loss AS best_test_loss,
             l.test_accuracy AS final_test_accuracy, l.test_loss AS final_test_loss,
             l.train_accuracy AS final_train_accuracy, l.train_loss AS final_train_loss,
             (SELECT min(test_loss) FROM epochs WHERE run_id = r.id) AS min_test_loss,
             (SELECT avg(train_images_per_second) FROM epochs WHERE run_id = r.id)
               AS train_images_per_second,
             (SELECT sum(epoch_seconds) FROM epochs WHERE run_id = r.id) AS train_seconds
      FROM runs r
      LEFT JOIN epochs b ON b.run_id = r.id AND b.epoch = r.best_epoch
      LEFT JOIN epochs l ON l.run_id = r.id
        AND l.epoch = (SELECT max(epoch) FROM epochs WHERE run_id = r.id);
    CREATE %sVIEW IF NOT EXISTS sweep_leaderboard AS
      SELECT s.id AS sweep_id, s.name AS sweep,
             rank() OVER (PARTITION BY s.id
                          ORDER BY rs.best_test_accuracy IS NULL, rs.best_test_accuracy DESC) AS rank,
             rs.run_id, rs.trial_key, rs.status, rs.epochs, rs.best_epoch, rs.best_test_accuracy,
             rs.final_test_accuracy, rs.final_test_loss
      FROM sweeps s JOIN run_summary rs ON rs.sweep_id = s.id
      WHERE rs.run_id = (SELECT max(id) FROM runs WHERE sweep_id = s.id AND trial_key = rs.trial_key);
)sql";

// Writes the flattened config of one run into `table` (run_config, or the tool's temporary copy).
void insert_config_rows(SQLite::Database& db, const std::string& table, std::int64_t run_id,
                        const std::string& config_yaml) {
  SQLite::Statement insert(db, "INSERT OR REPLACE INTO " + table +
                                   " (run_id, key, value, number) VALUES (?, ?, ?, ?)");
  for (const auto& row : flatten_config_yaml(config_yaml)) {
    insert.bind(1, run_id);
    insert.bind(2, row.key);
    insert.bind(3, row.value);
    if (row.number) {
      insert.bind(4, *row.number);
    } else {
      insert.bind(4);
    }
    insert.exec();
    insert.reset();
  }
}
constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == ResultsStore::kSchemaVersion,
              "one migration per schema version");

}  // namespace

std::string ResultsStore::views_sql(bool temporary) {
  std::string sql = kViews;
  const std::string prefix = temporary ? "TEMP " : "";
  for (std::size_t at = sql.find("%s"); at != std::string::npos; at = sql.find("%s", at)) {
    sql.replace(at, 2, prefix);
  }
  return sql;
}

void ResultsStore::fill_config_rows(SQLite::Database& db, const std::string& table) {
  SQLite::Statement runs(db, "SELECT id, config_yaml FROM runs");
  std::vector<std::pair<std::int64_t, std::string>> configs;
  while (runs.executeStep()) configs.emplace_back(runs.getColumn(0).getInt64(), runs.getColumn(1).getString());
  for (const auto& [id, yaml] : configs) {
    try {
      insert_config_rows(db, table, id, yaml);
    } catch (const ConfigError&) {
      // A config that no longer parses keeps its text in runs.config_yaml; it just has no rows.
    }
  }
}

ResultsStore::ResultsStore(const std::string& path) : path_(path) {
  std::error_code ec;
  const fs::path file(path);
  if (fs::is_directory(file, ec)) {
    throw StoreError("Results database '" + path + "' is a folder; give a file path (output.db)");
  }
  if (file.has_parent_path() && !fs::exists(file.parent_path(), ec)) {
    fs::create_directories(file.parent_path(), ec);
    if (ec) {
      throw StoreError("Cannot create the folder of results database '" + path +
                       "': " + ec.message());
    }
  }
  try {
    db_ = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db_->setBusyTimeout(10000);
    migrate();
    // WAL lets readers (the results tools) work while a run writes; FULL syncs each commit, which
    // costs nothing at one commit per epoch and keeps finished epochs through a power loss.
    db_->exec("PRAGMA journal_mode = WAL");
    db_->exec("PRAGMA synchronous = FULL");
    db_->exec("PRAGMA foreign_keys = ON");
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw StoreError("Cannot use results database '" + path + "': " + e.what());
  }
}

ResultsStore::~ResultsStore() = default;

void ResultsStore::migrate() {
  // Check identity before writing anything: a foreign or newer file must stay untouched. The three
  // values are read in one snapshot: read one by one, they could straddle another process's first
  // migration and see its tables without its application id (a writer of a new database then
  // refused it as foreign; seen with eight writers starting at once).
  int application_id = 0, version = 0, tables = 0;
  {
    SQLite::Transaction snapshot(*db_);   // deferred: a read transaction until something is written
    application_id = db_->execAndGet("PRAGMA application_id").getInt();
    version = db_->execAndGet("PRAGMA user_version").getInt();
    tables = db_->execAndGet("SELECT count(*) FROM sqlite_master").getInt();
    snapshot.commit();
  }
  if (application_id != kApplicationId && (application_id != 0 || tables != 0)) {
    throw StoreError("'" + path_ +
                     "' is not a Trainyard results database (it has other tables or another "
                     "application id). Choose another output.db; this file was not modified.");
  }
  if (version > kSchemaVersion) {
    throw StoreError("Results database '" + path_ + "' has schema version " +
                     std::to_string(version) + ", written by a newer Trainyard; this build reads "
                     "versions up to " + std::to_string(kSchemaVersion) +
                     ". Upgrade Trainyard or choose another output.db; the file was not modified.");
  }
  if (version == kSchemaVersion) return;
  SQLite::Transaction transaction(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  // Re-read under the write lock: another process may have migrated meanwhile.
  const int locked_version = db_->execAndGet("PRAGMA user_version").getInt();
  for (int v = locked_version; v < kSchemaVersion; ++v) db_->exec(kMigrations[v]);
  if (locked_version < 4) {
    fill_config_rows(*db_, "run_config");
    db_->exec(views_sql(false));
  }
  db_->exec("PRAGMA application_id = " + std::to_string(kApplicationId));
  db_->exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
  transaction.commit();
}

void ResultsStore::heartbeat(std::int64_t run_id) {
  SQLite::Statement update(*db_, "UPDATE runs SET heartbeat_at = ? WHERE id = ?");
  update.bind(1, utc_timestamp());
  update.bind(2, run_id);
  update.exec();
}

std::vector<std::int64_t> ResultsStore::mark_abandoned_runs(const std::string& host) {
  // A run still 'running' whose process no longer exists on this host was killed (kill -9, OOM
  // killer, power loss): say so, instead of leaving it running forever.
  std::vector<std::int64_t> marked;
  SQLite::Transaction transaction(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement query(*db_, "SELECT id, pid FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL");
  query.bind(1, host);
  std::vector<std::pair<std::int64_t, std::int64_t>> running;
  while (query.executeStep()) running.emplace_back(query.getColumn(0).getInt64(), query.getColumn(1).getInt64());
  for (const auto& [id, pid] : running) {
    if (pid == getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    SQLite::Statement update(*db_, R"sql(
      UPDATE runs SET status = 'interrupted', ended_at = coalesce(heartbeat_at, started_at),
                      error = ? WHERE id = ? AND status = 'running')sql");
    update.bind(1, "its process (pid " + std::to_string(pid) + " on " + host +
                       ") ended without finishing the run; last heard of at the time in ended_at");
    update.bind(2, id);
    update.exec();
    marked.push_back(id);
  }
  transaction.commit();
  return marked;
}

ResumableRun ResultsStore::resume_run(std::int64_t run_id, const std::string& host) {
  mark_abandoned_runs(host);
  SQLite::Transaction transaction(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement query(*db_, R"sql(
    SELECT status, coalesce(host, ''), coalesce(pid, 0), config_yaml, coalesce(experiment_file, ''),
           sweep_id, coalesce(trial_key, '') FROM runs WHERE id = ?)sql");
  query.bind(1, run_id);
  if (!query.executeStep()) {
    const auto range = db_->execAndGet("SELECT coalesce(min(id) || '..' || max(id), 'none') FROM runs").getString();
    throw InputError("--resume " + std::to_string(run_id) + ": no such run in '" + path_ +
                     "' (run ids there: " + range + ")");
  }
  const std::string status = query.getColumn(0).getString();
  const std::string run_host = query.getColumn(1).getString();
  const std::int64_t pid = query.getColumn(2).getInt64();
  if (status == "finished") {
    throw InputError("--resume " + std::to_string(run_id) + ": the run finished; there is nothing to resume");
  }
  if (status == "running") {
    throw InputError("--resume " + std::to_string(run_id) + ": the run is still running (pid " +
                     std::to_string(pid) + " on " + run_host + "); stop it first");
  }
  ResumableRun run;
  run.id = run_id;
  run.config_yaml = query.getColumn(3).getString();
  run.experiment_file = query.getColumn(4).getString();
  if (!query.getColumn(5).isNull()) run.sweep_id = query.getColumn(5).getInt64();
  run.trial_key = query.getColumn(6).getString();
  SQLite::Statement update(*db_, R"sql(
    UPDATE runs SET status = 'running', ended_at = NULL, error = NULL, host = ?, pid = ?,
                    heartbeat_at = ? WHERE id = ?)sql");
  update.bind(1, host);
  update.bind(2, static_cast<std::int64_t>(getpid()));
  update.bind(3, utc_timestamp());
  update.bind(4, run_id);
  update.exec();
  transaction.commit();
  return run;
}

void ResultsStore::truncate_epochs(std::int64_t run_id, std::int64_t last_epoch) {
  SQLite::Transaction transaction(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement drop(*db_, "DELETE FROM epochs WHERE run_id = ? AND epoch > ?");
  drop.bind(1, run_id);
  drop.bind(2, last_epoch);
  drop.exec();
  // The best of what remains: highest test accuracy, earliest epoch on a tie (as training keeps it).
  SQLite::Statement best(*db_, R"sql(
    UPDATE runs SET
      best_epoch = (SELECT epoch FROM epochs WHERE run_id = ?1 ORDER BY test_accuracy DESC, epoch LIMIT 1),
      best_test_accuracy = (SELECT max(test_accuracy) FROM epochs WHERE run_id = ?1)
    WHERE id = ?1)sql");
  best.bind(1, run_id);
  best.exec();
  transaction.commit();
}

std::int64_t ResultsStore::ensure_sweep(const std::string& name, const std::string& experiment_file,
                                        const std::string& spec_yaml) {
  SQLite::Transaction transaction(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement insert(*db_, R"sql(
    INSERT INTO sweeps (name, experiment_file, spec_yaml, created_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (name, experiment_file) DO UPDATE SET spec_yaml = excluded.spec_yaml)sql");
  insert.bind(1, name);
  insert.bind(2, experiment_file);
  insert.bind(3, spec_yaml);
  insert.bind(4, utc_timestamp());
  insert.exec();
  SQLite::Statement query(*db_, "SELECT id FROM sweeps WHERE name = ? AND experiment_file = ?");
  query.bind(1, name);
  query.bind(2, experiment_file);
  query.executeStep();
  const std::int64_t id = query.getColumn(0).getInt64();
  transaction.commit();
  return id;
}

std::optional<std::int64_t> ResultsStore::find_sweep(const std::string& name,
                                                     const std::string& experiment_file) const {
  SQLite::Statement query(*db_, "SELECT id FROM sweeps WHERE name = ? AND experiment_file = ?");
  query.bind(1, name);
  query.bind(2, experiment_file);
  if (!query.executeStep()) return std::nullopt;
  return query.getColumn(0).getInt64();
}

std::map<std::string, ResultsStore::TrialRun> ResultsStore::latest_trial_runs(std::int64_t sweep_id) const {
  SQLite::Statement query(*db_, R"sql(
    SELECT trial_key, id, status, config_yaml FROM runs r WHERE sweep_id = ?1 AND id = (
      SELECT max(id) FROM runs WHERE sweep_id = ?1 AND trial_key = r.trial_key))sql");
  query.bind(1, sweep_id);
  std::map<std::string, TrialRun> out;
  while (query.executeStep()) {
    out[query.getColumn(0).getString()] =
        TrialRun{query.getColumn(1).getInt64(), query.getColumn(2).getString(), query.getColumn(3).getString()};
  }
  return out;
}

std::optional<std::int64_t> ResultsStore::trial_run(std::int64_t sweep_id, const std::string& trial_key,
                                                    std::int64_t pid) const {
  SQLite::Statement query(*db_, R"sql(
    SELECT max(id) FROM runs WHERE sweep_id = ? AND trial_key = ? AND pid = ?)sql");
  query.bind(1, sweep_id);
  query.bind(2, trial_key);
  query.bind(3, pid);
  if (!query.executeStep() || query.getColumn(0).isNull()) return std::nullopt;
  return query.getColumn(0).getInt64();
}

std::vector<SweepTrialSummary> ResultsStore::sweep_summary(std::int64_t sweep_id) const {
  SQLite::Statement query(*db_, R"sql(
    SELECT id, trial_key, status, best_test_accuracy, best_epoch,
           (julianday(coalesce(ended_at, heartbeat_at, started_at)) - julianday(started_at)) * 86400,
           coalesce(error, '')
    FROM runs r WHERE sweep_id = ?1 AND id = (
      SELECT max(id) FROM runs WHERE sweep_id = ?1 AND trial_key = r.trial_key)
    ORDER BY best_test_accuracy IS NULL, best_test_accuracy DESC, id)sql");
  query.bind(1, sweep_id);
  std::vector<SweepTrialSummary> out;
  while (query.executeStep()) {
    SweepTrialSummary s;
    s.run_id = query.getColumn(0).getInt64();
    s.trial_key = query.getColumn(1).getString();
    s.status = query.getColumn(2).getString();
    if (!query.getColumn(3).isNull()) s.best_test_accuracy = query.getColumn(3).getDouble();
    if (!query.getColumn(4).isNull()) s.best_epoch = query.getColumn(4).getInt64();
    s.seconds = query.getColumn(5).getDouble();
    s.error = query.getColumn(6).getString();
    out.push_back(s);
  }
  return out;
}

int ResultsStore::schema_version() const {
  return db_->execAndGet("PRAGMA user_version").getInt();
}

std::int64_t ResultsStore::begin_run(const RunRecord& r) {
  SQLite::Transaction transaction(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement insert(*db_, R"sql(
    INSERT INTO runs (experiment, experiment_file, config_yaml, status, started_at, host, device,
                      torch_version, seed, model_plugin, dataset_plugin, optimizer_plugin,
                      num_parameters, num_classes, train_size, test_size, precision, sweep_id,
                      trial_key, pid, heartbeat_at, git_revision, world_size, distributed_backend)
    VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
  int i = 1;
  insert.bind(i++, r.experiment);
  insert.bind(i++, r.experiment_file);
  insert.bind(i++, r.config_yaml);
  insert.bind(i++, utc_timestamp());
  insert.bind(i++, r.host);
  insert.bind(i++, r.device);
  insert.bind(i++, r.torch_version);
  insert.bind(i++, static_cast<std::int64_t>(r.seed));
  insert.bind(i++, r.model_plugin);
  insert.bind(i++, r.dataset_plugin);
  insert.bind(i++, r.optimizer_plugin);
  insert.bind(i++, static_cast<std::int64_t>(r.num_parameters));
  insert.bind(i++, static_cast<std::int64_t>(r.num_classes));
  insert.bind(i++, static_cast<std::int64_t>(r.train_size));
  insert.bind(i++, static_cast<std::int64_t>(r.test_size));
  insert.bind(i++, r.precision);
  if (r.sweep_id) {
    insert.bind(i++, static_cast<std::int64_t>(*r.sweep_id));
  } else {
    insert.bind(i++);
  }
  insert.bind(i++, r.trial_key);
  insert.bind(i++, static_cast<std::int64_t>(getpid()));
  insert.bind(i++, utc_timestamp());
  insert.bind(i++, r.git_revision);
  insert.bind(i++, r.world_size);
  if (r.distributed_backend.empty()) {
    insert.bind(i++);
  } else {
    insert.bind(i++, r.distributed_backend);
  }
  insert.exec();
  const std::int64_t id = db_->getLastInsertRowid();
  insert_config_rows(*db_, "run_config", id, r.config_yaml);
  for (const auto& [key, value] : r.overrides) {
    SQLite::Statement override_row(*db_, "INSERT INTO run_overrides (run_id, key, value) VALUES (?, ?, ?)");
    override_row.bind(1, id);
    override_row.bind(2, key);
    override_row.bind(3, value);
    override_row.exec();
  }
  transaction.commit();
  return id;
}

void ResultsStore::record_epoch(std::int64_t run_id, const EpochRecord& e, bool new_best,
                                const std::string& checkpoint_path) {
  SQLite::Transaction transaction(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement insert(*db_, R"sql(
    INSERT INTO epochs (run_id, epoch, train_loss, train_accuracy, test_loss, test_accuracy,
                        learning_rate, epoch_seconds, train_images_per_second,
                        test_images_per_second, data_wait_fraction, finished_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
  int i = 1;
  insert.bind(i++, static_cast<std::int64_t>(run_id));
  insert.bind(i++, static_cast<std::int64_t>(e.epoch));
  for (double v : {e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy, e.learning_rate,
                   e.epoch_seconds, e.train_images_per_second, e.test_images_per_second,
                   e.data_wait_fraction}) {
    insert.bind(i++, v);
  }
  insert.bind(i++, utc_timestamp());
  insert.exec();
  heartbeat(run_id);
  if (new_best) {
    SQLite::Statement update(*db_, R"sql(
      UPDATE runs SET best_epoch = ?, best_test_accuracy = ?, checkpoint_path = ? WHERE id = ?)sql");
    update.bind(1, static_cast<std::int64_t>(e.epoch));
    update.bind(2, e.test_accuracy);
    update.bind(3, checkpoint_path);
    update.bind(4, static_cast<std::int64_t>(run_id));
    update.exec();
  }
  transaction.commit();
}

void ResultsStore::finish_run(std::int64_t run_id, RunStatus status, const std::string& error) {
  SQLite::Statement update(
      *db_, "UPDATE runs SET status = ?, ended_at = ?, error = ?, peak_memory_mib = ? WHERE id = ?");
  update.bind(1, to_string(status));
  update.bind(2, utc_timestamp());
  if (error.empty()) {
    update.bind(3);
  } else {
    update.bind(3, error);
  }
  update.bind(4, peak_memory_mib());
  update.bind(5, static_cast<std::int64_t>(run_id));
  update.exec();
}

std::optional<StoredRun> ResultsStore::run(std::int64_t run_id) const {
  SQLite::Statement query(*db_, R"sql(
    SELECT id, experiment, status, config_yaml, started_at, coalesce(ended_at, ''),
           coalesce(device, ''), coalesce(error, ''), coalesce(checkpoint_path, ''),
           best_epoch, best_test_accuracy, coalesce(precision, ''), peak_memory_mib
    FROM runs WHERE id = ?)sql");
  query.bind(1, static_cast<std::int64_t>(run_id));
  if (!query.executeStep()) return std::nullopt;
  StoredRun r;
  r.id = query.getColumn(0).getInt64();
  r.experiment = query.getColumn(1).getString();
  r.status = query.getColumn(2).getString();
  r.config_yaml = query.getColumn(3).getString();
  r.started_at = query.getColumn(4).getString();
  r.ended_at = query.getColumn(5).getString();
  r.device = query.getColumn(6).getString();
  r.error = query.getColumn(7).getString();
  r.checkpoint_path = query.getColumn(8).getString();
  if (!query.getColumn(9).isNull()) r.best_epoch = query.getColumn(9).getInt64();
  if (!query.getColumn(10).isNull()) r.best_test_accuracy = query.getColumn(10).getDouble();
  r.precision = query.getColumn(11).getString();
  if (!query.getColumn(12).isNull()) r.peak_memory_mib = query.getColumn(12).getDouble();
  return r;
}

std::vector<EpochRecord> ResultsStore::epochs(std::int64_t run_id) const {
  SQLite::Statement query(*db_, R"sql(
    SELECT epoch, train_loss, train_accuracy, test_loss, test_accuracy, learning_rate,
           epoch_seconds, train_images_per_second, test_images_per_second, data_wait_fraction
    FROM epochs WHERE run_id = ? ORDER BY epoch)sql");
  query.bind(1, static_cast<std::int64_t>(run_id));
  std::vector<EpochRecord> out;
  while (query.executeStep()) {
    EpochRecord e;
    e.epoch = query.getColumn(0).getInt64();
    e.train_loss = query.getColumn(1).getDouble();
    e.train_accuracy = query.getColumn(2).getDouble();
    e.test_loss = query.getColumn(3).getDouble();
    e.test_accuracy = query.getColumn(4).getDouble();
    e.learning_rate = query.getColumn(5).getDouble();
    e.epoch_seconds = query.getColumn(6).getDouble();
    e.train_images_per_second = query.getColumn(7).getDouble();
    e.test_images_per_second = query.getColumn(8).getDouble();
    e.data_wait_fraction = query.getColumn(9).getDouble();
    out.push_back(e);
  }
  return out;
}

}  // namespace trainyard
