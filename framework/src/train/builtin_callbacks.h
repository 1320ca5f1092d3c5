// The callback every run has: its per-epoch log line. (Checkpoints are the run loop's own, through
// a CheckpointWriter: the run's end must wait for them.)
#pragma once

#include "trainyard/train/callbacks.h"

namespace trainyard {

/// "epoch   3/10  train loss ... *best", once the epoch is recorded.
class EpochLogCallback final : public TrainingCallback {
 public:
  void on_epoch_recorded(EpochEnd& epoch) override;
};

}  // namespace trainyard
