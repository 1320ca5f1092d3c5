// A validation split and honest selection (issue 17), through the real runner and results tool:
// the best epoch is chosen on the validation split when the dataset has one, the test split's
// figures are recorded beside it unselected, and a run chosen on test says so.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <string>

#include "test_support.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

class ValidationSplit : public ::testing::Test {
 protected:
  void SetUp() override {
    t::make_image_folder(dir_ / "data", {{"a", 12}, {"b", 12}}, 12);
    t::write_file(dir_ / "exp.yaml", R"(name: val
seed: 5
device: cpu
model:     {plugin: tiny, width: 4}
dataset:   {plugin: imagefolder, root: data, image_size: 12, train_fraction: 0.75, val_fraction: 0.25}
optimizer: {plugin: adam, lr: 3.0e-2}
train:     {epochs: 4, batch_size: 4, threads: 1, precision: fp32}
output:    {db: results/v.db, checkpoints: results/checkpoints}
)");
  }
  t::CommandResult runner(const std::string& arguments) {
    return t::run_command(t::runner_command(dir_.path(), arguments, t::tiny_model_environment()));
  }
  t::CommandResult results(const std::string& arguments) {
    return t::run_command(t::shell_quote(TRAINYARD_RESULTS_PATH) + " --db " +
                          t::shell_quote((dir_ / "results/v.db").string()) + " " + arguments);
  }
  t::TempDir dir_;
};

}  // namespace

TEST_F(ValidationSplit, TheBestEpochIsChosenOnValidationAndTestedApart) {
  const auto run = runner("exp.yaml");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // 24 images: 18 to train (0.75), of which 4 (0.25) validate; 6 test.
  EXPECT_NE(run.output.find("14 train / 4 val / 6 test"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("val loss"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("chosen on val accuracy"), std::string::npos) << run.output;

  SQLite::Database db((dir_ / "results/v.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT select_on || ' ' || val_size || ' ' || train_size || ' ' || test_size FROM runs")
                .getString(),
            "val 4 14 6");
  EXPECT_EQ(
      db.execAndGet("SELECT count(*) FROM epochs WHERE val_accuracy IS NOT NULL AND val_loss IS NOT NULL").getInt(), 4);
  // The best epoch is the first with the highest validation accuracy; the run's best test figure
  // is that epoch's, whatever other epochs tested.
  const int expected_best =
      db.execAndGet("SELECT epoch FROM epochs ORDER BY val_accuracy DESC, epoch LIMIT 1").getInt();
  EXPECT_EQ(db.execAndGet("SELECT best_epoch FROM runs").getInt(), expected_best);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM runs r JOIN epochs e ON e.run_id = r.id AND e.epoch = r.best_epoch "
                          "WHERE r.best_test_accuracy = e.test_accuracy AND r.best_selection_accuracy = e.val_accuracy")
                .getInt(),
            1);

  const auto shown = results("show 1");
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("select_on: val"), std::string::npos) << shown.output;
  EXPECT_EQ(shown.output.find("chosen on the test split"), std::string::npos) << shown.output;
  EXPECT_NE(shown.output.find("val_accuracy"), std::string::npos) << shown.output;  // the epoch table's column
}

TEST_F(ValidationSplit, TheTestSplitIsTheSameWithOrWithoutOne) {
  ASSERT_EQ(runner("exp.yaml --set train.epochs=1").exit_code, 0);
  ASSERT_EQ(runner("exp.yaml --set train.epochs=1 --set dataset.val_fraction=0").exit_code, 0);
  SQLite::Database db((dir_ / "results/v.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT group_concat(test_size || ' ' || train_size || ' ' || val_size || ' ' || select_on, "
                          "'; ') FROM (SELECT * FROM runs ORDER BY id)")
                .getString(),
            "6 14 4 val; 6 18 0 test");
  const auto shown = results("show 2");
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("chosen on the test split, so its test accuracy is optimistic"), std::string::npos)
      << shown.output;
}

TEST_F(ValidationSplit, SelectingOnAMissingValidationSplitIsRefusedBeforeTheRunIsRecorded) {
  const auto run = runner("exp.yaml --set dataset.val_fraction=0 --set train.select_on=val");
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("train.select_on: val, but dataset 'imagefolder' has no validation split; set "
                            "dataset.val_fraction"),
            std::string::npos)
      << run.output;
  if (fs::exists(dir_ / "results/v.db")) {  // the store may be opened first; no run is recorded in it
    SQLite::Database db((dir_ / "results/v.db").string(), SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM runs").getInt(), 0);
  }
  const auto tiny = runner("exp.yaml --set dataset.val_fraction=0.01");
  EXPECT_EQ(tiny.exit_code, 2) << tiny.output;
  EXPECT_NE(tiny.output.find("leaves 0 for validation"), std::string::npos) << tiny.output;
}

TEST_F(ValidationSplit, AnExplicitTestSelectionIgnoresTheValidationFigures) {
  const auto run = runner("exp.yaml --set train.select_on=test");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  SQLite::Database db((dir_ / "results/v.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT select_on FROM runs").getString(), "test");
  EXPECT_EQ(db.execAndGet("SELECT best_epoch FROM runs").getInt(),
            db.execAndGet("SELECT epoch FROM epochs ORDER BY test_accuracy DESC, epoch LIMIT 1").getInt());
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM epochs WHERE val_accuracy IS NOT NULL").getInt(), 4);
}
