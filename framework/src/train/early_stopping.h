// train.early_stopping as a callback: the run ends once its metric has not improved for
// `patience` epochs (Lightning's EarlyStopping, whose rule this follows: an improvement is a change
// by more than min_delta in the metric's direction, and a metric that is not a number stops the
// run at once). Its whole state (the best value, when it was reached) follows from the recorded
// epochs, so a resumed run rebuilds it from them and stops where the straight run would have.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "trainyard/config/experiment_config.h"
#include "trainyard/train/callbacks.h"

namespace trainyard {

/// The figure early stopping watches.
enum class StoppingMetric { kValAccuracy, kValLoss, kTestAccuracy, kTestLoss };

/// "val_accuracy", ...: the key's text, the epochs table's column.
const char* to_string(StoppingMetric metric);

/// train.early_stopping.metric against the run: `auto` is the selection split's accuracy.
/// Throws InputError for a validation metric when the dataset has no validation split.
StoppingMetric resolve_stopping_metric(const std::string& metric, SelectionSplit select_on, bool has_val_split);

class EarlyStopping final : public TrainingCallback {
 public:
  EarlyStopping(StoppingMetric metric, std::int64_t patience, double min_delta);

  void on_epoch_end(EpochEnd& epoch) override;
  void on_resume(RunResume& resume) override;

 private:
  // Takes one epoch's figure into the state; returns why the run ends after it, or nullopt.
  std::optional<std::string> observe(const EpochRecord& epoch);

  StoppingMetric metric_;
  std::int64_t patience_;
  double min_delta_;
  std::optional<double> best_;
  std::int64_t best_epoch_ = 0;
};

/// The run's early stopping, or null when train.early_stopping is off. Throws InputError as
/// resolve_stopping_metric does.
std::shared_ptr<EarlyStopping> make_early_stopping(const EarlyStoppingSettings& settings, SelectionSplit select_on,
                                                   bool has_val_split);

}  // namespace trainyard
