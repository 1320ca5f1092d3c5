// Learning-rate schedules: the `schedule:` section of an experiment. The rate is a pure function
// of how far training has come (epochs, fractional within an epoch), set before every step, so a
// run resumed at any point continues on the same curve.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trainyard {

struct ScheduleSettings {
  std::string kind = "constant";     // constant | step | cosine
  double warmup_epochs = 0.0;        // linear warm-up over this many epochs first
  double warmup_start_factor = 0.1;  // the warm-up starts at this fraction of the rate
  std::int64_t step_epochs = 30;     // step: multiply by gamma every step_epochs epochs
  double gamma = 0.1;
  double min_factor = 0.0;  // cosine: the fraction of the rate it decays to
};

class LearningRateSchedule {
 public:
  LearningRateSchedule(ScheduleSettings settings, std::int64_t epochs);
  /// The factor on the optimizer's configured rate after `progress` epochs (0 at the first step,
  /// 2.5 halfway through the third epoch).
  /// - warm-up (Goyal et al., 2017): from warmup_start_factor up to 1, linearly;
  /// - step: gamma ^ floor(progress / step_epochs);
  /// - cosine (Loshchilov & Hutter, 2017, without restarts): from 1 after the warm-up down to
  ///   min_factor at the last step.
  double factor(double progress) const;

 private:
  ScheduleSettings settings_;
  double epochs_;
};

}  // namespace trainyard
