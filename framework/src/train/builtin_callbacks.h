// The callbacks every run has: its checkpoints and its per-epoch log line.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "trainer.h"
#include "trainyard/train/callbacks.h"

namespace trainyard {

/// <checkpoints>/run-<id>/best.pt when an epoch is the best so far (before the epoch is
/// recorded, so a recorded best always has its file) and last.pt after every epoch (after it is
/// recorded: the resume point is never ahead of the record). One serialization serves both.
class CheckpointCallback final : public TrainingCallback {
 public:
  CheckpointCallback(const std::filesystem::path& run_folder, const ExecutionPlan& plan, RunObjects& objects,
                     const Trainer& trainer, std::string config_yaml);
  void on_epoch_end(EpochEnd& epoch) override;
  void on_epoch_recorded(EpochEnd& epoch) override;

 private:
  std::filesystem::path best_, last_;
  const ExecutionPlan& plan_;
  RunObjects& objects_;
  const Trainer& trainer_;
  std::string config_yaml_;
  std::string state_;  // the epoch's serialized state, between the two calls
};

/// "epoch   3/10  train loss ... *best", once the epoch is recorded.
class EpochLogCallback final : public TrainingCallback {
 public:
  void on_epoch_recorded(EpochEnd& epoch) override;
};

}  // namespace trainyard
