#include "early_stopping.h"

#include <cmath>

#include <spdlog/fmt/fmt.h>

#include "trainyard/errors.h"

namespace trainyard {

namespace {

bool higher_is_better(StoppingMetric metric) {
  return metric == StoppingMetric::kValAccuracy || metric == StoppingMetric::kTestAccuracy;
}

double metric_value(const EpochRecord& e, StoppingMetric metric) {
  switch (metric) {
    case StoppingMetric::kValAccuracy: return e.val_accuracy.value_or(NAN);
    case StoppingMetric::kValLoss: return e.val_loss.value_or(NAN);
    case StoppingMetric::kTestAccuracy: return e.test_accuracy;
    case StoppingMetric::kTestLoss: return e.test_loss;
  }
  return NAN;
}

}  // namespace

const char* to_string(StoppingMetric metric) {
  switch (metric) {
    case StoppingMetric::kValAccuracy: return "val_accuracy";
    case StoppingMetric::kValLoss: return "val_loss";
    case StoppingMetric::kTestAccuracy: return "test_accuracy";
    case StoppingMetric::kTestLoss: return "test_loss";
  }
  return "?";
}

StoppingMetric resolve_stopping_metric(const std::string& metric, SelectionSplit select_on, bool has_val_split) {
  if (metric == "auto")
    return select_on == SelectionSplit::kVal ? StoppingMetric::kValAccuracy : StoppingMetric::kTestAccuracy;
  for (auto m : {StoppingMetric::kValAccuracy, StoppingMetric::kValLoss, StoppingMetric::kTestAccuracy,
                 StoppingMetric::kTestLoss}) {
    if (metric != to_string(m)) continue;
    const bool needs_val = m == StoppingMetric::kValAccuracy || m == StoppingMetric::kValLoss;
    if (needs_val && !has_val_split) {
      throw InputError("train.early_stopping.metric: " + metric +
                       ", but the dataset has no validation split; set dataset.val_fraction (e.g. 0.1), or "
                       "watch test_accuracy or test_loss");
    }
    return m;
  }
  throw InputError("train.early_stopping.metric: '" + metric +
                   "' is not a metric; accepted: auto, val_accuracy, val_loss, test_accuracy, test_loss");
}

EarlyStopping::EarlyStopping(StoppingMetric metric, std::int64_t patience, double min_delta)
    : metric_(metric), patience_(patience), min_delta_(min_delta) {}

std::optional<std::string> EarlyStopping::observe(const EpochRecord& epoch) {
  const double value = metric_value(epoch, metric_);
  if (!std::isfinite(value)) {
    return fmt::format("early stopping: {} is {} at epoch {}", to_string(metric_), value, epoch.epoch);
  }
  const bool improved =
      !best_ || (higher_is_better(metric_) ? value > *best_ + min_delta_ : value < *best_ - min_delta_);
  if (improved) {
    best_ = value;
    best_epoch_ = epoch.epoch;
    return std::nullopt;
  }
  const std::int64_t waited = epoch.epoch - best_epoch_;
  if (waited < patience_) return std::nullopt;
  const std::string by = min_delta_ > 0 ? fmt::format(" by more than {}", min_delta_) : "";
  return fmt::format("early stopping: {} has not improved{} for {} epoch{} (best {:.4f} at epoch {})",
                     to_string(metric_), by, waited, waited == 1 ? "" : "s", *best_, best_epoch_);
}

void EarlyStopping::on_epoch_end(EpochEnd& epoch) {
  if (auto reason = observe(epoch.record)) {
    epoch.stop = true;
    if (epoch.stop_reason.empty()) epoch.stop_reason = std::move(*reason);
  }
}

void EarlyStopping::on_resume(RunResume& resume) {
  for (const auto& e : resume.epochs) {
    auto reason = observe(e);
    if (reason && &e == &resume.epochs.back()) {
      resume.stop = true;
      if (resume.stop_reason.empty()) resume.stop_reason = std::move(*reason);
    }
  }
}

std::shared_ptr<EarlyStopping> make_early_stopping(const EarlyStoppingSettings& settings, SelectionSplit select_on,
                                                   bool has_val_split) {
  if (!settings.enabled()) return nullptr;
  return std::make_shared<EarlyStopping>(resolve_stopping_metric(settings.metric, select_on, has_val_split),
                                         settings.patience, settings.min_delta);
}

}  // namespace trainyard
