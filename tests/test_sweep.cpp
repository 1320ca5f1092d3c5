// Sweep specs: parsing the YAML section and --sweep, expanding trials, validating all up front.
#include <gtest/gtest.h>

#include <set>

#include <trainyard/errors.h>
#include <trainyard/sweep/sweep.h>
#include <trainyard/sweep/sweep_runner.h>
#include <trainyard/system/memory.h>

#include "test_support.h"
#include "trainyard/plugin/plugin_registry.h"

using trainyard::ConfigError;
using trainyard::ExperimentDocument;
namespace t = trainyard::testing;

namespace {
const std::string kBase = R"(name: base
model:     {plugin: resnet50}
dataset:   {plugin: imagefolder, root: data}
optimizer: {plugin: adam}
)";

trainyard::SweepSpec spec_of(const std::string& sweep_yaml, const std::vector<std::string>& cli = {}) {
  return trainyard::parse_sweep(ExperimentDocument::parse(kBase + sweep_yaml, "s.yaml"), "base", cli);
}
}  // namespace

TEST(Sweep, GridExpandsToEveryCombinationInOrder) {
  const auto spec = spec_of(R"(sweep:
  grid:
    optimizer.lr: [1.0e-3, 1.0e-4]
    train.batch_size: [10, 32, 64]
)");
  EXPECT_EQ(spec.name, "base");
  const auto trials = trainyard::expand_sweep(spec);
  ASSERT_EQ(trials.size(), 6u);
  EXPECT_EQ(trials[0].key(), "optimizer.lr=1.0e-3 train.batch_size=10");
  EXPECT_EQ(trials[5].key(), "optimizer.lr=1.0e-4 train.batch_size=64");
}

TEST(Sweep, CommandLineAddsAndReplacesGridKeys) {
  const auto spec =
      spec_of("sweep: {grid: {optimizer.lr: [0.1, 0.2]}}\n", {"optimizer.lr=1e-3,1e-4,1e-5", "train.epochs=[1, 2]"});
  const auto trials = trainyard::expand_sweep(spec);
  ASSERT_EQ(trials.size(), 6u);
  EXPECT_EQ(trials[0].key(), "optimizer.lr=1e-3 train.epochs=1");
  EXPECT_EQ(trials[5].key(), "optimizer.lr=1e-5 train.epochs=2");
}

TEST(Sweep, RandomDrawsAreSeededAndInRange) {
  const std::string yaml = R"(sweep:
  name: rnd
  random:
    trials: 20
    seed: 7
    params:
      optimizer.lr: {loguniform: [1.0e-5, 1.0e-2]}
      optimizer.beta1: {uniform: [0.8, 0.9]}
      train.epochs: {int: [1, 3]}
      optimizer.amsgrad: {choice: [true, false]}
)";
  const auto a = trainyard::expand_sweep(spec_of(yaml));
  const auto b = trainyard::expand_sweep(spec_of(yaml));
  ASSERT_EQ(a.size(), 20u);
  // A rerun of a sweep matches its done trials by these keys: the draws of a seed never change.
  EXPECT_EQ(a[0].key(),
            "optimizer.lr=0.0018329723444596444 optimizer.beta1=0.8949301202892644 train.epochs=1 "
            "optimizer.amsgrad=true");
  EXPECT_EQ(a[2].key(),
            "optimizer.lr=5.9084587289196006e-05 optimizer.beta1=0.8717905684649003 train.epochs=2 "
            "optimizer.amsgrad=false");
  std::set<std::string> epochs, lrs;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key(), b[i].key());
    const double lr = std::stod(a[i].overrides[0].value);
    EXPECT_GE(lr, 1e-5);
    EXPECT_LE(lr, 1e-2);
    const double beta1 = std::stod(a[i].overrides[1].value);
    EXPECT_GE(beta1, 0.8);
    EXPECT_LE(beta1, 0.9);
    epochs.insert(a[i].overrides[2].value);
    lrs.insert(a[i].overrides[0].value);
  }
  EXPECT_EQ(epochs, (std::set<std::string>{"1", "2", "3"}));
  EXPECT_EQ(lrs.size(), 20u);
  std::string other_seed = yaml;
  other_seed.replace(other_seed.find("seed: 7"), 7, "seed: 8");
  EXPECT_NE(trainyard::expand_sweep(spec_of(other_seed))[0].key(), a[0].key());
}

TEST(Sweep, GridAndRandomCombine) {
  const auto trials = trainyard::expand_sweep(spec_of(R"(sweep:
  grid: {train.batch_size: [10, 32]}
  random: {trials: 3, params: {optimizer.lr: {uniform: [0.001, 0.002]}}}
)"));
  EXPECT_EQ(trials.size(), 6u);
}

TEST(Sweep, MalformedSpecsNameTheKey) {
  auto message = [](const std::string& yaml) {
    try {
      spec_of(yaml);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("sweep: {grdi: {a: [1]}}\n").find("did you mean 'sweep.grid'"), std::string::npos);
  EXPECT_NE(message("sweep: {grid: {a: [1]}, prunr: {kind: asha}}\n").find("did you mean 'sweep.pruner'"),
            std::string::npos);
  EXPECT_NE(message("sweep: {tpe: {trials: 2, parms: {x: {int: [1, 2]}}}}\n").find("did you mean 'sweep.tpe.params'"),
            std::string::npos);
  EXPECT_NE(message("sweep: {grid: {optimizer.lr: []}}\n").find("non-empty list"), std::string::npos);
  EXPECT_NE(
      message("sweep: {random: {trials: 2, params: {x: {logunifrom: [1, 2]}}}}\n").find("did you mean 'loguniform'"),
      std::string::npos);
  EXPECT_NE(message("sweep: {random: {trials: 2, params: {x: {loguniform: [0, 2]}}}}\n").find("low > 0"),
            std::string::npos);
  EXPECT_NE(message("sweep: {random: {trials: 0, params: {x: {int: [1, 2]}}}}\n").find("trials"), std::string::npos);
  EXPECT_NE(message("sweep:\n  jobs: -1\n").find("s.yaml:6:"), std::string::npos);
}

// Every mistake of a sweep section in one message, as for the rest of an experiment (the sweep's
// own validator used to stop at the first).
TEST(Sweep, EveryProblemOfTheSectionIsReportedAtOnce) {
  try {
    spec_of(R"(sweep:
  jobs: -1
  grid: {optimizer.lr: 3}
  random: {trials: 2, seed: -1, params: {x: {uniform: [2, 1]}, y: {gauss: [0, 1]}}}
  extra: 1
)");
    FAIL() << "a malformed sweep was accepted";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("(6 problems)"), std::string::npos) << message;
    for (const char* part :
         {"s.yaml:6:9: sweep.jobs: -1 is out of range", "sweep.grid.optimizer.lr: expected a non-empty list",
          "sweep.random.seed: -1 is out of range", "sweep.random.params.x: low is above high",
          "unknown distribution 'gauss'", "unknown key 'sweep.extra'"}) {
      EXPECT_NE(message.find(part), std::string::npos) << part << "\n" << message;
    }
  }
  const auto described = trainyard::sweep_schema();
  ASSERT_EQ(described.size(), 2u);
  EXPECT_EQ(described[1].name, "jobs");
}

TEST(Sweep, OneBadTrialFailsValidationBeforeAnythingRuns) {
  const auto doc = ExperimentDocument::parse(kBase + "sweep: {grid: {optimizer.lr: [1.0e-3, -1, 1.0e-4]}}\n", "s.yaml");
  const auto trials = trainyard::expand_sweep(trainyard::parse_sweep(doc, "base", {}));
  try {
    trainyard::validate_trials(doc, trials, t::build_registry());
    FAIL() << "a negative learning rate passed";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("sweep trial 2 of 3 (optimizer.lr=-1)"), std::string::npos) << message;
    EXPECT_NE(message.find("optimizer.lr: -1 is out of range"), std::string::npos) << message;
    EXPECT_NE(message.find("1 of 3 sweep trials are invalid"), std::string::npos) << message;
  }
  // Every invalid trial is named, not only the first.
  const auto two_bad = ExperimentDocument::parse(kBase + "sweep: {grid: {optimizer.lr: [-1, 1.0e-3, -2]}}\n", "s.yaml");
  try {
    trainyard::validate_trials(two_bad, trainyard::expand_sweep(trainyard::parse_sweep(two_bad, "base", {})),
                               t::build_registry());
    FAIL() << "negative learning rates passed";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("2 of 3 sweep trials are invalid"), std::string::npos) << message;
    EXPECT_NE(message.find("sweep trial 1 of 3 (optimizer.lr=-1)"), std::string::npos) << message;
    EXPECT_NE(message.find("sweep trial 3 of 3 (optimizer.lr=-2)"), std::string::npos) << message;
  }
  const auto good = ExperimentDocument::parse(kBase + "sweep: {grid: {optimizer.plugin: [adam]}}\n", "s.yaml");
  const auto configs = trainyard::validate_trials(
      good, trainyard::expand_sweep(trainyard::parse_sweep(good, "base", {})), t::build_registry());
  ASSERT_EQ(configs.size(), 1u);
  EXPECT_EQ(configs[0].optimizer.plugin, "adam");
}

// jobs 0, the default: the cores filled one trial each as far as the memory holds them, and one
// at a time where a trial's place in the order changes the sweep.
TEST(SweepJobs, AutoFillsTheCoresAsFarAsTheMemoryHolds) {
  using trainyard::choose_jobs;
  const trainyard::SweepSpec grid = spec_of("sweep: {grid: {optimizer.lr: [1.0e-3, 1.0e-4]}}\n");
  EXPECT_EQ(grid.jobs, trainyard::kJobsAuto);
  EXPECT_EQ(choose_jobs(grid, 0, 2, 0, 24000.0, 4096).jobs, 2);       // cores bound it
  EXPECT_EQ(choose_jobs(grid, 0, 16, 0, 24000.0, 4096).jobs, 4);      // 0.8 * 24000 / 4096 = 4.7
  EXPECT_EQ(choose_jobs(grid, 0, 16, 0, 24000.0, 30000).jobs, 1);     // never fewer than one
  EXPECT_EQ(choose_jobs(grid, 0, 16, 0, std::nullopt, 100).jobs, 1);  // memory not known
  EXPECT_EQ(choose_jobs(grid, 0, 16, 2, 24000.0, 4096).jobs, 2);      // one per GPU
  EXPECT_EQ(choose_jobs(grid, 3, 16, 0, 100.0, 4096).jobs, 3);        // a number given is kept
  EXPECT_NE(choose_jobs(grid, 0, 2, 0, 24000.0, 4096).reason.find("2 cores, 23.4 GiB available, 4.0 GiB per trial"),
            std::string::npos);

  const auto tpe = spec_of("sweep: {tpe: {trials: 4, params: {optimizer.lr: {loguniform: [1.0e-4, 1.0e-2]}}}}\n");
  const auto pruned = spec_of("sweep: {grid: {optimizer.lr: [1.0e-3, 1.0e-4]}, pruner: {kind: asha}}\n");
  for (const auto& ordered : {tpe, pruned}) {
    const auto choice = choose_jobs(ordered, 0, 16, 0, 24000.0, 100);
    EXPECT_EQ(choice.jobs, 1);
    EXPECT_NE(choice.reason.find("reproducible"), std::string::npos) << choice.reason;
    EXPECT_EQ(choose_jobs(ordered, 2, 16, 0, 24000.0, 100).jobs, 2);
  }
}

TEST(SweepJobs, MemoryAvailableIsReadFromMeminfo) {
  EXPECT_EQ(trainyard::parse_mem_available_mib("MemTotal:  2048 kB\nMemFree: 10 kB\nMemAvailable:    1536 kB\n"), 1.5);
  EXPECT_EQ(trainyard::parse_mem_available_mib("MemTotal:  2048 kB\n"), std::nullopt);
  EXPECT_EQ(trainyard::parse_mem_available_mib("MemAvailable: lots\n"), std::nullopt);
  const auto here = trainyard::available_memory_mib();
  ASSERT_TRUE(here.has_value());
  EXPECT_GT(*here, 0.0);
}
