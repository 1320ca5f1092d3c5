// Hyperparameter sweeps: the `sweep:` section of an experiment (and `--sweep` on the command
// line), expanded into trials, each a set of overrides on the experiment.
//
//   sweep:
//     name: lr_x_batch                  # default: the experiment's name
//     jobs: 2                           # trials at once; 0 (the default): as the machine holds
//     grid:                             # every combination
//       optimizer.lr: [1.0e-3, 1.0e-4]
//       train.batch_size: [10, 32]
//     random:                           # `trials` draws from the sweep's seed
//       trials: 4
//       seed: 0
//       params:
//         optimizer.weight_decay: {loguniform: [1.0e-6, 1.0e-3]}
//         optimizer.beta1: {uniform: [0.85, 0.95]}
//         train.epochs: {int: [2, 4]}
//         model.zero_init_residual: {choice: [true, false]}
//     pruner: {kind: median, warmup_epochs: 1, min_trials: 3}   # or {kind: asha, min_epochs: 1, reduction: 4}
//
//   sweep:                  # or: a model-based search, alone
//     tpe: {trials: 30, seed: 0, startup_trials: 10, params: {optimizer.lr: {loguniform: [1.0e-5, 1.0e-2]}}}
//
// With both, every grid point is combined with every random draw. A pruner ends trials that fall
// behind the others early (trainyard/sweep/pruner.h).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "trainyard/config/experiment_config.h"

namespace trainyard {

/// One random parameter: uniform, loguniform, int (inclusive) over [low, high], or choice.
struct RandomParameter {
  std::string key;
  std::string distribution;
  double low = 0.0;
  double high = 0.0;
  std::vector<std::string> choices;
};

/// One random value of `parameter` as an override value: the draw of random search and of TPE's
/// start-up trials. Our own arithmetic on the generator's output (not std::*_distribution, whose
/// algorithms differ between standard libraries), so a seed draws the same trials everywhere.
std::string draw_random_value(const RandomParameter& parameter, std::mt19937_64& rng);
/// A draw in [0, 1) with 53 random bits.
double draw_unit(std::mt19937_64& rng);

/// `sweep.pruner`: which trials end early, decided at each epoch from the other trials' figures in
/// the database (pruner.h). kind "none": every trial runs its every epoch.
struct PrunerSpec {
  std::string kind = "none";       // none | median | asha
  std::int64_t warmup_epochs = 1;  // median: epochs never pruned at, from the first
  std::int64_t min_trials = 3;     // median: other trials that must have reached the epoch
  std::int64_t min_epochs = 1;     // asha: the first rung; rung k is at min_epochs * reduction^k
  // asha: the top 1/reduction of each rung go on. 4, as Optuna's SuccessiveHalvingPruner and Ray
  // Tune's ASHAScheduler: on the quick-start search (24 trials of up to 4 epochs, 10 seeds) 3 cut
  // at epochs 1 and 3 and let 2.5 trials finish, 1.7 points below the unpruned sweep's best; 4
  // cuts at epoch 1 alone and lets 6.6 finish, 0.8 points below, in 46% of the epochs.
  std::int64_t reduction = 4;
  bool enabled() const { return kind != "none"; }
};

/// `sweep.tpe`: a model-based search (tpe.h). Its first `startup_trials` trials are random draws;
/// each later one is chosen from the trials done so far, as the sweep goes.
struct TpeSpec {
  std::int64_t trials = 0;
  std::uint64_t seed = 0;
  std::int64_t startup_trials = 10;  // Optuna's n_startup_trials
  std::vector<RandomParameter> params;
  bool enabled() const { return trials > 0; }
};

/// sweep.jobs (and --jobs) 0: as many trials at once as the cores and the memory hold
/// (choose_jobs in sweep_runner.h).
inline constexpr std::int64_t kJobsAuto = 0;

struct SweepSpec {
  std::string name;
  std::int64_t jobs = kJobsAuto;
  std::vector<std::pair<std::string, std::vector<std::string>>> grid;  // key, values as YAML text
  std::int64_t random_trials = 0;
  std::uint64_t random_seed = 0;
  std::vector<RandomParameter> random;
  TpeSpec tpe;
  PrunerSpec pruner;

  bool empty() const { return grid.empty() && random.empty() && !tpe.enabled(); }
  /// The spec as YAML, as the sweeps table stores it.
  std::string to_yaml() const;
};

/// The runner's main on a command line (arguments[0] the runner), run in this process; returns
/// its exit code. Given to a sweep or a worker, each trial starts as a copy of this process that
/// runs its command line (start_trial), sparing it the runner's start.
using RunCommandLine = std::function<int(const std::vector<std::string>&)>;

/// One trial: overrides in a fixed key order.
struct SweepTrial {
  std::vector<Override> overrides;
  /// "optimizer.lr=0.001 train.batch_size=32": identifies the trial across reruns of the sweep.
  std::string key() const;
};

/// The trial of a TPE search whose parameters (in tpe.params' order) take `values`.
SweepTrial tpe_trial(const TpeSpec& tpe, const std::vector<std::string>& values);

/// The scalar keys of `sweep:` (name, jobs), `sweep.random:`, `sweep.tpe:` and `sweep.pruner:`,
/// for validation and `runner --describe sweep`.
std::vector<ParamSpec> sweep_schema();
std::vector<ParamSpec> random_schema();
std::vector<ParamSpec> tpe_schema();
std::vector<ParamSpec> pruner_schema();
/// The structured keys of `sweep:` (grid, random, tpe, pruner) and of a block of drawn
/// parameters (`params` of random and tpe).
std::vector<NestedKey> sweep_nested_keys();
std::vector<NestedKey> drawn_nested_keys();

/// The spec a sweep's row holds (SweepSpec::to_yaml), read back: what a trial's process takes its
/// pruner from. Throws ConfigError when it is not one.
SweepSpec parse_stored_sweep(const std::string& spec_yaml);

/// Reads the document's `sweep:` section and the command line's `--sweep KEY=V1,V2,...` (each
/// adds or replaces a grid key). Throws ConfigError listing every problem of a malformed spec, each
/// naming its key and line.
SweepSpec parse_sweep(const ExperimentDocument& document, const std::string& experiment_name,
                      const std::vector<std::string>& command_line_sweeps);

/// Every trial of the spec, in a fixed order (grid in row-major order of the keys as given). For
/// sweep.tpe, its start-up trials: the rest are chosen as the sweep goes (tpe_trials.h).
std::vector<SweepTrial> expand_sweep(const SweepSpec& spec);

/// Resolves every trial's configuration against the plugins' schemas, so that one bad value
/// fails the sweep before its first trial. Throws ConfigError naming each invalid trial (the first
/// five, and how many more) with its problems.
std::vector<ExperimentConfig> validate_trials(const ExperimentDocument& document, const std::vector<SweepTrial>& trials,
                                              const PluginRegistry& registry);

}  // namespace trainyard
