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
  bool any() const { return last || best; }
};

/// What an epoch writes under output.keep and output.checkpoint_every: last.pt every
/// checkpoint_every epochs and at the run's final epoch (`final_epoch`), best.pt at each new best.
CheckpointTargets checkpoint_targets(const OutputSettings& output, std::int64_t epoch, bool final_epoch, bool new_best);

/// Whether a run that recorded `recorded_epochs` must have a last.pt to resume from: none is
/// written under output.keep best or none, nor before the first checkpoint_every epochs.
bool expects_last_checkpoint(const OutputSettings& output, std::int64_t recorded_epochs);

class CheckpointWriter {
 public:
  /// `mid_write(epoch)` is called by the writer thread halfway through each file (the fault seam
  /// of a kill while a checkpoint is written); empty in production.
  CheckpointWriter(std::filesystem::path run_folder, std::function<void(std::int64_t)> mid_write = {});
  /// Waits for the write in flight; its failure is then only logged.
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  /// Waits for the previous write (throwing its failure) and serializes the state into the
  /// buffer, on the calling thread: the snapshot the next write puts on the disk.
  void snapshot(Model& model, torch::optim::Optimizer& optimizer, const CheckpointInfo& info);
  /// Starts writing the snapshot (of epoch `epoch`) to `targets` on the writer thread. When both
  /// files are wanted the state is written once, as last.pt, and best.pt is a hard link to it:
  /// last.pt is later replaced by rename, so best.pt keeps this epoch's file. Each file is
  /// replaced whole (a temporary file renamed over it): a crash mid-write leaves the previous
  /// one intact.
  void write_in_background(std::int64_t epoch, CheckpointTargets targets);
  /// Waits for the write in flight. Throws std::runtime_error ("checkpoint not saved: ...") when
  /// it failed; the failed file keeps its previous content.
  void wait();

  /// Removes the temporary files a killed writer left in the run folder (before a resume).
  void remove_leftovers() const;

  const std::filesystem::path& best_path() const { return best_; }

 private:
  void write(std::int64_t epoch, CheckpointTargets targets);
  void write_file(const std::filesystem::path& path, std::int64_t epoch);

  std::filesystem::path best_, last_;
  std::function<void(std::int64_t)> mid_write_;
  std::vector<char> bytes_;  // the state being written; the training thread fills it only when idle
  std::thread thread_;
  std::exception_ptr error_;  // the writer thread's failure, read after join
};

}  // namespace trainyard
