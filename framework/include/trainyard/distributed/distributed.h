// Data-parallel training over several processes with torch.distributed's c10d: the launch
// contract (torchrun's variables, Slurm's as a fallback), a process group (Gloo on the CPU, NCCL
// on CUDA), DistributedSampler's sharding, and gradients all-reduced in buckets while backward
// runs, as PyTorch's DistributedDataParallel does.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "trainyard/collectives.h"

namespace trainyard {

/// Where this process stands in a run of several processes, as its launcher said.
struct LaunchEnvironment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        // which GPU of its machine a process takes
  int local_world_size = 1;  // processes on this machine, which share its cores
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;  // torchrun's default
  std::string launcher;     // "torchrun", "slurm", or empty for one process
  /// TRAINYARD_RENDEZVOUS_FILE, set by `runner --nproc`: the processes meet through this file (in
  /// a folder only their user can enter) instead of a TCP store, whose server in LibTorch 1.13
  /// listens on every interface of the machine, not only loopback.
  std::string rendezvous_file;
  bool distributed() const { return world_size > 1; }
};

using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// Reads the launch contract: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (torchrun,
/// `runner --nproc`); else, inside an `srun` step (SLURM_STEP_ID set), SLURM_PROCID, SLURM_NTASKS,
/// SLURM_LOCALID, with MASTER_ADDR defaulting to SLURM_LAUNCH_NODE_IPADDR and MASTER_PORT to
/// 29500 + SLURM_JOB_ID % 1000 (two jobs on one node do not collide). LOCAL_WORLD_SIZE (or the
/// leading count of SLURM_STEP_TASKS_PER_NODE) says how many share the machine. Neither: one process.
/// Throws InputError naming the variable when a value is malformed or inconsistent.
LaunchEnvironment read_launch_environment(const EnvironmentLookup& lookup);
/// The same, from this process's environment.
LaunchEnvironment read_launch_environment();

/// A TCP port on 127.0.0.1 the kernel has just handed out: free unless something takes it in the
/// moment before its user binds it (a local rendezvous, a test server). Throws std::runtime_error.
int free_loopback_port();

/// DistributedSampler's share of one epoch for `rank`: `order` (the epoch's global visiting
/// order) padded by repeating its head until it divides evenly (`pad`; every rank then takes the
/// same number of steps) or cut to a multiple of the world size (`!pad && drop`), then every
/// world_size-th index from `rank`. Without `pad` and `drop`, ranks get unequal shards that
/// together hold every index once (evaluation).
std::vector<std::int64_t> shard_order(const std::vector<std::int64_t>& order, int rank, int world_size, bool pad,
                                      bool drop = false);

/// A c10d process group over the launch environment, created by rendezvous through a TCPStore
/// served by rank 0. Every collective waits at most `timeout`; a peer that died or hung makes it
/// throw CollectiveError, which fails the run.
class Communicator : public Collectives {
 public:
  /// A collective started and not yet waited for.
  class Pending {
   public:
    virtual ~Pending();
    virtual void wait() = 0;
  };

  /// `backend`: "gloo" or "nccl" (only in builds against a CUDA LibTorch). Blocks until every
  /// rank has joined (or `timeout` passes).
  Communicator(const LaunchEnvironment& environment, const std::string& backend, std::chrono::milliseconds timeout);
  ~Communicator() override;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int world_size() const override { return world_size_; }
  const std::string& backend() const { return backend_; }

  /// Sums `tensors` in place over every rank.
  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override;
  std::unique_ptr<Pending> all_reduce_sum_async(torch::Tensor tensor);
  /// Sums a flag over the ranks through the CPU side group: true when any rank's was true.
  bool any(bool flag);
  /// Copies rank `root`'s tensors into every other rank's, in place.
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
  /// Copies rank `root`'s bytes into every other rank's string (through the CPU side group).
  void broadcast_bytes(std::string& bytes, int root = 0);

 private:
  struct Groups;
  std::unique_ptr<Groups> groups_;
  int rank_ = 0;
  int world_size_ = 1;
  std::string backend_;
};

/// Thrown when a collective fails: another process died, hung past the timeout, or disagreed.
class CollectiveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~CollectiveError() override;
};

/// "gloo" or "nccl" for `setting` (auto | gloo | nccl) on `device`; throws InputError for nccl
/// without CUDA or in a build without NCCL.
std::string resolve_backend(const std::string& setting, const torch::Device& device);

/// Processes on one machine that train on CUDA take one GPU each (local rank r on cuda:r); throws
/// InputError when `local_processes` exceed `cuda_devices` (before any of them starts, in
/// `runner --nproc`), saying what would fit.
void require_gpu_per_local_process(const torch::Device& device, int local_processes, int cuda_devices);

/// Makes every rank start from rank 0's parameters and buffers (initializations drawn from
/// per-process generators may differ, and do on GPUs).
void broadcast_module_state(Communicator& communicator, torch::nn::Module& module);

/// Averages gradients over the ranks after each backward pass. Parameters are grouped into buckets
/// of about `bucket_mb` in reverse registration order (roughly the order backward produces their
/// gradients); a hook on each parameter copies its gradient into its bucket, and a bucket whose
/// gradients are all in is all-reduced at once while backward goes on. Buckets are launched in
/// index order only, so every rank issues the same collectives in the same order.
class GradientReducer {
 public:
  GradientReducer(Communicator& communicator, const std::vector<torch::Tensor>& parameters, double bucket_mb);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  /// After backward, before the optimizer step: launches what is left (parameters this step did
  /// not reach count as zero gradients), waits for every bucket and writes the averages into the
  /// parameters' .grad.
  void synchronize();
  std::size_t num_buckets() const { return buckets_.size(); }

 private:
  struct Slot {
    torch::Tensor parameter;
    std::size_t bucket = 0;
    std::int64_t offset = 0;
    bool ready = false;
  };
  struct Bucket {
    std::vector<std::size_t> slots;
    torch::Tensor flat;
    std::size_t pending = 0;
    std::unique_ptr<Communicator::Pending> work;
  };
  void on_gradient(std::size_t slot, const torch::Tensor& gradient);
  void launch_ready_buckets();  // with mutex_ held

  Communicator& communicator_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hook_handles_;
  std::size_t next_to_launch_ = 0;
  std::mutex mutex_;  // hooks may run on autograd's device threads
};

}  // namespace trainyard
