// `runner --evaluate` (issue 17) on runs trained here by the real runner: the best checkpoint on
// the run's own test split gives back the figures the run recorded, to the last digit; the
// evaluation is kept in the database and shown by `results show`; bad requests exit 2.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <numeric>
#include <stdexcept>
#include <utility>
#include <vector>
#include <string>

#include "test_support.h"
#include "trainyard/image_io.h"
#include "trainyard/train/evaluation.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

class Evaluate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new t::TempDir();
    t::make_image_folder(*dir_ / "data", {{"a", 10}, {"b", 10}, {"c", 10}}, 12);
    t::write_file(*dir_ / "exp.yaml", R"(name: evaluated
seed: 2
device: cpu
model:     {plugin: tiny, width: 4}
dataset:   {plugin: imagefolder, root: data, image_size: 12, train_fraction: 0.6, val_fraction: 0.25}
optimizer: {plugin: adam, lr: 1.0e-2}
train:     {epochs: 3, batch_size: 4, threads: 1}
output:    {db: results/e.db, checkpoints: results/checkpoints}
)");
    const auto run = t::run_command(t::runner_command(dir_->path(), "exp.yaml", t::tiny_model_environment()));
    ASSERT_EQ(run.exit_code, 0) << run.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  // The runner started in `folder` (the run's own by default).
  static t::CommandResult runner(const std::string& arguments, const fs::path& folder = {}) {
    return t::run_command(
        t::runner_command(folder.empty() ? dir_->path() : folder, arguments, t::tiny_model_environment()));
  }
  static std::string db() { return (*dir_ / "results/e.db").string(); }
  static nlohmann::json evaluate_json(const std::string& arguments) {
    const auto result = runner("--evaluate 1 --db " + t::shell_quote(db()) + " --format json " + arguments);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    const auto start = result.output.find("{\n");
    if (start == std::string::npos) {
      ADD_FAILURE() << result.output;
      return {};
    }
    return nlohmann::json::parse(result.output.substr(start, result.output.rfind('}') - start + 1));
  }
  static t::TempDir* dir_;
};
t::TempDir* Evaluate::dir_ = nullptr;

}  // namespace

TEST(ConfusionMatrix, CountsPerClassFiguresAsScikitLearnDefinesThem) {
  trainyard::ConfusionMatrix matrix({"cat", "dog", "fox"});
  // cat: 3 images, 2 right, 1 taken for a dog; dog: 2 right; fox: never predicted, 1 taken for a cat.
  for (const auto& [truth, predicted] :
       std::vector<std::pair<int, int>>{{0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 1}, {2, 0}}) {
    matrix.add(truth, predicted);
  }
  EXPECT_EQ(matrix.total(), 6);
  EXPECT_DOUBLE_EQ(matrix.accuracy(), 4.0 / 6.0);
  EXPECT_EQ(matrix.counts(), (std::vector<std::vector<std::int64_t>>{{2, 1, 0}, {0, 2, 0}, {1, 0, 0}}));
  const auto classes = matrix.per_class();
  ASSERT_EQ(classes.size(), 3u);
  EXPECT_DOUBLE_EQ(classes[0].precision, 2.0 / 3.0);  // 2 of the 3 predicted cats
  EXPECT_DOUBLE_EQ(classes[0].recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(classes[0].f1, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(classes[1].precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(classes[1].recall, 1.0);
  EXPECT_DOUBLE_EQ(classes[1].f1, 0.8);
  EXPECT_EQ(classes[2].support, 1);
  EXPECT_EQ(classes[2].precision, 0.0);  // never predicted: 0, not NaN (scikit-learn's zero_division=0)
  EXPECT_EQ(classes[2].f1, 0.0);
  EXPECT_THROW(matrix.add(3, 0), std::out_of_range);
  EXPECT_THROW(matrix.add(0, -1), std::out_of_range);
}

TEST_F(Evaluate, TheBestCheckpointGivesBackTheRecordedTestFiguresExactly) {
  const auto report = evaluate_json("");
  ASSERT_FALSE(report.is_null());
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  SQLite::Statement best(database, R"(SELECT e.epoch, e.test_accuracy, e.test_loss, r.test_size
      FROM runs r JOIN epochs e ON e.run_id = r.id AND e.epoch = r.best_epoch)");
  ASSERT_TRUE(best.executeStep());
  EXPECT_EQ(report["checkpoint_epoch"].get<int>(), best.getColumn(0).getInt());
  EXPECT_EQ(report["accuracy"].get<double>(), best.getColumn(1).getDouble());  // bit for bit
  EXPECT_EQ(report["loss"].get<double>(), best.getColumn(2).getDouble());
  EXPECT_EQ(report["images"].get<int>(), best.getColumn(3).getInt());
  EXPECT_EQ(report["data"], "test");
  EXPECT_FALSE(report.contains("top5_accuracy"));  // 3 classes

  // The confusion matrix counts every test image once, and its diagonal is the accuracy.
  const auto confusion = report["confusion"].get<std::vector<std::vector<int>>>();
  ASSERT_EQ(confusion.size(), 3u);
  int total = 0, diagonal = 0, support = 0;
  for (std::size_t r = 0; r < 3; ++r) {
    total += std::accumulate(confusion[r].begin(), confusion[r].end(), 0);
    diagonal += confusion[r][r];
    support += report["per_class"][r]["support"].get<int>();
    EXPECT_EQ(report["per_class"][r]["support"].get<int>(),
              std::accumulate(confusion[r].begin(), confusion[r].end(), 0));
  }
  EXPECT_EQ(total, best.getColumn(3).getInt());
  EXPECT_EQ(support, total);
  EXPECT_DOUBLE_EQ(static_cast<double>(diagonal) / total, report["accuracy"].get<double>());
  EXPECT_EQ(report["per_class"][0]["class"], "a");

  // Kept in the database, with a row per class, and listed by `results show`.
  EXPECT_GE(database.execAndGet("SELECT count(*) FROM evaluations WHERE run_id = 1").getInt(), 1);
  EXPECT_EQ(database
                .execAndGet("SELECT count(*) FROM evaluation_classes WHERE evaluation_id = " +
                            std::to_string(report["evaluation"].get<int>()))
                .getInt(),
            3);
  const auto shown =
      t::run_command(t::shell_quote(TRAINYARD_RESULTS_PATH) + " --db " + t::shell_quote(db()) + " show 1");
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("evaluations (runner --evaluate):"), std::string::npos) << shown.output;
}

TEST_F(Evaluate, TheLastCheckpointAndTheValidationSplitAreTheirEpochsFigures) {
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  const auto last = evaluate_json("--checkpoint last");
  EXPECT_EQ(last["checkpoint_epoch"].get<int>(), 3);
  EXPECT_EQ(last["accuracy"].get<double>(),
            database.execAndGet("SELECT test_accuracy FROM epochs WHERE epoch = 3").getDouble());
  const auto val = evaluate_json("--split val");
  EXPECT_EQ(val["data"], "val");
  EXPECT_EQ(
      val["accuracy"].get<double>(),
      database.execAndGet("SELECT e.val_accuracy FROM runs r JOIN epochs e ON e.epoch = r.best_epoch").getDouble());
  EXPECT_EQ(val["loss"].get<double>(),
            database.execAndGet("SELECT e.val_loss FROM runs r JOIN epochs e ON e.epoch = r.best_epoch").getDouble());
}

TEST_F(Evaluate, WorksFromAnyFolderAndPrintsATable) {
  t::TempDir elsewhere;
  const auto result = runner("--evaluate 1 --db " + t::shell_quote(db()), elsewhere.path());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("accuracy "), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("class precision  recall      f1  support"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("confusion matrix (rows: true class"), std::string::npos) << result.output;
}

TEST_F(Evaluate, BadRequestsExitTwoAndKeepNothing) {
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  const int before = database.execAndGet("SELECT count(*) FROM evaluations").getInt();
  const std::pair<std::string, std::string> cases[] = {
      {"--evaluate 9", "--evaluate 9: no such run"},
      {"--evaluate 1 --checkpoint nowhere.pt", "no checkpoint at '"},
      {"--evaluate 1 --split train", "--split 'train': accepted: test, val"},
      {"--evaluate 1 --format yaml", "--format 'yaml': accepted: table, json"},
  };
  for (const auto& [arguments, message] : cases) {
    const auto result = runner(arguments + " --db " + t::shell_quote(db()));
    EXPECT_EQ(result.exit_code, 2) << arguments << "\n" << result.output;
    EXPECT_NE(result.output.find(message), std::string::npos) << arguments << "\n" << result.output;
  }
  const auto no_db = runner("--evaluate 1 --db nowhere.db");
  EXPECT_EQ(no_db.exit_code, 2) << no_db.output;
  EXPECT_NE(no_db.output.find("no results database at 'nowhere.db'"), std::string::npos) << no_db.output;
  EXPECT_EQ(database.execAndGet("SELECT count(*) FROM evaluations").getInt(), before);
}

TEST_F(Evaluate, ResultsPlotsAnEvaluationsConfusionMatrix) {
  const auto results = [](const std::string& arguments) {
    return t::run_command(t::shell_quote(TRAINYARD_RESULTS_PATH) + " --db " + t::shell_quote(db()) + " " + arguments);
  };
  t::TempDir out;
  const auto none = results("plot --confusion 1 --out " + t::shell_quote((out / "early.png").string()));
  if (none.exit_code != 0) {  // this test ran first: the run has no evaluation yet
    EXPECT_EQ(none.exit_code, 2) << none.output;
    EXPECT_NE(none.output.find("has no evaluation yet (runner --evaluate 1 makes one)"), std::string::npos)
        << none.output;
  }
  const auto evaluation = evaluate_json("");
  const auto newest = results("plot --confusion 1 --out " + t::shell_quote((out / "cm.png").string()));
  ASSERT_EQ(newest.exit_code, 0) << newest.output;
  const auto image = trainyard::read_image(out / "cm.png");
  EXPECT_GT(image.width, 200);
  EXPECT_GT(image.height, 200);
  const std::string id = std::to_string(evaluation["evaluation"].get<int>());
  const auto chosen = results("plot --confusion eval:" + id + " --out " + t::shell_quote((out / "cm.svg").string()));
  ASSERT_EQ(chosen.exit_code, 0) << chosen.output;
  EXPECT_NE(t::read_file(out / "cm.svg").find("<svg"), std::string::npos);

  const auto unknown = results("plot --confusion eval:999 --out " + t::shell_quote((out / "x.png").string()));
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("no evaluation 999 in"), std::string::npos) << unknown.output;
  const auto malformed = results("plot --confusion run3 --out " + t::shell_quote((out / "x.png").string()));
  EXPECT_EQ(malformed.exit_code, 2) << malformed.output;
  EXPECT_NE(malformed.output.find("expected a run id (its newest evaluation) or eval:ID"), std::string::npos)
      << malformed.output;
  EXPECT_FALSE(fs::exists(out / "x.png"));
}
