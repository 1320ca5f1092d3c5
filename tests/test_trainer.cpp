// The trainer driven in-process: a whole small run through train_run with a recorder kept in
// memory and callbacks, no runner binary and no database.
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/config/experiment_config.h"
#include "trainyard/errors.h"
#include "trainyard/train/training_run.h"

namespace t = trainyard::testing;
using namespace trainyard;

namespace {

// Every call the trainer makes, in order, as text; and the epochs it was given.
struct MemoryLog {
  std::vector<std::string> calls;
  std::vector<EpochRecord> epochs;
  std::optional<RunStatus> status;
  std::string error;
  std::string stop_reason;
};

class MemoryRecorder final : public RunRecorder {
 public:
  explicit MemoryRecorder(MemoryLog& log) : log_(log) {}
  std::int64_t begin_run(const RunRecord& run) override {
    log_.calls.push_back("begin " + run.model_plugin);
    return 41;
  }
  void resume_run(std::int64_t id, const std::string&, const std::string&) override {
    log_.calls.push_back("resume " + std::to_string(id));
  }
  std::vector<EpochRecord> keep_epochs(std::int64_t, std::int64_t last_epoch) override {
    log_.epochs.resize(
        static_cast<std::size_t>(std::min<std::int64_t>(last_epoch, static_cast<std::int64_t>(log_.epochs.size()))));
    return log_.epochs;
  }
  void record_epoch(std::int64_t id, const EpochRecord& epoch, bool new_best, const std::string& checkpoint) override {
    log_.calls.push_back("record " + std::to_string(id) + ":" + std::to_string(epoch.epoch) +
                         (new_best ? " best " + std::filesystem::path(checkpoint).filename().string() : ""));
    log_.epochs.push_back(epoch);
  }
  void finish_run(std::int64_t, RunStatus status, const std::string& error, const std::string& stop_reason) override {
    log_.calls.push_back(std::string("finish ") + to_string(status));
    log_.status = status;
    log_.error = error;
    log_.stop_reason = stop_reason;
  }
  std::string location() const override { return "memory"; }

 private:
  MemoryLog& log_;
};

// Records the order of its calls beside the recorder's, and can stop or fail the run.
class ProbeCallback final : public TrainingCallback {
 public:
  ProbeCallback(MemoryLog& log, std::int64_t stop_after, std::int64_t throw_at)
      : log_(log), stop_after_(stop_after), throw_at_(throw_at) {}
  void on_epoch_end(EpochEnd& epoch) override {
    if (epoch.record.epoch == throw_at_) throw std::runtime_error("probe failed at epoch " + std::to_string(throw_at_));
    log_.calls.push_back("end " + std::to_string(epoch.record.epoch));
  }
  void on_epoch_recorded(EpochEnd& epoch) override {
    log_.calls.push_back("recorded " + std::to_string(epoch.record.epoch));
    epoch.stop = epoch.record.epoch == stop_after_;
  }
  void on_run_end(RunStatus status) override { log_.calls.push_back(std::string("run end ") + to_string(status)); }

 private:
  MemoryLog& log_;
  std::int64_t stop_after_, throw_at_;
};

class Trainer : public ::testing::Test {
 protected:
  void SetUp() override { t::make_image_folder(dir_ / "data", {{"a", 6}, {"b", 6}}, 16); }

  // `train_extra`: more keys of the train section (", early_stopping: {...}").
  ExperimentConfig config(int epochs, const std::string& train_extra = "") const {
    const std::string yaml =
        "name: inprocess\nseed: 3\ndevice: cpu\n"
        "model: {plugin: tiny, width: 4}\n"
        "dataset: {plugin: imagefolder, root: '" +
        (dir_ / "data").string() +
        "', image_size: 16, train_fraction: 0.5}\n"
        "optimizer: {plugin: adam, lr: 1.0e-2}\n"
        "train: {epochs: " +
        std::to_string(epochs) + ", batch_size: 4, threads: 1" + train_extra +
        "}\n"
        "output: {db: unused.db, checkpoints: '" +
        (dir_ / "checkpoints").string() + "', cache: ''}\n";
    return ExperimentDocument::parse(yaml, "inprocess.yaml").resolve(t::build_registry());
  }

  RunOutcome run(const ExperimentConfig& c, RunOptions options = {}) {
    return train_run(c, t::build_registry(), options, [this] { return std::make_unique<MemoryRecorder>(log_); });
  }

  t::TempDir dir_;
  MemoryLog log_;
};

TEST_F(Trainer, RunsAWholeRunInProcessAndRecordsEveryEpoch) {
  const RunOutcome outcome = run(config(3));
  ASSERT_EQ(outcome.status, RunStatus::kFinished) << outcome.error;
  EXPECT_EQ(outcome.run_id, 41);
  ASSERT_EQ(log_.epochs.size(), 3u);
  ASSERT_EQ(outcome.epochs.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(log_.epochs[i].epoch, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(outcome.epochs[i].train_loss, log_.epochs[i].train_loss);
    EXPECT_GT(log_.epochs[i].train_images_per_second, 0.0);
  }
  EXPECT_EQ(log_.calls.front(), "begin tiny 1.0.0");
  EXPECT_EQ(log_.calls.back(), "finish finished");
  EXPECT_EQ(log_.calls[1], "record 41:1 best best.pt");  // the first epoch is always the best so far
  ASSERT_TRUE(outcome.best.has_value());
  EXPECT_EQ(outcome.checkpoint_path, (dir_ / "checkpoints" / "run-41" / "best.pt").string());
  EXPECT_TRUE(std::filesystem::exists(dir_ / "checkpoints" / "run-41" / "best.pt"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "checkpoints" / "run-41" / "last.pt"));
}

// Issue 18: a dataset's 8-bit samples are kept as bytes and normalized by the host, a whole batch
// at a time, in the model's layout. The run must see exactly the inputs of a dataset that
// normalizes each sample itself: the same losses, bit for bit, in either layout.
TEST_F(Trainer, BatchesNormalizedByTheHostTrainAsSamplesNormalizedByTheDataset) {
  for (const bool channels_last : {false, true}) {
    std::vector<std::vector<double>> losses;
    for (const bool pixels : {true, false}) {
      const std::string yaml = std::string("name: patterns\nseed: 5\ndevice: cpu\n") +
                               "model: {plugin: tiny, width: 4}\n"
                               "dataset: {plugin: pattern, pixels: " +
                               (pixels ? "true" : "false") +
                               "}\n"
                               "optimizer: {plugin: adam, lr: 1.0e-2}\n"
                               "train: {epochs: 2, batch_size: 4, threads: 1, precision: fp32, channels_last: " +
                               (channels_last ? "true" : "false") +
                               "}\n"
                               "output: {db: unused.db, checkpoints: '" +
                               (dir_ / "checkpoints").string() + "', keep: none, cache: ''}\n";
      log_ = MemoryLog{};
      const RunOutcome outcome = run(ExperimentDocument::parse(yaml, "patterns.yaml").resolve(t::build_registry()));
      ASSERT_EQ(outcome.status, RunStatus::kFinished) << outcome.error;
      losses.emplace_back();
      for (const auto& epoch : outcome.epochs) {
        losses.back().insert(losses.back().end(), {epoch.train_loss, epoch.test_loss, epoch.test_accuracy});
      }
    }
    EXPECT_EQ(losses[0], losses[1]) << "channels_last " << channels_last;
    EXPECT_NE(losses[0][0], losses[0][3]) << "the model learned nothing: the comparison would prove little";
  }
}

TEST_F(Trainer, CallbacksSurroundTheRecordAndCanEndTheRunEarly) {
  RunOptions options;
  options.callbacks.push_back(std::make_shared<ProbeCallback>(log_, /*stop_after=*/2, /*throw_at=*/0));
  const RunOutcome outcome = run(config(5), options);
  ASSERT_EQ(outcome.status, RunStatus::kFinished) << outcome.error;
  EXPECT_EQ(outcome.epochs.size(), 2u);
  const std::vector<std::string> expected{"begin tiny 1.0.0", "end 1",           log_.calls[2],
                                          "recorded 1",       "end 2",           log_.calls[5],
                                          "recorded 2",       "finish finished", "run end finished"};
  EXPECT_EQ(log_.calls, expected);
  EXPECT_EQ(log_.calls[2].rfind("record 41:1", 0), 0u);
  EXPECT_EQ(log_.calls[5].rfind("record 41:2", 0), 0u);
}

TEST_F(Trainer, AFailureAfterTheRunBeganIsRecordedNotThrown) {
  RunOptions options;
  options.callbacks.push_back(std::make_shared<ProbeCallback>(log_, /*stop_after=*/0, /*throw_at=*/2));
  const RunOutcome outcome = run(config(4), options);
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error, "probe failed at epoch 2");
  EXPECT_EQ(log_.epochs.size(), 1u);  // epoch 2 failed before it was recorded
  EXPECT_EQ(log_.status, RunStatus::kFailed);
  EXPECT_EQ(log_.error, "probe failed at epoch 2");
  EXPECT_EQ(log_.calls.back(), "run end failed");
}

TEST_F(Trainer, BadInputIsThrownBeforeTheRunIsRecorded) {
  ExperimentConfig c = config(2);
  std::filesystem::remove_all(dir_ / "data");
  EXPECT_THROW(run(c), InputError);
  EXPECT_TRUE(log_.calls.empty());
}

TEST_F(Trainer, AResumedRunContinuesFromItsLastCheckpointWithTheSameFigures) {
  const ExperimentConfig c = config(3);
  ASSERT_EQ(run(c).status, RunStatus::kFinished);
  const std::vector<EpochRecord> straight = log_.epochs;
  std::filesystem::remove_all(dir_ / "checkpoints");

  // The same run ended after epoch 2 (its last.pt holds epoch 2), then resumed.
  log_ = MemoryLog();
  RunOptions stop_early;
  stop_early.callbacks.push_back(std::make_shared<ProbeCallback>(log_, /*stop_after=*/2, /*throw_at=*/0));
  ASSERT_EQ(run(c, stop_early).status, RunStatus::kFinished);
  ASSERT_EQ(log_.epochs.size(), 2u);
  log_.calls.clear();
  RunOptions resume;
  resume.resume_run_id = 41;
  const RunOutcome resumed = run(c, resume);
  ASSERT_EQ(resumed.status, RunStatus::kFinished) << resumed.error;
  ASSERT_EQ(log_.calls.size(), 3u);
  EXPECT_EQ(log_.calls[0], "resume 41");
  EXPECT_EQ(log_.calls[1].rfind("record 41:3", 0), 0u) << log_.calls[1];
  EXPECT_EQ(log_.calls[2], "finish finished");
  ASSERT_EQ(resumed.epochs.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(resumed.epochs[i].train_loss, straight[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(resumed.epochs[i].test_accuracy, straight[i].test_accuracy) << "epoch " << i + 1;
    EXPECT_EQ(resumed.epochs[i].learning_rate, straight[i].learning_rate) << "epoch " << i + 1;
  }
}

// No accuracy can improve by more than 1: the run ends after epoch 1 + patience.
const char* kHopelessStopping = ", early_stopping: {min_delta: 1.0, patience: 2}";
const char* kHopelessReason = "early stopping: test_accuracy has not improved by more than 1 for 2 epochs (best ";

TEST_F(Trainer, EarlyStoppingEndsTheRunFinishedWithItsReasonAndResumableState) {
  const RunOutcome outcome = run(config(5, kHopelessStopping));
  ASSERT_EQ(outcome.status, RunStatus::kFinished) << outcome.error;
  ASSERT_EQ(outcome.epochs.size(), 3u);
  EXPECT_EQ(outcome.stop_reason.rfind(kHopelessReason, 0), 0u) << outcome.stop_reason;
  EXPECT_NE(outcome.stop_reason.find("at epoch 1)"), std::string::npos) << outcome.stop_reason;
  EXPECT_EQ(log_.stop_reason, outcome.stop_reason);  // what the recorder keeps
  EXPECT_EQ(log_.error, "");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "checkpoints" / "run-41" / "last.pt"));
}

// The counters live in the record: a run interrupted after epoch 2 and resumed stops after epoch 3
// as the straight run did (before, the resumed run started counting afresh and trained all 5).
TEST_F(Trainer, AResumedRunStopsEarlyWhereTheStraightRunStopped) {
  const ExperimentConfig c = config(5, kHopelessStopping);
  const RunOutcome straight = run(c);
  ASSERT_EQ(straight.epochs.size(), 3u);
  std::filesystem::remove_all(dir_ / "checkpoints");

  log_ = MemoryLog();
  RunOptions interrupted;
  interrupted.callbacks.push_back(std::make_shared<ProbeCallback>(log_, /*stop_after=*/2, /*throw_at=*/0));
  ASSERT_EQ(run(c, interrupted).epochs.size(), 2u);
  RunOptions resume;
  resume.resume_run_id = 41;
  const RunOutcome resumed = run(c, resume);
  ASSERT_EQ(resumed.status, RunStatus::kFinished) << resumed.error;
  ASSERT_EQ(resumed.epochs.size(), 3u);
  EXPECT_EQ(resumed.stop_reason, straight.stop_reason);
  EXPECT_EQ(resumed.epochs[2].test_accuracy, straight.epochs[2].test_accuracy);
}

// Killed after the stopping epoch's checkpoint, before its end was recorded: the resume trains
// nothing more and ends the run with the reason.
TEST_F(Trainer, AResumeAfterTheStoppingEpochOnlyEndsTheRun) {
  const ExperimentConfig c = config(5, kHopelessStopping);
  const RunOutcome straight = run(c);
  ASSERT_EQ(straight.epochs.size(), 3u);
  log_.calls.clear();
  RunOptions resume;
  resume.resume_run_id = 41;
  const RunOutcome resumed = run(c, resume);
  ASSERT_EQ(resumed.status, RunStatus::kFinished) << resumed.error;
  EXPECT_EQ(resumed.epochs.size(), 3u);
  EXPECT_EQ(resumed.stop_reason, straight.stop_reason);
  const std::vector<std::string> expected{"resume 41", "finish finished"};
  EXPECT_EQ(log_.calls, expected);
}

TEST_F(Trainer, AValidationMetricWithoutAValidationSplitIsRefusedBeforeTheRunIsRecorded) {
  try {
    run(config(3, ", early_stopping: {metric: val_loss}"));
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("train.early_stopping.metric: val_loss"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(log_.calls.empty());
}

}  // namespace

namespace {

TEST(RunStatusText, EveryStatusReadsBackAndOtherTextIsRefused) {
  for (const auto& name : run_status_names()) {
    const auto status = parse_run_status(name);
    ASSERT_TRUE(status.has_value()) << name;
    EXPECT_EQ(to_string(*status), name);
  }
  EXPECT_EQ(run_status_names().size(), 5u);  // running, finished, failed, interrupted, pruned
  EXPECT_FALSE(parse_run_status("Finished").has_value());
  EXPECT_FALSE(parse_run_status("").has_value());
}

}  // namespace
