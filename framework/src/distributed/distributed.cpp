#include "trainyard/distributed/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <map>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#if TRAINYARD_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "trainyard/errors.h"

namespace trainyard {
namespace {

// LibTorch 2.0 split the process group into a front (ProcessGroup) and the backends behind it;
// the concrete Gloo and NCCL groups, which this file uses directly, derive from the latter.
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

std::optional<int> integer_variable(const EnvironmentLookup& lookup, const std::string& name) {
  const auto text = lookup(name);
  if (!text) return std::nullopt;
  try {
    std::size_t used = 0;
    const int value = std::stoi(*text, &used);
    if (used == text->size()) return value;
  } catch (const std::exception&) {
  }
  throw InputError("environment variable " + name + "='" + *text + "': expected an integer");
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

// Where Gloo's connections bind: an interface the user named (GLOO_SOCKET_IFNAME, as PyTorch
// reads it), loopback for a single-machine run, else the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& master_addr) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  if (is_loopback(master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

c10::intrusive_ptr<GroupBase> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, const LaunchEnvironment& env,
                                        std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(gloo_device(env.master_addr));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, options);
}

}  // namespace

CollectiveError::~CollectiveError() = default;
Communicator::Pending::~Pending() = default;

LaunchEnvironment read_launch_environment(const EnvironmentLookup& lookup) {
  LaunchEnvironment env;
  if (lookup("RANK") || lookup("WORLD_SIZE")) {
    if (!lookup("RANK") || !lookup("WORLD_SIZE")) {
      throw InputError(std::string("environment: ") + (lookup("RANK") ? "RANK" : "WORLD_SIZE") + " is set but " +
                       (lookup("RANK") ? "WORLD_SIZE" : "RANK") +
                       " is not; a launcher sets both (with LOCAL_RANK, MASTER_ADDR, MASTER_PORT)");
    }
    env.launcher = "torchrun";
    env.rank = *integer_variable(lookup, "RANK");
    env.world_size = *integer_variable(lookup, "WORLD_SIZE");
    env.local_rank = integer_variable(lookup, "LOCAL_RANK").value_or(0);
    env.local_world_size = integer_variable(lookup, "LOCAL_WORLD_SIZE").value_or(1);
  } else if (lookup("SLURM_STEP_ID") && lookup("SLURM_PROCID") && lookup("SLURM_NTASKS")) {
    // Only inside an srun step: a batch script itself also sees SLURM_NTASKS, yet is one process.
    env.launcher = "slurm";
    env.rank = *integer_variable(lookup, "SLURM_PROCID");
    env.world_size = *integer_variable(lookup, "SLURM_NTASKS");
    env.local_rank = integer_variable(lookup, "SLURM_LOCALID").value_or(0);
    // "2(x3),1": the first node's count; the nodes of an srun step usually run as many each.
    if (const auto per_node = lookup("SLURM_STEP_TASKS_PER_NODE")) {
      env.local_world_size = std::max(1, std::atoi(per_node->c_str()));
    }
    if (const auto launch_node = lookup("SLURM_LAUNCH_NODE_IPADDR")) env.master_addr = *launch_node;
    if (const auto job = integer_variable(lookup, "SLURM_JOB_ID")) env.master_port = 29500 + *job % 1000;
  } else {
    return env;
  }
  if (const auto address = lookup("MASTER_ADDR")) env.master_addr = *address;
  if (const auto file = lookup("TRAINYARD_RENDEZVOUS_FILE")) env.rendezvous_file = *file;
  if (const auto port = integer_variable(lookup, "MASTER_PORT")) env.master_port = *port;
  const std::string rank_name = env.launcher == "slurm" ? "SLURM_PROCID" : "RANK";
  const std::string size_name = env.launcher == "slurm" ? "SLURM_NTASKS" : "WORLD_SIZE";
  if (env.world_size < 1) throw InputError("environment: " + size_name + " must be at least 1");
  if (env.rank < 0 || env.rank >= env.world_size) {
    throw InputError("environment: " + rank_name + "=" + std::to_string(env.rank) + " is outside 0.." +
                     std::to_string(env.world_size - 1) + " (" + size_name + "=" + std::to_string(env.world_size) +
                     ")");
  }
  if (env.local_rank < 0) throw InputError("environment: LOCAL_RANK must be at least 0");
  if (env.local_world_size < 1) throw InputError("environment: LOCAL_WORLD_SIZE must be at least 1");
  if (env.master_port < 1 || env.master_port > 65535) {
    throw InputError("environment: MASTER_PORT=" + std::to_string(env.master_port) + " is not a TCP port (1..65535)");
  }
  if (env.master_addr.empty()) throw InputError("environment: MASTER_ADDR is empty");
  return env;
}

LaunchEnvironment read_launch_environment() {
  return read_launch_environment([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (!value) return std::nullopt;
    return std::string(value);
  });
}

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string error = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("cannot find a free port on 127.0.0.1: " + error);
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::vector<std::int64_t> shard_order(const std::vector<std::int64_t>& order, int rank, int world_size, bool pad,
                                      bool drop) {
  if (world_size <= 1) return order;
  std::vector<std::int64_t> all = order;
  const std::size_t world = static_cast<std::size_t>(world_size);
  if (pad && !order.empty()) {
    const std::size_t total = (order.size() + world - 1) / world * world;
    for (std::size_t i = 0; all.size() < total; ++i) all.push_back(order[i % order.size()]);
  } else if (drop) {
    all.resize(all.size() - all.size() % world);
  }
  std::vector<std::int64_t> mine;
  mine.reserve(all.size() / world + 1);
  for (std::size_t i = static_cast<std::size_t>(rank); i < all.size(); i += world) mine.push_back(all[i]);
  return mine;
}

void require_gpu_per_local_process(const torch::Device& device, int local_processes, int cuda_devices) {
  if (!device.is_cuda() || local_processes <= cuda_devices) return;
  throw InputError(std::to_string(local_processes) +
                   " processes on this machine train on one GPU each (local rank r on " + "cuda:r), and it has " +
                   std::to_string(cuda_devices) + " CUDA device(s): start at most " + std::to_string(cuda_devices) +
                   " (--nproc " + std::to_string(cuda_devices) + "), or set device: cpu");
}

std::string resolve_backend(const std::string& setting, const torch::Device& device) {
  const std::string backend = setting == "auto" ? (device.is_cuda() ? "nccl" : "gloo") : setting;
  if (backend == "nccl") {
    if (!device.is_cuda()) {
      throw InputError("distributed.backend: nccl needs CUDA devices, and this run is on " + device.str() +
                       "; use gloo (or auto)");
    }
#if !TRAINYARD_WITH_NCCL
    throw InputError(
        "distributed.backend: nccl: this build of Trainyard has no NCCL (it was built "
        "against a LibTorch without CUDA); use gloo");
#endif
  }
  return backend;
}

// ---- the process groups

struct Communicator::Groups {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> main;  // gradients, metrics, broadcasts: Gloo or NCCL
  c10::intrusive_ptr<GroupBase> cpu;   // small host-side flags: always Gloo
  std::chrono::milliseconds timeout{0};
};

namespace {

[[noreturn]] void raise_collective_error(const Communicator& c, std::chrono::milliseconds timeout,
                                         const std::exception_ptr& error) {
  throw CollectiveError("rank " + std::to_string(c.rank()) + " of " + std::to_string(c.world_size()) +
                        ": a collective operation (" + c.backend() +
                        ") failed: another process died, "
                        "hung longer than distributed.timeout_seconds (" +
                        std::to_string(timeout.count() / 1000) + " s) or stopped: " + exception_message(error));
}

class WorkPending : public Communicator::Pending {
 public:
  WorkPending(const Communicator& communicator, std::chrono::milliseconds timeout, c10::intrusive_ptr<c10d::Work> work,
              std::vector<at::Tensor> tensors)
      : communicator_(communicator), timeout_(timeout), work_(std::move(work)), tensors_(std::move(tensors)) {}
  void wait() override {
    try {
      work_->wait();
    } catch (...) {
      raise_collective_error(communicator_, timeout_, std::current_exception());
    }
  }

 private:
  const Communicator& communicator_;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::Work> work_;
  std::vector<at::Tensor> tensors_;  // alive until the collective is done
};

}  // namespace

Communicator::Communicator(const LaunchEnvironment& env, const std::string& backend, std::chrono::milliseconds timeout)
    : groups_(std::make_unique<Groups>()), rank_(env.rank), world_size_(env.world_size), backend_(backend) {
  groups_->timeout = timeout;
  try {
    if (!env.rendezvous_file.empty()) {
      groups_->store = c10::make_intrusive<c10d::FileStore>(env.rendezvous_file, env.world_size);
      groups_->store->setTimeout(timeout);
    } else {
      c10d::TCPStoreOptions options;
      options.port = static_cast<std::uint16_t>(env.master_port);
      options.isServer = env.rank == 0;
      options.numWorkers = static_cast<std::size_t>(env.world_size);
      options.waitWorkers = true;
      options.timeout = timeout;
      groups_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    }
  } catch (...) {
    const std::string where = env.rendezvous_file.empty()
                                  ? "the TCP store at " + env.master_addr + ":" + std::to_string(env.master_port) +
                                        " (MASTER_ADDR, MASTER_PORT)"
                                  : "the rendezvous file '" + env.rendezvous_file + "'";
    throw CollectiveError("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                          ": could not meet the other processes through " + where + ": " +
                          exception_message(std::current_exception()));
  }
  try {
    auto main_store = c10::make_intrusive<c10d::PrefixStore>("main", groups_->store);
    auto cpu_store = c10::make_intrusive<c10d::PrefixStore>("cpu", groups_->store);
    if (backend == "nccl") {
#if TRAINYARD_WITH_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      groups_->main = c10::make_intrusive<c10d::ProcessGroupNCCL>(main_store, env.rank, env.world_size, options);
#else
      throw InputError("distributed.backend: nccl: this build has no NCCL");
#endif
    } else {
      groups_->main = make_gloo(main_store, env, timeout);
    }
    groups_->cpu = backend == "gloo" ? groups_->main : make_gloo(cpu_store, env, timeout);
  } catch (const InputError&) {
    throw;
  } catch (...) {
    raise_collective_error(*this, timeout, std::current_exception());
  }
}

Communicator::~Communicator() = default;

void Communicator::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  for (auto& t : tensors) all_reduce_sum_async(t)->wait();
}

std::unique_ptr<Communicator::Pending> Communicator::all_reduce_sum_async(torch::Tensor tensor) {
  std::vector<at::Tensor> tensors{std::move(tensor)};
  try {
    auto work = groups_->main->allreduce(tensors);
    return std::make_unique<WorkPending>(*this, groups_->timeout, std::move(work), std::move(tensors));
  } catch (...) {
    raise_collective_error(*this, groups_->timeout, std::current_exception());
  }
}

bool Communicator::any(bool flag) {
  std::vector<at::Tensor> tensors{torch::full({1}, flag ? 1 : 0, torch::kInt32)};
  try {
    groups_->cpu->allreduce(tensors)->wait();
  } catch (...) {
    raise_collective_error(*this, groups_->timeout, std::current_exception());
  }
  return tensors[0].item<int>() > 0;
}

void Communicator::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  c10d::BroadcastOptions options;
  options.rootRank = root;
  for (auto& t : tensors) {
    std::vector<at::Tensor> one{t};
    try {
      groups_->main->broadcast(one, options)->wait();
    } catch (...) {
      raise_collective_error(*this, groups_->timeout, std::current_exception());
    }
  }
}

void Communicator::broadcast_bytes(std::string& bytes, int root) {
  c10d::BroadcastOptions options;
  options.rootRank = root;
  try {
    std::vector<at::Tensor> size{torch::full({1}, static_cast<std::int64_t>(bytes.size()), torch::kInt64)};
    groups_->cpu->broadcast(size, options)->wait();
    bytes.resize(static_cast<std::size_t>(size[0].item<std::int64_t>()));
    if (bytes.empty()) return;
    std::vector<at::Tensor> data{
        torch::from_blob(bytes.data(), {static_cast<std::int64_t>(bytes.size())}, torch::kUInt8)};
    groups_->cpu->broadcast(data, options)->wait();
  } catch (...) {
    raise_collective_error(*this, groups_->timeout, std::current_exception());
  }
}

void broadcast_module_state(Communicator& communicator, torch::nn::Module& module) {
  // One flat buffer per dtype: a handful of collectives instead of one per tensor, and flat
  // buffers are dense whatever the parameters' memory format.
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> state = module.parameters();
  for (const auto& b : module.buffers()) state.push_back(b);
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
  for (const auto& t : state) {
    if (t.defined() && t.numel() > 0) by_type[t.scalar_type()].push_back(t);
  }
  for (auto& [type, tensors] : by_type) {
    std::vector<torch::Tensor> pieces;
    for (const auto& t : tensors) pieces.push_back(t.detach().reshape({-1}));
    std::vector<torch::Tensor> flat{torch::cat(pieces)};
    communicator.broadcast(flat);
    std::int64_t offset = 0;
    for (auto& t : tensors) {
      t.detach().copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

// ---- gradient buckets

GradientReducer::GradientReducer(Communicator& communicator, const std::vector<torch::Tensor>& parameters,
                                 double bucket_mb)
    : communicator_(communicator) {
  const auto bucket_bytes = static_cast<std::int64_t>(bucket_mb * 1024 * 1024);
  std::int64_t bucket_used = 0;
  // Reverse order: backward reaches the last layers first, so their bucket fills first.
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    if (!it->requires_grad()) continue;
    const std::int64_t bytes = it->numel() * static_cast<std::int64_t>(it->element_size());
    const bool same_kind = !slots_.empty() && slots_.back().parameter.scalar_type() == it->scalar_type() &&
                           slots_.back().parameter.device() == it->device();
    if (buckets_.empty() || !same_kind || (bucket_used > 0 && bucket_used + bytes > bucket_bytes)) {
      buckets_.emplace_back();
      bucket_used = 0;
    }
    Slot slot;
    slot.parameter = *it;
    slot.bucket = buckets_.size() - 1;
    slot.offset = bucket_used / static_cast<std::int64_t>(it->element_size());
    buckets_.back().slots.push_back(slots_.size());
    slots_.push_back(slot);
    bucket_used += bytes;
  }
  for (auto& b : buckets_) {
    std::int64_t elements = 0;
    for (const auto s : b.slots) elements += slots_[s].parameter.numel();
    const auto& first = slots_[b.slots.front()].parameter;
    b.flat = torch::empty({elements}, first.options().requires_grad(false));
    b.pending = b.slots.size();
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    hook_handles_.push_back(
        slots_[i].parameter.register_hook([this, i](torch::Tensor gradient) { on_gradient(i, gradient); }));
  }
}

GradientReducer::~GradientReducer() {
  for (std::size_t i = 0; i < hook_handles_.size(); ++i) slots_[i].parameter.remove_hook(hook_handles_[i]);
}

void GradientReducer::on_gradient(std::size_t index, const torch::Tensor& gradient) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slot& slot = slots_[index];
  Bucket& bucket = buckets_[slot.bucket];
  if (slot.ready) {
    // Its bucket may already be on the wire: a second backward before the step cannot be added.
    throw std::logic_error(
        "data-parallel training: a parameter received a second gradient before "
        "the optimizer step; one backward pass per step is supported");
  }
  bucket.flat.narrow(0, slot.offset, gradient.numel()).view(gradient.sizes()).copy_(gradient);
  slot.ready = true;
  if (--bucket.pending == 0) launch_ready_buckets();
}

void GradientReducer::launch_ready_buckets() {
  while (next_to_launch_ < buckets_.size() && buckets_[next_to_launch_].pending == 0) {
    Bucket& b = buckets_[next_to_launch_++];
    b.work = communicator_.all_reduce_sum_async(b.flat);
  }
}

void GradientReducer::synchronize() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t b = next_to_launch_; b < buckets_.size(); ++b) {
      for (const auto s : buckets_[b].slots) {
        Slot& slot = slots_[s];
        if (slot.ready) continue;
        buckets_[b].flat.narrow(0, slot.offset, slot.parameter.numel()).zero_();
        slot.ready = true;
      }
      buckets_[b].pending = 0;
    }
    launch_ready_buckets();
  }
  const double world = static_cast<double>(communicator_.world_size());
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    b.work->wait();
    b.work.reset();
    b.flat.div_(world);
    for (const auto s : b.slots) {
      Slot& slot = slots_[s];
      const auto average = b.flat.narrow(0, slot.offset, slot.parameter.numel()).view(slot.parameter.sizes());
      auto& gradient = slot.parameter.mutable_grad();
      if (gradient.defined()) {
        gradient.copy_(average);
      } else {
        gradient = average.clone();
      }
      slot.ready = false;
    }
    b.pending = b.slots.size();
  }
  next_to_launch_ = 0;
}

}  // namespace trainyard
