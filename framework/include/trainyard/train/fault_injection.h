// The seam through which tests make a run fail at a chosen point (LevelDB's EnvWrapper idea):
// the trainer asks a FaultInjector, which production leaves empty. The tests of resuming and of
// data-parallel failures, which drive the runner binary, set it through the environment; the
// variables are read once, when a run starts, never inside the loop.
#pragma once

#include <cstdint>
#include <optional>

namespace trainyard {

class FaultInjector {
 public:
  /// Reads TRAINYARD_FAULT_KILL_AFTER_EPOCH=k (SIGKILL once epoch k is recorded and its last
  /// checkpoint written, as kill -9 would) and TRAINYARD_FAULT_KILL_RANK_AT_STEP=R:S (rank R
  /// kills itself before its S-th training step of the run, 1-based) and
  /// TRAINYARD_FAULT_STOP_AFTER_EPOCH=k (SIGSTOP at the same point: a stall, as a suspended laptop's,
  /// until something sends SIGCONT) and TRAINYARD_FAULT_KILL_IN_CHECKPOINT=k (SIGKILL halfway
  /// through writing epoch k's checkpoint, on the writer thread). Unset: no faults.
  static FaultInjector from_environment();

  FaultInjector() = default;
  FaultInjector& kill_after_epoch(std::int64_t epoch);
  FaultInjector& kill_rank_at_step(int rank, std::int64_t step);
  FaultInjector& stop_after_epoch(std::int64_t epoch);
  FaultInjector& kill_in_checkpoint(std::int64_t epoch);

  /// Before every training step.
  void before_step(int rank, std::int64_t step) const;
  /// After an epoch is recorded and its last checkpoint written.
  void after_epoch(std::int64_t epoch) const;
  /// Whether after_epoch(epoch) kills or stops the process: the run then lets epoch's checkpoint
  /// finish first, so that the fault comes where its name says.
  bool acts_after_epoch(std::int64_t epoch) const;
  /// Halfway through writing a checkpoint file of epoch `epoch`.
  void in_checkpoint(std::int64_t epoch) const;

 private:
  std::optional<std::int64_t> kill_after_epoch_, stop_after_epoch_, kill_in_checkpoint_;
  std::optional<int> kill_rank_;
  std::int64_t kill_step_ = 0;
};

}  // namespace trainyard
