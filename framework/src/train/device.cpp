#include "trainyard/train/device.h"

#include <sched.h>
#include <unistd.h>

#include <thread>

#include "trainyard/errors.h"

// Set by CMake when LibTorch was built with CUDA; its CUDA headers need the CUDA toolkit.
#if TRAINYARD_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace trainyard {

torch::Device resolve_device(const std::string& requested) {
  if (requested == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  if (requested == "cpu") return torch::Device(torch::kCPU);
  const torch::Device device(requested);  // "cuda" or "cuda:N", validated by the config
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (count == 0) {
    throw InputError("device: '" + requested +
                     "' was asked for, but this LibTorch sees no CUDA GPU (a CPU-only build, or "
                     "no driver). Use device: auto or cpu.");
  }
  const int index = device.has_index() ? device.index() : 0;
  if (index >= count) {
    throw InputError("device: '" + requested + "' was asked for, but only " + std::to_string(count) +
                     " CUDA device(s) exist (cuda:0..cuda:" + std::to_string(count - 1) + ")");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::string describe_device(const torch::Device& device, int cpu_threads) {
  if (device.is_cuda()) {
#if TRAINYARD_WITH_CUDA
    const auto* properties = at::cuda::getDeviceProperties(device.has_index() ? device.index() : 0);
    return device.str() + " (" + properties->name + ", " + std::to_string(properties->totalGlobalMem >> 30) + " GiB)";
#else
    return device.str();
#endif
  }
  return "cpu (" + std::to_string(cpu_threads) + (cpu_threads == 1 ? " thread)" : " threads)");
}

bool libtorch_has_cuda() { return TRAINYARD_WITH_CUDA != 0; }

int available_cpu_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

int configure_cpu_threads(int requested) {
  const int threads = requested > 0 ? requested : available_cpu_cores();
  torch::set_num_threads(threads);
  return threads;
}

}  // namespace trainyard
