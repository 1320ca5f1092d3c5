// `runner EXPERIMENT --nproc N`: starts N copies of the runner on this machine as the ranks of one
// data-parallel run, the way torchrun's --standalone does, and waits for them.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

namespace trainyard {

struct LocalLaunchOptions {
  int nproc = 2;
  /// After a rank fails, how long the others get to notice at their next collective and fail on
  /// their own (recording the run as failed) before they are stopped.
  std::chrono::seconds grace{30};
  /// Counts SIGINT/SIGTERM sent to the launcher; each is passed on to every rank.
  const std::atomic<int>* signals = nullptr;
};

/// Runs `arguments` (argv[0] is the runner) `nproc` times with RANK, WORLD_SIZE, LOCAL_RANK,
/// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT set, in a process group of their
/// own (a Ctrl-C reaches the launcher, which passes it on once). Returns rank 0's exit code when
/// it is not 0, else the first failing rank's (1 for one killed by a signal), else 0.
int launch_local_ranks(const std::vector<std::string>& arguments, const LocalLaunchOptions& options);

}  // namespace trainyard
