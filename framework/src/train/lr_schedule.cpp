#include "trainyard/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace trainyard {

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
