#include "trainyard/store/results_store.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>

#include <chrono>
#include <ctime>
#include <filesystem>

#include <regex>

#include "trainyard/config/config_rows.h"
#include "trainyard/errors.h"
#include "trainyard/store/postgres_connection.h"
#include "trainyard/suggest.h"

namespace fs = std::filesystem;

namespace trainyard {

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

// A run's status as the database holds it; the schema's CHECK admits only the four texts, so
// another one is a database changed by hand, refused with what it holds.
RunStatus stored_status(const std::string& text, std::int64_t run_id) {
  if (const auto status = parse_run_status(text)) return *status;
  throw StoreError("run " + std::to_string(run_id) + " has status '" + text + "', which this Trainyard does not know (it writes " +
                   join_names(run_status_names()) + ")");
}

// Migration N takes a database from schema version N-1 to N. Append, never edit: files written
// by earlier builds replay exactly these steps. Written in SQLite's types; PostgreSQL runs each
// through postgres_ddl(), so a new migration must stay within what that translation covers
// (ALTER TABLE ADD COLUMN, CREATE TABLE/INDEX, INTEGER, REAL, TEXT) or be tested on both.
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
    // 6: the work queue of sweeps run by workers (`runner --worker`, on any number of machines).
    // A claimed trial belongs to its worker until lease_until (seconds since 1970 on the
    // database's clock, so machines' clocks need not agree); a worker renews it while the trial
    // runs, and one that dies lets it lapse, after which another worker takes the trial.
    R"sql(
    CREATE TABLE trials (
      id          INTEGER PRIMARY KEY,
      sweep_id    INTEGER NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
      trial_key   TEXT NOT NULL,
      status      TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'finished', 'failed')),
      worker      TEXT,
      attempts    INTEGER NOT NULL DEFAULT 0,
      lease_until REAL,
      claimed_at  TEXT,
      ended_at    TEXT,
      run_id      INTEGER REFERENCES runs (id),
      error       TEXT,
      UNIQUE (sweep_id, trial_key)
    );
    CREATE INDEX trials_by_status ON trials (sweep_id, status, id);
    )sql",
};

// The database's clock in seconds since 1970, for leases that several machines compare.
std::string now_seconds(SqlDialect dialect) {
  return dialect == SqlDialect::kSqlite ? "((julianday('now') - 2440587.5) * 86400.0)"
                                        : "extract(epoch from clock_timestamp())::double precision";
}

// Seconds from ISO 8601 text `from` to `to` (both columns or expressions).
std::string seconds_between(SqlDialect dialect, const std::string& from, const std::string& to) {
  return dialect == SqlDialect::kSqlite
             ? "((julianday(" + to + ") - julianday(" + from + ")) * 86400)"
             : "extract(epoch from ((" + to + ")::timestamptz - (" + from + ")::timestamptz))::double precision";
}

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
void insert_config_rows(SqlDatabase& db, const std::string& table, std::int64_t run_id,
                        const std::string& config_yaml) {
  const std::string sql = "INSERT INTO " + table + " (run_id, key, value, number) VALUES (?, ?, ?, ?) " +
                          "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, number = excluded.number";
  for (const auto& row : flatten_config_yaml(config_yaml)) {
    db.query(sql, {run_id, row.key, row.value, row.number ? SqlValue{*row.number} : SqlValue{}});
  }
}

SqlValue text_or_null(const std::string& text) { return text.empty() ? SqlValue{} : SqlValue{text}; }

constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == ResultsStore::kSchemaVersion,
              "one migration per schema version");

}  // namespace

std::string postgres_ddl(const std::string& sql) {
  std::string out = std::regex_replace(sql, std::regex(R"(\bINTEGER PRIMARY KEY\b)"),
                                       "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
  out = std::regex_replace(out, std::regex(R"(\bINTEGER\b)"), "BIGINT");
  out = std::regex_replace(out, std::regex(R"(\bREAL\b)"), "DOUBLE PRECISION");
  return std::regex_replace(out, std::regex(R"(CREATE (TEMP )?VIEW IF NOT EXISTS)"), "CREATE OR REPLACE $1VIEW");
}

std::string ResultsStore::views_sql(bool temporary, SqlDialect dialect) {
  std::string sql = kViews;
  const std::string prefix = temporary ? "TEMP " : "";
  for (std::size_t at = sql.find("%s"); at != std::string::npos; at = sql.find("%s", at)) {
    sql.replace(at, 2, prefix);
  }
  return dialect == SqlDialect::kPostgres ? postgres_ddl(sql) : sql;
}

void ResultsStore::fill_config_rows(SqlDatabase& db, const std::string& table) {
  const auto runs = db.query("SELECT id, config_yaml FROM runs");
  for (std::size_t i = 0; i < runs.size(); ++i) {
    try {
      insert_config_rows(db, table, runs.integer(i, 0), runs.text(i, 1));
    } catch (const ConfigError&) {
      // A config that no longer parses keeps its text in runs.config_yaml; it just has no rows.
    }
  }
}

ResultsStore::ResultsStore(const std::string& location)
    : path_(redact_location(location)) {
  if (is_postgres_url(location)) {
    db_ = open_postgres_database(location);
    migrate();
    return;
  }
  std::error_code ec;
  const fs::path file(location);
  if (fs::is_directory(file, ec)) {
    throw StoreError("Results database '" + location + "' is a folder; give a file path (output.db)");
  }
  if (file.has_parent_path() && !fs::exists(file.parent_path(), ec)) {
    fs::create_directories(file.parent_path(), ec);
    if (ec) {
      throw StoreError("Cannot create the folder of results database '" + location + "': " + ec.message());
    }
  }
  try {
    db_ = open_sqlite_database(location);
    migrate();
    // WAL lets readers (the results tools) work while a run writes; FULL syncs each commit, which
    // costs nothing at one commit per epoch and keeps finished epochs through a power loss.
    db_->execute_script("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw StoreError("Cannot use results database '" + location + "': " + e.what());
  }
}

ResultsStore::~ResultsStore() = default;

DatabaseIdentity ResultsStore::identity(SqlDatabase& db) {
  DatabaseIdentity id;
  std::int64_t application_id = 0;
  if (db.dialect() == SqlDialect::kSqlite) {
    // One statement: read one by one, the values could straddle another process's first migration
    // and see its tables without its application id (a writer of a new database then refused it as
    // foreign; seen with eight writers starting at once).
    const auto row = db.query("SELECT (SELECT application_id FROM pragma_application_id), "
                              "(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master)");
    application_id = row.integer(0, 0);
    id.version = row.integer(0, 1);
    id.tables = row.integer(0, 2);
  } else {
    const auto head = db.query(R"sql(
      SELECT to_regclass('trainyard_schema') IS NOT NULL,
             (SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()))sql");
    id.tables = head.integer(0, 1);
    if (head.integer(0, 0) != 0) {
      const auto row = db.query("SELECT application_id, version FROM trainyard_schema");
      application_id = row.size() == 1 ? row.integer(0, 0) : -1;   // anything but one row is not Trainyard's
      if (row.size() == 1) id.version = row.integer(0, 1);
    }
  }
  id.trainyard = application_id == kApplicationId;
  id.empty = application_id == 0 && id.tables == 0;
  return id;
}

void ResultsStore::refuse_unless_ours(const DatabaseIdentity& id) const {
  const bool sqlite = db_->dialect() == SqlDialect::kSqlite;
  const std::string untouched = sqlite ? "this file was not modified." : "the database was not modified.";
  if (!id.trainyard && !id.empty) {
    throw StoreError("'" + path_ + "' is not a Trainyard results database (" +
                     (sqlite ? std::string("it has other tables or another application id")
                             : "its schema '" + db_->query("SELECT current_schema()").text(0, 0) + "' has " +
                                   std::to_string(id.tables) + " other tables") +
                     "). Choose another output.db" + (sqlite ? "" : " (an empty database)") + "; " + untouched);
  }
  if (id.version > kSchemaVersion) {
    throw StoreError("Results database '" + path_ + "' has schema version " + std::to_string(id.version) +
                     ", written by a newer Trainyard; this build reads versions up to " +
                     std::to_string(kSchemaVersion) + ". Upgrade Trainyard or choose another output.db; " +
                     untouched);
  }
}

void ResultsStore::migrate() {
  // Identity first: a foreign or newer database must stay untouched.
  const bool sqlite = db_->dialect() == SqlDialect::kSqlite;
  DatabaseIdentity id;
  try {
    id = identity(*db_);
  } catch (const StoreError& e) {
    if (!sqlite) throw;
    throw StoreError("'" + path_ + "' is not a Trainyard results database (" + e.what() +
                     "). Choose another output.db; this file was not modified.");
  }
  refuse_unless_ours(id);
  if (id.trainyard && id.version == kSchemaVersion) return;
  SqlWriteTransaction transaction(*db_);
  // Under the write lock (SQLite's BEGIN IMMEDIATE; on PostgreSQL an advisory lock, where workers
  // that start together queue), read again: another process may have migrated meanwhile.
  if (!sqlite) db_->query("SELECT pg_advisory_xact_lock(" + std::to_string(kApplicationId) + ")");
  id = identity(*db_);
  refuse_unless_ours(id);
  if (!sqlite && !id.trainyard) {
    // PostgreSQL support began at schema 5: a new database replays the same migrations (as
    // postgres_ddl writes them) and records its identity in trainyard_schema, one row.
    db_->execute_script("CREATE TABLE trainyard_schema (application_id BIGINT NOT NULL, version BIGINT NOT NULL)");
    db_->query("INSERT INTO trainyard_schema VALUES (?, 0)", {std::int64_t{kApplicationId}});
  }
  for (auto v = id.version; v < kSchemaVersion; ++v) {
    db_->execute_script(sqlite ? std::string(kMigrations[v]) : postgres_ddl(kMigrations[v]));
  }
  if (id.version < 4) {
    fill_config_rows(*db_, "run_config");
    db_->execute_script(views_sql(false, db_->dialect()));
  }
  if (sqlite) {
    db_->execute_script("PRAGMA application_id = " + std::to_string(kApplicationId) +
                        "; PRAGMA user_version = " + std::to_string(kSchemaVersion));
  } else {
    db_->query("UPDATE trainyard_schema SET version = ?", {std::int64_t{kSchemaVersion}});
  }
  transaction.commit();
}

void ResultsStore::heartbeat(std::int64_t run_id) {
  db_->query("UPDATE runs SET heartbeat_at = ? WHERE id = ?", {utc_timestamp(), run_id});
}

std::vector<std::int64_t> ResultsStore::mark_abandoned_runs(const std::string& host) {
  // A run still 'running' whose process no longer exists on this host was killed (kill -9, OOM
  // killer, power loss): say so, instead of leaving it running forever.
  std::vector<std::int64_t> marked;
  SqlWriteTransaction transaction(*db_);
  const auto running =
      db_->query("SELECT id, pid FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL", {host});
  for (std::size_t i = 0; i < running.size(); ++i) {
    const auto id = running.integer(i, 0), pid = running.integer(i, 1);
    if (pid == getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
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

ResumableRun ResultsStore::resume_run(std::int64_t run_id, const std::string& host) {
  mark_abandoned_runs(host);
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
  db_->query(R"sql(
    UPDATE runs SET status = 'running', ended_at = NULL, error = NULL, host = ?, pid = ?,
                    heartbeat_at = ? WHERE id = ?)sql",
             {host, static_cast<std::int64_t>(getpid()), utc_timestamp(), run_id});
  transaction.commit();
  return run;
}

void ResultsStore::truncate_epochs(std::int64_t run_id, std::int64_t last_epoch) {
  SqlWriteTransaction transaction(*db_);
  db_->query("DELETE FROM epochs WHERE run_id = ? AND epoch > ?", {run_id, last_epoch});
  // The best of what remains: highest test accuracy, earliest epoch on a tie (as training keeps it).
  db_->query(R"sql(
    UPDATE runs SET
      best_epoch = (SELECT epoch FROM epochs WHERE run_id = ? ORDER BY test_accuracy DESC, epoch LIMIT 1),
      best_test_accuracy = (SELECT max(test_accuracy) FROM epochs WHERE run_id = ?)
    WHERE id = ?)sql",
             {run_id, run_id, run_id});
  transaction.commit();
}

std::int64_t ResultsStore::ensure_sweep(const std::string& name, const std::string& experiment_file,
                                        const std::string& spec_yaml) {
  SqlWriteTransaction transaction(*db_);
  const auto id = db_->query(R"sql(
    INSERT INTO sweeps (name, experiment_file, spec_yaml, created_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (name, experiment_file) DO UPDATE SET spec_yaml = excluded.spec_yaml
    RETURNING id)sql",
                             {name, experiment_file, spec_yaml, utc_timestamp()})
                      .integer(0, 0);
  transaction.commit();
  return id;
}

std::optional<std::int64_t> ResultsStore::find_sweep(const std::string& name,
                                                     const std::string& experiment_file) const {
  const auto rows = db_->query("SELECT id FROM sweeps WHERE name = ? AND experiment_file = ?", {name, experiment_file});
  if (rows.empty()) return std::nullopt;
  return rows.integer(0, 0);
}

std::map<std::string, ResultsStore::TrialRun> ResultsStore::latest_trial_runs(std::int64_t sweep_id) const {
  const auto rows = db_->query(R"sql(
    SELECT trial_key, id, status, config_yaml FROM runs r WHERE sweep_id = ? AND id = (
      SELECT max(id) FROM runs WHERE sweep_id = r.sweep_id AND trial_key = r.trial_key))sql",
                               {sweep_id});
  std::map<std::string, TrialRun> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out[rows.text(i, 0)] = TrialRun{rows.integer(i, 1), stored_status(rows.text(i, 2), rows.integer(i, 1)), rows.text(i, 3)};
  }
  return out;
}

std::optional<std::int64_t> ResultsStore::trial_run(std::int64_t sweep_id, const std::string& trial_key,
                                                    const std::string& host, std::int64_t pid) const {
  const auto rows = db_->query("SELECT max(id) FROM runs WHERE sweep_id = ? AND trial_key = ? AND host = ? AND pid = ?",
                               {sweep_id, trial_key, host, pid});
  if (rows.empty() || rows.is_null(0, 0)) return std::nullopt;
  return rows.integer(0, 0);
}

std::vector<SweepTrialSummary> ResultsStore::sweep_summary(std::int64_t sweep_id) const {
  const auto rows = db_->query(R"sql(
    SELECT id, trial_key, status, best_test_accuracy, best_epoch, )sql" +
                                   seconds_between(db_->dialect(), "started_at",
                                                   "coalesce(ended_at, heartbeat_at, started_at)") +
                                   R"sql(, coalesce(error, '')
    FROM runs r WHERE sweep_id = ? AND id = (
      SELECT max(id) FROM runs WHERE sweep_id = r.sweep_id AND trial_key = r.trial_key)
    ORDER BY best_test_accuracy IS NULL, best_test_accuracy DESC, id)sql",
                               {sweep_id});
  std::vector<SweepTrialSummary> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    SweepTrialSummary s;
    s.run_id = rows.integer(i, 0);
    s.trial_key = rows.text(i, 1);
    s.status = stored_status(rows.text(i, 2), s.run_id);
    if (!rows.is_null(i, 3)) s.best_test_accuracy = rows.real(i, 3);
    if (!rows.is_null(i, 4)) s.best_epoch = rows.integer(i, 4);
    s.seconds = rows.real(i, 5);
    s.error = rows.text(i, 6);
    out.push_back(s);
  }
  return out;
}

void ResultsStore::enqueue_trials(std::int64_t sweep_id, const std::vector<std::string>& keys,
                                  const std::vector<std::string>& finished) {
  SqlWriteTransaction transaction(*db_);
  for (const auto& key : keys) {
    const bool done = std::find(finished.begin(), finished.end(), key) != finished.end();
    db_->query(R"sql(
      INSERT INTO trials (sweep_id, trial_key, status) VALUES (?, ?, ?)
      ON CONFLICT (sweep_id, trial_key) DO NOTHING)sql",
               {sweep_id, key, std::string(done ? "finished" : "pending")});
  }
  transaction.commit();
}

std::optional<ClaimedTrial> ResultsStore::claim_trial(std::int64_t sweep_id, const std::string& worker,
                                                      double lease_seconds, int max_attempts) {
  const std::string now = now_seconds(db_->dialect());
  SqlWriteTransaction transaction(*db_);
  // Trials whose workers died too often are failed, not handed on forever.
  db_->query("UPDATE trials SET status = 'failed', ended_at = ?, error = ? WHERE sweep_id = ? AND status = 'claimed' "
             "AND lease_until < " + now + " AND attempts >= ?",
             {utc_timestamp(),
              "its worker stopped renewing the lease " + std::to_string(max_attempts) + " times (" +
                  "each time the worker died or lost the database)",
              sweep_id, std::int64_t{max_attempts}});
  // PostgreSQL: rows another worker is claiming at this moment are skipped, not waited for.
  const std::string lock = db_->dialect() == SqlDialect::kPostgres ? " FOR UPDATE SKIP LOCKED" : "";
  const auto claimed = db_->query(
      "UPDATE trials SET status = 'claimed', worker = ?, attempts = attempts + 1, claimed_at = ?, "
      "lease_until = " + now + " + ? WHERE id = (SELECT id FROM trials WHERE sweep_id = ? AND "
      "(status = 'pending' OR (status = 'claimed' AND lease_until < " + now + ")) ORDER BY id LIMIT 1" + lock +
      ") RETURNING id, trial_key, attempts",
      {worker, utc_timestamp(), lease_seconds, sweep_id});
  if (claimed.empty()) {
    transaction.commit();
    return std::nullopt;
  }
  ClaimedTrial trial{claimed.integer(0, 0), claimed.text(0, 1), claimed.integer(0, 2)};
  if (trial.attempt > 1) {
    // The run of the worker that lost this trial cannot say so itself.
    db_->query("UPDATE runs SET status = 'failed', ended_at = coalesce(heartbeat_at, started_at), error = ? "
               "WHERE sweep_id = ? AND trial_key = ? AND status = 'running'",
               {std::string("its worker stopped renewing the trial's lease (it died or lost the database); "
                            "the trial was handed to worker ") + worker,
                sweep_id, trial.trial_key});
  }
  transaction.commit();
  return trial;
}

bool ResultsStore::renew_trial_lease(std::int64_t trial_id, const std::string& worker, double lease_seconds) {
  const auto rows = db_->query("UPDATE trials SET lease_until = " + now_seconds(db_->dialect()) +
                                   " + ? WHERE id = ? AND worker = ? AND status = 'claimed' RETURNING id",
                               {lease_seconds, trial_id, worker});
  return !rows.empty();
}

bool ResultsStore::release_trial(std::int64_t trial_id, const std::string& worker) {
  return !db_->query("UPDATE trials SET status = 'pending', worker = NULL, lease_until = NULL "
                     "WHERE id = ? AND worker = ? AND status = 'claimed' RETURNING id",
                     {trial_id, worker})
              .empty();
}

bool ResultsStore::complete_trial(std::int64_t trial_id, const std::string& worker, bool finished,
                                  std::optional<std::int64_t> run_id, const std::string& error) {
  const auto rows = db_->query(
      "UPDATE trials SET status = ?, ended_at = ?, run_id = ?, error = ? "
      "WHERE id = ? AND worker = ? AND status = 'claimed' RETURNING id",
      {std::string(finished ? "finished" : "failed"), utc_timestamp(), run_id ? SqlValue{*run_id} : SqlValue{},
       text_or_null(error), trial_id, worker});
  return !rows.empty();
}

TrialCounts ResultsStore::trial_counts(std::int64_t sweep_id) const {
  const auto rows = db_->query("SELECT status, count(*) FROM trials WHERE sweep_id = ? GROUP BY status", {sweep_id});
  TrialCounts counts;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto status = rows.text(i, 0);
    const auto n = rows.integer(i, 1);
    if (status == "pending") counts.pending = n;
    else if (status == "claimed") counts.claimed = n;
    else if (status == "finished") counts.finished = n;
    else counts.failed = n;
  }
  return counts;
}

int ResultsStore::schema_version() const {
  if (db_->dialect() == SqlDialect::kSqlite) return static_cast<int>(db_->query("PRAGMA user_version").integer(0, 0));
  return static_cast<int>(db_->query("SELECT version FROM trainyard_schema").integer(0, 0));
}

std::int64_t ResultsStore::begin_run(const RunRecord& r) {
  SqlWriteTransaction transaction(*db_);
  const auto id = db_->query(R"sql(
    INSERT INTO runs (experiment, experiment_file, config_yaml, status, started_at, host, device,
                      torch_version, seed, model_plugin, dataset_plugin, optimizer_plugin,
                      num_parameters, num_classes, train_size, test_size, precision, sweep_id,
                      trial_key, pid, heartbeat_at, git_revision, world_size, distributed_backend)
    VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    RETURNING id)sql",
                             {r.experiment, r.experiment_file, r.config_yaml, utc_timestamp(), r.host, r.device,
                              r.torch_version, r.seed, r.model_plugin, r.dataset_plugin, r.optimizer_plugin,
                              r.num_parameters, r.num_classes, r.train_size, r.test_size, r.precision,
                              r.sweep_id ? SqlValue{*r.sweep_id} : SqlValue{}, r.trial_key,
                              static_cast<std::int64_t>(getpid()), utc_timestamp(), r.git_revision, r.world_size,
                              text_or_null(r.distributed_backend)})
                      .integer(0, 0);
  insert_config_rows(*db_, "run_config", id, r.config_yaml);
  for (const auto& [key, value] : r.overrides) {
    db_->query("INSERT INTO run_overrides (run_id, key, value) VALUES (?, ?, ?)", {id, key, value});
  }
  transaction.commit();
  return id;
}

void ResultsStore::record_epoch(std::int64_t run_id, const EpochRecord& e, bool new_best,
                                const std::string& checkpoint_path) {
  SqlWriteTransaction transaction(*db_);
  db_->query(R"sql(
    INSERT INTO epochs (run_id, epoch, train_loss, train_accuracy, test_loss, test_accuracy,
                        learning_rate, epoch_seconds, train_images_per_second,
                        test_images_per_second, data_wait_fraction, finished_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql",
             {run_id, e.epoch, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy, e.learning_rate,
              e.epoch_seconds, e.train_images_per_second, e.test_images_per_second, e.data_wait_fraction,
              utc_timestamp()});
  heartbeat(run_id);
  if (new_best) {
    db_->query("UPDATE runs SET best_epoch = ?, best_test_accuracy = ?, checkpoint_path = ? WHERE id = ?",
               {e.epoch, e.test_accuracy, checkpoint_path, run_id});
  }
  transaction.commit();
}

void ResultsStore::finish_run(std::int64_t run_id, RunStatus status, const std::string& error) {
  db_->query("UPDATE runs SET status = ?, ended_at = ?, error = ?, peak_memory_mib = ? WHERE id = ?",
             {std::string(to_string(status)), utc_timestamp(), text_or_null(error), peak_memory_mib(), run_id});
}

std::optional<StoredRun> ResultsStore::run(std::int64_t run_id) const {
  const auto row = db_->query(R"sql(
    SELECT id, experiment, status, config_yaml, started_at, coalesce(ended_at, ''),
           coalesce(device, ''), coalesce(error, ''), coalesce(checkpoint_path, ''),
           best_epoch, best_test_accuracy, coalesce(precision, ''), peak_memory_mib
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
  return r;
}

std::vector<EpochRecord> ResultsStore::epochs(std::int64_t run_id) const {
  const auto rows = db_->query(R"sql(
    SELECT epoch, train_loss, train_accuracy, test_loss, test_accuracy, learning_rate,
           epoch_seconds, train_images_per_second, test_images_per_second, data_wait_fraction
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
    out.push_back(e);
  }
  return out;
}

}  // namespace trainyard
