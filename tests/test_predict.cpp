// Using a trained model (issue 17): `runner --export` writes a model package, the Predictor of
// <trainyard/predictor.h> and `runner --predict` classify images with it, and a damaged,
// truncated or foreign package, or a plugin of another version, is refused with the reason.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"
#include "trainyard/image_io.h"
#include "trainyard/package/model_package.h"
#include "trainyard/predictor.h"
#include "trainyard/train/device.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

class Predict : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new t::TempDir();
    t::make_image_folder(*dir_ / "data", {{"a", 8}, {"b", 8}, {"c", 8}}, 12);
    t::write_file(*dir_ / "exp.yaml", R"(name: packaged
seed: 4
device: cpu
model:     {plugin: tiny, width: 4}
dataset:   {plugin: imagefolder, root: data, image_size: 12, train_fraction: 0.75}
optimizer: {plugin: adam, lr: 1.0e-2}
train:     {epochs: 2, batch_size: 4, threads: 1}
output:    {db: results/p.db, checkpoints: results/checkpoints}
)");
    const auto run = runner("exp.yaml");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const auto exported = runner("--export 1 --db results/p.db --out model.typkg");
    ASSERT_EQ(exported.exit_code, 0) << exported.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static t::CommandResult runner(const std::string& arguments) {
    return t::run_command(t::runner_command(dir_->path(), arguments, t::tiny_model_environment()));
  }
  static std::string package() { return (*dir_ / "model.typkg").string(); }
  static trainyard::Predictor open() {
    trainyard::Predictor::Options options;
    options.plugin_folders = {t::fixture_plugin_dir("tiny_model").string()};
    return trainyard::Predictor::open(package(), options);
  }
  static std::vector<std::string> images() {
    std::vector<std::string> files;
    for (const char* c : {"a", "b", "c"}) {
      for (int i = 0; i < 8; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "%03d.png", i);
        files.push_back((*dir_ / "data" / c / name).string());
      }
    }
    return files;
  }
  static t::TempDir* dir_;
};
t::TempDir* Predict::dir_ = nullptr;

// The package's bytes with one changed, or cut short.
void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string open_error(const fs::path& path) {
  try {
    trainyard::Predictor::open(path.string());
  } catch (const trainyard::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "opened " << path;
  return "";
}

}  // namespace

TEST_F(Predict, ThePackageHoldsTheModelItsClassesItsTransformAndWhereItCameFrom) {
  const auto p = trainyard::read_model_package(package());
  EXPECT_EQ(p.model_plugin, "tiny");
  EXPECT_EQ(p.class_names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(p.preprocessing.height, 12);
  EXPECT_EQ(p.preprocessing.color, "rgb");
  EXPECT_EQ(p.preprocessing.mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));  // the exact floats
  EXPECT_EQ(p.batch_size, 4);
  EXPECT_NE(p.model_section_yaml.find("width: 4"), std::string::npos) << p.model_section_yaml;
  std::map<std::string, std::string> provenance(p.provenance.begin(), p.provenance.end());
  EXPECT_EQ(provenance["run"], "1");
  EXPECT_EQ(provenance["experiment"], "packaged");
  SQLite::Database db((*dir_ / "results/p.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(provenance["checkpoint_epoch"], std::to_string(db.execAndGet("SELECT best_epoch FROM runs").getInt()));
  EXPECT_EQ(p.precision, db.execAndGet("SELECT precision FROM runs").getString());
}

TEST_F(Predict, ThePredictorClassifiesFilesBatchesAndTensorsAlike) {
  const auto predictor = open();
  EXPECT_EQ(predictor.class_names(), (std::vector<std::string>{"a", "b", "c"}));
  const auto files = images();
  const auto batched = predictor.predict_files(files);
  ASSERT_EQ(batched.size(), files.size());
  int right = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto one = predictor.predict_file(files[i]);
    EXPECT_EQ(one.label, batched[i].label) << files[i];
    ASSERT_EQ(one.probabilities.size(), 3u);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(one.probabilities[c], batched[i].probabilities[c], 1e-5) << files[i];
    EXPECT_EQ(one.class_name, predictor.class_names()[static_cast<std::size_t>(one.label)]);
    // A decoded uint8 image is preprocessed as its file is.
    const auto image = trainyard::read_image(files[i]);
    const auto pixels =
        torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, torch::kUInt8)
            .permute({2, 0, 1});
    const auto from_tensor = predictor.predict(pixels);
    EXPECT_EQ(from_tensor.probabilities, one.probabilities) << files[i];
    right += static_cast<int>(one.class_name == fs::path(files[i]).parent_path().filename().string());
  }
  EXPECT_GE(right, 16) << "of 24: the tiny model learns these colours in two epochs";
  // The same as the imagefolder plugin's own transform of the file (read, resize, normalize).
  const auto expected = (trainyard::to_float_tensor(trainyard::read_image(files[0], 12), 12) -
                         torch::tensor({0.485f, 0.456f, 0.406f}).view({3, 1, 1})) /
                        torch::tensor({0.229f, 0.224f, 0.225f}).view({3, 1, 1});
  EXPECT_TRUE(torch::allclose(predictor.preprocess_file(files[0]), expected, 1e-6, 1e-6));
}

// LibTorch starts with one intra-op thread on this machine: the Predictor ran ResNet-50 at 20.8
// images/s on two cores, against 37.6 once it set every core to work, as the runner does.
TEST_F(Predict, OpeningAPredictorPutsEveryCoreToWorkUnlessToldNotTo) {
  torch::set_num_threads(1);
  auto options = trainyard::Predictor::Options{};
  options.plugin_folders = {t::fixture_plugin_dir("tiny_model").string()};
  options.threads = -1;
  trainyard::Predictor::open(package(), options);
  EXPECT_EQ(torch::get_num_threads(), 1);
  options.threads = 0;
  trainyard::Predictor::open(package(), options);
  EXPECT_EQ(torch::get_num_threads(), trainyard::available_cpu_cores());
}

TEST_F(Predict, ConcurrentPredictionsAgreeWithOneAtATime) {
  const auto predictor = open();
  const auto files = images();
  std::vector<trainyard::Prediction> alone;
  for (const auto& f : files) alone.push_back(predictor.predict_file(f));
  std::vector<std::future<std::vector<trainyard::Prediction>>> threads;
  for (int k = 0; k < 4; ++k) {
    threads.push_back(std::async(std::launch::async, [&] {
      std::vector<trainyard::Prediction> out;
      for (const auto& f : files) out.push_back(predictor.predict_file(f));
      return out;
    }));
  }
  for (auto& thread : threads) {
    const auto together = thread.get();
    for (std::size_t i = 0; i < files.size(); ++i) EXPECT_EQ(together[i].probabilities, alone[i].probabilities) << i;
  }
}

TEST_F(Predict, TheRunnerPredictsFromThePackageAndFromTheRunAlike) {
  const auto from_package = runner("--predict model.typkg data --top 2");
  ASSERT_EQ(from_package.exit_code, 0) << from_package.output;
  EXPECT_NE(from_package.output.find("file,class,probability,class_2,probability_2\n"), std::string::npos)
      << from_package.output;
  const auto predictor = open();
  const auto first = predictor.predict_file((*dir_ / "data/a/000.png").string());
  char line[256];
  std::snprintf(line, sizeof line, "data/a/000.png,%s,%.6f,", first.class_name.c_str(),
                static_cast<double>(first.probabilities[static_cast<std::size_t>(first.label)]));
  EXPECT_NE(from_package.output.find(line), std::string::npos) << line << "\n" << from_package.output;

  const auto from_run = runner("--predict 1 --db results/p.db data --top 2 --out run.csv");
  ASSERT_EQ(from_run.exit_code, 0) << from_run.output;
  const std::string csv = from_package.output.substr(from_package.output.find("file,class"));
  EXPECT_EQ(t::read_file(*dir_ / "run.csv"), csv);
  const auto json = runner("--predict model.typkg data/b/001.png --format json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  EXPECT_NE(json.output.find("\"file\": \"data/b/001.png\""), std::string::npos) << json.output;
}

TEST_F(Predict, AnUnreadableImageFailsOrIsNamedAndLeftOut) {
  t::TempDir images;
  fs::copy_file(*dir_ / "data/a/000.png", images / "good.png");
  t::write_file(images / "broken.png", "\x89PNG\r\n\x1a\n not really");
  const auto failed = runner("--predict model.typkg " + t::shell_quote(images.path().string()));
  EXPECT_EQ(failed.exit_code, 2) << failed.output;
  EXPECT_NE(failed.output.find("broken.png"), std::string::npos) << failed.output;
  const auto skipped =
      runner("--predict model.typkg " + t::shell_quote(images.path().string()) + " --on-bad-image skip");
  ASSERT_EQ(skipped.exit_code, 0) << skipped.output;
  EXPECT_NE(skipped.output.find("skipping image"), std::string::npos) << skipped.output;
  EXPECT_NE(skipped.output.find("good.png,"), std::string::npos) << skipped.output;
  EXPECT_EQ(skipped.output.find("broken.png,"), std::string::npos) << skipped.output;
}

TEST_F(Predict, DamagedTruncatedAndForeignPackagesAreRefusedWithTheReason) {
  t::TempDir scratch;
  const std::string bytes = t::read_file(package());
  std::string flipped = bytes;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x40);
  write_bytes(scratch / "flipped.typkg", flipped);
  EXPECT_NE(open_error(scratch / "flipped.typkg").find("is corrupted: its checksum does not match"), std::string::npos);
  write_bytes(scratch / "short.typkg", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(open_error(scratch / "short.typkg").find("truncated"), std::string::npos);
  write_bytes(scratch / "huge.typkg", "TRAINYARD-MODEL-PACKAGE 1\nmanifest 99999999999999\n");
  EXPECT_NE(open_error(scratch / "huge.typkg").find("declares 99999999999999 bytes"), std::string::npos);
  write_bytes(scratch / "other.typkg", "PK\x03\x04 a zip file");
  EXPECT_NE(open_error(scratch / "other.typkg").find("is not a Trainyard model package"), std::string::npos);
  write_bytes(scratch / "newer.typkg", "TRAINYARD-MODEL-PACKAGE 7\n");
  EXPECT_NE(open_error(scratch / "newer.typkg").find("has format version 7; this Trainyard reads version 1"),
            std::string::npos);

  // A manifest asking for 100,000 x 100,000 inputs (gigabytes per image) is refused, not obeyed.
  auto huge_input = trainyard::read_model_package(package());
  huge_input.preprocessing.height = huge_input.preprocessing.width = 100000;
  trainyard::write_model_package(scratch / "huge-input.typkg", huge_input);
  EXPECT_NE(open_error(scratch / "huge-input.typkg").find("its manifest is inconsistent"), std::string::npos);

  // A package made with another version of its model plugin names both.
  auto p = trainyard::read_model_package(package());
  p.model_plugin_version = "9.9.9";
  trainyard::write_model_package(scratch / "other-version.typkg", p);
  trainyard::Predictor::Options options;
  options.plugin_folders = {t::fixture_plugin_dir("tiny_model").string()};
  try {
    trainyard::Predictor::open((scratch / "other-version.typkg").string(), options);
    ADD_FAILURE() << "a package of another plugin version was opened";
  } catch (const trainyard::PluginError& e) {
    EXPECT_NE(std::string(e.what()).find("'tiny' 9.9.9; the one found"), std::string::npos) << e.what();
  }
}

TEST_F(Predict, ExportNeverOverwritesAFileThatIsNotAPackage) {
  t::write_file(*dir_ / "precious.pt", "a checkpoint");
  const auto refused = runner("--export 1 --db results/p.db --out precious.pt");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("exists and is not a model package"), std::string::npos) << refused.output;
  EXPECT_EQ(t::read_file(*dir_ / "precious.pt"), "a checkpoint");
  const auto again = runner("--export 1 --db results/p.db --out model.typkg --checkpoint last");  // a package: replaced
  ASSERT_EQ(again.exit_code, 0) << again.output;
  const auto p = trainyard::read_model_package(package());
  std::map<std::string, std::string> provenance(p.provenance.begin(), p.provenance.end());
  EXPECT_EQ(provenance["checkpoint_epoch"], "2");
}

namespace {

// The JSON document in a command's output (after its log lines).
nlohmann::json json_in(const std::string& output, char open) {
  const auto start = output.find(std::string(1, open) + "\n");
  if (start == std::string::npos) throw std::runtime_error("no JSON in: " + output);
  return nlohmann::json::parse(output.substr(start, output.rfind(open == '{' ? '}' : ']') - start + 1));
}

}  // namespace

TEST_F(Predict, EvaluatingAFolderAgreesExactlyWithPredictingIt) {
  const auto evaluated = runner("--evaluate 1 --db results/p.db --data data --format json");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.output;
  const auto evaluation = json_in(evaluated.output, '{');
  const auto predicted = runner("--predict 1 --db results/p.db data --top 3 --format json");
  ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
  const auto predictions = json_in(predicted.output, '[');
  ASSERT_EQ(predictions.size(), 24u);

  // The figures counted again from --predict's rows, the true class being the file's folder.
  const std::vector<std::string> classes = {"a", "b", "c"};
  std::vector<std::vector<std::int64_t>> confusion(3, std::vector<std::int64_t>(3, 0));
  std::int64_t correct = 0;
  double loss = 0;
  for (const auto& row : predictions) {
    const std::string file = row["file"];
    const auto truth = static_cast<std::size_t>(std::find(classes.begin(), classes.end(), file.substr(5, 1)) -
                                                classes.begin());  // "data/<class>/..."
    const auto predicted_class = static_cast<std::size_t>(
        std::find(classes.begin(), classes.end(), row["class"].get<std::string>()) - classes.begin());
    ASSERT_LT(truth, 3u) << file;
    ++confusion[truth][predicted_class];
    correct += truth == predicted_class ? 1 : 0;
    for (const auto& top : row["top"]) {
      if (top["class"] == classes[truth]) loss -= std::log(top["probability"].get<double>());
    }
  }
  EXPECT_EQ(evaluation["images"], 24);
  EXPECT_EQ(evaluation["confusion"].get<std::vector<std::vector<std::int64_t>>>(), confusion);
  EXPECT_DOUBLE_EQ(evaluation["accuracy"].get<double>(), static_cast<double>(correct) / 24.0);
  // The loss comes from the logits; the probabilities --predict prints are float32.
  EXPECT_NEAR(evaluation["loss"].get<double>(), loss / 24.0, 1e-5);
  EXPECT_EQ(evaluation["data"], fs::absolute(*dir_ / "data").lexically_normal().string());
  EXPECT_EQ(evaluation["per_class"].size(), 3u);

  SQLite::Database db((*dir_ / "results/p.db").string(), SQLite::OPEN_READONLY);
  SQLite::Statement rows(db, "SELECT count(*) FROM evaluations WHERE run_id = 1 AND data = ?");
  rows.bind(1, evaluation["data"].get<std::string>());
  ASSERT_TRUE(rows.executeStep());
  EXPECT_GE(rows.getColumn(0).getInt(), 1);
}

TEST_F(Predict, EvaluatingAFolderOfOtherClassesNamesWhatDiffers) {
  t::TempDir other;
  for (const char* c : {"a", "b", "d"}) {
    fs::create_directories(other / c);
    fs::copy_file(*dir_ / "data/a/000.png", other / c / "000.png");
  }
  const auto refused = runner("--evaluate 1 --db results/p.db --data " + t::shell_quote(other.path().string()));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("not classes of the run: 'd'"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("no folder for: 'c'"), std::string::npos) << refused.output;
  const auto both = runner("--evaluate 1 --db results/p.db --data data --split val");
  EXPECT_EQ(both.exit_code, 2) << both.output;
  EXPECT_NE(both.output.find("--data and --split exclude each other"), std::string::npos) << both.output;
}
