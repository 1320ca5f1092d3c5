// The results store on both engines (a SQLite file and a real PostgreSQL server started for this
// suite): schema creation and migration, round trips, concurrent writers, the trial queue of
// workers, and refusal of foreign and newer databases without touching them.
#include <gtest/gtest.h>

#include <algorithm>

#include <map>
#include <set>
#include <tuple>

#include <sys/wait.h>
#include <chrono>
#include <thread>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <trainyard/errors.h>
#include <trainyard/sweep/sweep_runner.h>
#include <trainyard/store/results_store.h>
#include <trainyard/system/process_identity.h>

#include "temporary_postgres.h"
#include "test_support.h"

namespace t = trainyard::testing;
using trainyard::EpochRecord;
using trainyard::ResultsStore;
using trainyard::RunStatus;
using trainyard::SqlDialect;
using trainyard::SqlValue;
using trainyard::StoreError;

namespace {
trainyard::RunRecord sample_run() {
  trainyard::RunRecord r;
  r.experiment = "unit";
  r.experiment_file = "exp.yaml";
  r.config_yaml = "name: unit\n";
  r.host = "host";
  r.device = "cpu (2 threads)";
  r.torch_version = "1.13.0";
  r.seed = 42;
  r.model_plugin = "resnet50 1.0.0";
  r.num_parameters = 123;
  r.num_classes = 3;
  r.train_size = 8;
  r.test_size = 2;
  return r;
}

EpochRecord epoch(std::int64_t n, double test_accuracy) {
  EpochRecord e;
  e.epoch = n;
  e.train_loss = 1.0 / static_cast<double>(n);
  e.train_accuracy = 0.5;
  e.test_loss = 0.7;
  e.test_accuracy = test_accuracy;
  e.learning_rate = 1e-4;
  e.epoch_seconds = 2.5;
  e.train_images_per_second = 10;
  e.test_images_per_second = 30;
  e.data_wait_fraction = 0.01;
  return e;
}

// Every test of this fixture runs once on a SQLite file and once on a PostgreSQL database.
class Store : public ::testing::TestWithParam<SqlDialect> {
 protected:
  void SetUp() override {
    location_ = GetParam() == SqlDialect::kSqlite ? (dir_ / "r.db").string() : t::database_for_this_test();
  }
  const std::string& location() const { return location_; }
  bool sqlite() const { return GetParam() == SqlDialect::kSqlite; }
  // One value from a statement on the store's own connection.
  static SqlValue value(ResultsStore& store, const std::string& sql, const std::vector<SqlValue>& parameters = {}) {
    const auto rows = store.database().query(sql, parameters);
    if (rows.empty()) throw std::runtime_error("no row: " + sql);
    return rows.rows[0][0];
  }
  static std::int64_t integer(ResultsStore& store, const std::string& sql) {
    return std::get<std::int64_t>(value(store, sql));
  }
  static double real(ResultsStore& store, const std::string& sql) { return std::get<double>(value(store, sql)); }
  static std::string text(ResultsStore& store, const std::string& sql) {
    return std::get<std::string>(value(store, sql));
  }
  t::TempDir dir_;
  std::string location_;
};

// Runs `body(i)` in `n` forked processes at once and expects each to return normally; what a
// process throws is printed with its number (the processes stand for runners or workers).
template <typename Body>
void in_processes(int n, const char* what, Body body) {
  std::vector<pid_t> children;
  for (int i = 0; i < n; ++i) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      int code = 0;
      try {
        body(i);
      } catch (const std::exception& error) {
        std::fprintf(stderr, "%s %d: %s\n", what, i, error.what());
        code = 1;
      }
      _exit(code);
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a " << what << " failed";
  }
}

std::string engine_name(const ::testing::TestParamInfo<SqlDialect>& engine) {
  return engine.param == SqlDialect::kSqlite ? "Sqlite" : "Postgres";
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(BothEngines, Store, ::testing::Values(SqlDialect::kSqlite, SqlDialect::kPostgres),
                         engine_name);

TEST_P(Store, CreatesTheSchemaAtTheCurrentVersion) {
  ResultsStore store(location());
  EXPECT_EQ(store.schema_version(), ResultsStore::kSchemaVersion);
  for (const char* table : {"runs", "epochs", "sweeps", "run_overrides", "run_config", "trials", "run_summary",
                            "run_best_epoch", "run_last_epoch", "sweep_leaderboard"}) {
    EXPECT_NO_THROW(store.database().query(std::string("SELECT count(*) FROM ") + table)) << table;
  }
  if (sqlite()) {
    EXPECT_EQ(text(store, "PRAGMA journal_mode"), "wal");
    EXPECT_EQ(integer(store, "PRAGMA application_id"), ResultsStore::kApplicationId);
  } else {
    EXPECT_EQ(integer(store, "SELECT application_id FROM trainyard_schema"), ResultsStore::kApplicationId);
  }
  ResultsStore again(location());  // opening a current database changes nothing
  EXPECT_EQ(again.schema_version(), ResultsStore::kSchemaVersion);
}

TEST(ResultsStore, CreatesTheFolderOfANewFileAndUsesAnEmptyFile) {
  t::TempDir dir;
  {
    ResultsStore store((dir / "sub/new.db").string());  // creates the folder too
    EXPECT_EQ(store.schema_version(), ResultsStore::kSchemaVersion);
  }
  t::write_file(dir / "empty.db", "");
  ResultsStore store((dir / "empty.db").string());
  EXPECT_EQ(store.schema_version(), ResultsStore::kSchemaVersion);
}

TEST_P(Store, RoundTripsARunAndItsEpochs) {
  ResultsStore store(location());
  const auto id = store.begin_run(sample_run());
  auto run = store.run(id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, trainyard::RunStatus::kRunning);
  EXPECT_FALSE(run->best_epoch);

  store.record_epoch(id, epoch(1, 0.6), true, "ckpt/best.pt");
  store.record_epoch(id, epoch(2, 0.5), false, "ckpt/best.pt");
  store.finish_run(id, RunStatus::kFinished);

  run = store.run(id);
  EXPECT_EQ(run->status, trainyard::RunStatus::kFinished);
  EXPECT_EQ(run->experiment, "unit");
  EXPECT_EQ(run->best_epoch, 1);
  EXPECT_DOUBLE_EQ(*run->best_test_accuracy, 0.6);
  EXPECT_EQ(run->checkpoint_path, "ckpt/best.pt");
  EXPECT_FALSE(run->ended_at.empty());
  const auto epochs = store.epochs(id);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[1].train_loss, 0.5);  // exactly: doubles cross both engines unrounded
  EXPECT_EQ(epochs[1].data_wait_fraction, 0.01);
  EXPECT_FALSE(store.run(id + 100));
}

TEST_P(Store, FinishedEpochsAreVisibleToAnotherConnectionAtOnce) {
  ResultsStore store(location());
  const auto id = store.begin_run(sample_run());
  store.record_epoch(id, epoch(1, 0.6), true, "x");
  const auto reader = sqlite() ? trainyard::open_sqlite_database(location(), /*read_only=*/true)
                               : trainyard::open_postgres_database(location());
  EXPECT_EQ(reader->query("SELECT count(*) FROM epochs").integer(0, 0), 1);
  EXPECT_EQ(reader->query("SELECT status FROM runs").text(0, 0), "running");
}

TEST_P(Store, FailureTextIsStored) {
  ResultsStore store(location());
  const auto id = store.begin_run(sample_run());
  store.finish_run(id, RunStatus::kFailed, "'a.png': corrupt PNG");
  EXPECT_EQ(store.run(id)->status, trainyard::RunStatus::kFailed);
  EXPECT_EQ(store.run(id)->error, "'a.png': corrupt PNG");
}

TEST(ResultsStore, ForeignSqliteDatabaseIsRefusedUntouched) {
  t::TempDir dir;
  const auto path = (dir / "other.db").string();
  {
    SQLite::Database other(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    other.exec("CREATE TABLE customers (id INTEGER)");
  }
  const std::string before = t::read_file(path);
  try {
    ResultsStore store(path);
    FAIL() << "opened a foreign database";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("is not a Trainyard results database"), std::string::npos);
  }
  EXPECT_EQ(t::read_file(path), before);
}

TEST(ResultsStore, ForeignPostgresDatabaseIsRefusedUntouched) {
  const auto url = t::database_for_this_test();
  trainyard::open_postgres_database(url)->execute_script(
      "CREATE TABLE customers (id BIGINT); INSERT INTO customers VALUES (7)");
  try {
    ResultsStore store(url);
    FAIL() << "opened a foreign database";
  } catch (const StoreError& e) {
    EXPECT_NE(
        std::string(e.what()).find("is not a Trainyard results database (its schema 'public' has 1 other tables)"),
        std::string::npos)
        << e.what();
  }
  const auto db = trainyard::open_postgres_database(url);
  EXPECT_EQ(db->query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").integer(0, 0), 1);
}

TEST(ResultsStore, NonDatabaseFileIsRefusedUntouched) {
  t::TempDir dir;
  t::write_file(dir / "notes.db", "these are my notes, not a database\n");
  EXPECT_THROW(ResultsStore((dir / "notes.db").string()), StoreError);
  EXPECT_EQ(t::read_file(dir / "notes.db"), "these are my notes, not a database\n");
}

TEST_P(Store, NewerSchemaIsRefusedUntouched) {
  {
    ResultsStore store(location());
    store.begin_run(sample_run());
    store.database().execute_script(
        sqlite() ? "PRAGMA user_version = " + std::to_string(ResultsStore::kSchemaVersion + 1)
                 : "UPDATE trainyard_schema SET version = " + std::to_string(ResultsStore::kSchemaVersion + 1));
  }
  try {
    ResultsStore store(location());
    FAIL() << "opened a newer database";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("written by a newer Trainyard"), std::string::npos) << e.what();
  }
  const auto reader =
      sqlite() ? trainyard::open_sqlite_database(location(), true) : trainyard::open_postgres_database(location());
  EXPECT_EQ(reader->query("SELECT count(*) FROM runs").integer(0, 0), 1);
}

TEST(ResultsStore, FolderPathIsRefused) {
  t::TempDir dir;
  EXPECT_THROW(ResultsStore(dir.path().string()), StoreError);
}

TEST(ResultsStore, PostgresSchemaIsTheSqliteMigrationsWithItsTypes) {
  EXPECT_EQ(trainyard::postgres_ddl("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, x REAL, "
                                    "real_name TEXT, intervals INTEGERS)"),
            "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL, "
            "x DOUBLE PRECISION, real_name TEXT, intervals INTEGERS)");
  EXPECT_EQ(
      trainyard::postgres_ddl("CREATE TEMP VIEW IF NOT EXISTS v AS SELECT 1; CREATE VIEW IF NOT EXISTS w AS SELECT 2"),
      "CREATE OR REPLACE TEMP VIEW v AS SELECT 1; CREATE OR REPLACE VIEW w AS SELECT 2");
}

TEST(ResultsStore, MigratesAVersionOneFileKeepingItsRuns) {
  t::TempDir dir;
  const auto path = (dir / "v1.db").string();
  {
    // A database as the first release wrote it (schema version 1), with one finished run.
    SQLite::Database v1(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    v1.exec(R"(
      CREATE TABLE runs (id INTEGER PRIMARY KEY, experiment TEXT NOT NULL, experiment_file TEXT,
        config_yaml TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
        host TEXT, device TEXT, torch_version TEXT, seed INTEGER, model_plugin TEXT,
        dataset_plugin TEXT, optimizer_plugin TEXT, num_parameters INTEGER, num_classes INTEGER,
        train_size INTEGER, test_size INTEGER, best_epoch INTEGER, best_test_accuracy REAL,
        checkpoint_path TEXT, error TEXT);
      CREATE TABLE epochs (run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL, train_loss REAL, train_accuracy REAL, test_loss REAL,
        test_accuracy REAL, learning_rate REAL, epoch_seconds REAL, train_images_per_second REAL,
        test_images_per_second REAL, data_wait_fraction REAL, finished_at TEXT NOT NULL,
        PRIMARY KEY (run_id, epoch));
      INSERT INTO runs (experiment, config_yaml, status, started_at, best_epoch, best_test_accuracy)
        VALUES ('old', 'name: old
optimizer: {plugin: adam, lr: 1.0e-3}', 'finished', '2026-01-01T00:00:00.000Z', 3, 0.75);
      INSERT INTO epochs (run_id, epoch, test_accuracy, finished_at) VALUES (1, 3, 0.75, 'x');
      PRAGMA user_version = 1;
    )");
    v1.exec("PRAGMA application_id = " + std::to_string(ResultsStore::kApplicationId));
  }
  ResultsStore store(path);
  EXPECT_EQ(store.schema_version(), ResultsStore::kSchemaVersion);
  const auto old = store.run(1);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->experiment, "old");
  EXPECT_EQ(old->best_epoch, 3);
  EXPECT_EQ(old->precision, "");
  EXPECT_EQ(store.epochs(1).size(), 1u);

  auto record = sample_run();
  record.precision = "bf16";
  const auto id = store.begin_run(record);
  store.finish_run(id, RunStatus::kFinished);
  EXPECT_EQ(store.run(id)->precision, "bf16");
  ASSERT_TRUE(store.run(id)->peak_memory_mib);
  EXPECT_GT(*store.run(id)->peak_memory_mib, 1.0);

  // Schema 4 filled the config rows of the old run and made the views.
  const auto config =
      store.database().query("SELECT value, number FROM run_config WHERE run_id = 1 AND key = 'optimizer.lr'");
  ASSERT_EQ(config.size(), 1u);
  EXPECT_EQ(config.text(0, 0), "1.0e-3");
  EXPECT_DOUBLE_EQ(config.real(0, 1), 0.001);
  EXPECT_EQ(store.database().query("SELECT best_test_accuracy FROM run_summary WHERE run_id = 1").real(0, 0), 0.75);
  EXPECT_EQ(store.database().query("SELECT epoch FROM run_last_epoch WHERE run_id = 1").integer(0, 0), 3);
  // Schema 8: runs from before validation splits chose on test, and rank on that figure.
  const auto selection =
      store.database().query("SELECT select_on, best_selection_accuracy FROM run_summary WHERE run_id = 1");
  EXPECT_EQ(selection.text(0, 0), "test");
  EXPECT_EQ(selection.real(0, 1), 0.75);
}

TEST_P(Store, EveryResolvedConfigValueIsARowAndTheViewsAnswer) {
  ResultsStore store(location());
  auto record = sample_run();
  record.config_yaml = "name: unit\nseed: 42\ntrain: {batch_size: 32, precision: bf16}\nplugin_paths: [a, b]\n";
  record.git_revision = "0123abc-dirty";
  const auto id = store.begin_run(record);
  for (int epoch = 1; epoch <= 3; ++epoch) {
    trainyard::EpochRecord e;
    e.epoch = epoch;
    e.test_accuracy = epoch == 2 ? 0.9 : 0.5 + 0.1 * epoch;  // best at epoch 2
    e.test_loss = 1.0 / epoch;
    store.record_epoch(id, e, epoch == 2, "best.pt");
  }
  store.finish_run(id, RunStatus::kFinished);
  std::map<std::string, std::string> rows;
  const auto config = store.database().query("SELECT key, value, number FROM run_config WHERE run_id = ?", {id});
  for (std::size_t i = 0; i < config.size(); ++i) rows[config.text(i, 0)] = config.text(i, 1);
  EXPECT_EQ(rows, (std::map<std::string, std::string>{{"name", "unit"},
                                                      {"seed", "42"},
                                                      {"train.batch_size", "32"},
                                                      {"train.precision", "bf16"},
                                                      {"plugin_paths", "[a, b]"}}));
  EXPECT_EQ(real(store, "SELECT number FROM run_config WHERE key = 'train.batch_size'"), 32.0);
  EXPECT_EQ(text(store, "SELECT git_revision FROM runs WHERE id = 1"), "0123abc-dirty");
  EXPECT_EQ(integer(store, "SELECT epoch FROM run_best_epoch WHERE run_id = 1"), 2);
  EXPECT_EQ(integer(store, "SELECT epoch FROM run_last_epoch WHERE run_id = 1"), 3);
  EXPECT_DOUBLE_EQ(real(store, "SELECT final_test_accuracy FROM run_summary WHERE run_id = 1"), 0.8);
  EXPECT_DOUBLE_EQ(real(store, "SELECT min_test_loss FROM run_summary WHERE run_id = 1"), 1.0 / 3);
  EXPECT_EQ(integer(store, "SELECT epochs FROM run_summary WHERE run_id = 1"), 3);
}

// Schema 13 admits 'pruned' (migration 1's CHECK, loosened in place on either engine); any other
// text is still refused.
TEST_P(Store, APrunedRunIsKeptWithItsReasonAndOtherStatusTextIsStillRefused) {
  ResultsStore store(location());
  const auto id = store.begin_run(sample_run());
  store.record_epoch(id, epoch(1, 0.5), true, "c");
  store.finish_run(id, RunStatus::kPruned, "", "pruned at epoch 1: test_accuracy 0.5000 < median 0.7000 of 3");
  const auto run = store.run(id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, RunStatus::kPruned);
  EXPECT_EQ(run->stop_reason, "pruned at epoch 1: test_accuracy 0.5000 < median 0.7000 of 3");
  EXPECT_EQ(run->error, "");
  EXPECT_THROW(store.database().query("UPDATE runs SET status = 'bogus' WHERE id = ?", {id}), std::exception);
  ResultsStore again(location());  // opened again: nothing left to migrate
  EXPECT_EQ(again.schema_version(), ResultsStore::kSchemaVersion);
  EXPECT_EQ(again.run(id)->status, RunStatus::kPruned);
}

// What a pruner reads: the other trials' latest runs at one epoch, each on its own split; and what
// the sweep summary says its trials trained against their train.epochs.
TEST_P(Store, ThePrunerReadsTheOtherTrialsLatestRunsAtAnEpoch) {
  ResultsStore store(location());
  const auto sweep = store.ensure_sweep("p", "exp.yaml", "grid: {optimizer.lr: [1, 2, 3]}");
  auto trial_run = [&](const std::string& key, std::vector<double> accuracies, bool on_val) {
    auto record = sample_run();
    record.sweep_id = sweep;
    record.trial_key = key;
    record.config_yaml = "train: {epochs: 4}\n";
    if (on_val) record.select_on = trainyard::SelectionSplit::kVal;
    const auto id = store.begin_run(record);
    for (std::size_t i = 0; i < accuracies.size(); ++i) {
      EpochRecord e = epoch(static_cast<std::int64_t>(i + 1), on_val ? 0.01 : accuracies[i]);
      if (on_val) e.val_accuracy = accuracies[i];
      store.record_epoch(id, e, i == 0, "c");
    }
    return id;
  };
  trial_run("lr=1", {0.5, 0.6}, false);
  trial_run("lr=2", {0.7}, true);
  trial_run("lr=3", {0.2, 0.3}, false);
  trial_run("lr=3", {}, false);  // its retry has no epoch yet: the trial's latest run counts
  auto sorted = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(store.sweep_accuracies_at(sweep, 1, "lr=3")), (std::vector<double>{0.5, 0.7}));
  EXPECT_EQ(store.sweep_accuracies_at(sweep, 2, "lr=3"), (std::vector<double>{0.6}));
  EXPECT_EQ(sorted(store.sweep_accuracies_at(sweep, 1, "lr=4")), (std::vector<double>{0.5, 0.7}));
  EXPECT_TRUE(store.sweep_accuracies_at(sweep, 3, "lr=1").empty());
  EXPECT_EQ(store.sweep_epochs_spent(sweep), (std::pair<std::int64_t, std::int64_t>{3, 12}));
}

TEST_P(Store, SweepsAndTheirTrialsAreSummarized) {
  ResultsStore store(location());
  const auto sweep = store.ensure_sweep("lr", "exp.yaml", "grid: {optimizer.lr: [1, 2]}");
  EXPECT_EQ(store.ensure_sweep("lr", "exp.yaml", "grid: {optimizer.lr: [1, 2, 3]}"), sweep);  // updated, same id
  EXPECT_EQ(store.find_sweep("lr", "exp.yaml"), sweep);
  EXPECT_FALSE(store.find_sweep("lr", "other.yaml"));
  for (const auto& [key, accuracy] : std::vector<std::pair<std::string, double>>{{"lr=1", 0.5}, {"lr=2", 0.75}}) {
    auto record = sample_run();
    record.sweep_id = sweep;
    record.trial_key = key;
    const auto id = store.begin_run(record);
    store.record_epoch(id, epoch(1, accuracy), true, "c");
    store.finish_run(id, RunStatus::kFinished);
  }
  const auto summary = store.sweep_summary(sweep);
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_EQ(summary[0].trial_key, "lr=2");  // best first
  EXPECT_GE(summary[0].seconds, 0.0);
  EXPECT_LT(summary[0].seconds, 60.0);
  EXPECT_EQ(store.latest_trial_runs(sweep).at("lr=1").status, trainyard::RunStatus::kFinished);
  EXPECT_EQ(store.trial_run(sweep, "lr=2", "host", getpid()), summary[0].run_id);
  EXPECT_FALSE(store.trial_run(sweep, "lr=2", "another-host", getpid()));
  EXPECT_EQ(integer(store, "SELECT rank FROM sweep_leaderboard WHERE trial_key = 'lr=1'"), 2);
}

TEST_P(Store, TruncatedEpochsLeaveTheBestOfWhatRemains) {
  ResultsStore store(location());
  const auto id = store.begin_run(sample_run());
  store.record_epoch(id, epoch(1, 0.6), true, "c");
  store.record_epoch(id, epoch(2, 0.6), false, "c");
  store.record_epoch(id, epoch(3, 0.9), true, "c");
  store.finish_run(id, RunStatus::kFailed, "stopped");
  store.truncate_epochs(id, 2);
  EXPECT_EQ(store.epochs(id).size(), 2u);
  EXPECT_EQ(store.run(id)->best_epoch, 1);  // a tie goes to the earlier epoch
  EXPECT_EQ(store.resume_run(id, "host").id, id);
  EXPECT_EQ(store.run(id)->status, trainyard::RunStatus::kRunning);
}

namespace {
EpochRecord validated_epoch(std::int64_t n, double val_accuracy, double test_accuracy) {
  EpochRecord e = epoch(n, test_accuracy);
  e.val_loss = 1.0 - val_accuracy;
  e.val_accuracy = val_accuracy;
  return e;
}
}  // namespace

// Issue 17: the best epoch, and a sweep's ranking, came from the test split, so every reported
// best was biased upward. A run with a validation split is ranked on it; its test accuracy is the
// best epoch's, unselected.
TEST_P(Store, ARunWithAValidationSplitIsRankedOnItAndKeepsItsTestFigureApart) {
  ResultsStore store(location());
  const auto sweep = store.ensure_sweep("s", "exp.yaml", "grid: {optimizer.lr: [1, 2]}");
  // Trial a: the better validation accuracy, the worse test accuracy.
  for (const auto& [key, val, test] :
       std::vector<std::tuple<std::string, double, double>>{{"a", 0.9, 0.6}, {"b", 0.7, 0.8}}) {
    auto record = sample_run();
    record.sweep_id = sweep;
    record.trial_key = key;
    record.val_size = 4;
    record.select_on = trainyard::SelectionSplit::kVal;
    const auto id = store.begin_run(record);
    store.record_epoch(id, validated_epoch(1, val, test), true, "c");
    store.finish_run(id, RunStatus::kFinished);
  }
  const auto summary = store.sweep_summary(sweep);
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_EQ(summary[0].trial_key, "a");
  EXPECT_EQ(summary[0].select_on, "val");
  EXPECT_DOUBLE_EQ(*summary[0].best_selection_accuracy, 0.9);
  EXPECT_DOUBLE_EQ(*summary[0].best_test_accuracy, 0.6);
  EXPECT_EQ(integer(store, "SELECT rank FROM sweep_leaderboard WHERE trial_key = 'a'"), 1);
  EXPECT_EQ(std::get<std::string>(value(store, "SELECT select_on FROM run_summary WHERE trial_key = 'b'")), "val");
  EXPECT_DOUBLE_EQ(std::get<double>(value(store, "SELECT best_val_accuracy FROM run_summary WHERE trial_key = 'b'")),
                   0.7);
  const auto epochs = store.epochs(summary[0].run_id);
  ASSERT_EQ(epochs.size(), 1u);
  EXPECT_DOUBLE_EQ(*epochs[0].val_accuracy, 0.9);
  EXPECT_DOUBLE_EQ(*epochs[0].val_loss, 0.1);
}

TEST_P(Store, TruncatedEpochsOfAValidatedRunLeaveTheBestOnValidation) {
  ResultsStore store(location());
  auto record = sample_run();
  record.select_on = trainyard::SelectionSplit::kVal;
  const auto id = store.begin_run(record);
  store.record_epoch(id, validated_epoch(1, 0.5, 0.9), true, "c");
  store.record_epoch(id, validated_epoch(2, 0.8, 0.4), true, "c");
  store.record_epoch(id, validated_epoch(3, 0.95, 0.5), true, "c");
  store.finish_run(id, RunStatus::kFailed, "stopped");
  store.truncate_epochs(id, 2);
  EXPECT_EQ(store.run(id)->best_epoch, 2);  // best on validation, though epoch 1 tested higher
  EXPECT_DOUBLE_EQ(*store.run(id)->best_test_accuracy, 0.4);
  EXPECT_DOUBLE_EQ(std::get<double>(value(store, "SELECT best_selection_accuracy FROM runs")), 0.8);
}

TEST_P(Store, OverridesAreStoredAsQueryableRows) {
  ResultsStore store(location());
  auto record = sample_run();
  record.trial_key = "optimizer.lr=0.001";
  record.overrides = {{"optimizer.lr", "0.001"}, {"train.batch_size", "32"}};
  const auto id = store.begin_run(record);
  EXPECT_EQ(std::get<std::string>(
                value(store, "SELECT value FROM run_overrides WHERE run_id = ? AND key = 'train.batch_size'", {id})),
            "32");
}

TEST_P(Store, RunWhoseProcessDiedIsMarkedInterrupted) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A runner that starts a run and dies without a word.
    ResultsStore store(location());
    store.begin_run(sample_run());
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ResultsStore store(location());
  const auto own = store.begin_run(sample_run());  // alive: must stay running
  const auto marked = store.mark_abandoned_runs("host");
  ASSERT_EQ(marked.size(), 1u);
  EXPECT_EQ(store.run(marked[0])->status, trainyard::RunStatus::kInterrupted);
  EXPECT_NE(store.run(marked[0])->error.find("pid " + std::to_string(child)), std::string::npos);
  EXPECT_EQ(store.run(own)->status, trainyard::RunStatus::kRunning);
  EXPECT_TRUE(store.mark_abandoned_runs("other-host").empty());
}

// A run whose pid now belongs to another process (after a reboot, or reused) stayed 'running'
// forever: kill(pid, 0) found the other process alive. The row keeps the boot and start time too.
TEST_P(Store, ARunWhosePidWasReusedIsMarkedInterrupted) {
  ResultsStore store(location());
  const auto reused = store.begin_run(sample_run());
  const auto own = store.begin_run(sample_run());
  // As a run of an earlier boot with this process's pid would read: same pid, another start.
  store.database().query("UPDATE runs SET pid_start = 'another-boot/12345' WHERE id = ?", {reused});
  const auto marked = store.mark_abandoned_runs("host");
  ASSERT_EQ(marked, std::vector<std::int64_t>{reused});
  EXPECT_EQ(store.run(reused)->status, trainyard::RunStatus::kInterrupted);
  EXPECT_EQ(store.run(own)->status, trainyard::RunStatus::kRunning);  // this process, this start: alive
  EXPECT_EQ(trainyard::process_start_key(getpid()).empty(), false);
  EXPECT_EQ(trainyard::process_start_key(getpid()), trainyard::process_start_key(getpid()));
}

TEST_P(Store, EightConcurrentWritersLoseNoRows) {
  constexpr int kWriters = 8, kEpochs = 25;
  in_processes(kWriters, "writer", [&](int) {
    ResultsStore store(location());  // all open (and the first creates) at once
    const auto id = store.begin_run(sample_run());
    for (int e = 1; e <= kEpochs; ++e) store.record_epoch(id, epoch(e, 0.01 * e), e % 5 == 0, "c");
    store.finish_run(id, RunStatus::kFinished);
  });
  ResultsStore store(location());
  EXPECT_EQ(integer(store, "SELECT count(*) FROM runs WHERE status = 'finished'"), kWriters);
  EXPECT_EQ(integer(store, "SELECT count(*) FROM epochs"), kWriters * kEpochs);
  EXPECT_EQ(integer(store, "SELECT count(DISTINCT run_id) FROM epochs"), kWriters);
  if (sqlite()) {
    EXPECT_EQ(text(store, "PRAGMA integrity_check"), "ok");
  }
}

TEST(ResultsStore, APostgresStoreRidesOutAServerRestart) {
  const t::TemporaryPostgres server;  // its own: the restart ends every connection to it
  ResultsStore store(server.create_database("restarted"));
  const auto id = store.begin_run(sample_run());
  server.restart();
  // The next write notices the lost connection at its BEGIN, connects again and goes through.
  store.record_epoch(id, epoch(1, 0.5), true, "c");
  EXPECT_EQ(store.epochs(id).size(), 1u);

  // Inside a transaction the loss is an error: what it wrote is gone, nothing half-done remains.
  {
    trainyard::SqlWriteTransaction transaction(store.database());
    store.database().query("UPDATE runs SET error = 'half' WHERE id = ?", {id});
    server.restart();
    EXPECT_THROW(store.database().query("UPDATE runs SET status = 'failed' WHERE id = ?", {id}), StoreError);
    EXPECT_THROW(transaction.commit(), StoreError);  // not "committed" on a new connection
  }
  EXPECT_EQ(store.run(id)->status, trainyard::RunStatus::kRunning);
  EXPECT_EQ(store.run(id)->error, "");
}

// A write on a connection lost under it is not run again on a new one: the server may have
// committed it before the answer was lost (a finished trial's completion, run twice, found the
// trial no longer claimed). It fails, naming itself; the next statement reconnects. Reads and
// idempotent writes ride out the loss.
TEST(ResultsStore, APostgresWriteIsNotRunTwiceAfterALostConnection) {
  const t::TemporaryPostgres server;
  ResultsStore store(server.create_database("write_once"));
  const auto id = store.begin_run(sample_run());
  server.restart();
  EXPECT_THROW(store.database().query("INSERT INTO run_overrides (run_id, key, value) VALUES (?, 'k', 'v')", {id}),
               StoreError);
  EXPECT_EQ(store.database().query("SELECT count(*) FROM run_overrides WHERE run_id = ?", {id}).integer(0, 0), 0);
  server.restart();
  EXPECT_EQ(store.database().query("SELECT count(*) FROM runs").integer(0, 0), 1);  // a read: retried
  server.restart();
  store.finish_run(id, trainyard::RunStatus::kFinished);  // idempotent: retried
  EXPECT_EQ(store.run(id)->status, trainyard::RunStatus::kFinished);
}

// ---- the trial queue of workers

TEST_P(Store, TrialsAreClaimedOnceInOrderAndEndWithTheirRun) {
  ResultsStore store(location());
  const auto sweep = store.ensure_sweep("s", "exp.yaml", "grid: {}");
  store.enqueue_trials(sweep, {"a", "b", "c"}, {"b"});
  store.enqueue_trials(sweep, {"a", "b", "c"}, {});  // a second worker enqueues the same: no change
  EXPECT_EQ(store.trial_counts(sweep).pending, 2);
  EXPECT_EQ(store.trial_counts(sweep).finished, 1);
  const auto first = store.claim_trial(sweep, "w1", 60);
  const auto second = store.claim_trial(sweep, "w2", 60);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->trial_key, "a");
  EXPECT_EQ(first->attempt, 1);
  EXPECT_EQ(second->trial_key, "c");
  EXPECT_FALSE(store.claim_trial(sweep, "w3", 60));  // "b" finished before; the others are held
  EXPECT_TRUE(store.renew_trial_lease(first->id, "w1", 60));
  EXPECT_FALSE(store.renew_trial_lease(first->id, "w2", 60));  // not w2's
  const auto run = store.begin_run(sample_run());
  EXPECT_TRUE(store.complete_trial(first->id, "w1", true, run));
  // Idempotent: the same completion again (a retry whose first answer was lost) says it is done;
  // another outcome, or another worker, is refused.
  EXPECT_TRUE(store.complete_trial(first->id, "w1", true, run));
  EXPECT_FALSE(store.complete_trial(first->id, "w1", false, run, "late"));
  EXPECT_FALSE(store.complete_trial(first->id, "w2", true, run));
  EXPECT_TRUE(store.complete_trial(second->id, "w2", false, std::nullopt, "bad data"));
  const auto counts = store.trial_counts(sweep);
  EXPECT_EQ(counts.finished, 2);
  EXPECT_EQ(counts.failed, 1);
  EXPECT_EQ(counts.open(), 0);
  EXPECT_EQ(integer(store, "SELECT run_id FROM trials WHERE trial_key = 'a'"), run);
}

TEST_P(Store, ALapsedLeaseHandsTheTrialToAnotherWorkerAndFailsItsRun) {
  ResultsStore store(location());
  const auto sweep = store.ensure_sweep("s", "exp.yaml", "grid: {}");
  store.enqueue_trials(sweep, {"a"}, {});
  const auto lost = store.claim_trial(sweep, "dead-worker", 0.5);  // long enough for the next lines under load
  ASSERT_TRUE(lost);
  auto record = sample_run();
  record.sweep_id = sweep;
  record.trial_key = "a";
  const auto dead_run = store.begin_run(record);
  EXPECT_FALSE(store.claim_trial(sweep, "w2", 60));  // still leased
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const auto taken = store.claim_trial(sweep, "w2", 60);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->id, lost->id);
  EXPECT_EQ(taken->attempt, 2);
  EXPECT_EQ(store.run(dead_run)->status, trainyard::RunStatus::kFailed);
  EXPECT_NE(store.run(dead_run)->error.find("handed to worker w2"), std::string::npos) << store.run(dead_run)->error;
  EXPECT_FALSE(store.renew_trial_lease(lost->id, "dead-worker", 60));  // the old worker must stop
  EXPECT_FALSE(store.complete_trial(lost->id, "dead-worker", true, dead_run));
  EXPECT_TRUE(store.complete_trial(taken->id, "w2", true, std::nullopt));
}

TEST_P(Store, ATrialWhoseWorkersKeepDyingIsFailed) {
  ResultsStore store(location());
  const auto sweep = store.ensure_sweep("s", "exp.yaml", "grid: {}");
  store.enqueue_trials(sweep, {"a"}, {});
  for (int attempt = 1; attempt <= 2; ++attempt) {
    ASSERT_TRUE(store.claim_trial(sweep, "w" + std::to_string(attempt), 0.02, /*max_attempts=*/2));
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }
  EXPECT_FALSE(store.claim_trial(sweep, "w3", 60, 2));
  EXPECT_EQ(store.trial_counts(sweep).failed, 1);
  EXPECT_NE(text(store, "SELECT error FROM trials").find("stopped renewing the lease 2 times"), std::string::npos);
}

TEST_P(Store, ConcurrentWorkersNeverClaimTheSameTrial) {
  constexpr int kWorkers = 6, kTrials = 30;
  {
    ResultsStore store(location());
    const auto sweep = store.ensure_sweep("s", "exp.yaml", "grid: {}");
    std::vector<std::string> keys;
    for (int i = 0; i < kTrials; ++i) keys.push_back("trial-" + std::to_string(i));
    store.enqueue_trials(sweep, keys, {});
  }
  in_processes(kWorkers, "worker", [&](int w) {
    ResultsStore store(location());
    const auto sweep = *store.find_sweep("s", "exp.yaml");
    const std::string worker = "w" + std::to_string(w);
    while (const auto trial = store.claim_trial(sweep, worker, 60)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the trial's work
      if (!store.complete_trial(trial->id, worker, true, std::nullopt)) {
        throw std::runtime_error("trial " + trial->trial_key + " was not this worker's to complete");
      }
    }
  });
  ResultsStore store(location());
  EXPECT_EQ(integer(store, "SELECT count(*) FROM trials WHERE status = 'finished' AND attempts = 1"), kTrials);
  EXPECT_GE(integer(store, "SELECT count(DISTINCT worker) FROM trials"), 2);  // they did share the work
}

// What a trial spent outside its epochs is in the sweep summary: the process's start-up, and its
// wall time less the epochs (summed over a resumed run's processes). A run without the figures
// (it never ended, or an older file) shows none.
TEST_P(Store, TheSweepSummaryShowsEachTrialsTimeOutsideItsEpochs) {
  ResultsStore store(location());
  const auto sweep = store.ensure_sweep("lr", "exp.yaml", "grid: {optimizer.lr: [1, 2]}");
  std::vector<std::int64_t> ids;
  for (const std::string key : {"lr=1", "lr=2"}) {
    auto record = sample_run();
    record.sweep_id = sweep;
    record.trial_key = key;
    ids.push_back(store.begin_run(record));
    store.record_epoch(ids.back(), epoch(1, key == "lr=1" ? 0.75 : 0.5), true, "c");  // 2.5 s
    store.record_epoch(ids.back(), epoch(2, 0.25), false, "c");
  }
  store.add_process_times(ids[0], {0.75, 6.5});
  store.add_process_times(ids[0], {0.25, 1.0});  // a resume's process adds its own
  store.finish_run(ids[0], RunStatus::kFinished);
  const auto summary = store.sweep_summary(sweep);
  ASSERT_EQ(summary.size(), 2u);
  ASSERT_EQ(summary[0].run_id, ids[0]);
  ASSERT_TRUE(summary[0].startup_seconds && summary[0].outside_epochs_seconds);
  EXPECT_DOUBLE_EQ(*summary[0].startup_seconds, 1.0);
  EXPECT_DOUBLE_EQ(*summary[0].outside_epochs_seconds, 7.5 - 5.0);
  EXPECT_FALSE(summary[1].startup_seconds || summary[1].outside_epochs_seconds);
  const std::string table = trainyard::format_sweep_summary(store, sweep);
  EXPECT_NE(table.find("start-up"), std::string::npos) << table;
  EXPECT_NE(table.find("1.0s      2.5s"), std::string::npos) << table;  // start-up, outside
}
