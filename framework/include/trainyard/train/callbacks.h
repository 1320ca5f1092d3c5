// The trainer grows through callbacks (as Lightning's does): what happens around each epoch that
// is not the training itself (checkpoints, the epoch's log line, and later early stopping and
// pruning) is a TrainingCallback, called in the order the callbacks were given.
#pragma once

#include <cstdint>

#include "trainyard/train/run_record.h"

namespace trainyard {

/// One epoch as the callbacks see it.
struct EpochEnd {
  const EpochRecord& record;
  std::int64_t epochs = 0;  // of the whole run (train.epochs)
  bool new_best = false;    // the best accuracy so far on the selection split (train.select_on)
  /// Set by a callback to end the run after this epoch (early stopping, pruning); the run then
  /// ends as finished, with the epochs it has.
  bool stop = false;
};

class TrainingCallback {
 public:
  virtual ~TrainingCallback();
  /// After the epoch's figures are known, before its checkpoint is taken and the recorder keeps
  /// them: a callback that sets `stop` here makes this epoch the run's last, and its last.pt is
  /// then written whatever output.checkpoint_every says.
  virtual void on_epoch_end(EpochEnd& epoch) { (void)epoch; }
  /// After the recorder kept the epoch: the resume point (the last checkpoint) may move on.
  virtual void on_epoch_recorded(EpochEnd& epoch) { (void)epoch; }
  /// The run ended with `status` (after the recorder's finish_run).
  virtual void on_run_end(RunStatus status) { (void)status; }
};

}  // namespace trainyard
