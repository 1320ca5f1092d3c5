// The SQLite results store: schema creation and migration, round trips, refusal of foreign and
// newer files without touching them.
#include <gtest/gtest.h>

#include <map>

#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <trainyard/errors.h>
#include <trainyard/results_store.h>

#include "test_support.h"

namespace t = trainyard::testing;
using trainyard::EpochRecord;
using trainyard::ResultsStore;
using trainyard::RunStatus;
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
}  // namespace

TEST(ResultsStore, CreatesSchemaInANewFileAndAnEmptyOne) {
  t::TempDir dir;
  {
    ResultsStore store((dir / "sub/new.db").string());   // creates the folder too
    EXPECT_EQ(store.schema_version(), ResultsStore::kSchemaVersion);
  }
  t::write_file(dir / "empty.db", "");
  ResultsStore store((dir / "empty.db").string());
  EXPECT_EQ(store.schema_version(), ResultsStore::kSchemaVersion);
  EXPECT_EQ(store.database().execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ(store.database().execAndGet("PRAGMA application_id").getInt(), ResultsStore::kApplicationId);
}

TEST(ResultsStore, RoundTripsARunAndItsEpochs) {
  t::TempDir dir;
  ResultsStore store((dir / "r.db").string());
  const auto id = store.begin_run(sample_run());
  auto run = store.run(id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, "running");
  EXPECT_FALSE(run->best_epoch);

  store.record_epoch(id, epoch(1, 0.6), true, "ckpt/best.pt");
  store.record_epoch(id, epoch(2, 0.5), false, "ckpt/best.pt");
  store.finish_run(id, RunStatus::kFinished);

  run = store.run(id);
  EXPECT_EQ(run->status, "finished");
  EXPECT_EQ(run->experiment, "unit");
  EXPECT_EQ(run->best_epoch, 1);
  EXPECT_DOUBLE_EQ(*run->best_test_accuracy, 0.6);
  EXPECT_EQ(run->checkpoint_path, "ckpt/best.pt");
  EXPECT_FALSE(run->ended_at.empty());
  const auto epochs = store.epochs(id);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_DOUBLE_EQ(epochs[1].train_loss, 0.5);
  EXPECT_DOUBLE_EQ(epochs[1].data_wait_fraction, 0.01);
  EXPECT_FALSE(store.run(id + 100));
}

TEST(ResultsStore, FinishedEpochsAreVisibleToAnotherConnectionAtOnce) {
  t::TempDir dir;
  ResultsStore store((dir / "r.db").string());
  const auto id = store.begin_run(sample_run());
  store.record_epoch(id, epoch(1, 0.6), true, "x");
  SQLite::Database reader((dir / "r.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(reader.execAndGet("SELECT count(*) FROM epochs").getInt(), 1);
  EXPECT_EQ(reader.execAndGet("SELECT status FROM runs").getString(), "running");
}

TEST(ResultsStore, FailureTextIsStored) {
  t::TempDir dir;
  ResultsStore store((dir / "r.db").string());
  const auto id = store.begin_run(sample_run());
  store.finish_run(id, RunStatus::kFailed, "'a.png': corrupt PNG");
  EXPECT_EQ(store.run(id)->status, "failed");
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

TEST(ResultsStore, NonDatabaseFileIsRefusedUntouched) {
  t::TempDir dir;
  t::write_file(dir / "notes.db", "these are my notes, not a database\n");
  EXPECT_THROW(ResultsStore((dir / "notes.db").string()), StoreError);
  EXPECT_EQ(t::read_file(dir / "notes.db"), "these are my notes, not a database\n");
}

TEST(ResultsStore, NewerSchemaIsRefusedUntouched) {
  t::TempDir dir;
  const auto path = (dir / "future.db").string();
  {
    ResultsStore store(path);
    store.begin_run(sample_run());
    store.database().exec("PRAGMA user_version = " + std::to_string(ResultsStore::kSchemaVersion + 1));
  }
  try {
    ResultsStore store(path);
    FAIL() << "opened a newer database";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("written by a newer Trainyard"), std::string::npos) << e.what();
  }
  SQLite::Database reader(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(reader.execAndGet("SELECT count(*) FROM runs").getInt(), 1);
}

TEST(ResultsStore, FolderPathIsRefused) {
  t::TempDir dir;
  EXPECT_THROW(ResultsStore(dir.path().string()), StoreError);
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
  SQLite::Statement config(store.database(),
                           "SELECT value, number FROM run_config WHERE run_id = 1 AND key = 'optimizer.lr'");
  ASSERT_TRUE(config.executeStep());
  EXPECT_EQ(config.getColumn(0).getString(), "1.0e-3");
  EXPECT_DOUBLE_EQ(config.getColumn(1).getDouble(), 0.001);
  EXPECT_EQ(store.database().execAndGet("SELECT best_test_accuracy FROM run_summary WHERE run_id = 1").getDouble(), 0.75);
  EXPECT_EQ(store.database().execAndGet("SELECT epoch FROM run_last_epoch WHERE run_id = 1").getInt(), 3);
}

TEST(ResultsStore, EveryResolvedConfigValueIsARowAndTheViewsAnswer) {
  t::TempDir dir;
  ResultsStore store((dir / "r.db").string());
  auto record = sample_run();
  record.config_yaml = "name: unit\nseed: 42\ntrain: {batch_size: 32, precision: bf16}\nplugin_paths: [a, b]\n";
  record.git_revision = "0123abc-dirty";
  const auto id = store.begin_run(record);
  for (int epoch = 1; epoch <= 3; ++epoch) {
    trainyard::EpochRecord e;
    e.epoch = epoch;
    e.test_accuracy = epoch == 2 ? 0.9 : 0.5 + 0.1 * epoch;   // best at epoch 2
    e.test_loss = 1.0 / epoch;
    store.record_epoch(id, e, epoch == 2, "best.pt");
  }
  store.finish_run(id, RunStatus::kFinished);
  std::map<std::string, std::string> rows;
  SQLite::Statement query(store.database(), "SELECT key, value FROM run_config WHERE run_id = ?");
  query.bind(1, id);
  while (query.executeStep()) rows[query.getColumn(0).getString()] = query.getColumn(1).getString();
  EXPECT_EQ(rows, (std::map<std::string, std::string>{{"name", "unit"}, {"seed", "42"},
                                                      {"train.batch_size", "32"},
                                                      {"train.precision", "bf16"},
                                                      {"plugin_paths", "[a, b]"}}));
  auto& db = store.database();
  EXPECT_EQ(db.execAndGet("SELECT git_revision FROM runs WHERE id = 1").getString(), "0123abc-dirty");
  EXPECT_EQ(db.execAndGet("SELECT epoch FROM run_best_epoch WHERE run_id = 1").getInt(), 2);
  EXPECT_EQ(db.execAndGet("SELECT epoch FROM run_last_epoch WHERE run_id = 1").getInt(), 3);
  EXPECT_DOUBLE_EQ(db.execAndGet("SELECT final_test_accuracy FROM run_summary WHERE run_id = 1").getDouble(), 0.8);
  EXPECT_DOUBLE_EQ(db.execAndGet("SELECT min_test_loss FROM run_summary WHERE run_id = 1").getDouble(), 1.0 / 3);
}

TEST(ResultsStore, OverridesAreStoredAsQueryableRows) {
  t::TempDir dir;
  ResultsStore store((dir / "r.db").string());
  auto record = sample_run();
  record.trial_key = "optimizer.lr=0.001";
  record.overrides = {{"optimizer.lr", "0.001"}, {"train.batch_size", "32"}};
  const auto id = store.begin_run(record);
  SQLite::Statement query(store.database(),
                          "SELECT value FROM run_overrides WHERE run_id = ? AND key = 'train.batch_size'");
  query.bind(1, id);
  ASSERT_TRUE(query.executeStep());
  EXPECT_EQ(query.getColumn(0).getString(), "32");
}

TEST(ResultsStore, RunWhoseProcessDiedIsMarkedInterrupted) {
  t::TempDir dir;
  const auto path = (dir / "r.db").string();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A runner that starts a run and dies without a word.
    ResultsStore store(path);
    store.begin_run(sample_run());
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ResultsStore store(path);
  const auto own = store.begin_run(sample_run());   // alive: must stay running
  const auto marked = store.mark_abandoned_runs("host");
  ASSERT_EQ(marked.size(), 1u);
  EXPECT_EQ(store.run(marked[0])->status, "interrupted");
  EXPECT_NE(store.run(marked[0])->error.find("pid " + std::to_string(child)), std::string::npos);
  EXPECT_EQ(store.run(own)->status, "running");
  EXPECT_TRUE(store.mark_abandoned_runs("other-host").empty());
}

TEST(ResultsStore, EightConcurrentWritersLoseNoRows) {
  t::TempDir dir;
  const auto path = (dir / "shared.db").string();
  constexpr int kWriters = 8, kEpochs = 25;
  std::vector<pid_t> children;
  for (int w = 0; w < kWriters; ++w) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      int code = 0;
      try {
        ResultsStore store(path);   // all open (and the first creates) at once
        const auto id = store.begin_run(sample_run());
        for (int e = 1; e <= kEpochs; ++e) store.record_epoch(id, epoch(e, 0.01 * e), e % 5 == 0, "c");
        store.finish_run(id, RunStatus::kFinished);
      } catch (const std::exception& error) {
        std::fprintf(stderr, "writer %d: %s\n", w, error.what());
        code = 1;
      }
      _exit(code);
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a writer failed";
  }
  SQLite::Database reader(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(reader.execAndGet("SELECT count(*) FROM runs WHERE status = 'finished'").getInt(), kWriters);
  EXPECT_EQ(reader.execAndGet("SELECT count(*) FROM epochs").getInt(), kWriters * kEpochs);
  EXPECT_EQ(reader.execAndGet("SELECT count(DISTINCT run_id) FROM epochs").getInt(), kWriters);
  EXPECT_EQ(reader.execAndGet("PRAGMA integrity_check").getString(), "ok");
}
