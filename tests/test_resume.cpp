// Resuming: a run killed (SIGKILL) right after an epoch and resumed with `runner --resume` ends
// with exactly the per-epoch figures of the same run left alone, in its own database row.
#include <gtest/gtest.h>

#include <sched.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "test_support.h"
#include "trainyard/train/checkpoint.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

class Resume : public ::testing::Test {
 protected:
  // Augmented, so that a resumed run must also draw each epoch's crops and flips as before.
  void SetUp() override {
    t::make_image_folder(dir_ / "data", {{"a", 8}, {"b", 8}}, 16);
    t::write_file(dir_ / "exp.yaml", R"(name: resume
seed: 11
device: cpu
model:     {plugin: tiny, width: 6}
dataset:   {plugin: imagefolder, root: data, image_size: 16, train_fraction: 0.75,
            random_resized_crop: true, horizontal_flip: true}
optimizer: {plugin: adam, lr: 1.0e-2}
schedule:  {kind: cosine, warmup_epochs: 1}
train:     {epochs: 4, batch_size: 4, threads: 1}
output:    {db: results/r.db, checkpoints: results/checkpoints}
)");
  }
  t::CommandResult runner(const std::string& arguments, const std::string& environment = "") {
    return t::run_command(t::runner_command(dir_.path(), arguments, environment + " " + t::tiny_model_environment()));
  }
  std::vector<std::vector<double>> epochs(std::int64_t run) {
    SQLite::Database db((dir_ / "results/r.db").string(), SQLite::OPEN_READONLY);
    SQLite::Statement query(db,
                            "SELECT epoch, train_loss, train_accuracy, test_loss, test_accuracy, "
                            "learning_rate FROM epochs WHERE run_id = ? ORDER BY epoch");
    query.bind(1, run);
    std::vector<std::vector<double>> rows;
    while (query.executeStep()) {
      std::vector<double> row;
      for (int i = 0; i < 6; ++i) row.push_back(query.getColumn(i).getDouble());
      rows.push_back(row);
    }
    return rows;
  }
  std::string status(std::int64_t run) {
    SQLite::Database db((dir_ / "results/r.db").string(), SQLite::OPEN_READONLY);
    SQLite::Statement query(db, "SELECT status FROM runs WHERE id = ?");
    query.bind(1, run);
    return query.executeStep() ? query.getColumn(0).getString() : "";
  }
  t::TempDir dir_;
};

}  // namespace

TEST_F(Resume, KilledAfterAnEpochAndResumedEqualsTheRunLeftAlone) {
  const auto whole = runner("exp.yaml");
  ASSERT_EQ(whole.exit_code, 0) << whole.output;

  const auto killed = runner("exp.yaml", "TRAINYARD_FAULT_KILL_AFTER_EPOCH=2");
  ASSERT_NE(killed.exit_code, 0) << killed.output;
  EXPECT_EQ(epochs(2).size(), 2u);
  EXPECT_EQ(status(2), "running");  // as kill -9 leaves it
  EXPECT_TRUE(fs::exists(t::recorded_run_dir(dir_ / "results/r.db", 2) / "last.pt"));

  const auto resumed = runner("--resume 2 --db results/r.db");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("run 2 resumed after epoch 2 of 4"), std::string::npos) << resumed.output;
  EXPECT_EQ(status(2), "finished");
  const auto reference = epochs(1);
  const auto continued = epochs(2);
  ASSERT_EQ(reference.size(), 4u);
  ASSERT_EQ(continued.size(), 4u);
  for (std::size_t e = 0; e < 4; ++e) {
    for (std::size_t c = 0; c < 6; ++c) {
      EXPECT_EQ(continued[e][c], reference[e][c]) << "epoch " << e + 1 << " column " << c;
    }
  }
  SQLite::Database db((dir_ / "results/r.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM runs").getInt(), 2);  // the same row, not a new one
}

TEST_F(Resume, FinishedUnknownAndLiveRunsAreRefused) {
  ASSERT_EQ(runner("exp.yaml").exit_code, 0);
  const auto finished = runner("--resume 1 --db results/r.db");
  EXPECT_EQ(finished.exit_code, 2);
  EXPECT_NE(finished.output.find("the run finished; there is nothing to resume"), std::string::npos) << finished.output;
  const auto unknown = runner("--resume 7 --db results/r.db");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("no such run"), std::string::npos) << unknown.output;
  const auto no_db = runner("--resume 1 --db nowhere.db");
  EXPECT_EQ(no_db.exit_code, 2);
  EXPECT_NE(no_db.output.find("no results database at 'nowhere.db'"), std::string::npos) << no_db.output;
}

TEST_F(Resume, KilledSweepTrialsContinueInTheirRowsAndMatchAnUntouchedSweep) {
  t::write_file(dir_ / "sweep.yaml",
                t::read_file(dir_ / "exp.yaml") + "sweep:\n  grid:\n    optimizer.lr: [1.0e-2, 3.0e-3]\n");
  // Every trial process kills itself after its second epoch; the sweep records them as failed.
  const auto killed = runner("sweep.yaml", "TRAINYARD_FAULT_KILL_AFTER_EPOCH=2");
  EXPECT_NE(killed.exit_code, 0) << killed.output;
  const auto again = runner("sweep.yaml");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  // Both resumed, each in the row it had (which trial got which id depends on which of the two
  // running at once started first).
  EXPECT_NE(again.output.find("resumed: optimizer.lr=1.0e-2 (run "), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("resumed: optimizer.lr=3.0e-3 (run "), std::string::npos) << again.output;
  SQLite::Database db((dir_ / "results/r.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM runs").getInt(), 2);  // no new rows
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM runs WHERE status = 'finished'").getInt(), 2);

  // The same sweep, never interrupted, in a folder of its own.
  t::TempDir clean;
  fs::copy(dir_ / "data", clean / "data", fs::copy_options::recursive);
  t::write_file(clean / "sweep.yaml", t::read_file(dir_ / "sweep.yaml"));
  const auto reference = t::run_command(t::runner_command(clean.path(), "sweep.yaml", t::tiny_model_environment()));
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  SQLite::Database reference_db((clean / "results/r.db").string(), SQLite::OPEN_READONLY);
  const char* query =
      "SELECT r.trial_key, e.epoch, e.train_loss, e.test_loss, e.test_accuracy FROM epochs e "
      "JOIN runs r ON r.id = e.run_id ORDER BY r.trial_key, e.epoch";
  SQLite::Statement ours(db, query), theirs(reference_db, query);
  int rows = 0;
  while (ours.executeStep()) {
    ASSERT_TRUE(theirs.executeStep());
    ++rows;
    EXPECT_EQ(ours.getColumn(0).getString(), theirs.getColumn(0).getString());
    for (int c = 1; c < 5; ++c) EXPECT_EQ(ours.getColumn(c).getDouble(), theirs.getColumn(c).getDouble()) << rows;
  }
  EXPECT_FALSE(theirs.executeStep());
  EXPECT_EQ(rows, 8);  // 2 trials x 4 epochs
}

// Two databases writing to one checkpoints folder (the template's experiment and the quick start
// both default to results/checkpoints) each wrote run-1/: the second run's best.pt replaced the
// first's. Each database names its runs' folders with its own tag.
TEST_F(Resume, TwoDatabasesSharingACheckpointsFolderKeepEachOthersCheckpoints) {
  ASSERT_EQ(runner("exp.yaml --set train.epochs=1").exit_code, 0);
  const fs::path first = t::recorded_run_dir(dir_ / "results/r.db", 1);
  const std::string first_best = t::read_file(first / "best.pt");
  const auto other = runner("exp.yaml --set train.epochs=1 --set output.db=results/other.db --set seed=12");
  ASSERT_EQ(other.exit_code, 0) << other.output;
  const fs::path second = t::recorded_run_dir(dir_ / "results/other.db", 1);
  EXPECT_NE(first, second);
  EXPECT_EQ(first.parent_path(), fs::canonical(dir_ / "results/checkpoints"));
  EXPECT_EQ(t::read_file(first / "best.pt"), first_best);  // untouched by the other database's run 1
  EXPECT_TRUE(fs::exists(second / "best.pt"));
  SQLite::Database db((dir_ / "results/other.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT checkpoint_path FROM runs WHERE id = 1").getString(), (second / "best.pt").string());
}

// The stored output.checkpoints and dataset root are relative: from another folder, `--resume`
// found no last.pt, discarded the recorded epochs ("resumed after epoch 0") and trained afresh.
TEST_F(Resume, AResumeFromAnotherFolderContinuesExactly) {
  ASSERT_EQ(runner("exp.yaml").exit_code, 0);
  ASSERT_NE(runner("exp.yaml", "TRAINYARD_FAULT_KILL_AFTER_EPOCH=2").exit_code, 0);
  t::TempDir elsewhere;
  const auto resumed = t::run_command(
      t::runner_command(elsewhere.path(), "--resume 2 --db " + t::shell_quote((dir_ / "results/r.db").string()),
                        t::tiny_model_environment()));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("run 2 resumed after epoch 2 of 4"), std::string::npos) << resumed.output;
  EXPECT_EQ(epochs(2), epochs(1));
  EXPECT_TRUE(fs::is_empty(elsewhere.path()));  // nothing written where the command ran
}

// A resume that cannot find the checkpoint it needs must not start over (which deleted the
// recorded epochs): exit 2, naming where it looked, with every epoch and the status as they were.
TEST_F(Resume, AMissingCheckpointExitsTwoAndKeepsEveryRecordedEpoch) {
  ASSERT_NE(runner("exp.yaml", "TRAINYARD_FAULT_KILL_AFTER_EPOCH=2").exit_code, 0);
  const fs::path last = t::recorded_run_dir(dir_ / "results/r.db", 1) / "last.pt";
  ASSERT_TRUE(fs::exists(last));
  fs::remove(last);
  const std::string before = status(1);
  const auto resumed = runner("--resume 1 --db results/r.db");
  EXPECT_EQ(resumed.exit_code, 2) << resumed.output;
  EXPECT_NE(resumed.output.find("'" + last.string() + "' is missing"), std::string::npos) << resumed.output;
  EXPECT_EQ(epochs(1).size(), 2u);
  EXPECT_EQ(status(1), before);
}

// A resume or a worker's takeover could load another run's weights from a shared folder: a
// checkpoint names the run folder it was written for, and a resume refuses any other.
TEST_F(Resume, AnotherRunsCheckpointIsRefused) {
  ASSERT_NE(runner("exp.yaml", "TRAINYARD_FAULT_KILL_AFTER_EPOCH=1").exit_code, 0);
  ASSERT_NE(runner("exp.yaml", "TRAINYARD_FAULT_KILL_AFTER_EPOCH=2").exit_code, 0);
  const fs::path mine = t::recorded_run_dir(dir_ / "results/r.db", 1) / "last.pt";
  fs::copy_file(t::recorded_run_dir(dir_ / "results/r.db", 2) / "last.pt", mine, fs::copy_options::overwrite_existing);
  const auto resumed = runner("--resume 1 --db results/r.db");
  EXPECT_NE(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("belongs to run-2-"), std::string::npos) << resumed.output;
  EXPECT_EQ(epochs(1).size(), 1u);  // the recorded epoch is kept
}

// A sweep gives each running trial its share of the machine (its own GPU; its share of the cores).
// A resumed trial got none: it went on with what its configuration said, so two could share one
// GPU (or each take every core). Now it gets its slot's share, and its row says where it ran.
TEST_F(Resume, AResumedSweepTrialGetsItsSlotsShareOfTheMachine) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const int cores = CPU_COUNT(&set);
  if (cores < 2) GTEST_SKIP() << "one core: every share is the whole machine";
  std::string experiment = t::read_file(dir_ / "exp.yaml");
  experiment.replace(experiment.find(", threads: 1"), 12, "");
  t::write_file(dir_ / "sweep.yaml", experiment + "sweep:\n  grid:\n    optimizer.lr: [1.0e-2, 3.0e-3]\n");
  ASSERT_NE(runner("sweep.yaml --jobs 1", "TRAINYARD_FAULT_KILL_AFTER_EPOCH=2").exit_code, 0);
  const auto again = runner("sweep.yaml --jobs 2");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("resumed: optimizer.lr=1.0e-2 (run 1)"), std::string::npos) << again.output;
  SQLite::Database db((dir_ / "results/r.db").string(), SQLite::OPEN_READONLY);
  const int share = cores / 2;
  const std::string expected = "cpu (" + std::to_string(share) + (share == 1 ? " thread)" : " threads)");
  SQLite::Statement devices(db, "SELECT id, device FROM runs ORDER BY id");
  int rows = 0;
  while (devices.executeStep()) {
    ++rows;
    EXPECT_EQ(devices.getColumn(1).getString(), expected) << "run " << devices.getColumn(0).getInt();
  }
  EXPECT_EQ(rows, 2);
}

// Checkpoints are written on a thread of their own while the next epoch trains. A kill halfway
// through writing epoch 3's last.pt (after epoch 3 was recorded) leaves epoch 2's file whole:
// the resume continues from it, trains epoch 3 again, and ends with the untouched run's figures.
TEST_F(Resume, KilledWhileACheckpointIsWrittenResumesFromThePreviousOne) {
  ASSERT_EQ(runner("exp.yaml").exit_code, 0);
  const auto killed = runner("exp.yaml", "TRAINYARD_FAULT_KILL_IN_CHECKPOINT=3");
  ASSERT_NE(killed.exit_code, 0) << killed.output;
  EXPECT_EQ(epochs(2).size(), 3u);  // recorded before its checkpoint was written
  const fs::path folder = t::recorded_run_dir(dir_ / "results/r.db", 2);
  bool half_written = false;
  for (const auto& entry : fs::directory_iterator(folder)) {
    half_written |= entry.path().filename().string().rfind("last.pt.tmp.", 0) == 0;
  }
  EXPECT_TRUE(half_written) << "the kill came before the write began";

  const auto resumed = runner("--resume 2 --db results/r.db");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("run 2 resumed after epoch 2 of 4"), std::string::npos) << resumed.output;
  EXPECT_EQ(epochs(2), epochs(1));
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(name == "best.pt" || name == "last.pt") << "left behind: " << name;
  }
}

// output.checkpoint_every: last.pt every N epochs. A run killed before its first one has nothing
// to lose: its resume starts over (and comes out the same); output.keep: best writes no last.pt.
TEST_F(Resume, CheckpointEveryAndKeepChooseWhatIsWritten) {
  ASSERT_EQ(runner("exp.yaml").exit_code, 0);
  const auto killed = runner("exp.yaml --set output.checkpoint_every=3", "TRAINYARD_FAULT_KILL_AFTER_EPOCH=2");
  ASSERT_NE(killed.exit_code, 0) << killed.output;
  EXPECT_FALSE(fs::exists(t::recorded_run_dir(dir_ / "results/r.db", 2) / "last.pt"));
  const auto resumed = runner("--resume 2 --db results/r.db");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("run 2 resumed after epoch 0 of 4"), std::string::npos) << resumed.output;
  EXPECT_EQ(epochs(2), epochs(1));

  ASSERT_EQ(runner("exp.yaml --set output.keep=best").exit_code, 0);
  const fs::path best_only = t::recorded_run_dir(dir_ / "results/r.db", 3);
  EXPECT_TRUE(fs::exists(best_only / "best.pt"));
  EXPECT_FALSE(fs::exists(best_only / "last.pt"));
  ASSERT_EQ(runner("exp.yaml --set output.keep=none").exit_code, 0);
  const fs::path none = t::recorded_run_dir(dir_ / "results/r.db", 4);
  EXPECT_TRUE(!fs::exists(none) || fs::is_empty(none));
  SQLite::Database db((dir_ / "results/r.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT coalesce(checkpoint_path, '') FROM runs WHERE id = 4").getString(), "");
}

// Issue 18: best.pt is for evaluating, exporting and fine-tuning: the model alone, a fraction of
// last.pt (which holds Adam's two moments per parameter), unless output.best_optimizer asks for
// the optimizer too (then the epoch's one file serves both).
TEST_F(Resume, BestHoldsTheModelAloneUnlessTheOptimizerIsAskedFor) {
  ASSERT_EQ(runner("exp.yaml").exit_code, 0);
  const fs::path plain = t::recorded_run_dir(dir_ / "results/r.db", 1);
  EXPECT_FALSE(trainyard::checkpoint_has_optimizer(plain / "best.pt"));
  const auto evaluated = runner("--evaluate 1 --db results/r.db");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.output;
  // A resume point holds the optimizer, but for the one of the run's last epoch (never resumed
  // from: it is what --checkpoint last evaluates and exports), which is smaller than the others.
  ASSERT_NE(runner("exp.yaml", "TRAINYARD_FAULT_KILL_AFTER_EPOCH=2").exit_code, 0);
  const fs::path killed = t::recorded_run_dir(dir_ / "results/r.db", 2);
  EXPECT_TRUE(trainyard::checkpoint_has_optimizer(killed / "last.pt"));
  EXPECT_FALSE(trainyard::checkpoint_has_optimizer(plain / "last.pt"));
  EXPECT_LT(fs::file_size(plain / "last.pt"), fs::file_size(killed / "last.pt"));
  ASSERT_EQ(runner("--evaluate 1 --checkpoint last --db results/r.db").exit_code, 0);

  ASSERT_EQ(runner("exp.yaml --set output.best_optimizer=true").exit_code, 0);
  const fs::path asked = t::recorded_run_dir(dir_ / "results/r.db", 3);
  EXPECT_TRUE(trainyard::checkpoint_has_optimizer(asked / "best.pt"));
  EXPECT_TRUE(trainyard::checkpoint_has_optimizer(asked / "last.pt"));
  EXPECT_EQ(epochs(3), epochs(1));  // what is written does not change what is trained
}

// The last epoch's last.pt holds no optimizer state: a run killed after writing it (before it
// was marked finished) has nothing left to train, and its resume only finishes it.
TEST_F(Resume, KilledAfterItsLastEpochTheResumeFinishesTheRun) {
  ASSERT_EQ(runner("exp.yaml").exit_code, 0);
  ASSERT_NE(runner("exp.yaml", "TRAINYARD_FAULT_KILL_AFTER_EPOCH=4").exit_code, 0);
  EXPECT_EQ(status(2), "running");
  EXPECT_EQ(epochs(2).size(), 4u);
  const auto resumed = runner("--resume 2 --db results/r.db");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("run 2 resumed after epoch 4 of 4"), std::string::npos) << resumed.output;
  EXPECT_EQ(status(2), "finished");
  EXPECT_EQ(epochs(2), epochs(1));
}

// What a run spends outside its epochs is in its record: each epoch's checkpoint time, and the
// process's start-up and whole wall time, which holds them all.
TEST_F(Resume, TheRecordHoldsTheTimeSpentOutsideTheEpochs) {
  ASSERT_EQ(runner("exp.yaml").exit_code, 0);
  SQLite::Database db((dir_ / "results/r.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM epochs WHERE checkpoint_seconds > 0").getInt(), 4);
  const double startup = db.execAndGet("SELECT startup_seconds FROM runs").getDouble();
  const double wall = db.execAndGet("SELECT wall_seconds FROM runs").getDouble();
  const double in_epochs = db.execAndGet("SELECT sum(epoch_seconds + checkpoint_seconds) FROM epochs").getDouble();
  EXPECT_GT(startup, 0.0);
  EXPECT_GE(wall + 0.02, startup + in_epochs);  // /proc's clock counts in hundredths
}
