// The runner binary on real files: a tiny ImageFolder, the real plugins, two epochs, and the
// database and checkpoint it leaves; bad input of each kind leaves the database as it was.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <trainyard/train/checkpoint.h>

#include "test_support.h"
#include "trainyard/plugin/plugin_registry.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

class RunnerEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    t::make_image_folder(dir_ / "data", {{"cat", 6}, {"dog", 6}}, 24);
    t::write_file(dir_ / "exp.yaml", R"(name: e2e
seed: 3
device: cpu
model:     {plugin: resnet50}
dataset:   {plugin: imagefolder, root: data, image_size: 64, train_fraction: 0.75}
optimizer: {plugin: adam, lr: 1.0e-3}
train:     {epochs: 2, batch_size: 4, threads: 2}
output:    {db: results/e2e.db, checkpoints: results/checkpoints}
)");
  }
  // Runs the runner in the test's folder, so relative paths resolve there.
  t::CommandResult runner(const std::string& arguments) {
    return t::run_command(t::runner_command(dir_.path(), arguments));
  }
  std::string db() const { return (dir_ / "results/e2e.db").string(); }

  t::TempDir dir_;
};

}  // namespace

// tcmalloc must be one of the runner's own dependencies (glibc's malloc re-faults every large
// activation): CMake once dropped its --no-as-needed flag as a repeat, and the linker then left
// the library out without a word.
TEST(RunnerBinary, CarriesTcmallocWhenTheBuildFoundIt) {
  if (!TRAINYARD_RUNNER_LINKS_TCMALLOC) GTEST_SKIP() << "built without tcmalloc (or with sanitizers)";
  const auto listed = t::run_command("readelf -d " + t::shell_quote(TRAINYARD_RUNNER_PATH));
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("[libtcmalloc_minimal.so"), std::string::npos) << listed.output;
}

TEST_F(RunnerEndToEnd, TrainsTwoEpochsAndRecordsThem) {
  const auto result = runner("exp.yaml");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("epoch   2/2"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("results: run 1 in results/e2e.db (peak memory"), std::string::npos) << result.output;

  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  SQLite::Statement run(database, R"(SELECT experiment, status, best_epoch, best_test_accuracy,
      checkpoint_path, num_parameters, num_classes, train_size, test_size, model_plugin, config_yaml,
      ended_at FROM runs)");
  ASSERT_TRUE(run.executeStep());
  EXPECT_EQ(run.getColumn(0).getString(), "e2e");
  EXPECT_EQ(run.getColumn(1).getString(), "finished");
  EXPECT_GE(run.getColumn(2).getInt(), 1);
  const double best = run.getColumn(3).getDouble();
  EXPECT_GE(best, 0.0);
  EXPECT_LE(best, 1.0);
  const std::string checkpoint = run.getColumn(4).getString();
  EXPECT_TRUE(fs::exists(dir_ / checkpoint)) << checkpoint;
  EXPECT_EQ(run.getColumn(5).getInt64(), 23514176 - 3 * 2048 - 3 + 2 * 2048 + 2 + 3);  // 2 classes
  EXPECT_EQ(run.getColumn(6).getInt(), 2);
  EXPECT_EQ(run.getColumn(7).getInt(), 9);
  EXPECT_EQ(run.getColumn(8).getInt(), 3);
  EXPECT_EQ(run.getColumn(9).getString(), "resnet50 1.0.0");
  EXPECT_NE(run.getColumn(10).getString().find("beta1: 0.9"), std::string::npos);  // resolved
  EXPECT_FALSE(run.getColumn(11).isNull());
  EXPECT_FALSE(run.executeStep());

  SQLite::Statement epochs(database, R"(SELECT epoch, train_loss, test_accuracy, learning_rate,
      epoch_seconds, train_images_per_second FROM epochs WHERE run_id = 1 ORDER BY epoch)");
  int count = 0;
  while (epochs.executeStep()) {
    ++count;
    EXPECT_EQ(epochs.getColumn(0).getInt(), count);
    EXPECT_GT(epochs.getColumn(1).getDouble(), 0.0);
    EXPECT_DOUBLE_EQ(epochs.getColumn(3).getDouble(), 1e-3);
    EXPECT_GT(epochs.getColumn(4).getDouble(), 0.0);
    EXPECT_GT(epochs.getColumn(5).getDouble(), 0.0);
  }
  EXPECT_EQ(count, 2);
}

TEST_F(RunnerEndToEnd, SetOverridesAndDryRunPrintsTheResolvedConfig) {
  const auto result = runner("exp.yaml --dry-run --set optimizer.lr=0.5 --set train.epochs=7");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("lr: 0.5"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("epochs: 7"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("amsgrad: false"), std::string::npos) << result.output;
  EXPECT_FALSE(fs::exists(db()));  // a dry run writes nothing
}

TEST_F(RunnerEndToEnd, BadInputExitsWithTwoAndLeavesTheDatabaseIntact) {
  ASSERT_EQ(runner("exp.yaml --set train.epochs=1").exit_code, 0);
  const std::string before = t::read_file(db());
  ASSERT_FALSE(before.empty());

  fs::create_directories(dir_ / "data/empty_class");
  t::write_file(dir_ / "malformed.yaml", "name: [unclosed\n");
  const std::pair<std::string, std::string> cases[] = {
      {"exp.yaml --set optimizer.lrr=1", "did you mean 'optimizer.lr'"},
      {"exp.yaml --set train.batch_size=ten", "expected an integer, got 'ten'"},
      {"exp.yaml --set model.plugin=resnet5", "Did you mean 'resnet50'? Known model plugins: resnet101, "},
      {"missing.yaml", "'missing.yaml' does not exist"},
      {"malformed.yaml", "malformed.yaml:2:1: malformed YAML"},
      {"exp.yaml --set dataset.root=nowhere", "'nowhere' does not exist"},
      {"exp.yaml", "has no images"},  // data/empty_class
      {"exp.yaml --set device=cuda:7", "cuda"},
      {"exp.yaml --set train.precision=fp16", "fp16 needs a CUDA device"},
  };
  for (const auto& [arguments, expected] : cases) {
    const auto result = runner(arguments);
    EXPECT_EQ(result.exit_code, 2) << arguments << "\n" << result.output;
    EXPECT_NE(result.output.find(expected), std::string::npos) << arguments << "\n" << result.output;
  }
  fs::remove_all(dir_ / "data/empty_class");
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  EXPECT_EQ(database.execAndGet("SELECT count(*) FROM runs").getInt(), 1);
  EXPECT_EQ(database.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

TEST_F(RunnerEndToEnd, ForeignDatabaseIsRefusedUntouched) {
  t::write_file(dir_ / "notes.db", "not a database");
  const auto result = runner("exp.yaml --set output.db=notes.db");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_EQ(t::read_file(dir_ / "notes.db"), "not a database");
}

TEST_F(RunnerEndToEnd, CorruptImageFailsTheRunWithItsPath) {
  t::write_file(dir_ / "data/cat/zzz_broken.png", "garbage");
  const auto result = runner("exp.yaml --set train.epochs=1 --set dataset.train_fraction=0.5");
  EXPECT_EQ(result.exit_code, 1) << result.output;
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  EXPECT_EQ(database.execAndGet("SELECT status FROM runs").getString(), "failed");
  EXPECT_NE(database.execAndGet("SELECT error FROM runs").getString().find("zzz_broken.png"), std::string::npos);

  const auto skipped = runner("exp.yaml --set train.epochs=1 --set dataset.on_bad_image=skip");
  EXPECT_EQ(skipped.exit_code, 0) << skipped.output;
  EXPECT_NE(skipped.output.find("skipping image"), std::string::npos) << skipped.output;
}

TEST_F(RunnerEndToEnd, ListsAndDescribesPlugins) {
  const auto list = runner("--list-plugins");
  ASSERT_EQ(list.exit_code, 0) << list.output;
  for (const char* name : {"resnet50", "imagefolder", "adam"}) {
    EXPECT_NE(list.output.find(name), std::string::npos) << list.output;
  }
  const auto describe = runner("--describe adam");
  ASSERT_EQ(describe.exit_code, 0) << describe.output;
  EXPECT_NE(describe.output.find("weight_decay"), std::string::npos) << describe.output;
  EXPECT_EQ(runner("--describe adma").exit_code, 2);
}

// The README's table of framework keys is what `runner --describe keys` prints from the key tables,
// so the documentation cannot drift from the defaults and ranges the runner applies.
TEST_F(RunnerEndToEnd, ReadmeKeyTableIsTheOneTheRunnerPrints) {
  const auto keys = runner("--describe keys");
  ASSERT_EQ(keys.exit_code, 0) << keys.output;
  EXPECT_NE(keys.output.find("| train | `epochs` | integer | 20 |"), std::string::npos) << keys.output;
  EXPECT_NE(keys.output.find("| sweep.random | `trials` | integer | (required) |"), std::string::npos) << keys.output;
  std::ifstream in(fs::path(TRAINYARD_SOURCE_DIR) / "README.md");
  const std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string begin = "<!-- keys: runner --describe keys -->\n", end = "<!-- keys end -->";
  const auto from = readme.find(begin), to = readme.find(end);
  ASSERT_NE(from, std::string::npos) << "README.md lacks " << begin;
  ASSERT_NE(to, std::string::npos) << "README.md lacks " << end;
  std::string table;  // the table's lines of the output (stderr, with any log line, is mixed in)
  std::istringstream lines(keys.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| ", 0) == 0) table += line + "\n";
  }
  EXPECT_EQ(readme.substr(from + begin.size(), to - from - begin.size()), table)
      << "README.md's key table differs from `runner --describe keys`; paste its output between the markers";
  // A section with those inside it, structured keys too: every key of a sweep in one answer.
  const auto sweep = runner("--describe sweep");
  ASSERT_EQ(sweep.exit_code, 0) << sweep.output;
  for (const char* expected :
       {"section 'sweep'", "  jobs ", "  grid               mapping", "  tpe ", "  pruner ", "section 'sweep.random'",
        "section 'sweep.tpe'", "  startup_trials ", "  params             mapping", "{loguniform: [low, high]}",
        "section 'sweep.pruner'", "  warmup_epochs ", "  reduction "}) {
    EXPECT_NE(sweep.output.find(expected), std::string::npos) << expected << "\n" << sweep.output;
  }
  const auto train = runner("--describe train");
  EXPECT_NE(train.output.find("  early_stopping     mapping"), std::string::npos) << train.output;
  EXPECT_NE(train.output.find("section 'train.early_stopping'"), std::string::npos) << train.output;
  EXPECT_NE(keys.output.find("| sweep | `grid` | mapping | (none) |"), std::string::npos) << keys.output;
  const auto typo = runner("--describe trian");
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.output.find("did you mean 'train'"), std::string::npos) << typo.output;
}

TEST_F(RunnerEndToEnd, PluginPathFromTheEnvironmentIsSearched) {
  const auto result = t::run_command(
      t::runner_command(dir_.path(), "exp.yaml --set model.plugin=tiny --set train.epochs=1",
                        "TRAINYARD_PLUGIN_PATH=" + t::shell_quote(t::fixture_plugin_dir("tiny_model").string())));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  EXPECT_EQ(database.execAndGet("SELECT model_plugin FROM runs").getString(), "tiny 1.0.0");
}

// train.early_stopping from the command line: the run ends finished before train.epochs, and the
// reason is in the log, the database and `results show`.
TEST_F(RunnerEndToEnd, EarlyStoppingEndsTheRunAndRecordsWhy) {
  const auto result = t::run_command(
      t::runner_command(dir_.path(),
                        "exp.yaml --set model.plugin=tiny --set train.epochs=6 --set train.early_stopping.patience=1 "
                        "--set train.early_stopping.min_delta=1.0",
                        t::tiny_model_environment()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string reason = "early stopping: test_accuracy has not improved by more than 1 for 1 epoch (best ";
  EXPECT_NE(result.output.find("run 1 ended after epoch 2: " + reason), std::string::npos) << result.output;
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  EXPECT_EQ(database.execAndGet("SELECT status FROM runs").getString(), "finished");
  EXPECT_EQ(database.execAndGet("SELECT stop_reason FROM runs").getString().rfind(reason, 0), 0u);
  EXPECT_EQ(database.execAndGet("SELECT count(*) FROM epochs").getInt(), 2);
  const auto shown =
      t::run_command(t::shell_quote(TRAINYARD_RESULTS_PATH) + " --db " + t::shell_quote(db()) + " show 1");
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find(reason), std::string::npos) << shown.output;
}

TEST_F(RunnerEndToEnd, BestCheckpointLoadsBackIntoAFreshModel) {
  ASSERT_EQ(runner("exp.yaml").exit_code, 0);
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  const auto best_epoch = database.execAndGet("SELECT best_epoch FROM runs").getInt();
  const auto checkpoint = dir_ / database.execAndGet("SELECT checkpoint_path FROM runs").getString();

  auto model =
      t::build_registry().make_model("resnet50", trainyard::Params({{"zero_init_residual", false}}), {2, 3, 64});
  const auto before = model->parameters().front().clone();
  const auto info = trainyard::load_checkpoint(checkpoint, *model);
  EXPECT_EQ(info.epoch, best_epoch);
  EXPECT_EQ(info.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_NE(info.config_yaml.find("name: e2e"), std::string::npos);
  EXPECT_FALSE(torch::equal(before, model->parameters().front()));
  EXPECT_FALSE(fs::exists(checkpoint.string() + ".tmp"));
}

TEST_F(RunnerEndToEnd, SigintStopsAtTheNextBatchAndMarksTheRunInterrupted) {
  // Many epochs: the signal comes once the first epoch is in the database.
  const std::string command =
      t::runner_command(dir_.path(), "exp.yaml --set train.epochs=500") + " > run.log 2>&1 & echo $!";
  const auto started = t::run_command(command);
  const pid_t pid = std::stoi(started.output);
  const bool epoch_done = t::wait_until([&] {
    SQLite::Database database(db(), SQLite::OPEN_READONLY);
    return database.execAndGet("SELECT count(*) FROM epochs").getInt() > 0;
  });
  ASSERT_TRUE(epoch_done) << t::read_file(dir_ / "run.log");
  ASSERT_EQ(kill(pid, SIGINT), 0);
  ASSERT_TRUE(t::wait_for_exit(pid, 30)) << "runner still running 30 s after SIGINT";
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  EXPECT_EQ(database.execAndGet("SELECT status FROM runs").getString(), "interrupted");
  EXPECT_FALSE(database.execAndGet("SELECT ended_at FROM runs").isNull());
  EXPECT_GE(database.execAndGet("SELECT count(*) FROM epochs").getInt(), 1);
  EXPECT_NE(t::read_file(dir_ / "run.log").find("interrupted after"), std::string::npos);
}

TEST_F(RunnerEndToEnd, EveryPrecisionAndLayoutTrains) {
  for (const char* options : {"--set train.precision=bf16 --set train.channels_last=true",
                              "--set train.precision=fp32 --set train.channels_last=false --set train.cache=off",
                              "--set train.precision=fp32 --set train.cache=on"}) {
    const auto result = runner(std::string("exp.yaml --set train.epochs=1 ") + options);
    EXPECT_EQ(result.exit_code, 0) << options << "\n" << result.output;
  }
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  EXPECT_EQ(database.execAndGet("SELECT count(*) FROM runs WHERE status = 'finished'").getInt(), 3);
  EXPECT_EQ(database.execAndGet("SELECT count(*) FROM runs WHERE config_yaml LIKE '%precision: bf16%'").getInt(), 1);
}

TEST_F(RunnerEndToEnd, DecodedDataIsSharedBetweenRunsOfTheSameData) {
  const auto first = runner("exp.yaml --set train.epochs=1 --set output.cache=cache");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("shared decoded train split"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("first training batch ready"), std::string::npos) << first.output;
  // Decoded before the first pass, on the model's threads (issue 18), not beside the step.
  EXPECT_NE(first.output.find("train split: decoded 9 images on 2 threads"), std::string::npos) << first.output;
  const auto second = runner("exp.yaml --set train.epochs=1 --set output.cache=cache");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("train split: 9 decoded images from cache/imagefolder-"), std::string::npos)
      << second.output;
  EXPECT_EQ(second.output.find("train split: decoded"), std::string::npos) << second.output;
  SQLite::Database database(db(), SQLite::OPEN_READONLY);
  // The same samples: the same first epoch, to the last bit.
  EXPECT_EQ(database.execAndGet("SELECT count(DISTINCT train_loss) FROM epochs").getInt(), 1);

  // A changed image changes the data's key: nothing stale is read.
  t::write_file(dir_ / "data/cat/000.png", t::read_file(dir_ / "data/dog/000.png"));
  const auto third = runner("exp.yaml --set train.epochs=1 --set output.cache=cache");
  ASSERT_EQ(third.exit_code, 0) << third.output;
  EXPECT_EQ(third.output.find("decoded images from"), std::string::npos) << third.output;
}

// Issue 18: train.cache_max_mb counts what the cache holds, and 8-bit samples are kept as bytes:
// 12 images at 224x224 take 1.7 MiB (6.9 MiB as the floats of before), so a 2 MiB limit keeps
// them and a 1 MiB limit does not.
TEST_F(RunnerEndToEnd, TheDecodedCacheHoldsBytesAndItsLimitCountsThem) {
  const std::vector<std::pair<int, std::string>> cases{{2, "decoded cache: 2 MiB"}, {1, "decoded cache: off"}};
  for (const auto& [limit, expected] : cases) {
    const auto result = t::run_command(t::runner_command(dir_.path(),
                                                         "exp.yaml --set model.plugin=tiny --set train.epochs=1 "
                                                         "--set dataset.image_size=224 --set train.cache_max_mb=" +
                                                             std::to_string(limit),
                                                         t::tiny_model_environment()));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find(expected), std::string::npos) << result.output;
  }
}
