// Sweeps through the runner binary: trials in their own processes, two at a time; a killed trial
// is recorded and redone on the next run of the sweep; an interrupted sweep resumes; a pruner
// ends a trial that falls behind.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <sstream>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>

#include "test_support.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

class SweepEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    t::make_image_folder(dir_ / "data", {{"a", 6}, {"b", 6}}, 16);
    t::write_file(dir_ / "sweep.yaml", R"(name: sw
seed: 5
device: cpu
model:     {plugin: tiny}
dataset:   {plugin: imagefolder, root: data, image_size: 16, train_fraction: 0.5}
optimizer: {plugin: adam, lr: 1.0e-2}
train:     {epochs: 2, batch_size: 4}
output:    {db: results/sweep.db, checkpoints: results/checkpoints}
sweep:
  jobs: 2
  grid:
    optimizer.lr: [1.0e-2, 1.0e-3]
    model.width: [4, 8]
)");
  }
  std::string command(const std::string& arguments) const {
    return t::runner_command(dir_.path(), arguments, t::tiny_model_environment());
  }
  t::CommandResult runner(const std::string& arguments) const { return t::run_command(command(arguments)); }
  // Starts the runner in the background; returns its pid.
  pid_t start(const std::string& arguments) const {
    return std::stoi(t::run_command(command(arguments) + " > sweep.log 2>&1 & echo $!").output);
  }
  std::string db() const { return (dir_ / "results/sweep.db").string(); }
  int count(const std::string& sql) const {
    SQLite::Database database(db(), SQLite::OPEN_READONLY);
    return database.execAndGet(sql).getInt();
  }
  // Waits until `sql` counts at least `n`.
  bool wait_for(const std::string& sql, int n) const {
    return t::wait_until([&] { return fs::exists(db()) && count(sql) >= n; });
  }

  t::TempDir dir_;
};

}  // namespace

TEST_F(SweepEndToEnd, FourTrialsTwoAtATimeAllRecorded) {
  const auto result = runner("sweep.yaml");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(count("SELECT count(*) FROM sweeps"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'finished' AND sweep_id = 1"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM epochs"), 4 * 2);
  EXPECT_EQ(count("SELECT count(*) FROM run_overrides WHERE key = 'model.width' AND value = '8'"), 2);
  EXPECT_EQ(count("SELECT count(DISTINCT trial_key) FROM runs"), 4);
  // Each trial ran with half the cores and its own overrides.
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE config_yaml LIKE '%width: 4%' AND config_yaml LIKE '%lr: 0.001%'"),
            1);
  EXPECT_NE(result.output.find("best acc"), std::string::npos) << result.output;

  const auto again = runner("sweep.yaml");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("4 done before, 0 to run"), std::string::npos) << again.output;
  EXPECT_EQ(count("SELECT count(*) FROM runs"), 4);

  const auto summary = runner("sweep.yaml --sweep-summary");
  ASSERT_EQ(summary.exit_code, 0) << summary.output;
  EXPECT_NE(summary.output.find("model.width=8"), std::string::npos) << summary.output;
}

TEST_F(SweepEndToEnd, CommandLineSweepAndDryRunValidateEveryTrial) {
  const auto ok = runner("sweep.yaml --dry-run --sweep train.batch_size=2,4,6");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("12 trials, all valid"), std::string::npos) << ok.output;
  const auto bad = runner("sweep.yaml --sweep optimizer.lr=1e-3,-1");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("optimizer.lr=-1"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(db()));  // nothing ran
}

TEST_F(SweepEndToEnd, KilledTrialIsRecordedAndRedoneOnTheNextRun) {
  const pid_t sweep = start("sweep.yaml --set train.epochs=300 --jobs 1");
  ASSERT_TRUE(wait_for("SELECT count(*) FROM epochs", 1)) << t::read_file(dir_ / "sweep.log");
  int trial_pid = 0;
  {
    SQLite::Database database(db(), SQLite::OPEN_READONLY);
    trial_pid = database.execAndGet("SELECT pid FROM runs WHERE status = 'running'").getInt();
  }
  ASSERT_GT(trial_pid, 0);
  // The trial is a copy of the sweep's process (it did not load the runner a second time): the
  // same command line as its parent's.
  const std::string proc = "/proc/" + std::to_string(trial_pid);
  const std::string stat = t::read_file(proc + "/stat");
  std::istringstream after_name(stat.substr(stat.rfind(')') + 2));
  std::string state;
  int parent_pid = 0;
  after_name >> state >> parent_pid;
  EXPECT_EQ(t::read_file(proc + "/cmdline"), t::read_file("/proc/" + std::to_string(parent_pid) + "/cmdline"));
  ASSERT_EQ(kill(trial_pid, SIGKILL), 0);  // a crash, as the OOM killer would
  ASSERT_TRUE(wait_for("SELECT count(*) FROM runs WHERE status = 'failed'", 1)) << t::read_file(dir_ / "sweep.log");
  kill(sweep, SIGINT);  // and stop the rest of the sweep
  ASSERT_TRUE(t::wait_for_exit(sweep)) << "sweep still running after SIGINT";
  {
    SQLite::Database database(db(), SQLite::OPEN_READONLY);
    EXPECT_NE(database.execAndGet("SELECT error FROM runs WHERE status = 'failed'").getString().find("signal 9"),
              std::string::npos);
    EXPECT_EQ(database.execAndGet("SELECT count(*) FROM runs WHERE status = 'running'").getInt(), 0);
    EXPECT_EQ(database.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  const int finished_before = count("SELECT count(*) FROM runs WHERE status = 'finished'");
  const int runs_before = count("SELECT count(*) FROM runs");

  const auto rerun = runner("sweep.yaml --set train.epochs=300 --jobs 2 --set train.epochs=2");
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  // Other --set values (epochs is not swept), the same trial keys: only what did not finish ran.
  EXPECT_EQ(count("SELECT count(*) FROM runs"), runs_before + (4 - finished_before));
  EXPECT_EQ(count(R"(SELECT count(*) FROM runs r WHERE status = 'finished' AND id = (
                     SELECT max(id) FROM runs WHERE trial_key = r.trial_key))"),
            4);
}

TEST_F(SweepEndToEnd, InterruptedSweepMarksItsTrialsAndResumes) {
  const pid_t sweep = start("sweep.yaml --set train.epochs=300");
  ASSERT_TRUE(wait_for("SELECT count(DISTINCT run_id) FROM epochs", 2)) << t::read_file(dir_ / "sweep.log");
  ASSERT_EQ(kill(sweep, SIGINT), 0);
  ASSERT_TRUE(t::wait_for_exit(sweep)) << "sweep still running after SIGINT";
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'interrupted'"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'running'"), 0);
  EXPECT_GE(count("SELECT count(*) FROM epochs"), 2);  // finished epochs stay

  const auto rerun = runner("sweep.yaml --set train.epochs=2");
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_NE(rerun.output.find("0 done before, 4 to run"), std::string::npos) << rerun.output;
  EXPECT_EQ(count(R"(SELECT count(*) FROM runs r WHERE status = 'finished' AND id = (
                     SELECT max(id) FROM runs WHERE trial_key = r.trial_key))"),
            4);
}

// ASHA with reduction 2 and two trials one after the other: the first is alone at the rung of
// epoch 1 and goes on; the second, whose learning rate cannot train it, is not the best of two
// there and ends pruned, with its reason, its last.pt, and the epochs saved said in the summary.
TEST_F(SweepEndToEnd, AshaPrunesTheTrialThatFallsBehindAndARerunLeavesItDone) {
  t::write_file(dir_ / "asha.yaml", R"(name: asha
seed: 5
device: cpu
model:     {plugin: tiny}
dataset:   {plugin: imagefolder, root: data, image_size: 16, train_fraction: 0.5}
optimizer: {plugin: adam}
train:     {epochs: 3, batch_size: 4}
output:    {db: results/sweep.db, checkpoints: results/checkpoints}
sweep:
  grid: {optimizer.lr: [3.0e-2, 1.0e-7]}
  pruner: {kind: asha, reduction: 2}
)");
  const auto result = runner("asha.yaml");
  ASSERT_EQ(result.exit_code, 0) << result.output;  // a pruned trial is not a failure
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'finished' AND trial_key = 'optimizer.lr=3.0e-2'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'pruned' AND trial_key = 'optimizer.lr=1.0e-7'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM epochs e JOIN runs r ON r.id = e.run_id WHERE r.status = 'pruned'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM epochs"), 3 + 1);
  EXPECT_NE(result.output.find("1 finished, 1 pruned"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("(1 epoch): pruned at epoch 1 (asha rung 0): test_accuracy"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("epochs trained: 4 of the 6 a sweep without pruning or early stopping would (67%)"),
            std::string::npos)
      << result.output;
  std::int64_t pruned_run = 0;
  {
    SQLite::Database database(db(), SQLite::OPEN_READONLY);
    pruned_run = database.execAndGet("SELECT id FROM runs WHERE status = 'pruned'").getInt64();
    EXPECT_NE(database.execAndGet("SELECT stop_reason FROM runs WHERE status = 'pruned'")
                  .getString()
                  .find("is not in the top 1 of 2 trials at the rung"),
              std::string::npos);
  }
  EXPECT_TRUE(fs::exists(t::recorded_run_dir(db(), pruned_run) / "last.pt"));  // ASHA may take it on

  const auto again = runner("asha.yaml");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("2 done before, 0 to run"), std::string::npos) << again.output;
  EXPECT_EQ(count("SELECT count(*) FROM runs"), 2);

  // Resumed by hand, the pruned trial trains on to its train.epochs in its own row.
  const auto resumed = runner("--resume " + std::to_string(pruned_run) + " --db results/sweep.db");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'finished' AND stop_reason IS NULL"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM epochs WHERE run_id = " + std::to_string(pruned_run)), 3);
}

// A TPE search of four trials, two of them random start-up draws: the other two are chosen from
// the finished ones as the sweep goes. Its rerun runs nothing; given more trials it continues the
// search from the database.
TEST_F(SweepEndToEnd, TpeChoosesTrialsAsItGoesAndARerunContinuesTheSearch) {
  t::write_file(dir_ / "tpe.yaml", R"(name: tpe
seed: 5
device: cpu
model:     {plugin: tiny}
dataset:   {plugin: imagefolder, root: data, image_size: 16, train_fraction: 0.5}
optimizer: {plugin: adam}
train:     {epochs: 1, batch_size: 4}
output:    {db: results/sweep.db, checkpoints: results/checkpoints}
sweep:
  tpe:
    trials: 4
    startup_trials: 2
    params: {optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}, model.width: {int: [2, 8]}}
)");
  const auto dry = runner("tpe.yaml --dry-run");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("2 trials, all valid"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("then 2 trials that TPE chooses"), std::string::npos) << dry.output;

  const auto result = runner("tpe.yaml");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'finished' AND sweep_id = 1"), 4);
  EXPECT_EQ(count("SELECT count(DISTINCT trial_key) FROM runs"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM run_overrides WHERE key = 'model.width'"), 4);
  EXPECT_NE(result.output.find("[4/4] started"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("TPE chose trial 3 from 2 done trials: optimizer.lr="), std::string::npos)
      << result.output;

  const auto again = runner("tpe.yaml");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("4 done before, 0 to run"), std::string::npos) << again.output;
  EXPECT_EQ(count("SELECT count(*) FROM runs"), 4);

  std::string yaml = t::read_file(dir_ / "tpe.yaml");
  yaml.replace(yaml.find("trials: 4"), 9, "trials: 5");
  t::write_file(dir_ / "tpe.yaml", yaml);
  const auto continued = runner("tpe.yaml");
  ASSERT_EQ(continued.exit_code, 0) << continued.output;
  EXPECT_NE(continued.output.find("5 trials, 4 done before, 1 to run"), std::string::npos) << continued.output;
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'finished'"), 5);
  EXPECT_EQ(count("SELECT count(DISTINCT trial_key) FROM runs"), 5);
}
