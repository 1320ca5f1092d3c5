// Pruning a sweep's trials: at the end of each epoch a trial's process compares its selection
// accuracy with the other trials' at the same epoch, read from the results database, and ends
// itself (status pruned, the reason in words) when it falls behind. The decision is taken from the
// database alone, so it holds alike for local jobs and for workers on many machines, and a
// rerun of the sweep continues from what is recorded.
//
//   median  (Optuna's MedianPruner, Golovin et al. 2017, "Google Vizier"): pruned at epoch e when
//           its accuracy is below the median of the other trials' at e (after warmup_epochs, and
//           once min_trials others have reached e).
//   asha    (asynchronous successive halving, Li et al. 2018, as Optuna's SuccessiveHalvingPruner
//           decides it): rungs at epochs min_epochs x reduction^k; a trial at a rung goes on only
//           when it is among the top 1/reduction of the trials that reached the rung (the best of
//           them while fewer than `reduction` have).
//
// A trial is never pruned at its last epoch (it has finished), and a pruned trial keeps last.pt.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainyard/sweep/sweep.h"
#include "trainyard/train/callbacks.h"

namespace trainyard {

/// Why a trial whose selection accuracy at `epoch` is `value` is pruned, given the other trials'
/// accuracies at that epoch (`others`); nullopt when it goes on. `metric` names the figure
/// ("val_accuracy") in the reason.
std::optional<std::string> prune_decision(const PrunerSpec& pruner, std::int64_t epoch, double value,
                                          const std::vector<double>& others, const std::string& metric);

/// The other trials of a sweep as the pruner reads them (ResultsStore::sweep_accuracies_at).
class SweepPeers {
 public:
  virtual ~SweepPeers();
  /// The selection accuracy at `epoch` of each other trial's latest run that has reached it.
  virtual std::vector<double> accuracies_at(std::int64_t epoch) const = 0;
};

/// The pruner as a trial's callback.
class TrialPruner final : public TrainingCallback {
 public:
  TrialPruner(PrunerSpec pruner, std::unique_ptr<SweepPeers> peers);
  void on_epoch_end(EpochEnd& epoch) override;

 private:
  PrunerSpec pruner_;
  std::unique_ptr<SweepPeers> peers_;
};

/// The pruner of sweep `sweep_id` of database `db` for its trial `trial_key`, reading the other
/// trials from that database; null when the sweep has none.
std::shared_ptr<TrialPruner> sweep_trial_pruner(const std::string& db, std::int64_t sweep_id,
                                                const std::string& trial_key);

}  // namespace trainyard
