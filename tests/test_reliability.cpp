// What a run leaves behind when things go wrong: kill -9 at any moment, an output folder that
// cannot be written, a disk that fills up during the run.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <random>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>

#include "test_support.h"
#include "trainyard/train/checkpoint.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

class Reliability : public ::testing::Test {
 protected:
  void SetUp() override { t::make_image_folder(dir_ / "data", {{"a", 8}, {"b", 8}}, 16); }
  void write_experiment(const std::string& extra, std::int64_t epochs, const std::string& model = "{plugin: tiny}") {
    t::write_file(dir_ / "exp.yaml", "name: rel\nseed: 4\ndevice: cpu\nmodel: " + model +
                                         "\ndataset: {plugin: imagefolder, root: data, image_size: 16}\n"
                                         "optimizer: {plugin: adam, lr: 1.0e-2}\ntrain: {epochs: " +
                                         std::to_string(epochs) + ", batch_size: 4, threads: 1}\n" + extra);
  }
  std::string environment() const { return t::tiny_model_environment(); }
  std::string db() const { return (dir_ / "results/trainyard.db").string(); }
  int count_epochs() const {
    SQLite::Database database(db(), SQLite::OPEN_READONLY);
    return database.execAndGet("SELECT count(*) FROM epochs").getInt();
  }
  t::TempDir dir_;
};

}  // namespace

TEST_F(Reliability, KillNineAtAnyMomentLeavesEveryFinishedEpochAndAResumableRun) {
  write_experiment("", 400);
  std::mt19937 random(5);
  for (int attempt = 0; attempt < 4; ++attempt) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // runner_command ends in `exec`: this process becomes the runner.
      const std::string command = t::runner_command(dir_.path(), "exp.yaml -q", environment());
      execl("/bin/sh", "sh", "-c", command.c_str(), nullptr);
      _exit(127);
    }
    ASSERT_TRUE(t::wait_until([&] { return count_epochs() >= 2 * attempt + 1; }, 60)) << "no epoch recorded";
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 40)(random)));
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);

    SQLite::Database database(db(), SQLite::OPEN_READONLY);
    EXPECT_EQ(database.execAndGet("PRAGMA integrity_check").getString(), "ok");
    // Epochs 1..n of each run, none missing, none half-written.
    SQLite::Statement epochs(database,
                             "SELECT run_id, count(*), max(epoch), count(test_accuracy) FROM epochs GROUP BY run_id");
    while (epochs.executeStep()) {
      EXPECT_EQ(epochs.getColumn(1).getInt(), epochs.getColumn(2).getInt());
      EXPECT_EQ(epochs.getColumn(1).getInt(), epochs.getColumn(3).getInt());
    }
  }
  // The last run resumes from wherever it was killed and finishes its 400 epochs.
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  const auto last = database.execAndGet("SELECT max(id) FROM runs").getInt64();
  const auto resumed =
      t::run_command(t::runner_command(dir_.path(), "--resume " + std::to_string(last) + " -q", environment()));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  SQLite::Statement finished(database,
                             "SELECT status, (SELECT count(*) FROM epochs WHERE run_id = ?1) FROM runs WHERE id = ?1");
  finished.bind(1, last);
  ASSERT_TRUE(finished.executeStep());
  EXPECT_EQ(finished.getColumn(0).getString(), "finished");
  EXPECT_EQ(finished.getColumn(1).getInt(), 400);
}

TEST_F(Reliability, OutputThatCannotBeWrittenIsAClearErrorBeforeAnyRun) {
  write_experiment("", 1);
  t::write_file(dir_ / "plain-file", "not a folder\n");
  const auto checkpoints = t::run_command(
      t::runner_command(dir_.path(), "exp.yaml --set output.checkpoints=plain-file/checkpoints", environment()));
  EXPECT_EQ(checkpoints.exit_code, 2) << checkpoints.output;
  EXPECT_NE(checkpoints.output.find("output.checkpoints: cannot create folder 'plain-file/checkpoints'"),
            std::string::npos)
      << checkpoints.output;
  const auto database =
      t::run_command(t::runner_command(dir_.path(), "exp.yaml --set output.db=plain-file/r.db", environment()));
  EXPECT_EQ(database.exit_code, 2) << database.output;
  EXPECT_NE(database.output.find("plain-file/r.db"), std::string::npos) << database.output;
  if (fs::exists(db())) {
    SQLite::Database written(db(), SQLite::OPEN_READONLY);
    EXPECT_EQ(written.execAndGet("SELECT count(*) FROM runs").getInt(), 0);  // nothing started
  }
}

TEST_F(Reliability, DiskFullDuringTheRunFailsTheRunNotTheProcess) {
  // A file-size limit stands in for a full disk: the small CNN's checkpoint (about 0.9 MB with
  // Adam's state) cannot be written, the database (far smaller) can. The state is written once,
  // as last.pt (best.pt is a link to it), on the writer thread: the next epoch finds it failed.
  write_experiment("", 2, "{plugin: small_cnn, width: 64}");
  const auto result =
      t::run_command("trap '' XFSZ; ulimit -f 600; " + t::runner_command(dir_.path(), "exp.yaml", environment()));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  EXPECT_EQ(database.execAndGet("SELECT status FROM runs").getString(), "failed");
  EXPECT_NE(database.execAndGet("SELECT error FROM runs").getString().find("last.pt.tmp."), std::string::npos)
      << database.execAndGet("SELECT error FROM runs").getString();
  EXPECT_EQ(database.execAndGet("PRAGMA integrity_check").getString(), "ok");
  const fs::path folder = t::recorded_run_dir(db(), 1);
  EXPECT_FALSE(fs::exists(folder / "best.pt"));  // no half-written file in its place
  for (const auto& entry : fs::directory_iterator(folder)) ADD_FAILURE() << "left behind: " << entry.path();
}
