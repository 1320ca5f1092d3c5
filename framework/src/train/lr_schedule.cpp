#include "trainyard/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "trainyard/plugin_api.h"

namespace trainyard {

std::vector<ParamSpec> schedule_schema() {
  return {
      string_param("kind", "constant", "constant, step (times gamma every step_epochs) or cosine (down to min_factor)")
          .one_of({"constant", "step", "cosine"}),
      float_param("warmup_epochs", 0.0, "linear warm-up over this many epochs (fractions allowed)").at_least(0),
      float_param("warmup_start_factor", 0.1, "the warm-up starts at this fraction of the rate")
          .greater_than(0).at_most(1),
      int_param("step_epochs", 30, "step: epochs between reductions").at_least(1),
      float_param("gamma", 0.1, "step: factor at each reduction").greater_than(0).at_most(1),
      float_param("min_factor", 0.0, "cosine: fraction of the rate reached at the end").at_least(0).at_most(1),
  };
}

LearningRateSchedule::LearningRateSchedule(ScheduleSettings settings, std::int64_t epochs)
    : settings_(std::move(settings)), epochs_(static_cast<double>(epochs)) {}

double LearningRateSchedule::factor(double progress) const {
  const double warmup = settings_.warmup_epochs;
  if (progress < warmup) {
    return settings_.warmup_start_factor + (1.0 - settings_.warmup_start_factor) * progress / warmup;
  }
  if (settings_.kind == "step") {
    return std::pow(settings_.gamma, std::floor(progress / static_cast<double>(settings_.step_epochs)));
  }
  if (settings_.kind == "cosine") {
    const double span = epochs_ - warmup;
    const double t = span > 0 ? std::clamp((progress - warmup) / span, 0.0, 1.0) : 1.0;
    return settings_.min_factor + (1.0 - settings_.min_factor) * 0.5 * (1.0 + std::cos(M_PI * t));
  }
  return 1.0;
}

}  // namespace trainyard
