// The SDK as a plugin author meets it: `cmake --install` into a fresh prefix, the installed
// template copied to a folder of its own, built with find_package(Trainyard), loaded by the
// installed runner through TRAINYARD_PLUGIN_PATH, and trained for one epoch.
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "test_support.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

// The libraries the dynamic loader brings in with `library`, transitively (ldd): name -> path.
std::map<std::string, std::string> loaded_with(const fs::path& library) {
  const auto listed = t::run_command("ldd " + t::shell_quote(library.string()));
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  std::map<std::string, std::string> out;
  std::istringstream lines(listed.output);
  for (std::string name, arrow, path; lines >> name;) {
    std::string rest;
    std::getline(lines, rest);
    std::istringstream fields(rest);
    fields >> arrow >> path;
    out[name] = arrow == "=>" ? path : name;
  }
  return out;
}

// A plugin links the SDK alone: beyond what LibTorch itself brings (Debian's libtorch_cpu pulls
// in OpenCV, and through GDAL both libpq and SQLite), it adds no database client and not the
// host library.
void expect_links_the_sdk_alone(const fs::path& library) {
  const auto loaded = loaded_with(library);
  ASSERT_TRUE(loaded.count("libtrainyard_sdk.so.0.1")) << library;
  std::map<std::string, std::string> from_torch;
  for (const auto& [name, path] : loaded) {
    if (name.rfind("libtorch_cpu.so", 0) == 0) from_torch = loaded_with(path);
  }
  ASSERT_FALSE(from_torch.empty()) << library << " does not load libtorch_cpu";
  for (const auto& [name, path] : loaded) {
    if (from_torch.count(name)) continue;
    for (const char* unwanted : {"libpq.so", "libsqlite3.so", "libtrainyard.so", "libSQLiteCpp", "libyaml-cpp"}) {
      EXPECT_NE(name.rfind(unwanted, 0), 0u) << library << " brings in " << name << " (" << path << ")";
    }
  }
}

// `cmake --install` of this build into `prefix`, as a user installs Trainyard.
bool install_into(const fs::path& prefix) {
  const auto installed =
      t::run_command(t::shell_quote(TRAINYARD_CMAKE_COMMAND) + " --install " + t::shell_quote(TRAINYARD_BUILD_DIR) +
                     " --prefix " + t::shell_quote(prefix.string()));
  EXPECT_EQ(installed.exit_code, 0) << installed.output;
  return installed.exit_code == 0;
}

}  // namespace

TEST(Sdk, BundledPluginsLinkTheSdkAloneNeitherTheHostNorADatabaseClient) {
  int plugins = 0;
  for (const auto& entry : fs::directory_iterator(t::plugin_dir())) {
    if (entry.path().extension() != ".so") continue;
    ++plugins;
    expect_links_the_sdk_alone(entry.path());
  }
  EXPECT_GE(plugins, 8);  // resnet18..152, small_cnn, imagefolder, idx, adam, adamw, sgd
}

TEST(Sdk, TemplatePluginBuildsOutOfTreeAgainstTheInstalledPackageAndTrains) {
  t::TempDir dir;
  const fs::path prefix = dir / "prefix";
  const std::string cmake = t::shell_quote(TRAINYARD_CMAKE_COMMAND);

  ASSERT_TRUE(install_into(prefix));
  for (const char* file :
       {"bin/runner", "bin/results", "include/trainyard/plugin_api.h", "include/trainyard/collectives.h",
        "include/trainyard/train/training_run.h", "lib/cmake/Trainyard/TrainyardConfig.cmake",
        "lib/cmake/Trainyard/TrainyardPlugin.cmake", "lib/trainyard/plugins/trainyard_model_resnet50.so",
        "share/trainyard/templates/model-plugin/small_cnn.cpp"}) {
    EXPECT_TRUE(fs::exists(prefix / file)) << file;
  }
  EXPECT_FALSE(fs::exists(prefix / "lib/trainyard/plugins/fixture_tiny_model.so"));  // test-only

  // The author's own folder: the installed template, renamed as the tutorial says (small_cnn is
  // also installed as a plugin, and two plugins may not share a name).
  const fs::path project = dir / "my-plugin";
  fs::copy(prefix / "share/trainyard/templates/model-plugin", project, fs::copy_options::recursive);
  for (const char* file : {"CMakeLists.txt", "small_cnn.cpp", "experiment.yaml"}) {
    std::string text = t::read_file(project / file);
    for (auto at = text.find("small_cnn"); at != std::string::npos; at = text.find("small_cnn", at)) {
      text.replace(at, 9, "my_cnn");
    }
    t::write_file(project / file, text);
  }
  fs::rename(project / "small_cnn.cpp", project / "my_cnn.cpp");
  const auto configured =
      t::run_command(cmake + " -S " + t::shell_quote(project.string()) + " -B " +
                     t::shell_quote((project / "build").string()) + " -G " + t::shell_quote(TRAINYARD_CMAKE_GENERATOR) +
                     " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + t::shell_quote(prefix.string()));
  ASSERT_EQ(configured.exit_code, 0) << configured.output;
  const auto built = t::run_command(cmake + " --build " + t::shell_quote((project / "build").string()));
  ASSERT_EQ(built.exit_code, 0) << built.output;
  ASSERT_TRUE(fs::exists(project / "build/trainyard_model_my_cnn.so"));
  expect_links_the_sdk_alone(project / "build/trainyard_model_my_cnn.so");

  const std::string runner = "cd " + t::shell_quote(project.string()) +
                             " && TRAINYARD_PLUGIN_PATH=" + t::shell_quote((project / "build").string()) + " " +
                             t::shell_quote((prefix / "bin/runner").string());
  const auto listed = t::run_command(runner + " --list-plugins");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("my_cnn         1.0.0    two convolutions"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("small_cnn"), std::string::npos) << listed.output;  // the installed ones
  EXPECT_NE(listed.output.find("resnet50"), std::string::npos) << listed.output;
  const auto described = t::run_command(runner + " --describe my_cnn");
  EXPECT_NE(described.output.find("dropout"), std::string::npos) << described.output;

  t::make_image_folder(project / "data", {{"left", 8}, {"right", 8}}, 20);
  const auto trained = t::run_command(runner + " experiment.yaml --set train.epochs=1 --set train.threads=1");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  SQLite::Database db((project / "results/my_cnn.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT model_plugin FROM runs").getString(), "my_cnn 1.0.0");
  EXPECT_EQ(db.execAndGet("SELECT status FROM runs").getString(), "finished");
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM epochs").getInt(), 1);
}

// Issue 17: a program of the user's own, built out of tree against the installed package, opens a
// model package and classifies a folder exactly as `runner --predict` does.
TEST(Sdk, PredictAppBuildsOutOfTreeAndClassifiesAsTheRunnerDoes) {
  t::TempDir dir;
  const fs::path prefix = dir / "prefix";
  const std::string cmake = t::shell_quote(TRAINYARD_CMAKE_COMMAND);
  ASSERT_TRUE(install_into(prefix));
  EXPECT_TRUE(fs::exists(prefix / "include/trainyard/predictor.h"));

  // A model trained and exported with the installed runner (the tiny test model, from its folder).
  const fs::path work = dir / "work";
  t::make_image_folder(work / "data", {{"left", 6}, {"right", 6}}, 12);
  t::write_file(work / "exp.yaml", R"(name: app
seed: 1
device: cpu
model:     {plugin: tiny, width: 4}
dataset:   {plugin: imagefolder, root: data, image_size: 12, train_fraction: 0.75}
optimizer: {plugin: adam, lr: 1.0e-2}
train:     {epochs: 2, batch_size: 4, threads: 1}
output:    {db: results/app.db, checkpoints: results/checkpoints}
)");
  const std::string environment =
      "TRAINYARD_PLUGIN_PATH=" + t::shell_quote(t::fixture_plugin_dir("tiny_model").string());
  const std::string runner = "cd " + t::shell_quote(work.string()) + " && " + environment + " " +
                             t::shell_quote((prefix / "bin/runner").string());
  const auto trained = t::run_command(runner + " exp.yaml");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const auto exported = t::run_command(runner + " --export 1 --db results/app.db --out model.typkg");
  ASSERT_EQ(exported.exit_code, 0) << exported.output;

  const fs::path project = dir / "predict-app";
  fs::copy(prefix / "share/trainyard/templates/predict-app", project, fs::copy_options::recursive);
  const auto configured =
      t::run_command(cmake + " -S " + t::shell_quote(project.string()) + " -B " +
                     t::shell_quote((project / "build").string()) + " -G " + t::shell_quote(TRAINYARD_CMAKE_GENERATOR) +
                     " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + t::shell_quote(prefix.string()));
  ASSERT_EQ(configured.exit_code, 0) << configured.output;
  const auto built = t::run_command(cmake + " --build " + t::shell_quote((project / "build").string()));
  ASSERT_EQ(built.exit_code, 0) << built.output;

  const auto app = t::run_command("cd " + t::shell_quote(work.string()) + " && " + environment + " " +
                                  t::shell_quote((project / "build/predict_app").string()) + " model.typkg data");
  ASSERT_EQ(app.exit_code, 0) << app.output;
  const auto predicted = t::run_command(runner + " --predict model.typkg data");
  ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
  const std::string csv = predicted.output.substr(predicted.output.find("file,class,probability\n"));
  EXPECT_EQ(app.output.substr(0, csv.size()), csv);  // the same classes and probabilities, line for line
  EXPECT_NE(app.output.find("of 12 images in folders named after a class"), std::string::npos) << app.output;
  // --evaluate --data on the same folder finds the accuracy the application prints.
  const auto evaluated = t::run_command(runner + " --evaluate 1 --db results/app.db --data data --format json");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.output;
  const auto accuracy_at = evaluated.output.find("\"accuracy\": ");
  ASSERT_NE(accuracy_at, std::string::npos) << evaluated.output;
  char expected[64];
  std::snprintf(expected, sizeof expected, "accuracy %.2f%% (",
                100.0 * std::stod(evaluated.output.substr(accuracy_at + 12)));
  EXPECT_NE(app.output.find(expected), std::string::npos) << expected << "\n" << app.output;

  const auto missing = t::run_command("cd " + t::shell_quote(work.string()) + " && " +
                                      t::shell_quote((project / "build/predict_app").string()) + " nowhere.typkg data");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("model package 'nowhere.typkg' cannot be opened"), std::string::npos) << missing.output;
}
