// The results tool: its queries on a generated database of 20,000 runs x 20 epochs (checked
// against brute force), and the `results` binary on a database made by real runs of the runner:
// each command, a rendered PNG, and bad input that leaves the file untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "output_format.h"
#include "trainyard/store/results_copy.h"
#include "trainyard/store/results_reader.h"
#include "synthetic_results.h"
#include "temporary_postgres.h"
#include "test_support.h"
#include "trainyard/errors.h"
#include "trainyard/image_io.h"
#include "trainyard/store/results_store.h"

namespace t = trainyard::testing;
namespace tr = trainyard::results;
namespace fs = std::filesystem;

namespace {

std::string results_command(const std::string& db, const std::string& arguments) {
  return t::shell_quote(TRAINYARD_RESULTS_PATH) + " --db " + t::shell_quote(db) + " " + arguments;
}

// Pixels of a PNG in the colour figures mark pruned trials with (tab10's red, 214 39 40), give or
// take antialiasing.
std::size_t pruned_red_pixels(const fs::path& png) {
  const auto image = trainyard::read_image(png);
  std::size_t red = 0;
  for (std::size_t p = 0; p + 2 < image.pixels.size(); p += 3) {
    if (std::abs(image.pixels[p] - 214) <= 6 && std::abs(image.pixels[p + 1] - 39) <= 6 &&
        std::abs(image.pixels[p + 2] - 40) <= 6)
      ++red;
  }
  return red;
}

// ---- a generated database of 20,000 runs x 20 epochs, made once for the suite

class LargeDatabase : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new t::TempDir();
    tr::write_synthetic_results(db(), kRuns, kEpochs, 7);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string db() { return (*dir_ / "large.db").string(); }
  static constexpr std::int64_t kRuns = 20000, kEpochs = 20;
  static t::TempDir* dir_;
};
t::TempDir* LargeDatabase::dir_ = nullptr;

}  // namespace

// Issue 16: the operator first in the list was taken wherever it stood, so "dataset.root=a<b" split
// at "<" (key "dataset.root=a"). The leftmost one splits now.
TEST(WhereConditions, SplitAtTheLeftmostOperator) {
  const auto text = trainyard::parse_condition("dataset.root=data/a<b!=c");
  EXPECT_EQ(text.key, "dataset.root");
  EXPECT_EQ(text.op, "=");
  EXPECT_EQ(text.value, "data/a<b!=c");
  const auto number = trainyard::parse_condition("train.batch_size<=32");
  EXPECT_EQ(number.key, "train.batch_size");
  EXPECT_EQ(number.op, "<=");
  EXPECT_EQ(number.value, "32");
  EXPECT_EQ(trainyard::parse_condition("a!=b").op, "!=");
  EXPECT_THROW(trainyard::parse_condition("no operator"), trainyard::InputError);
  EXPECT_THROW(trainyard::parse_condition("lr<abc"), trainyard::InputError);
}

TEST_F(LargeDatabase, TopTenByBestAccuracyMatchesBruteForce) {
  // Brute force: every epoch row, best per run, sorted here.
  SQLite::Database raw(db(), SQLite::OPEN_READONLY);
  SQLite::Statement all(raw, "SELECT run_id, test_accuracy FROM epochs");
  std::map<std::int64_t, double> best;
  std::int64_t rows = 0;
  while (all.executeStep()) {
    ++rows;
    auto& b = best[all.getColumn(0).getInt64()];
    b = std::max(b, all.getColumn(1).getDouble());
  }
  ASSERT_EQ(rows, kRuns * kEpochs);
  std::vector<std::pair<double, std::int64_t>> order;
  for (const auto& [id, accuracy] : best) order.emplace_back(accuracy, id);
  std::sort(order.begin(), order.end(), std::greater<>());

  const trainyard::ResultsReader reader(db());
  trainyard::RunFilter filter;
  filter.sort = "best_test_accuracy";
  filter.limit = 10;
  const auto top = reader.runs(filter);
  ASSERT_EQ(top.rows.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(std::get<std::int64_t>(top.rows[i][top.column("run_id")]), order[i].second) << i;
    EXPECT_DOUBLE_EQ(std::get<double>(top.rows[i][top.column("best_test_accuracy")]), order[i].first);
  }
}

TEST_F(LargeDatabase, WhereComparesNumbersInAnyNotationAndCombines) {
  const trainyard::ResultsReader reader(db());
  trainyard::RunFilter filter;
  filter.where = {trainyard::parse_condition("optimizer.lr=1e-3")};
  const auto by_exponent = reader.run_ids(filter);
  filter.where = {trainyard::parse_condition("optimizer.lr=0.001")};
  EXPECT_EQ(reader.run_ids(filter), by_exponent);
  ASSERT_EQ(by_exponent.size(), static_cast<std::size_t>(kRuns / 4));  // every fourth run
  for (const auto id : by_exponent) EXPECT_EQ((id - 1) % 4, 2) << id;

  filter.where.push_back(trainyard::parse_condition("train.batch_size>=32"));  // batch 32 or 64
  const auto both = reader.run_ids(filter);
  EXPECT_FALSE(both.empty());
  for (const auto id : both) {
    EXPECT_EQ((id - 1) % 4, 2);
    EXPECT_NE((id - 1) % 3, 0) << id;  // not batch 16
  }
  filter.where = {trainyard::parse_condition("optimizer.lr!=0.001")};
  EXPECT_EQ(reader.run_ids(filter).size(), static_cast<std::size_t>(kRuns - kRuns / 4));
}

TEST_F(LargeDatabase, SortsByAConfigKeyAndShowsIt) {
  const trainyard::ResultsReader reader(db());
  trainyard::RunFilter filter;
  filter.sort = "optimizer.lr";
  filter.ascending = true;
  filter.limit = 3;
  const auto table = reader.runs(filter);
  ASSERT_EQ(table.rows.size(), 3u);
  for (const auto& row : table.rows) {
    EXPECT_EQ(std::get<std::string>(row[table.column("optimizer.lr")]), "0.0001");
  }
}

TEST_F(LargeDatabase, DatesStatusExperimentAndSweepFilter) {
  const trainyard::ResultsReader reader(db());
  trainyard::RunFilter filter;
  filter.since = "2026-11-25";
  EXPECT_EQ(reader.run_ids(filter).size(), static_cast<std::size_t>(kRuns / 2));  // even ids
  filter = {};
  filter.until = "2026-11-24";
  EXPECT_EQ(reader.run_ids(filter).size(), static_cast<std::size_t>(kRuns / 2));
  filter = {};
  filter.status = "failed";
  EXPECT_TRUE(reader.run_ids(filter).empty());
  filter.status = "broken";
  EXPECT_THROW(reader.run_ids(filter), trainyard::InputError);
  filter = {};
  filter.sweep = "synthetic-lr";
  EXPECT_EQ(reader.run_ids(filter).size(), 12u);
  filter.sweep = "no-such-sweep";
  EXPECT_THROW(reader.run_ids(filter), trainyard::InputError);
}

TEST_F(LargeDatabase, SweepLeaderboardViewAgreesWithTheTool) {
  const auto best = t::run_command(results_command(db(), "best --sweep synthetic-lr"));
  ASSERT_EQ(best.exit_code, 0) << best.output;
  SQLite::Database raw(db(), SQLite::OPEN_READONLY);
  const auto top = raw.execAndGet("SELECT run_id FROM sweep_leaderboard WHERE rank = 1").getInt64();
  const auto direct =
      raw.execAndGet("SELECT id FROM runs WHERE sweep_id IS NOT NULL ORDER BY best_test_accuracy DESC LIMIT 1")
          .getInt64();
  EXPECT_EQ(top, direct);
  EXPECT_NE(best.output.find("run " + std::to_string(top) + " (optimizer.lr="), std::string::npos) << best.output;
}

// Parallel coordinates of a sweep: the CLI draws them, the best trial orange over the others' blue.
TEST_F(LargeDatabase, ParallelCoordinatesDrawEveryTrialAndTheBestApart) {
  t::TempDir here;
  const auto png = here / "parallel.png";
  const auto drawn = t::run_command(
      results_command(db(), "plot --sweep synthetic-lr --parallel --out " + t::shell_quote(png.string())));
  ASSERT_EQ(drawn.exit_code, 0) << drawn.output;
  const auto image = trainyard::read_image(png);
  std::size_t orange = 0, blue = 0;
  for (std::size_t p = 0; p + 2 < image.pixels.size(); p += 3) {
    const int r = image.pixels[p], g = image.pixels[p + 1], b = image.pixels[p + 2];
    if (std::abs(r - 255) <= 8 && std::abs(g - 127) <= 8 && std::abs(b - 14) <= 8) ++orange;
    if (std::abs(r - 31) <= 8 && std::abs(g - 119) <= 8 && std::abs(b - 180) <= 8) ++blue;
  }
  EXPECT_GT(orange, 200u) << "the best trial's line and its legend swatch";
  EXPECT_GT(blue, 4 * orange) << "the other eleven trials";
  const auto unknown = t::run_command(results_command(db(), "plot --sweep nope --parallel --out x.png"));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("no such sweep"), std::string::npos) << unknown.output;
}

TEST_F(LargeDatabase, ExportWritesOneRowPerEpochAsCsvAndJson) {
  const trainyard::ResultsReader reader(db());
  const auto table = reader.export_epochs({5, 6});
  ASSERT_EQ(table.rows.size(), 40u);
  std::ostringstream csv;
  tr::write_table(csv, table, tr::Format::kCsv);
  std::istringstream lines(csv.str());
  std::string header, line;
  std::getline(lines, header);
  EXPECT_EQ(header.rfind("run_id,experiment,trial_key,epoch,train_loss", 0), 0u) << header;
  int count = 0;
  while (std::getline(lines, line)) ++count;
  EXPECT_EQ(count, 40);

  std::ostringstream json;
  tr::write_table(json, table, tr::Format::kJson);
  const auto parsed = nlohmann::json::parse(json.str());
  ASSERT_EQ(parsed.size(), 40u);
  EXPECT_EQ(parsed[0]["run_id"], 5);
  EXPECT_EQ(parsed[0]["epoch"], 1);
  EXPECT_TRUE(parsed[39]["test_accuracy"].is_number());
}

TEST_F(LargeDatabase, EveryCommandAnswersOnTwentyThousandRuns) {
  const auto run = [](const std::string& arguments) { return t::run_command(results_command(db(), arguments)); };
  const auto top = run("runs --sort best_test_accuracy --limit 10 --format csv");
  ASSERT_EQ(top.exit_code, 0) << top.output;
  EXPECT_EQ(std::count(top.output.begin(), top.output.end(), '\n'), 11) << top.output;
  const auto sweeps = run("sweeps --format csv");
  EXPECT_NE(sweeps.output.find("synthetic-lr,experiments/synthetic.yaml"), std::string::npos) << sweeps.output;
  const auto shown = run("show 20000");
  EXPECT_NE(shown.output.find("optimizer.lr: 0.003"), std::string::npos) << shown.output;  // run 20000: 4th rate
  const auto compared = run("compare 1 2 --format csv");
  EXPECT_NE(compared.output.find("optimizer.lr,0.0001,0.0003"), std::string::npos) << compared.output;
  const auto exported = run("export 19999 20000 --format csv");
  EXPECT_EQ(std::count(exported.output.begin(), exported.output.end(), '\n'), 1 + 2 * kEpochs);
  const fs::path png = *dir_ / "sweep.png";
  const auto plotted = run("plot --sweep synthetic-lr --param optimizer.lr --out " + t::shell_quote(png.string()));
  ASSERT_EQ(plotted.exit_code, 0) << plotted.output;
  EXPECT_EQ(trainyard::read_image(png).width, 560);
  const auto curves = run("plot 1 2 3 4 --out " + t::shell_quote((*dir_ / "c.png").string()));
  EXPECT_EQ(curves.exit_code, 0) << curves.output;
}

TEST(ResultsReaderFiles, MissingForeignAndNewerFilesAreRefusedUntouched) {
  t::TempDir dir;
  EXPECT_THROW(trainyard::ResultsReader((dir / "missing.db").string()), trainyard::StoreError);
  EXPECT_FALSE(fs::exists(dir / "missing.db"));  // not created

  t::write_file(dir / "notes.db", "just some text, not SQLite\n");
  try {
    trainyard::ResultsReader reader((dir / "notes.db").string());
    FAIL() << "a text file was accepted";
  } catch (const trainyard::StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("not a Trainyard results database"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t::read_file(dir / "notes.db"), "just some text, not SQLite\n");

  { trainyard::ResultsStore store((dir / "newer.db").string()); }
  {
    SQLite::Database raw((dir / "newer.db").string(), SQLite::OPEN_READWRITE);
    raw.exec("PRAGMA user_version = 99");
  }
  const std::string before = t::read_file(dir / "newer.db");
  try {
    trainyard::ResultsReader reader((dir / "newer.db").string());
    FAIL() << "a newer schema was accepted";
  } catch (const trainyard::StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("newer Trainyard"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t::read_file(dir / "newer.db"), before);
}

namespace {

// What a file of schema 3 looks like: no views, no run_config, no git_revision.
void downgrade_to_schema_three(const std::string& path) {
  SQLite::Database raw(path, SQLite::OPEN_READWRITE);
  for (const char* view : {"sweep_leaderboard", "run_summary", "run_best_epoch", "run_last_epoch"}) {
    raw.exec(std::string("DROP VIEW ") + view);
  }
  raw.exec("DROP TABLE run_config");
  raw.exec("ALTER TABLE runs DROP COLUMN git_revision");
  raw.exec("PRAGMA user_version = 3");
}

}  // namespace

TEST(ResultsReaderFiles, ReadsASchemaThreeFileThroughTemporaryViews) {
  t::TempDir dir;
  const std::string db = (dir / "v3.db").string();
  tr::write_synthetic_results(db, 8, 3, 3);
  downgrade_to_schema_three(db);
  const std::string before = t::read_file(dir / "v3.db");
  const trainyard::ResultsReader reader(db);
  EXPECT_EQ(reader.schema_version(), 3);
  trainyard::RunFilter filter;
  filter.where = {trainyard::parse_condition("optimizer.lr=0.001")};
  EXPECT_EQ(reader.run_ids(filter), (std::vector<std::int64_t>{7, 3}));  // newest first
  EXPECT_EQ(reader.config(3).at("train.batch_size"), "64");              // batch sizes cycle 16, 32, 64
  EXPECT_EQ(t::read_file(dir / "v3.db"), before);
}

namespace {

// What a file of schema 7 looks like: no validation columns, and views without them (the file's
// own views are dropped here; the reader makes its own either way).
void downgrade_to_schema_seven(const std::string& path) {
  SQLite::Database raw(path, SQLite::OPEN_READWRITE);
  for (const char* view : {"sweep_leaderboard", "run_summary", "run_best_epoch", "run_last_epoch"}) {
    raw.exec(std::string("DROP VIEW ") + view);
  }
  raw.exec("DROP TABLE evaluation_classes");
  raw.exec("DROP TABLE evaluations");
  raw.exec("DROP INDEX runs_by_selection");
  for (const char* column : {"val_size", "select_on", "best_selection_accuracy"}) {
    raw.exec(std::string("ALTER TABLE runs DROP COLUMN ") + column);
  }
  for (const char* column : {"val_loss", "val_accuracy"})
    raw.exec(std::string("ALTER TABLE epochs DROP COLUMN ") + column);
  raw.exec("PRAGMA user_version = 7");
}

}  // namespace

// Issue 17: schema 8's views name validation columns a file of schema 7 lacks; the reader shows
// such a file's runs as chosen on test, without changing it.
TEST(ResultsReaderFiles, ReadsASchemaSevenFileAsRunsChosenOnTest) {
  t::TempDir dir;
  const std::string db = (dir / "v7.db").string();
  tr::write_synthetic_results(db, 6, 3, 2);
  downgrade_to_schema_seven(db);
  const std::string before = t::read_file(dir / "v7.db");
  const trainyard::ResultsReader reader(db);
  EXPECT_EQ(reader.schema_version(), 7);
  trainyard::RunFilter filter;
  filter.sort = "best_selection_accuracy";
  const auto table = reader.runs(filter);
  ASSERT_EQ(table.rows.size(), 6u);
  const auto& best = table.rows.front();
  EXPECT_EQ(std::get<std::string>(best[table.column("select_on")]), "test");
  EXPECT_EQ(best[table.column("best_selection_accuracy")], best[table.column("best_test_accuracy")]);
  const auto epochs = reader.epochs(1);
  ASSERT_EQ(epochs.rows.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(epochs.rows[0][epochs.column("val_accuracy")]));
  const auto shown = t::run_command(results_command(db, "show 1"));
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("chosen on the test split"), std::string::npos) << shown.output;
  EXPECT_EQ(t::read_file(dir / "v7.db"), before);
}

// Issue 16: copy opened the destination as a store (migrating an older file to the current
// schema) and only then refused it for holding runs: the refused file had been rewritten.
TEST(ResultsReaderFiles, CopyRefusesAnOlderDatabaseHoldingRunsWithoutMigratingIt) {
  t::TempDir dir;
  const std::string source = (dir / "source.db").string(), old = (dir / "v3.db").string();
  tr::write_synthetic_results(source, 4, 2);
  tr::write_synthetic_results(old, 8, 3, 3);
  downgrade_to_schema_three(old);
  const std::string before = t::read_file(old);
  const trainyard::ResultsReader reader(source);
  try {
    trainyard::copy_results(reader, old);
    FAIL() << "a destination holding runs was accepted";
  } catch (const trainyard::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("already holds 8 runs"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t::read_file(old), before);
}

TEST(ResultsReaderFiles, ReadingNeverBlocksAWriterInTheMiddleOfAnEpoch) {
  t::TempDir dir;
  const std::string db = (dir / "busy.db").string();
  tr::write_synthetic_results(db, 3, 2);
  trainyard::ResultsStore store(db);  // WAL mode, as a run has it
  trainyard::SqlWriteTransaction writing(store.database());
  store.database().execute_script("UPDATE runs SET status = 'running' WHERE id = 3");

  const auto listed = t::run_command(results_command(db, "runs --format csv"));
  ASSERT_EQ(listed.exit_code, 0) << listed.output;  // the write lock did not stop the reader
  EXPECT_NE(listed.output.find("3,synthetic,finished"), std::string::npos) << listed.output;
  writing.commit();  // nor the reader the writer
  const auto after = t::run_command(results_command(db, "runs --status running --format csv"));
  EXPECT_NE(after.output.find("3,synthetic,running"), std::string::npos) << after.output;
}

// ---- the results binary on a database made by the runner

namespace {

class ResultsOfRealRuns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new t::TempDir();
    t::make_image_folder(*dir_ / "data", {{"a", 6}, {"b", 6}}, 16);
    const std::string experiment = R"(name: real
seed: 5
device: cpu
model:     {plugin: tiny}
dataset:   {plugin: imagefolder, root: data, image_size: 16, train_fraction: 0.5}
optimizer: {plugin: adam, lr: 1.0e-2}
train:     {epochs: 3, batch_size: 4, threads: 1}
output:    {db: results.db, checkpoints: checkpoints}
)";
    t::write_file(*dir_ / "plain.yaml", experiment);
    t::write_file(*dir_ / "sweep.yaml", experiment + "sweep:\n  grid:\n    optimizer.lr: [1.0e-2, 1.0e-3]\n");
    const std::string environment = t::tiny_model_environment();
    const auto sweep = t::run_command(t::runner_command(dir_->path(), "sweep.yaml", environment));
    if (sweep.exit_code != 0) setup_failure_ = "the sweep failed:\n" + sweep.output;  // runs 1 and 2
    const auto plain = t::run_command(t::runner_command(dir_->path(), "plain.yaml --set seed=9", environment));
    if (plain.exit_code != 0) setup_failure_ += "the plain run failed:\n" + plain.output;  // run 3
  }
  // A failed assertion in SetUpTestSuite() makes GoogleTest report each test as skipped, which
  // CTest counts as passed: the failure is carried to every test instead.
  void SetUp() override {
    if (!setup_failure_.empty()) FAIL() << setup_failure_;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string db() { return (*dir_ / "results.db").string(); }
  static t::CommandResult results(const std::string& arguments) {
    return t::run_command(results_command(db(), arguments));
  }
  static t::TempDir* dir_;
  static std::string setup_failure_;
};
t::TempDir* ResultsOfRealRuns::dir_ = nullptr;
std::string ResultsOfRealRuns::setup_failure_;

}  // namespace

TEST_F(ResultsOfRealRuns, ListsRunsAndSweepsAndFindsTheBestLearningRate) {
  const auto runs = results("runs --format json --show optimizer.lr");
  ASSERT_EQ(runs.exit_code, 0) << runs.output;
  const auto parsed = nlohmann::json::parse(runs.output);
  ASSERT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed[0]["run_id"], 3);  // newest first
  std::set<std::string> rates;
  for (const auto& run : parsed) {
    EXPECT_EQ(run["status"], "finished");
    EXPECT_EQ(run["epochs"], 3);
    rates.insert(run["optimizer.lr"].get<std::string>());
  }
  EXPECT_EQ(rates, (std::set<std::string>{"0.01", "0.001"}));

  const auto sweeps = results("sweeps --format csv");
  ASSERT_EQ(sweeps.exit_code, 0) << sweeps.output;
  // 2 trials, 2 finished, none pruned, 6 epochs trained of the 6 of their train.epochs
  EXPECT_NE(sweeps.output.find(",2,2,0,6,6,"), std::string::npos) << sweeps.output;

  const auto best = results("best --sweep real");
  ASSERT_EQ(best.exit_code, 0) << best.output;
  EXPECT_NE(best.output.find("optimizer.lr="), std::string::npos) << best.output;
  const auto leaderboard = results("runs --sweep real --sort best_test_accuracy --limit 1 --format csv");
  const std::string first_id = leaderboard.output.substr(leaderboard.output.find('\n') + 1, 1);
  EXPECT_NE(best.output.find("run " + first_id + " "), std::string::npos) << best.output << leaderboard.output;
}

TEST_F(ResultsOfRealRuns, ShowsProvenanceConfigAndEpochs) {
  const auto shown = results("show 1");
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  for (const char* expected :
       {"experiment: real", "status: finished", "torch_version: ", "model_plugin: tiny", "optimizer_plugin: adam",
        "host: ", "device: cpu", "config:", "  optimizer.lr: ", "  dataset.plugin: imagefolder", "epochs:"}) {
    EXPECT_NE(shown.output.find(expected), std::string::npos) << expected << "\n" << shown.output;
  }
  const auto json = results("show 1 --format json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const auto parsed = nlohmann::json::parse(json.output);
  EXPECT_EQ(parsed["run"]["id"], 1);
  EXPECT_EQ(parsed["config"]["train.batch_size"], "4");
  EXPECT_EQ(parsed["epochs"].size(), 3u);
}

TEST_F(ResultsOfRealRuns, ComparesOnlyTheKeysThatDiffer) {
  const auto compared = results("compare 1 2 3 --format csv");
  ASSERT_EQ(compared.exit_code, 0) << compared.output;
  EXPECT_NE(compared.output.find("key,run 1,run 2,run 3"), std::string::npos) << compared.output;
  EXPECT_NE(compared.output.find("optimizer.lr,"), std::string::npos) << compared.output;
  EXPECT_NE(compared.output.find("seed,5,5,9"), std::string::npos) << compared.output;
  EXPECT_EQ(compared.output.find("train.batch_size"), std::string::npos) << compared.output;  // same
  EXPECT_NE(compared.output.find("best_test_accuracy,"), std::string::npos) << compared.output;
  const auto all = results("compare 1 2 --all-keys --format csv");
  EXPECT_NE(all.output.find("train.batch_size,4,4"), std::string::npos) << all.output;
}

TEST_F(ResultsOfRealRuns, ExportsEveryEpochToCsv) {
  const fs::path out = *dir_ / "everything.csv";
  const auto exported = results("export --format csv --out " + t::shell_quote(out.string()));
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  const std::string csv = t::read_file(out);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 3 * 3);  // header + 3 runs x 3 epochs
  const auto swept = results("export --sweep real --format csv");
  EXPECT_EQ(std::count(swept.output.begin(), swept.output.end(), '\n'), 1 + 2 * 3) << swept.output;
}

TEST_F(ResultsOfRealRuns, PlotsCurvesToAPngThatIsNotBlank) {
  const fs::path png = *dir_ / "curves.png";
  const auto plotted = results("plot 1 2 3 --out " + t::shell_quote(png.string()));
  ASSERT_EQ(plotted.exit_code, 0) << plotted.output;
  const auto image = trainyard::read_image(png);
  EXPECT_EQ(image.width, 1120);  // two panels of 560
  EXPECT_GE(image.height, 440);
  std::size_t coloured = 0;
  std::set<std::uint32_t> colours;
  for (std::size_t p = 0; p + 2 < image.pixels.size(); p += 3) {
    const auto r = image.pixels[p], g = image.pixels[p + 1], b = image.pixels[p + 2];
    if (r < 250 || g < 250 || b < 250) ++coloured;
    colours.insert((static_cast<std::uint32_t>(r) << 16) | (g << 8) | b);
  }
  const std::size_t pixels = image.pixels.size() / 3;
  EXPECT_GT(coloured, pixels / 50) << "almost everything is white";
  EXPECT_LT(coloured, pixels / 2) << "almost nothing is white";
  EXPECT_GT(colours.size(), 20u);  // lines in several colours, antialiased text

  const fs::path newest = *dir_ / "newest.png";  // no run named: the newest
  const auto plotted_newest = results("plot --out " + t::shell_quote(newest.string()));
  ASSERT_EQ(plotted_newest.exit_code, 0) << plotted_newest.output;
  EXPECT_EQ(trainyard::read_image(newest).width, 1120);

  const fs::path svg = *dir_ / "sweep.svg";
  const auto sweep = results("plot --sweep real --param optimizer.lr --out " + t::shell_quote(svg.string()));
  ASSERT_EQ(sweep.exit_code, 0) << sweep.output;
  EXPECT_NE(t::read_file(svg).find("<svg"), std::string::npos);
  const fs::path sweep_png = *dir_ / "sweep.png";  // nothing pruned: nothing drawn red
  ASSERT_EQ(results("plot --sweep real --param optimizer.lr --out " + t::shell_quote(sweep_png.string())).exit_code, 0);
  EXPECT_EQ(pruned_red_pixels(sweep_png), 0u);
}

TEST_F(ResultsOfRealRuns, BadRequestsAreClearAndChangeNothing) {
  const std::string before = t::read_file(db());
  struct Case {
    std::string arguments, expected;
  };
  for (const Case& c : std::vector<Case>{{"show 99", "no run 99"},
                                         {"runs --sort bets_test_accuracy", "did you mean 'best_test_accuracy'"},
                                         {"runs --where optimzer.lr=0.01", "did you mean 'optimizer.lr'"},
                                         {"runs --where 'optimizer.lr<=abc'", "needs a number"},
                                         {"best --sweep nope", "no such sweep"},
                                         {"best --sweep real --metric accuracy_best", "not a run metric"},
                                         {"plot 1 --out curves.gif", ".png or .svg"},
                                         {"runs --format xml", "accepted: table, csv, json"}}) {
    const auto result = results(c.arguments);
    EXPECT_EQ(result.exit_code, trainyard::kExitBadInput) << c.arguments << "\n" << result.output;
    EXPECT_NE(result.output.find(c.expected), std::string::npos) << c.arguments << "\n" << result.output;
  }
  const auto missing = t::run_command(results_command((*dir_ / "nothing.db").string(), "runs"));
  EXPECT_EQ(missing.exit_code, trainyard::kExitBadInput);
  EXPECT_NE(missing.output.find("No results database at"), std::string::npos) << missing.output;
  EXPECT_EQ(t::read_file(db()), before);
}

// ---- copies between engines: a real sweep's file into PostgreSQL and back

TEST_F(ResultsOfRealRuns, CopiesIntoPostgresAndBackAndEveryCommandAnswersAlike) {
  const std::string server = t::database_for_this_test();
  const auto into = results("copy --to " + t::shell_quote(server));
  ASSERT_EQ(into.exit_code, 0) << into.output;
  EXPECT_NE(into.output.find(": 1 sweeps, 3 runs, 9 epochs"), std::string::npos) << into.output;
  const std::string back = (*dir_ / "back.db").string();
  const auto out = t::run_command(results_command(server, "copy --to " + t::shell_quote(back)));
  ASSERT_EQ(out.exit_code, 0) << out.output;

  // The same answers from the file, the server and the copy of the copy.
  for (const std::string arguments :
       {"runs --format csv --show optimizer.lr", "sweeps --format csv", "show 2 --format json",
        "compare 1 2 3 --format csv", "runs --sort optimizer.lr --format csv", "export --format csv",
        "runs --where 'optimizer.lr<=0.001' --since 2026 --format csv"}) {
    const auto original = results(arguments);
    ASSERT_EQ(original.exit_code, 0) << arguments << "\n" << original.output;
    EXPECT_EQ(t::run_command(results_command(server, arguments)).output, original.output) << arguments;
    EXPECT_EQ(t::run_command(results_command(back, arguments)).output, original.output) << arguments;
  }
  // The server's ids go on after the copied ones.
  trainyard::ResultsStore store(server);
  trainyard::RunRecord record;
  record.experiment = "after";
  record.config_yaml = "name: after\n";
  EXPECT_EQ(store.begin_run(record), 4);
}

TEST_F(ResultsOfRealRuns, CopyRefusesADestinationThatHoldsRuns) {
  const std::string target = (*dir_ / "taken.db").string();
  ASSERT_EQ(results("copy --to " + t::shell_quote(target)).exit_code, 0);
  const std::string before = t::read_file(target);
  const auto again = results("copy --to " + t::shell_quote(target));
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_NE(again.output.find("already holds 3 runs and 1 sweeps; copy into a new file or an empty database"),
            std::string::npos)
      << again.output;
  trainyard::ResultsStore store(target);
  EXPECT_EQ(store.database().query("SELECT count(*) FROM runs").integer(0, 0), 3);
}

// A sweep in which ASHA prunes one trial of two: `best` says what it saved, and both sweep plots
// mark the pruned trial.
TEST(ResultsOfAPrunedSweep, BestAndBothSweepPlotsShowThePrunedTrial) {
  t::TempDir dir;
  t::make_image_folder(dir / "data", {{"a", 6}, {"b", 6}}, 16);
  t::write_file(dir / "asha.yaml", R"(name: asha
seed: 5
device: cpu
model:     {plugin: tiny}
dataset:   {plugin: imagefolder, root: data, image_size: 16, train_fraction: 0.5}
optimizer: {plugin: adam}
train:     {epochs: 3, batch_size: 4, threads: 1}
output:    {db: results.db, checkpoints: checkpoints}
sweep:
  grid: {optimizer.lr: [3.0e-2, 1.0e-7]}
  pruner: {kind: asha, reduction: 2}
)");
  const auto swept = t::run_command(t::runner_command(dir.path(), "asha.yaml", t::tiny_model_environment()));
  ASSERT_EQ(swept.exit_code, 0) << swept.output;
  const std::string db = (dir / "results.db").string();
  const auto results = [&](const std::string& arguments) { return t::run_command(results_command(db, arguments)); };

  const auto best = results("best --sweep asha");
  ASSERT_EQ(best.exit_code, 0) << best.output;
  EXPECT_NE(best.output.find("(optimizer.lr=3.0e-2)"), std::string::npos) << best.output;
  EXPECT_NE(best.output.find("sweep asha: 2 trials, 1 finished, 1 pruned; epochs trained: 4 of the 6 a sweep without "
                             "pruning or early stopping would (67%)"),
            std::string::npos)
      << best.output;

  const fs::path by_rate = dir / "by-rate.png", history = dir / "history.png";
  const auto plotted = results("plot --sweep asha --param optimizer.lr --out " + t::shell_quote(by_rate.string()));
  ASSERT_EQ(plotted.exit_code, 0) << plotted.output;
  EXPECT_GT(pruned_red_pixels(by_rate), 20u);  // the pruned trial's marker and its legend swatch

  const auto drawn = results("plot --sweep asha --history --out " + t::shell_quote(history.string()));
  ASSERT_EQ(drawn.exit_code, 0) << drawn.output;
  EXPECT_GT(pruned_red_pixels(history), 20u);
  const std::size_t epochs_in_order = 4;  // 3 of the finished trial, 1 of the pruned
  const trainyard::ResultsReader reader(db);
  const auto rows = reader.sweep_history("asha");
  ASSERT_EQ(rows.size(), epochs_in_order);
  std::size_t pruned = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    pruned += rows.text(i, rows.column("status")) == "pruned";
    if (i > 0) EXPECT_LE(rows.text(i - 1, rows.column("finished_at")), rows.text(i, rows.column("finished_at")));
    EXPECT_FALSE(rows.is_null(i, rows.column("selection_accuracy")));
  }
  EXPECT_EQ(pruned, 1u);

  for (const auto& [arguments, expected] : std::vector<std::pair<std::string, std::string>>{
           {"plot --history --out h.png", "plot --history needs --sweep NAME"},
           {"plot --sweep nosuch --history --out h.png", "--sweep 'nosuch': no such sweep"},
           {"plot --sweep asha --out h.png", "or --history for best so far against epochs"}}) {
    const auto refused = results(arguments);
    EXPECT_EQ(refused.exit_code, 2) << arguments;
    EXPECT_NE(refused.output.find(expected), std::string::npos) << arguments << "\n" << refused.output;
  }
}
