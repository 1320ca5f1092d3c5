// Where training runs: device selection and CPU thread count.
#pragma once

#include <string>

#include <torch/torch.h>

namespace trainyard {

/// "auto" picks CUDA when LibTorch sees a GPU, else the CPU. Throws InputError when "cuda" or
/// "cuda:N" is asked for and no such GPU is available.
torch::Device resolve_device(const std::string& requested);

/// "cpu (2 threads)" or "cuda:0 (NVIDIA H100)": for logs and the run's provenance.
std::string describe_device(const torch::Device& device, int cpu_threads);

/// Whether this LibTorch was built with CUDA. Such a process may have started the CUDA driver
/// (torch::cuda::device_count() does), which a forked copy cannot use: its sweep trials are
/// started as runners of their own, not as copies (SweepRunOptions::run_here).
bool libtorch_has_cuda();

/// Cores this process may run on (its CPU affinity, which containers and taskset narrow).
int available_cpu_cores();

/// Sets LibTorch's intra-op thread count: `requested`, or every available core when 0.
/// LibTorch defaults to one thread on some machines, which halves training speed on two cores.
int configure_cpu_threads(int requested);

}  // namespace trainyard
