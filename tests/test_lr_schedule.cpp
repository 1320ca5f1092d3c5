// Learning-rate schedules: the factor curves, the `schedule:` section's validation, and the rate
// a real run applies and logs per epoch.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "test_support.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/errors.h"
#include "trainyard/config/experiment_config.h"
#include "trainyard/train/lr_schedule.h"

namespace t = trainyard::testing;
using trainyard::LearningRateSchedule;
using trainyard::ScheduleSettings;

TEST(LearningRateSchedule, ConstantStepAndCosineCurves) {
  EXPECT_DOUBLE_EQ(LearningRateSchedule({}, 10).factor(7.3), 1.0);

  ScheduleSettings step;
  step.kind = "step";
  step.step_epochs = 3;
  step.gamma = 0.5;
  const LearningRateSchedule stepped(step, 10);
  EXPECT_DOUBLE_EQ(stepped.factor(0.0), 1.0);
  EXPECT_DOUBLE_EQ(stepped.factor(2.99), 1.0);
  EXPECT_DOUBLE_EQ(stepped.factor(3.0), 0.5);
  EXPECT_DOUBLE_EQ(stepped.factor(6.5), 0.25);

  ScheduleSettings cosine;
  cosine.kind = "cosine";
  cosine.min_factor = 0.1;
  const LearningRateSchedule annealed(cosine, 10);
  EXPECT_DOUBLE_EQ(annealed.factor(0.0), 1.0);
  EXPECT_NEAR(annealed.factor(5.0), 0.1 + 0.9 * 0.5, 1e-12);  // halfway: cos(pi/2) = 0
  EXPECT_NEAR(annealed.factor(10.0), 0.1, 1e-12);
  EXPECT_GT(annealed.factor(2.0), annealed.factor(3.0));
}

TEST(LearningRateSchedule, WarmupRisesLinearlyThenHandsOver) {
  ScheduleSettings settings;
  settings.kind = "cosine";
  settings.warmup_epochs = 2.0;
  settings.warmup_start_factor = 0.2;
  const LearningRateSchedule schedule(settings, 12);
  EXPECT_DOUBLE_EQ(schedule.factor(0.0), 0.2);
  EXPECT_DOUBLE_EQ(schedule.factor(1.0), 0.6);
  EXPECT_DOUBLE_EQ(schedule.factor(2.0), 1.0);    // cosine starts after the warm-up
  EXPECT_NEAR(schedule.factor(7.0), 0.5, 1e-12);  // halfway through the remaining 10
}

TEST(LearningRateSchedule, SectionIsValidatedWithSuggestions) {
  const std::string base =
      "name: s\nmodel: {plugin: tiny}\ndataset: {plugin: imagefolder, root: .}\noptimizer: {plugin: adam}\n";
  const auto config = trainyard::ExperimentDocument::parse(base + "schedule: {kind: step, gamma: 0.5}\n", "s.yaml")
                          .resolve(t::build_registry());
  EXPECT_EQ(config.schedule.kind, "step");
  EXPECT_DOUBLE_EQ(config.schedule.gamma, 0.5);
  EXPECT_NE(config.to_yaml().find("schedule:"), std::string::npos);
  try {
    trainyard::ExperimentDocument::parse(base + "schedule: {kind: cosin, warmup_epoch: 1}\n", "s.yaml")
        .resolve(t::build_registry());
    FAIL() << "accepted";
  } catch (const trainyard::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("s.yaml:5"), std::string::npos) << message;
    EXPECT_NE(message.find("'cosine'"), std::string::npos) << message;
    EXPECT_NE(message.find("did you mean 'schedule.warmup_epochs'"), std::string::npos) << message;
  }
}

TEST(LearningRateSchedule, ARunAppliesAndLogsTheRatePerEpoch) {
  t::TempDir dir;
  t::make_image_folder(dir / "data", {{"a", 4}, {"b", 4}}, 12);
  t::write_file(dir / "exp.yaml", R"(name: sched
device: cpu
model:     {plugin: tiny}
dataset:   {plugin: imagefolder, root: data, image_size: 12, train_fraction: 0.5}
optimizer: {plugin: sgd, lr: 0.08, momentum: 0.0}
train:     {epochs: 3, batch_size: 4, threads: 1}
schedule:  {kind: step, step_epochs: 1, gamma: 0.5}
output:    {db: r.db, checkpoints: ck}
)");
  const auto result = t::run_command(t::runner_command(dir.path(), "exp.yaml", t::tiny_model_environment()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  SQLite::Database db((dir / "r.db").string(), SQLite::OPEN_READONLY);
  SQLite::Statement rates(db, "SELECT learning_rate FROM epochs ORDER BY epoch");
  for (const double expected : {0.08, 0.04, 0.02}) {
    ASSERT_TRUE(rates.executeStep());
    EXPECT_DOUBLE_EQ(rates.getColumn(0).getDouble(), expected);
  }
}
