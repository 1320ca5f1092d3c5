#include "trainyard/train/mixed_precision.h"

#include <cpuid.h>

#include "trainyard/errors.h"

// Set by CMake when LibTorch was built with CUDA; its CUDA headers need the CUDA toolkit.
#if TRAINYARD_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace trainyard {

const char* to_string(Precision precision) {
  switch (precision) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
  }
  return "unknown";
}

CpuFeatures detect_cpu_features() {
  CpuFeatures features;
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return features;
  const bool osxsave = (ecx & (1u << 27)) != 0;
  if (!osxsave) return features;
  // The OS must save the AVX-512 (opmask, ZMM) and AMX (tile) register state on context switch.
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const bool avx512_state = (xcr0_lo & 0xE6u) == 0xE6u;
  const bool amx_state = (xcr0_lo & (3u << 17)) == (3u << 17);
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    features.amx_bf16 = amx_state && (edx & (1u << 22)) != 0;
    const unsigned max_subleaf = eax;
    if (max_subleaf >= 1 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) {
      features.avx512_bf16 = avx512_state && (eax & (1u << 5)) != 0;
    }
  }
#endif
  return features;
}

Precision resolve_precision(const std::string& setting, const torch::Device& device, const CpuFeatures& cpu) {
  if (setting == "fp32") return Precision::kFp32;
  if (setting == "bf16") return Precision::kBf16;
  if (setting == "fp16") {
    if (!device.is_cuda()) {
      throw InputError(
          "train.precision: fp16 needs a CUDA device (LibTorch's CPU autocast has "
          "no fp16); use bf16 or fp32 on the CPU");
    }
    return Precision::kFp16;
  }
  // auto
  if (device.is_cuda()) {
#if TRAINYARD_WITH_CUDA
    const auto* properties = at::cuda::getDeviceProperties(device.index());
    return properties->major >= 8 ? Precision::kBf16 : Precision::kFp16;  // bf16 from Ampere on
#else
    return Precision::kFp16;
#endif
  }
  return cpu.native_bf16() ? Precision::kBf16 : Precision::kFp32;
}

LossScaler::LossScaler(bool enabled, double initial_scale, int growth_interval)
    : enabled_(enabled), scale_(initial_scale), growth_interval_(growth_interval) {}

torch::Tensor LossScaler::scale(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }

bool LossScaler::step(torch::optim::Optimizer& optimizer) {
  if (!enabled_) {
    optimizer.step();
    return true;
  }
  std::vector<torch::Tensor> grads;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
  }
  const double inverse = 1.0 / scale_;
  bool finite = true;
  if (!grads.empty()) {
    // One reduction over every gradient, one read back to the host.
    std::vector<torch::Tensor> flags;
    flags.reserve(grads.size());
    for (auto& g : grads) {
      g.mul_(inverse);
      flags.push_back(torch::isfinite(g).all());
    }
    finite = torch::stack(flags).all().item<bool>();
  }
  if (!finite) {
    scale_ *= 0.5;
    clean_steps_ = 0;
    return false;
  }
  optimizer.step();
  if (++clean_steps_ >= growth_interval_) {
    scale_ *= 2.0;
    clean_steps_ = 0;
  }
  return true;
}

}  // namespace trainyard
