// Experiment files: parsing, overrides, validation against the framework's and the plugins'
// schemas, and the resolved configuration.
#include <gtest/gtest.h>

#include <trainyard/errors.h>
#include <trainyard/config/experiment_config.h>

#include "test_support.h"
#include "trainyard/plugin/plugin_registry.h"

using trainyard::ConfigError;
using trainyard::ExperimentDocument;
using trainyard::Override;
using trainyard::testing::build_registry;

namespace {

const char* kValid = R"(name: unit
seed: 7
device: cpu
model:     {plugin: resnet50}
dataset:   {plugin: imagefolder, root: data/x, image_size: 64}
optimizer: {plugin: adam, lr: 1.0e-3}
train:     {epochs: 2, batch_size: 4}
output:    {db: out.db, checkpoints: ckpt}
)";

// The message of the ConfigError `yaml` (with `overrides`) raises; fails the test if none.
std::string error_of(const std::string& yaml, const std::vector<Override>& overrides = {}) {
  try {
    ExperimentDocument::parse(yaml, "exp.yaml", overrides).resolve(build_registry());
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for:\n" << yaml;
  return "";
}

}  // namespace

TEST(ExperimentConfig, ValidFileResolvesWithDefaults) {
  const auto config = ExperimentDocument::parse(kValid, "exp.yaml").resolve(build_registry());
  EXPECT_EQ(config.name, "unit");
  EXPECT_EQ(config.seed, 7);
  EXPECT_EQ(config.device, "cpu");
  EXPECT_EQ(config.model.plugin, "resnet50");
  EXPECT_EQ(config.dataset.params.get_string("root"), "data/x");
  EXPECT_EQ(config.dataset.params.get_int("image_size"), 64);
  EXPECT_DOUBLE_EQ(config.dataset.params.get_float("train_fraction"), 0.8);  // default
  EXPECT_DOUBLE_EQ(config.optimizer.params.get_float("lr"), 1e-3);
  EXPECT_DOUBLE_EQ(config.optimizer.params.get_float("beta2"), 0.999);  // default
  EXPECT_EQ(config.train.epochs, 2);
  EXPECT_EQ(config.train.prefetch_batches, 4);  // default
  EXPECT_EQ(config.output.db, "out.db");
}

TEST(ExperimentConfig, ResolvedYamlIsItselfAnEquivalentExperiment) {
  const auto config = ExperimentDocument::parse(kValid, "exp.yaml").resolve(build_registry());
  const std::string yaml = config.to_yaml();
  EXPECT_NE(yaml.find("beta1: 0.9"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("lr: 0.001"), std::string::npos) << yaml;
  const auto again = ExperimentDocument::parse(yaml, "resolved.yaml").resolve(build_registry());
  EXPECT_EQ(again.to_yaml(), yaml);
}

// Each framework key's default is declared in its table (framework_keys.cpp); the settings
// structs must start from the same values, or a config built in code would differ from a file.
TEST(ExperimentConfig, SettingsStructsStartFromTheTablesDefaults) {
  const auto config = ExperimentDocument::parse(R"(name: defaults
model:     {plugin: resnet50}
dataset:   {plugin: imagefolder, root: data/x}
optimizer: {plugin: adam}
)",
                                                "defaults.yaml")
                          .resolve(build_registry());
  trainyard::ExperimentConfig from_structs = config;
  from_structs.train = {};
  from_structs.schedule = {};
  from_structs.distributed = {};
  from_structs.output = {};
  EXPECT_EQ(config.to_yaml(), from_structs.to_yaml());
  // And every key of the tables is in the resolved file, in the table's order.
  const std::string yaml = config.to_yaml();
  std::size_t at = yaml.find("train:");
  ASSERT_NE(at, std::string::npos);
  for (const auto& spec : trainyard::train_schema()) {
    const auto next = yaml.find("  " + spec.name + ":", at);
    EXPECT_NE(next, std::string::npos) << spec.name;
    if (next != std::string::npos) at = next;
  }
}

TEST(ExperimentConfig, UnknownKeySuggestsNearestWithLineAndColumn) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("lr: 1.0e-3"), 10, "lrr: 1.0e-3");
  const std::string message = error_of(yaml);
  EXPECT_NE(message.find("exp.yaml:6:"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'optimizer.lrr'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'optimizer.lr'"), std::string::npos) << message;
}

TEST(ExperimentConfig, UnknownTopLevelKeySuggests) {
  const std::string message = error_of(std::string(kValid) + "epoch: 3\n");
  EXPECT_NE(message.find("exp.yaml:9:1: unknown key 'epoch'"), std::string::npos) << message;
}

TEST(ExperimentConfig, UnknownTrainKeySuggests) {
  const std::string message = error_of(kValid, {{"train.batchsize", "3"}});
  EXPECT_NE(message.find("--set train.batchsize"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'train.batch_size'"), std::string::npos) << message;
}

TEST(ExperimentConfig, WrongTypeNamesKeyLineAndAcceptedValues) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("batch_size: 4"), 13, "batch_size: four");
  const std::string message = error_of(yaml);
  EXPECT_NE(message.find("exp.yaml:7:"), std::string::npos) << message;
  EXPECT_NE(message.find("train.batch_size: expected an integer, got 'four'"), std::string::npos) << message;
  EXPECT_NE(message.find("accepted: an integer >= 1"), std::string::npos) << message;
}

TEST(ExperimentConfig, OutOfRangeValueIsRejected) {
  const std::string message = error_of(kValid, {{"dataset.train_fraction", "1.5"}});
  EXPECT_NE(message.find("dataset.train_fraction: 1.5 is out of range"), std::string::npos) << message;
  EXPECT_NE(message.find("a number > 0 and < 1"), std::string::npos) << message;
}

// Issue 16: 4294967296 batches of prefetch narrowed to 0 where it was used, and the run waited
// forever for a batch. Every integer key of the framework now has an upper bound too.
TEST(ExperimentConfig, IntegersBeyondWhatTheirUseTakesAreRejected) {
  const std::string message = error_of(kValid, {{"train.prefetch_batches", "4294967296"},
                                                {"train.loader_threads", "100000"},
                                                {"distributed.timeout_seconds", "99999999999"}});
  EXPECT_NE(message.find("(3 problems)"), std::string::npos) << message;
  EXPECT_NE(message.find("--set train.prefetch_batches: train.prefetch_batches: 4294967296 is out of range"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("an integer >= 1 and <= 1024"), std::string::npos) << message;
  for (const auto& section :
       {trainyard::train_schema(), trainyard::schedule_schema(), trainyard::distributed_schema()}) {
    for (const auto& spec : section) {
      if (spec.type == trainyard::ParamType::kInt) {
        EXPECT_TRUE(spec.max.has_value()) << spec.name << " has no upper bound";
      }
    }
  }
}

TEST(ExperimentConfig, NegativeLearningRateIsRejected) {
  const std::string message = error_of(kValid, {{"optimizer.lr", "-1"}});
  EXPECT_NE(message.find("optimizer.lr: -1 is out of range"), std::string::npos) << message;
}

TEST(ExperimentConfig, ChoiceSuggestsNearest) {
  const std::string message = error_of(kValid, {{"dataset.on_bad_image", "skp"}});
  EXPECT_NE(message.find("did you mean 'skip'"), std::string::npos) << message;
}

TEST(ExperimentConfig, BadDeviceIsRejected) {
  const std::string message = error_of(kValid, {{"device", "gpu"}});
  EXPECT_NE(message.find("device: 'gpu' is not a device"), std::string::npos) << message;
}

TEST(ExperimentConfig, MissingRequiredPluginParameter) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("root: data/x, "), 14, "");
  const std::string message = error_of(yaml);
  EXPECT_NE(message.find("missing required key 'dataset.root'"), std::string::npos) << message;
}

TEST(ExperimentConfig, UnknownPluginListsKnownOnes) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("plugin: adam"), 12, "plugin: adma");
  const std::string message = error_of(yaml);
  EXPECT_NE(message.find("Didn't find a registered implementation for optimizer plugin name: 'adma'"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("Did you mean 'adam'?"), std::string::npos) << message;
  EXPECT_NE(message.find("Known optimizer plugins: adam"), std::string::npos) << message;
}

TEST(ExperimentConfig, MissingSectionIsReported) {
  std::string yaml = kValid;
  yaml.erase(yaml.find("model:"), yaml.find("dataset:") - yaml.find("model:"));
  const std::string message = error_of(yaml);
  EXPECT_NE(message.find("missing section 'model'"), std::string::npos) << message;
}

TEST(ExperimentConfig, EveryProblemIsReportedAtOnce) {
  const std::string message = error_of(kValid, {{"train.epochs", "0"}, {"optimizer.eps", "x"}});
  EXPECT_NE(message.find("(2 problems)"), std::string::npos) << message;
}

TEST(ExperimentConfig, MalformedYamlGivesLineAndColumn) {
  try {
    ExperimentDocument::parse("name: x\nmodel: {plugin: resnet50\n", "broken.yaml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("broken.yaml:"), std::string::npos) << message;
    EXPECT_NE(message.find("malformed YAML"), std::string::npos) << message;
  }
}

// Issue 16: yaml-cpp answers a lookup with the first of two equal keys, so the second value was
// dropped without a word.
TEST(ExperimentConfig, DuplicateKeysAreRejectedWithBothLines) {
  const std::string yaml = std::string(kValid) + "seed: 8\noptimizer: {plugin: adam, lr: 1.0e-3, lr: 1.0e-4}\n";
  try {
    ExperimentDocument::parse(yaml, "exp.yaml");
    FAIL() << "duplicate keys were accepted";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("(3 problems)"), std::string::npos) << message;
    EXPECT_NE(message.find("exp.yaml:9:1: duplicate key 'seed' (first given at exp.yaml:2:1)"), std::string::npos)
        << message;
    EXPECT_NE(message.find("exp.yaml:10:1: duplicate key 'optimizer' (first given at exp.yaml:6:1)"), std::string::npos)
        << message;
    EXPECT_NE(message.find("exp.yaml:10:39: duplicate key 'optimizer.lr' (first given at exp.yaml:10:27)"),
              std::string::npos)
        << message;
  }
}

TEST(ExperimentConfig, NonMappingDocumentIsRejected) {
  EXPECT_THROW(ExperimentDocument::parse("- a\n- b\n", "list.yaml"), ConfigError);
}

TEST(ExperimentConfig, MissingFileIsNamed) {
  try {
    ExperimentDocument::load("/nonexistent/exp.yaml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'/nonexistent/exp.yaml' does not exist"), std::string::npos);
  }
}

TEST(ExperimentConfig, OverridesReplaceValuesAndAreValidated) {
  const auto config = ExperimentDocument::parse(kValid, "exp.yaml", {{"optimizer.lr", "5e-4"}, {"train.epochs", "1"}})
                          .resolve(build_registry());
  EXPECT_DOUBLE_EQ(config.optimizer.params.get_float("lr"), 5e-4);
  EXPECT_EQ(config.train.epochs, 1);
}

TEST(ExperimentConfig, OverrideCanCreateASection) {
  std::string yaml = kValid;
  yaml.erase(yaml.find("train:"), yaml.find("output:") - yaml.find("train:"));
  const auto config = ExperimentDocument::parse(yaml, "exp.yaml", {{"train.epochs", "3"}}).resolve(build_registry());
  EXPECT_EQ(config.train.epochs, 3);
  EXPECT_EQ(config.train.batch_size, 10);
}

TEST(ExperimentConfig, OverrideSyntaxIsChecked) {
  EXPECT_THROW(trainyard::parse_override("no-equals-sign"), ConfigError);
  EXPECT_THROW(trainyard::parse_override("=value"), ConfigError);
  const auto o = trainyard::parse_override("dataset.root=a=b");
  EXPECT_EQ(o.key, "dataset.root");
  EXPECT_EQ(o.value, "a=b");
  EXPECT_THROW(ExperimentDocument::parse(kValid, "exp.yaml", {{"seed.x", "1"}}), ConfigError);
}

TEST(ExperimentConfig, NameDefaultsToFileStem) {
  std::string yaml = kValid;
  yaml.erase(0, yaml.find('\n') + 1);
  const auto config = ExperimentDocument::parse(yaml, "dir/my_exp.yaml").resolve(build_registry());
  EXPECT_EQ(config.name, "my_exp");
  // An empty name is the stem too, and the document keeps what it was given.
  const auto document = ExperimentDocument::parse(yaml, "dir/my_exp.yaml", {{"name", "''"}});
  EXPECT_EQ(document.resolve(build_registry()).name, "my_exp");
}

TEST(ExperimentConfig, StringsThatLookLikeNumbersStayQuoted) {
  const auto config =
      ExperimentDocument::parse(kValid, "exp.yaml", {{"dataset.root", "'123'"}}).resolve(build_registry());
  EXPECT_EQ(config.dataset.params.get_string("root"), "123");
  const auto again = ExperimentDocument::parse(config.to_yaml(), "r.yaml").resolve(build_registry());
  EXPECT_EQ(again.dataset.params.get_string("root"), "123");
}

// plugin_paths entries resolved against the folder the runner was started in, so the same
// experiment loaded other libraries (or none) from elsewhere; now against the file's own folder.
TEST(ExperimentConfig, RelativePluginPathsResolveAgainstTheExperimentFile) {
  trainyard::testing::TempDir dir;
  std::filesystem::create_directories(dir / "experiments");
  trainyard::testing::write_file(dir / "experiments" / "exp.yaml", "plugin_paths: [my_plugins, /opt/abs]\n");
  const auto paths = ExperimentDocument::load(dir / "experiments" / "exp.yaml").plugin_paths();
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0], (std::filesystem::absolute(dir / "experiments") / "my_plugins").lexically_normal());
  EXPECT_EQ(paths[1], std::filesystem::path("/opt/abs"));
  // Text with no file (a run's stored configuration) keeps its entries as they are.
  EXPECT_EQ(ExperimentDocument::parse("plugin_paths: [p]\n", "stored").plugin_paths()[0], std::filesystem::path("p"));
}
