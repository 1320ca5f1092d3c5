// The results database's schema: its migrations, its views, how a database says what it is,
// and opening one (refusing what is not ours, migrating what is older).
#include "trainyard/store/results_store.h"

#include <cstdio>
#include <filesystem>
#include <random>
#include <regex>
#include <stdexcept>

#include "store_sql.h"
#include "trainyard/errors.h"
#include "trainyard/store/postgres_connection.h"

namespace fs = std::filesystem;

namespace trainyard {

namespace {

// A migration that one SQL text cannot say for both engines is code: its entry is this marker, and
// migrate_in_code() below does it.
constexpr char kMigrationInCode[] = "-- in code";

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
    // 7: where a run's files are, as absolute paths, so that a resume from any folder finds them
    // (run_dir: its checkpoint folder; working_dir: the folder its relative paths resolve from);
    // what tells its process from a later one with the same pid (pid_start: boot id and start time);
    // and the database's own tag (one row), which names run and sweep folders: two databases
    // sharing one checkpoints folder wrote the same run-1/ before, each over the other's files.
    R"sql(
    ALTER TABLE runs ADD COLUMN run_dir TEXT;
    ALTER TABLE runs ADD COLUMN working_dir TEXT;
    ALTER TABLE runs ADD COLUMN pid_start TEXT;
    CREATE TABLE store_tag (tag TEXT NOT NULL);
    )sql",
    // 8: a validation split, on which the best epoch is chosen: each epoch's validation figures,
    // the split's size, which split chose the best epoch (select_on: 'val' or 'test'; earlier
    // runs chose on test) and that split's accuracy at the best epoch, which sweeps rank on. The
    // views gain the validation columns: dropped here, created again after the migrations.
    R"sql(
    ALTER TABLE epochs ADD COLUMN val_loss REAL;
    ALTER TABLE epochs ADD COLUMN val_accuracy REAL;
    ALTER TABLE runs ADD COLUMN val_size INTEGER;
    ALTER TABLE runs ADD COLUMN select_on TEXT;
    ALTER TABLE runs ADD COLUMN best_selection_accuracy REAL;
    UPDATE runs SET select_on = 'test', best_selection_accuracy = best_test_accuracy;
    CREATE INDEX runs_by_selection ON runs (best_selection_accuracy);
    DROP VIEW IF EXISTS sweep_leaderboard;
    DROP VIEW IF EXISTS run_summary;
    DROP VIEW IF EXISTS run_best_epoch;
    DROP VIEW IF EXISTS run_last_epoch;
    )sql",
    // 9: evaluations of a run's checkpoints after training (`runner --evaluate`): one row each,
    // with a row per class holding its figures and its row of the confusion matrix (the counts
    // predicted as each class, comma-separated, in class order).
    R"sql(
    CREATE TABLE evaluations (
      id               INTEGER PRIMARY KEY,
      run_id           INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      created_at       TEXT NOT NULL,
      checkpoint       TEXT NOT NULL,
      checkpoint_epoch INTEGER,
      data             TEXT NOT NULL,
      images           INTEGER NOT NULL,
      loss             REAL,
      accuracy         REAL,
      top5_accuracy    REAL,
      device           TEXT,
      precision        TEXT
    );
    CREATE INDEX evaluations_by_run ON evaluations (run_id, id);
    CREATE TABLE evaluation_classes (
      evaluation_id INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
      class_index   INTEGER NOT NULL,
      class_name    TEXT NOT NULL,
      precision     REAL,
      recall        REAL,
      f1            REAL,
      support       INTEGER NOT NULL,
      predicted     TEXT NOT NULL,
      PRIMARY KEY (evaluation_id, class_index)
    );
    )sql",
    // 10: fine-tuning (model.init_from): what the run's model started from, resolved ("best.pt of
    // run 3 (epoch 5), /data/results/runs.db"), so that it stays known when the source is gone.
    R"sql(
    ALTER TABLE runs ADD COLUMN init_source TEXT;
    )sql",
    // 11: what a run spends outside its epochs: each epoch's checkpoint on the training thread,
    // and the processes' start-up and whole wall time (summed over the processes of a resumed run).
    R"sql(
    ALTER TABLE epochs ADD COLUMN checkpoint_seconds REAL;
    ALTER TABLE runs ADD COLUMN startup_seconds REAL;
    ALTER TABLE runs ADD COLUMN wall_seconds REAL;
    )sql",
    // 12: why a finished run ended before its train.epochs (train.early_stopping), in words.
    R"sql(
    ALTER TABLE runs ADD COLUMN stop_reason TEXT;
    )sql",
    // 13: runs.status may be 'pruned' (a sweep's pruner ended the trial): allow_pruned_status().
    kMigrationInCode,
};

// runs.status's CHECK of migration 1, and the one that admits 'pruned'. Neither engine alters a
// CHECK in place, and SQLite cannot drop one.
constexpr char kStatusCheck[] = "CHECK (status IN ('running', 'finished', 'failed', 'interrupted'))";
constexpr char kStatusCheckWithPruned[] =
    "CHECK (status IN ('running', 'finished', 'failed', 'interrupted', 'pruned'))";

void allow_pruned_status(SqlDatabase& db, const std::string& path) {
  if (db.dialect() == SqlDialect::kPostgres) {  // the column's CHECK of migration 1 is named so
    db.execute_script(std::string("ALTER TABLE runs DROP CONSTRAINT runs_status_check; ALTER TABLE runs ADD "
                                  "CONSTRAINT runs_status_check ") +
                      kStatusCheckWithPruned);
    return;
  }
  // SQLite's documented way to loosen a CHECK without copying the table (sqlite.org/lang_altertable
  // .html, "Making Other Kinds Of Table Schema Changes"): rewrite the table's stored CREATE text
  // and bump schema_version, in the migration's transaction. No stored row can break the looser
  // CHECK, so the file's content stays valid.
  const std::int64_t version = db.query("PRAGMA schema_version").integer(0, 0);
  db.execute_script("PRAGMA writable_schema = ON");
  db.query("UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'runs'",
           {std::string(kStatusCheck), std::string(kStatusCheckWithPruned)});
  db.execute_script("PRAGMA schema_version = " + std::to_string(version + 1) + "; PRAGMA writable_schema = OFF");
  // A table without the CHECK (the tests' hand-made files of schema 1) has nothing to loosen.
  const auto rows = db.query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'runs'");
  const std::string sql = rows.empty() ? "" : rows.text(0, 0);
  if (sql.find("CHECK (status IN") != std::string::npos && sql.find(kStatusCheckWithPruned) == std::string::npos) {
    throw StoreError("Results database '" + path +
                     "': its runs table does not have the status check this build "
                     "migrates (to admit 'pruned'); the migration was rolled back and the file is unchanged");
  }
}

void migrate_in_code(SqlDatabase& db, int to_version, const std::string& path) {
  if (to_version == 13) return allow_pruned_status(db, path);
  throw std::logic_error("no code for migration " + std::to_string(to_version));
}

// The views documented in the README, for users of the sqlite3 shell and pandas as much as for
// the results tool. "%s" is "" or "TEMP ": the tool creates them as temporary views when it
// reads a file written before they existed, so one definition serves both. Runs copied from a
// file older than schema 8 have no select_on: they chose on test, as every run did then.
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
             coalesce(r.select_on, 'test') AS select_on,
             coalesce(r.best_selection_accuracy, r.best_test_accuracy) AS best_selection_accuracy,
             r.best_epoch, r.best_test_accuracy, b.test_loss AS best_test_loss,
             b.val_accuracy AS best_val_accuracy, b.val_loss AS best_val_loss,
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
                          ORDER BY rs.best_selection_accuracy IS NULL, rs.best_selection_accuracy DESC) AS rank,
             rs.run_id, rs.trial_key, rs.status, rs.epochs, rs.select_on, rs.best_selection_accuracy,
             rs.best_epoch, rs.best_test_accuracy, rs.final_test_accuracy, rs.final_test_loss
      FROM sweeps s JOIN run_summary rs ON rs.sweep_id = s.id
      WHERE rs.run_id = (SELECT max(id) FROM runs WHERE sweep_id = s.id AND trial_key = rs.trial_key);
)sql";

// Eight hex digits from the system's random source: what tells this database's folders from
// another's (a copy of the file keeps its tag; `results copy` makes a new database, with its own).
std::string new_store_tag() {
  std::random_device source;
  char text[9];
  std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(source()));
  return text;
}

constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == ResultsStore::kSchemaVersion, "one migration per schema version");

}  // namespace

using namespace store_sql;  // the store's shared SQL helpers

std::string postgres_ddl(const std::string& sql) {
  std::string out = std::regex_replace(sql, std::regex(R"(\bINTEGER PRIMARY KEY\b)"),
                                       "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
  out = std::regex_replace(out, std::regex(R"(\bINTEGER\b)"), "BIGINT");
  out = std::regex_replace(out, std::regex(R"(\bREAL\b)"), "DOUBLE PRECISION");
  return std::regex_replace(out, std::regex(R"(CREATE (TEMP )?VIEW IF NOT EXISTS)"), "CREATE OR REPLACE $1VIEW");
}

namespace {

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

std::string ResultsStore::views_sql(bool temporary, SqlDialect dialect, int schema_version) {
  std::string sql = kViews;
  replace_all(sql, "%s", temporary ? "TEMP " : "");
  if (schema_version < 8) {
    // A file from before validation splits, read as it is: its runs chose on test.
    replace_all(sql, "coalesce(r.select_on, 'test')", "'test'");
    replace_all(sql, "coalesce(r.best_selection_accuracy, r.best_test_accuracy)", "r.best_test_accuracy");
    replace_all(sql, "b.val_accuracy", "CAST(NULL AS REAL)");
    replace_all(sql, "b.val_loss", "CAST(NULL AS REAL)");
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

ResultsStore::ResultsStore(const std::string& location) : path_(redact_location(location)) {
  if (is_postgres_url(location)) {
    db_ = open_postgres_database(location);
    migrate();
    tag_ = db_->query("SELECT tag FROM store_tag").text(0, 0);
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
    tag_ = db_->query("SELECT tag FROM store_tag").text(0, 0);
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
    const auto row = db.query(
        "SELECT (SELECT application_id FROM pragma_application_id), "
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
      application_id = row.size() == 1 ? row.integer(0, 0) : -1;  // anything but one row is not Trainyard's
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
                     std::to_string(kSchemaVersion) + ". Upgrade Trainyard or choose another output.db; " + untouched);
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
    if (kMigrations[v] == kMigrationInCode) {
      migrate_in_code(*db_, v + 1, path_);
    } else {
      db_->execute_script(sqlite ? std::string(kMigrations[v]) : postgres_ddl(kMigrations[v]));
    }
  }
  if (id.version < 4) fill_config_rows(*db_, "run_config");
  if (id.version < 8) db_->execute_script(views_sql(false, db_->dialect()));
  if (id.version < 7) db_->query("INSERT INTO store_tag (tag) VALUES (?)", {new_store_tag()});
  if (sqlite) {
    db_->execute_script("PRAGMA application_id = " + std::to_string(kApplicationId) +
                        "; PRAGMA user_version = " + std::to_string(kSchemaVersion));
  } else {
    db_->query("UPDATE trainyard_schema SET version = ?", {std::int64_t{kSchemaVersion}});
  }
  transaction.commit();
}

int ResultsStore::schema_version() const {
  if (db_->dialect() == SqlDialect::kSqlite) return static_cast<int>(db_->query("PRAGMA user_version").integer(0, 0));
  return static_cast<int>(db_->query("SELECT version FROM trainyard_schema").integer(0, 0));
}

}  // namespace trainyard
