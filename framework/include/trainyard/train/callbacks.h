// The trainer grows through callbacks (as Lightning's does): what happens around each epoch that
// is not the training itself (the epoch's log line, early stopping, and later pruning) is a
// TrainingCallback, called in the order the callbacks were given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainyard/train/run_record.h"

namespace trainyard {

/// One epoch as the callbacks see it.
struct EpochEnd {
  EpochEnd(const EpochRecord& epoch_record, std::int64_t run_epochs, SelectionSplit selection = SelectionSplit::kTest)
      : record(epoch_record), epochs(run_epochs), select_on(selection) {}
  const EpochRecord& record;
  std::int64_t epochs = 0;                           // of the whole run (train.epochs)
  SelectionSplit select_on = SelectionSplit::kTest;  // the split whose accuracy ranks epochs (resolved)
  bool new_best = false;  // the best accuracy so far on the selection split (train.select_on)
  /// Set by a callback to end the run after this epoch (early stopping, pruning); the run then
  /// ends as finished, with the epochs it has, and `stop_reason` in its record.
  bool stop = false;
  std::string stop_reason;  // in words: "early stopping: val_accuracy has not improved ..."
  bool pruned = false;      // with stop: a sweep's pruner ends the trial, whose run ends pruned
};

/// A resumed run as the callbacks see it before it trains on: the epochs it keeps (those up to
/// its last checkpoint, in order). A callback with state rebuilds it from them, so that a resume
/// continues exactly; it sets `stop` when they show the run had already ended (it was killed
/// after its last epoch's checkpoint, before its end was recorded).
struct RunResume {
  RunResume(const std::vector<EpochRecord>& kept, std::int64_t run_epochs) : epochs(kept), total_epochs(run_epochs) {}
  const std::vector<EpochRecord>& epochs;
  std::int64_t total_epochs = 0;  // train.epochs
  bool stop = false;
  std::string stop_reason;
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
  /// Before a resumed run trains on (see RunResume).
  virtual void on_resume(RunResume& resume) { (void)resume; }
  /// The run ended with `status` (after the recorder's finish_run).
  virtual void on_run_end(RunStatus status) { (void)status; }
};

}  // namespace trainyard
