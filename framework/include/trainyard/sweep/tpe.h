// The Tree-structured Parzen Estimator (Bergstra et al. 2011, "Algorithms for Hyper-Parameter
// Optimization", NeurIPS) as Optuna 3.1's TPESampler does it by default, univariate:
//
//   - the first `startup_trials` trials are random draws;
//   - then the done trials are split into the best gamma(n) = min(ceil(n / 10), 25) and the rest,
//     a finished trial ranking above every pruned one and a pruned trial that went further above
//     one pruned sooner (optuna/samplers/_tpe/sampler.py, _get_observation_pairs);
//   - each parameter gets a Parzen estimator l(x) over the best and g(x) over the rest: one
//     truncated normal per trial plus a prior over the whole range (weight 1), each sigma the larger
//     distance to its neighbours, clipped to [range / min(100, 1 + n), range] ("magic clip"), and
//     the weights of trials older than the 25 latest ramped down (parzen_estimator.py);
//   - 24 candidates are drawn from l(x) and the one maximising l(x) / g(x) is the suggestion.
//
// The densities are normalised: Optuna before 3.5 left out each kernel's 1/sigma (optuna#5109,
// fixed by #5110), which favours narrow kernels, so 3.1 exploits harder than the paper's TPE.
//
// loguniform parameters are modelled on log(x), int ones on [low - 0.5, high + 0.5] with the mass
// of each integer's unit interval, choice ones as categorical weights (each trial's choice plus
// the prior spread evenly). The draws come from a 64-bit Mersenne Twister seeded by the sweep's
// seed and the trial's number, so a suggestion depends only on the seed, the number and the
// trials done before it: not reproducible against Optuna's numpy stream, but against itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainyard/sweep/sweep.h"

namespace trainyard {

/// A done trial as TPE learns from it.
struct TpeObservation {
  /// One override value per parameter of the space, in its order (as the trial ran with it).
  std::vector<std::string> values;
  /// Higher is better: a finished trial's best selection accuracy, a pruned one's at its last epoch.
  double accuracy = 0.0;
  bool pruned = false;
  std::int64_t epochs = 0;  // trained: among pruned trials, further ranks higher
};

struct TpeSettings {
  std::int64_t startup_trials = 10;  // Optuna's n_startup_trials
  int candidates = 24;               // n_ei_candidates
  double prior_weight = 1.0;
};

/// The override values of trial `number` (0-based) of a TPE search over `space`, given the trials
/// done so far in the order they started (each value one the space can take: tpe_trials.cpp
/// leaves out trials of an earlier, wider space). A point in `tried` (every trial's values so far, done or
/// running) is not suggested again while the draws hold another: a deterministic trainer would
/// only repeat it.
std::vector<std::string> tpe_suggest(const std::vector<RandomParameter>& space,
                                     const std::vector<TpeObservation>& history,
                                     const std::vector<std::vector<std::string>>& tried, const TpeSettings& settings,
                                     std::uint64_t seed, std::int64_t number);

}  // namespace trainyard
