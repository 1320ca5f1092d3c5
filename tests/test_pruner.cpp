// Pruning a sweep's trials (sweep.pruner): the median and ASHA rules on given figures, the
// trial's callback, and the section's keys. Whole pruned sweeps are in test_sweep_end_to_end.cpp,
// the store's side (the 'pruned' status, the other trials' figures) in test_results_store.cpp.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "trainyard/config/experiment_config.h"
#include "trainyard/errors.h"
#include "trainyard/sweep/pruner.h"
#include "trainyard/sweep/sweep.h"

using namespace trainyard;

namespace {

PrunerSpec median(std::int64_t warmup_epochs = 1, std::int64_t min_trials = 3) {
  PrunerSpec p;
  p.kind = "median";
  p.warmup_epochs = warmup_epochs;
  p.min_trials = min_trials;
  return p;
}

PrunerSpec asha(std::int64_t min_epochs = 1, std::int64_t reduction = 3) {
  PrunerSpec p;
  p.kind = "asha";
  p.min_epochs = min_epochs;
  p.reduction = reduction;
  return p;
}

TEST(MedianPruner, PrunesBelowTheMedianOfTheOthersAndSaysWhy) {
  const std::vector<double> others{0.6, 0.9, 0.7, 0.8};  // median 0.75
  EXPECT_EQ(prune_decision(median(), 2, 0.71, others, "val_accuracy"),
            "pruned at epoch 2: val_accuracy 0.7100 < median 0.7500 of 4 other trials");
  EXPECT_EQ(prune_decision(median(), 2, 0.75, others, "val_accuracy"), std::nullopt);  // at the median: goes on
  EXPECT_EQ(prune_decision(median(), 2, 0.5, {0.6, 0.9, 0.7}, "test_accuracy"),
            "pruned at epoch 2: test_accuracy 0.5000 < median 0.7000 of 3 other trials");
}

TEST(MedianPruner, WaitsForItsWarmUpAndForEnoughOtherTrials) {
  EXPECT_EQ(prune_decision(median(1, 3), 1, 0.1, {0.9, 0.9, 0.9}, "val_accuracy"), std::nullopt);  // warm-up
  EXPECT_EQ(prune_decision(median(1, 3), 2, 0.1, {0.9, 0.9}, "val_accuracy"), std::nullopt);       // 2 of 3
  EXPECT_NE(prune_decision(median(1, 3), 2, 0.1, {0.9, 0.9, 0.9}, "val_accuracy"), std::nullopt);
  EXPECT_NE(prune_decision(median(0, 1), 1, 0.1, {0.9}, "val_accuracy"), std::nullopt);
}

TEST(AshaPruner, DecidesOnlyAtRungsAndKeepsTheTopOfEach) {
  const PrunerSpec p = asha(1, 3);  // rungs at epochs 1, 3, 9
  const std::vector<double> five_others{0.9, 0.8, 0.7, 0.6, 0.5};
  // Six at rung 0: the top 6/3 = 2 go on, so 0.8 is needed.
  EXPECT_EQ(prune_decision(p, 1, 0.85, five_others, "val_accuracy"), std::nullopt);
  EXPECT_EQ(prune_decision(p, 1, 0.75, five_others, "val_accuracy"),
            "pruned at epoch 1 (asha rung 0): val_accuracy 0.7500 is not in the top 2 of 6 trials at the rung "
            "(needs 0.8000)");
  EXPECT_EQ(prune_decision(p, 2, 0.1, five_others, "val_accuracy"), std::nullopt);  // no rung
  EXPECT_NE(prune_decision(p, 3, 0.1, five_others, "val_accuracy"), std::nullopt);  // rung 1
  EXPECT_EQ(prune_decision(p, 4, 0.1, five_others, "val_accuracy"), std::nullopt);
  EXPECT_NE(prune_decision(p, 9, 0.1, five_others, "val_accuracy"), std::nullopt);  // rung 2
}

TEST(AshaPruner, WhileFewerThanTheReductionHaveReachedARungOnlyTheBestGoesOn) {
  const PrunerSpec p = asha(2, 3);                                          // rungs at epochs 2, 6, 18
  EXPECT_EQ(prune_decision(p, 2, 0.5, {}, "test_accuracy"), std::nullopt);  // the first trial there
  EXPECT_EQ(prune_decision(p, 2, 0.7, {0.6}, "test_accuracy"), std::nullopt);
  EXPECT_NE(prune_decision(p, 2, 0.5, {0.6}, "test_accuracy"), std::nullopt);
  EXPECT_EQ(prune_decision(p, 1, 0.0, {0.6}, "test_accuracy"), std::nullopt);  // before the first rung
}

TEST(NoPruner, NeverPrunes) { EXPECT_EQ(prune_decision(PrunerSpec{}, 5, 0.0, {1.0, 1.0, 1.0}, "x"), std::nullopt); }

class FixedPeers final : public SweepPeers {
 public:
  explicit FixedPeers(std::vector<double> values) : values_(std::move(values)) {}
  std::vector<double> accuracies_at(std::int64_t) const override { return values_; }

 private:
  std::vector<double> values_;
};

TEST(TrialPrunerCallback, EndsTheRunPrunedOnTheSelectionSplitButNeverAtItsLastEpoch) {
  TrialPruner pruner(median(0, 1), std::make_unique<FixedPeers>(std::vector<double>{0.9}));
  EpochRecord record;
  record.epoch = 2;
  record.test_accuracy = 0.95;  // above the others on test, below them on validation
  record.val_accuracy = 0.5;
  EpochEnd on_val(record, 4, SelectionSplit::kVal);
  pruner.on_epoch_end(on_val);
  EXPECT_TRUE(on_val.stop);
  EXPECT_TRUE(on_val.pruned);
  EXPECT_EQ(on_val.stop_reason, "pruned at epoch 2: val_accuracy 0.5000 < median 0.9000 of 1 other trial");
  EpochEnd on_test(record, 4, SelectionSplit::kTest);
  pruner.on_epoch_end(on_test);
  EXPECT_FALSE(on_test.stop);
  EpochEnd last(record, 2, SelectionSplit::kVal);  // epoch 2 of 2: it has finished
  pruner.on_epoch_end(last);
  EXPECT_FALSE(last.stop);
}

const std::string kBase = R"(name: base
model:     {plugin: resnet50}
dataset:   {plugin: imagefolder, root: data}
optimizer: {plugin: adam}
)";

SweepSpec spec_of(const std::string& sweep_yaml) {
  return parse_sweep(ExperimentDocument::parse(kBase + sweep_yaml, "s.yaml"), "base", {});
}

std::string spec_error(const std::string& sweep_yaml) {
  try {
    spec_of(sweep_yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for " << sweep_yaml;
  return "";
}

TEST(PrunerKeys, ReadStoredAndReadBack) {
  const SweepSpec spec = spec_of("sweep:\n  grid: {optimizer.lr: [0.1, 0.01]}\n  pruner: {kind: asha, reduction: 2}\n");
  EXPECT_EQ(spec.pruner.kind, "asha");
  EXPECT_EQ(spec.pruner.reduction, 2);
  EXPECT_EQ(spec.pruner.min_epochs, 1);
  const SweepSpec stored = parse_stored_sweep(spec.to_yaml());  // what a trial's process reads
  EXPECT_EQ(stored.pruner.kind, "asha");
  EXPECT_EQ(stored.pruner.reduction, 2);
  EXPECT_EQ(stored.to_yaml(), spec.to_yaml());
  EXPECT_FALSE(spec_of("sweep:\n  grid: {optimizer.lr: [0.1]}\n").pruner.enabled());
  EXPECT_EQ(spec_of("sweep:\n  grid: {optimizer.lr: [0.1]}\n").to_yaml().find("pruner"), std::string::npos);
}

TEST(PrunerKeys, MistakesNameTheKeyAndWhatIsAccepted) {
  const std::string kind = spec_error("sweep:\n  grid: {a: [1]}\n  pruner: {kind: medain}\n");
  EXPECT_NE(kind.find("sweep.pruner.kind"), std::string::npos) << kind;
  EXPECT_NE(kind.find("median"), std::string::npos) << kind;
  const std::string unknown = spec_error("sweep:\n  grid: {a: [1]}\n  pruner:\n    kind: median\n    min_trails: 2\n");
  EXPECT_NE(unknown.find("s.yaml:9:5: unknown key 'sweep.pruner.min_trails' (did you mean 'sweep.pruner.min_trials'?)"),
            std::string::npos)
      << unknown;
  const std::string other_kind = spec_error("sweep:\n  grid: {a: [1]}\n  pruner: {kind: median, reduction: 2}\n");
  EXPECT_NE(other_kind.find("sweep.pruner.reduction applies to kind asha, not median"), std::string::npos)
      << other_kind;
  const std::string scalar = spec_error("sweep:\n  grid: {a: [1]}\n  pruner: median\n");
  EXPECT_NE(scalar.find("sweep.pruner: expected a mapping such as {kind: median}"), std::string::npos) << scalar;
}

}  // namespace
