// train.early_stopping: its rule on given figures, its rebuilding from a resumed run's epochs, and
// its keys in the experiment file. Whole runs that stop early are in test_trainer.cpp (in process)
// and test_runner_end_to_end.cpp (the runner and the results tool).
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "early_stopping.h"
#include "test_support.h"
#include "trainyard/config/experiment_config.h"
#include "trainyard/errors.h"

using namespace trainyard;

namespace {

EpochRecord epoch_with(std::int64_t epoch, double test_accuracy, double test_loss = 1.0) {
  EpochRecord e;
  e.epoch = epoch;
  e.test_accuracy = test_accuracy;
  e.test_loss = test_loss;
  return e;
}

// The epoch after which `stopping` ends a run of these figures (epochs 1, 2, ...), with its
// reason; 0 when it never does.
std::pair<std::int64_t, std::string> stop_point(EarlyStopping& stopping, const std::vector<EpochRecord>& epochs) {
  for (const auto& e : epochs) {
    EpochEnd end{e, static_cast<std::int64_t>(epochs.size())};
    stopping.on_epoch_end(end);
    if (end.stop) return {e.epoch, end.stop_reason};
  }
  return {0, ""};
}

std::vector<EpochRecord> accuracies(const std::vector<double>& values) {
  std::vector<EpochRecord> out;
  for (std::size_t i = 0; i < values.size(); ++i)
    out.push_back(epoch_with(static_cast<std::int64_t>(i + 1), values[i]));
  return out;
}

TEST(EarlyStoppingRule, StopsAfterPatienceEpochsWithoutImprovementAndSaysWhy) {
  EarlyStopping stopping(StoppingMetric::kTestAccuracy, 3, 0.0);
  const auto [epoch, reason] = stop_point(stopping, accuracies({0.5, 0.6, 0.6, 0.59, 0.58, 0.9}));
  EXPECT_EQ(epoch, 5);  // epochs 3, 4 and 5 did not beat epoch 2 (a tie is no improvement)
  EXPECT_EQ(reason, "early stopping: test_accuracy has not improved for 3 epochs (best 0.6000 at epoch 2)");
}

TEST(EarlyStoppingRule, AnImprovementResetsThePatience) {
  EarlyStopping stopping(StoppingMetric::kTestAccuracy, 2, 0.0);
  EXPECT_EQ(stop_point(stopping, accuracies({0.5, 0.4, 0.6, 0.5, 0.7, 0.6})).first, 0);
}

TEST(EarlyStoppingRule, AChangeOfAtMostMinDeltaIsNoImprovement) {
  EarlyStopping stopping(StoppingMetric::kTestAccuracy, 2, 0.01);
  const auto [epoch, reason] = stop_point(stopping, accuracies({0.5, 0.505, 0.51, 0.9}));
  EXPECT_EQ(epoch, 3);
  EXPECT_EQ(reason,
            "early stopping: test_accuracy has not improved by more than 0.01 for 2 epochs (best 0.5000 at "
            "epoch 1)");
}

TEST(EarlyStoppingRule, ALossMustFallAndOneThatIsNotANumberStopsAtOnce) {
  EarlyStopping falling(StoppingMetric::kTestLoss, 1, 0.0);
  std::vector<EpochRecord> epochs;
  for (int i = 1; i <= 4; ++i) epochs.push_back(epoch_with(i, 0.1, 1.0 / i));
  EXPECT_EQ(stop_point(falling, epochs).first, 0);

  EarlyStopping rising(StoppingMetric::kTestLoss, 1, 0.0);
  EXPECT_EQ(stop_point(rising, {epoch_with(1, 0.1, 1.0), epoch_with(2, 0.2, 1.5)}).first, 2);

  EarlyStopping diverged(StoppingMetric::kTestLoss, 5, 0.0);
  const auto [epoch, reason] = stop_point(diverged, {epoch_with(1, 0.1, 1.0), epoch_with(2, 0.1, NAN)});
  EXPECT_EQ(epoch, 2);
  EXPECT_EQ(reason, "early stopping: test_loss is nan at epoch 2");
}

TEST(EarlyStoppingRule, WatchesTheValidationSplitWhenAsked) {
  EarlyStopping stopping(StoppingMetric::kValAccuracy, 1, 0.0);
  std::vector<EpochRecord> epochs = accuracies({0.1, 0.9, 0.95});  // the test split improves
  epochs[0].val_accuracy = 0.7;
  epochs[1].val_accuracy = 0.8;
  epochs[2].val_accuracy = 0.8;
  EXPECT_EQ(stop_point(stopping, epochs).first, 3);
}

// The state is the record: a run resumed after any epoch stops where the straight run stopped.
TEST(EarlyStoppingRule, AResumedRunRebuildsItsCountersFromItsEpochs) {
  const auto epochs = accuracies({0.5, 0.7, 0.6, 0.65, 0.69, 0.8});
  EarlyStopping straight(StoppingMetric::kTestAccuracy, 3, 0.0);
  const auto expected = stop_point(straight, epochs);
  ASSERT_EQ(expected.first, 5);
  for (std::size_t kept = 1; kept < 5; ++kept) {
    EarlyStopping resumed(StoppingMetric::kTestAccuracy, 3, 0.0);
    const std::vector<EpochRecord> before(epochs.begin(), epochs.begin() + static_cast<std::ptrdiff_t>(kept));
    RunResume resume{before, 6};
    resumed.on_resume(resume);
    EXPECT_FALSE(resume.stop) << kept;
    const std::vector<EpochRecord> after(epochs.begin() + static_cast<std::ptrdiff_t>(kept), epochs.end());
    EXPECT_EQ(stop_point(resumed, after), expected) << "resumed after epoch " << kept;
  }
  // Killed after the stopping epoch's checkpoint, before its end was recorded: it ends there.
  EarlyStopping again(StoppingMetric::kTestAccuracy, 3, 0.0);
  const std::vector<EpochRecord> all_five(epochs.begin(), epochs.begin() + 5);
  RunResume resume{all_five, 6};
  again.on_resume(resume);
  EXPECT_TRUE(resume.stop);
  EXPECT_EQ(resume.stop_reason, expected.second);
}

TEST(EarlyStoppingMetric, AutoIsTheSelectionSplitsAccuracyAndValidationNeedsTheSplit) {
  EXPECT_EQ(resolve_stopping_metric("auto", SelectionSplit::kVal, true), StoppingMetric::kValAccuracy);
  EXPECT_EQ(resolve_stopping_metric("auto", SelectionSplit::kTest, false), StoppingMetric::kTestAccuracy);
  EXPECT_EQ(resolve_stopping_metric("test_loss", SelectionSplit::kVal, true), StoppingMetric::kTestLoss);
  try {
    resolve_stopping_metric("val_loss", SelectionSplit::kTest, false);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("train.early_stopping.metric: val_loss, but the dataset has no validation "
                                         "split; set dataset.val_fraction"),
              std::string::npos)
        << e.what();
  }
}

const char* kExperiment = R"(name: unit
device: cpu
model:     {plugin: resnet50}
dataset:   {plugin: imagefolder, root: data/x, image_size: 64}
optimizer: {plugin: adam, lr: 1.0e-3}
)";

ExperimentConfig resolved(const std::string& yaml, const std::vector<Override>& overrides = {}) {
  return ExperimentDocument::parse(yaml, "exp.yaml", overrides).resolve(trainyard::testing::build_registry());
}

std::string config_error(const std::string& yaml, const std::vector<Override>& overrides = {}) {
  try {
    resolved(yaml, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for:\n" << yaml;
  return "";
}

TEST(EarlyStoppingKeys, OffWithoutTheSectionAndReadBackFromTheResolvedFile) {
  const ExperimentConfig off = resolved(kExperiment);
  EXPECT_FALSE(off.train.early_stopping.enabled());
  EXPECT_EQ(off.to_yaml().find("early_stopping"), std::string::npos);  // as the file read before it existed

  const ExperimentConfig on =
      resolved(std::string(kExperiment) + "train: {epochs: 9, early_stopping: {metric: test_loss, min_delta: 0.01}}\n");
  EXPECT_EQ(on.train.early_stopping.metric, "test_loss");
  EXPECT_EQ(on.train.early_stopping.patience, 3);  // the key's default once the section is given
  EXPECT_EQ(on.train.early_stopping.min_delta, 0.01);
  EXPECT_EQ(on.train.epochs, 9);
  const ExperimentConfig again = resolved(on.to_yaml());
  EXPECT_EQ(again.to_yaml(), on.to_yaml());
  EXPECT_EQ(again.train.early_stopping.patience, 3);
  EXPECT_EQ(again.train.early_stopping.metric, "test_loss");

  const ExperimentConfig set = resolved(kExperiment, {{"train.early_stopping.patience", "5"}});
  EXPECT_EQ(set.train.early_stopping.patience, 5);
  EXPECT_EQ(set.train.early_stopping.metric, "auto");
  const ExperimentConfig zero =
      resolved(std::string(kExperiment) + "train: {early_stopping: {patience: 0}}\n");  // off, e.g. in a sweep
  EXPECT_FALSE(zero.train.early_stopping.enabled());
}

TEST(EarlyStoppingKeys, MistakesNameTheKeyItsLineAndWhatIsAccepted) {
  const std::string base(kExperiment);
  const std::string unknown = config_error(base + "train:\n  early_stopping:\n    patiense: 2\n");
  EXPECT_NE(unknown.find("exp.yaml:8:5: unknown key 'train.early_stopping.patiense' (did you mean "
                         "'train.early_stopping.patience'?)"),
            std::string::npos)
      << unknown;
  const std::string metric = config_error(base + "train: {early_stopping: {metric: val_acc}}\n");
  EXPECT_NE(metric.find("train.early_stopping.metric"), std::string::npos) << metric;
  EXPECT_NE(metric.find("val_accuracy"), std::string::npos) << metric;
  const std::string scalar = config_error(base + "train: {early_stopping: 3}\n");
  EXPECT_NE(scalar.find("train.early_stopping: expected a mapping such as {patience: 3}, got '3'"), std::string::npos)
      << scalar;
  const std::string negative = config_error(base, {{"train.early_stopping.min_delta", "-0.1"}});
  EXPECT_NE(negative.find("--set train.early_stopping.min_delta"), std::string::npos) << negative;
  // Both mistakes at once, as everywhere else.
  const std::string two = config_error(base + "train: {epoch: 2, early_stopping: {patience: -1}}\n");
  EXPECT_NE(two.find("'train.epoch'"), std::string::npos) << two;
  EXPECT_NE(two.find("train.early_stopping.patience"), std::string::npos) << two;
}

}  // namespace
