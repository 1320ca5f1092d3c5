// Checkpoints written off the training thread. The epoch's state is serialized on the training
// thread into a buffer kept from one epoch to the next (a snapshot: the next epoch changes the
// weights in place, so the archive cannot be written from the live tensors later), and a writer
// thread puts it on the disk while the next epoch trains. Serializing into a reused buffer takes
// a fraction of what an std::ostringstream did (it grew by copies, and its pages were new each
// epoch); fsync and the disk are the writer thread's.
#pragma once

#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "trainyard/config/experiment_config.h"
#include "trainyard/train/checkpoint.h"

namespace trainyard {

/// Which files one epoch's state goes to.
struct CheckpointTargets {
  bool last = false;  // last.pt: the resume point
  bool best = false;  // best.pt: the best epoch so far
  // The run's configured last epoch: its last.pt is never resumed from (a finished run is not
  // resumed; one killed after it has nothing left to train), only evaluated or exported, so it
  // holds the model alone: a third of the bytes to write and fsync before the run can end.
  bool run_complete = false;
  bool any() const { return last || best; }
};

/// What epoch `epoch` of `epochs` writes under output.keep and output.checkpoint_every: last.pt
/// every checkpoint_every epochs and at the run's final epoch (its configured last, or the one a
/// callback is `stopping` it at), best.pt at each new best.
CheckpointTargets checkpoint_targets(const OutputSettings& output, std::int64_t epoch, std::int64_t epochs,
                                     bool stopping, bool new_best);

/// Whether a run that recorded `recorded_epochs` must have a last.pt to resume from: none is
/// written under output.keep best or none, nor before the first checkpoint_every epochs.
bool expects_last_checkpoint(const OutputSettings& output, std::int64_t recorded_epochs);

class CheckpointWriter {
 public:
  /// `best_optimizer` (output.best_optimizer): best.pt holds the optimizer's state too.
  /// `mid_write(epoch)` is called by the writer thread halfway through each file (the fault seam
  /// of a kill while a checkpoint is written); empty in production.
  CheckpointWriter(std::filesystem::path run_folder, bool best_optimizer,
                   std::function<void(std::int64_t)> mid_write = {});
  /// Waits for the write in flight; its failure is then only logged.
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  /// Waits for the previous write (throwing its failure) and serializes what `targets` need into
  /// the buffers, on the calling thread: the snapshot the next write puts on the disk. last.pt
  /// holds everything a resume needs (the model alone at the run's configured last epoch);
  /// best.pt the model alone, unless best_optimizer.
  void snapshot(Model& model, torch::optim::Optimizer& optimizer, const CheckpointInfo& info,
                CheckpointTargets targets);
  /// Starts writing the snapshot (of epoch `epoch`) to its targets on the writer thread; does
  /// nothing when no snapshot was taken since the last write. When
  /// both files hold the same state it is written once, as last.pt, and best.pt is a hard link
  /// to it: last.pt is later replaced by rename, so best.pt keeps this epoch's
  /// file. Each file is replaced whole (a temporary file renamed over it): a crash mid-write
  /// leaves the previous one intact.
  void write_in_background(std::int64_t epoch);
  /// Waits for the write in flight. Throws std::runtime_error ("checkpoint not saved: ...") when
  /// it failed; the failed file keeps its previous content.
  void wait();

  /// Removes the temporary files a killed writer left in the run folder (before a resume).
  void remove_leftovers() const;

  const std::filesystem::path& best_path() const { return best_; }

 private:
  void write(std::int64_t epoch);
  void write_file(const std::filesystem::path& path, const std::vector<char>& bytes, std::int64_t epoch);
  // last.pt of the snapshot holds the model alone (run_complete), as best.pt then does too.
  bool last_is_model_only() const { return targets_.last && targets_.run_complete && !best_optimizer_; }
  const std::vector<char>& last_bytes() const { return last_is_model_only() ? model_bytes_ : bytes_; }

  std::filesystem::path best_, last_;
  bool best_optimizer_;
  std::function<void(std::int64_t)> mid_write_;
  // The snapshot being written; the training thread fills the buffers only when no write is in
  // flight. bytes_: the whole state (last.pt, and best.pt under best_optimizer); model_bytes_:
  // the model alone (best.pt otherwise).
  CheckpointTargets targets_;
  bool pending_ = false;  // a snapshot not yet handed to the writer thread
  std::vector<char> bytes_;
  std::vector<char> model_bytes_;
  std::thread thread_;
  std::exception_ptr error_;  // the writer thread's failure, read after join
};

}  // namespace trainyard
