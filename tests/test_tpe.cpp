// The TPE sampler on given histories (sweep.tpe): its start-up draws, that it learns where the
// good trials are on each kind of parameter, how it ranks pruned trials, that it does not repeat a
// point, and that a seed and a history give one suggestion. Whole TPE sweeps are in
// test_sweep_end_to_end.cpp.
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "trainyard/config/experiment_config.h"
#include "trainyard/errors.h"
#include "trainyard/sweep/sweep.h"
#include "trainyard/sweep/tpe.h"
#include "tpe_trials.h"

using namespace trainyard;

namespace {

RandomParameter numeric(const std::string& key, const std::string& distribution, double low, double high) {
  RandomParameter p;
  p.key = key;
  p.distribution = distribution;
  p.low = low;
  p.high = high;
  return p;
}

RandomParameter choice(const std::string& key, std::vector<std::string> choices) {
  RandomParameter p;
  p.key = key;
  p.distribution = "choice";
  p.choices = std::move(choices);
  return p;
}

// Runs a sequential search of `trials` trials on `objective` (higher is better) and returns every
// point's value of parameter 0, in order.
template <typename Objective>
std::vector<std::string> search(const std::vector<RandomParameter>& space, int trials, std::uint64_t seed,
                                Objective objective, std::vector<double>* accuracies = nullptr) {
  std::vector<TpeObservation> history;
  std::vector<std::vector<std::string>> tried;
  std::vector<std::string> firsts;
  for (int n = 0; n < trials; ++n) {
    const auto point = tpe_suggest(space, history, tried, TpeSettings{}, seed, n);
    EXPECT_EQ(point.size(), space.size());
    TpeObservation o;
    o.values = point;
    o.accuracy = objective(point);
    history.push_back(o);
    tried.push_back(point);
    firsts.push_back(point[0]);
    if (accuracies) accuracies->push_back(o.accuracy);
  }
  return firsts;
}

double near_point_three(const std::vector<std::string>& point) { return 1.0 - std::abs(std::stod(point[0]) - 0.3); }

TEST(Tpe, StartUpTrialsAreSeededRandomDrawsWithinTheRange) {
  const std::vector<RandomParameter> space{numeric("optimizer.lr", "loguniform", 1e-5, 1e-1),
                                           numeric("train.batch_size", "int", 4, 64)};
  const auto a = tpe_suggest(space, {}, {}, TpeSettings{}, 7, 0);
  EXPECT_EQ(a, tpe_suggest(space, {}, {}, TpeSettings{}, 7, 0));  // a seed and a number: one point
  EXPECT_NE(a, tpe_suggest(space, {}, {}, TpeSettings{}, 7, 1));
  EXPECT_NE(a, tpe_suggest(space, {}, {}, TpeSettings{}, 8, 0));
  for (int n = 0; n < 50; ++n) {
    const auto p = tpe_suggest(space, {}, {}, TpeSettings{}, 3, n);
    EXPECT_GE(std::stod(p[0]), 1e-5);
    EXPECT_LE(std::stod(p[0]), 1e-1);
    const int batch = std::stoi(p[1]);
    EXPECT_EQ(p[1], std::to_string(batch));
    EXPECT_GE(batch, 4);
    EXPECT_LE(batch, 64);
  }
}

// The mean over seeds 1 to 10 of how far the last 10 of 40 trials are from the optimum. On the
// same objectives and seeds (tools/benchmark/tpe_reference.py) Optuna 3.1's TPESampler comes to
// 0.104, 0.53 decades and 13.5 (it exploits harder: see tpe.h), this one to 0.109, 0.75 and 14.2;
// random search to about 0.29, 1.5 decades and 26.
template <typename Objective, typename Distance>
double mean_distance_of_last_ten(const std::vector<RandomParameter>& space, Objective objective, Distance distance) {
  double total = 0;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    const auto xs = search(space, 40, seed, objective);
    for (int i = 30; i < 40; ++i) total += distance(xs[i]) / 100;
  }
  return total;
}

TEST(Tpe, ConcentratesNearTheBestOfAUniformParameter) {
  const double d = mean_distance_of_last_ten({numeric("x", "uniform", 0.0, 1.0)}, near_point_three,
                                             [](const std::string& x) { return std::abs(std::stod(x) - 0.3); });
  EXPECT_LT(d, 0.15);
}

TEST(Tpe, LearnsOnALogScaleAndOnIntegers) {
  auto decades = [](const std::string& x) { return std::abs(std::log10(std::stod(x)) + 3.0); };
  const double d = mean_distance_of_last_ten(
      {numeric("lr", "loguniform", 1e-6, 1.0)}, [&](const auto& p) { return -decades(p[0]); }, decades);
  EXPECT_LT(d, 0.8);
  auto off = [](const std::string& x) { return std::abs(std::stoi(x) - 70.0); };
  const double w = mean_distance_of_last_ten(
      {numeric("width", "int", 1, 100)}, [&](const auto& p) { return -off(p[0]); }, off);
  EXPECT_LT(w, 18.0);
  std::printf("mean distance from the optimum of trials 31-40: uniform %.3f, log %.3f decades, int %.1f\n",
              mean_distance_of_last_ten({numeric("x", "uniform", 0.0, 1.0)}, near_point_three,
                                        [](const std::string& x) { return std::abs(std::stod(x) - 0.3); }),
              d, w);
}

TEST(Tpe, PrefersTheChoiceOfTheBestTrials) {
  const std::vector<RandomParameter> space{choice("model.block", {"basic", "bottleneck", "wide"}),
                                           numeric("x", "uniform", 0.0, 1.0)};
  const auto blocks =
      search(space, 40, 11, [](const auto& p) { return (p[0] == "wide" ? 0.5 : 0.0) + std::stod(p[1]); });
  int wide = 0;
  for (int i = 20; i < 40; ++i) wide += blocks[i] == "wide";
  EXPECT_GE(wide, 14) << "of the last 20";
}

TEST(Tpe, RanksFinishedTrialsAbovePrunedOnesAndFurtherPrunedAboveSooner) {
  const std::vector<RandomParameter> space{choice("c", {"finished", "pruned_late", "pruned_early"})};
  std::vector<TpeObservation> history;
  for (int i = 0; i < 10; ++i) {
    // The pruned trials' accuracies are higher, but they were pruned: the finished ones are best.
    history.push_back({{"finished"}, 0.2, false, 4});
    history.push_back({{"pruned_late"}, 0.8, true, 3});
    history.push_back({{"pruned_early"}, 0.9, true, 1});
  }
  int finished = 0;
  for (int n = 30; n < 60; ++n) finished += tpe_suggest(space, history, {}, TpeSettings{}, 4, n)[0] == "finished";
  EXPECT_GE(finished, 25);
  // Without finished trials, the one pruned later is the better. (Not in the space above: TPE
  // favours a choice no trial has tried over one the best trials share with many others.)
  const std::vector<RandomParameter> pruned_space{choice("c", {"pruned_late", "pruned_early"})};
  std::vector<TpeObservation> pruned_only;
  for (const auto& o : history) {
    if (o.pruned) pruned_only.push_back(o);
  }
  int late = 0;
  for (int n = 20; n < 50; ++n)
    late += tpe_suggest(pruned_space, pruned_only, {}, TpeSettings{}, 4, n)[0] == "pruned_late";
  EXPECT_GE(late, 25);
}

TEST(Tpe, DoesNotRepeatATriedPointWhileAnotherIsLeft) {
  const std::vector<RandomParameter> space{numeric("a", "int", 1, 3), choice("b", {"x", "y"})};  // six points
  std::vector<TpeObservation> history;
  std::vector<std::vector<std::string>> tried;
  std::set<std::vector<std::string>> distinct;
  for (int n = 0; n < 6; ++n) {
    TpeSettings settings;
    settings.startup_trials = 2;
    const auto point = tpe_suggest(space, history, tried, settings, 9, n);
    distinct.insert(point);
    tried.push_back(point);
    history.push_back({point, std::stod(point[0]) / 3, false, 1});
  }
  EXPECT_EQ(distinct.size(), 6u);
}

TEST(Tpe, AHistoryAndASeedGiveOneSuggestion) {
  const std::vector<RandomParameter> space{numeric("x", "uniform", 0.0, 1.0), choice("c", {"a", "b"})};
  std::vector<TpeObservation> history;
  for (int i = 0; i < 12; ++i) history.push_back({{std::to_string(i / 12.0), i % 2 ? "a" : "b"}, i / 12.0, false, 2});
  const auto once = tpe_suggest(space, history, {}, TpeSettings{}, 21, 12);
  EXPECT_EQ(once, tpe_suggest(space, history, {}, TpeSettings{}, 21, 12));
  EXPECT_NE(once, tpe_suggest(space, history, {}, TpeSettings{}, 22, 12));
}

}  // namespace

namespace {

const std::string kBase = R"(name: base
model:     {plugin: resnet50}
dataset:   {plugin: imagefolder, root: data}
optimizer: {plugin: adam}
)";

SweepSpec spec_of(const std::string& sweep_yaml, const std::vector<std::string>& command_line = {}) {
  return parse_sweep(ExperimentDocument::parse(kBase + sweep_yaml, "s.yaml"), "base", command_line);
}

std::string spec_error(const std::string& sweep_yaml, const std::vector<std::string>& command_line = {}) {
  try {
    spec_of(sweep_yaml, command_line);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for " << sweep_yaml;
  return "";
}

const std::string kTpe = R"(sweep:
  tpe:
    trials: 6
    seed: 3
    startup_trials: 2
    params:
      optimizer.lr: {loguniform: [1.0e-5, 1.0e-1]}
      train.batch_size: {choice: [8, 16]}
)";

TEST(TpeKeys, ReadStoredAndExpandedToTheStartUpTrials) {
  const SweepSpec spec = spec_of(kTpe);
  ASSERT_TRUE(spec.tpe.enabled());
  EXPECT_EQ(spec.tpe.trials, 6);
  EXPECT_EQ(spec.tpe.seed, 3u);
  EXPECT_EQ(spec.tpe.startup_trials, 2);
  ASSERT_EQ(spec.tpe.params.size(), 2u);
  EXPECT_EQ(parse_stored_sweep(spec.to_yaml()).to_yaml(), spec.to_yaml());
  const auto trials = expand_sweep(spec);  // the rest are chosen as the sweep goes
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].overrides[0].key, "optimizer.lr");
  EXPECT_EQ(trials[0].overrides[1].key, "train.batch_size");
  EXPECT_NE(trials[0].key(), trials[1].key());
  EXPECT_EQ(expand_sweep(spec_of(kTpe))[1].key(), trials[1].key());
}

TEST(TpeKeys, MistakesNameTheKeyAndTpeStandsAlone) {
  const std::string typo = spec_error(
      "sweep:\n  tpe:\n    trials: 4\n    startup_trails: 2\n"
      "    params: {optimizer.lr: {uniform: [0.1, 0.2]}}\n");
  EXPECT_NE(typo.find("s.yaml:8:5: unknown key 'sweep.tpe.startup_trails' (did you mean 'sweep.tpe.startup_trials'?)"),
            std::string::npos)
      << typo;
  const std::string no_params = spec_error("sweep:\n  tpe: {trials: 4}\n");
  EXPECT_NE(no_params.find("sweep.tpe.params: expected KEY: {distribution: [...]}"), std::string::npos) << no_params;
  const std::string bad = spec_error("sweep:\n  tpe: {trials: 0, params: {x: {loguniform: [0, 1]}}}\n");
  EXPECT_NE(bad.find("sweep.tpe.trials"), std::string::npos) << bad;
  EXPECT_NE(bad.find("sweep.tpe.params.x: loguniform needs low > 0"), std::string::npos) << bad;
  const std::string with_grid = spec_error(kTpe + "  grid: {optimizer.beta1: [0.8, 0.9]}\n");
  EXPECT_NE(with_grid.find("sweep.tpe: give every swept key to tpe.params"), std::string::npos) << with_grid;
  const std::string with_command_line = spec_error(kTpe, {"optimizer.beta1=0.8,0.9"});
  EXPECT_NE(with_command_line.find("cannot be combined with sweep.grid, sweep.random or --sweep"), std::string::npos)
      << with_command_line;
}

}  // namespace

TEST(Tpe, ARangeOfOneValueTakesIt) {
  std::vector<TpeObservation> history;
  for (int i = 0; i < 12; ++i) history.push_back({{"0.5", std::to_string(i)}, i / 12.0, false, 1});
  const auto point =
      tpe_suggest({numeric("x", "uniform", 0.5, 0.5), numeric("w", "int", 0, 20)}, history, {}, TpeSettings{}, 1, 12);
  EXPECT_EQ(point[0], "0.5");
}

TEST(TpeTrials, ARerunOverANarrowerSpaceLearnsOnlyFromTheTrialsInsideIt) {
  TpeSpec tpe;
  tpe.trials = 20;
  tpe.startup_trials = 4;
  tpe.params = {numeric("optimizer.lr", "uniform", 0.0, 1.0), choice("model.block", {"a", "b"})};
  std::vector<SweepTrialRecord> records;
  std::vector<SweepTrial> known;
  auto add = [&](const std::string& lr, const std::string& block, double accuracy) {
    SweepTrialRecord r;
    r.overrides = {{"model.block", block}, {"optimizer.lr", lr}};
    r.status = RunStatus::kFinished;
    r.best_selection_accuracy = accuracy;
    r.epochs = 1;
    records.push_back(r);
    known.push_back(tpe_trial(tpe, {lr, block}));
  };
  for (int i = 0; i < 6; ++i) add(std::to_string(0.1 * i), "a", 0.5);
  add("7.5", "a", 0.9);     // from an earlier, wider range
  add("0.2", "gone", 0.9);  // a choice the spec has dropped
  // Choosing trial 9 neither throws nor takes the strays as the best trials.
  const auto next = next_tpe_trial(tpe, known, records);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->overrides[0].key, "optimizer.lr");
  const double lr = std::stod(next->overrides[0].value);
  EXPECT_GE(lr, 0.0);
  EXPECT_LE(lr, 1.0);
  // Its key reads back to the same trial, as a worker reads a trial another chose.
  const auto read_back = tpe_trial_of_key(tpe, next->key());
  ASSERT_TRUE(read_back.has_value());
  EXPECT_EQ(read_back->key(), next->key());
  EXPECT_FALSE(tpe_trial_of_key(tpe, "optimizer.lr=0.5").has_value());
  EXPECT_FALSE(tpe_trial_of_key(tpe, "model.block=a optimizer.lr=0.5").has_value());
  tpe.trials = static_cast<std::int64_t>(known.size());
  EXPECT_FALSE(next_tpe_trial(tpe, known, records).has_value());  // the search is complete
}
