// Mixed precision: which reduced-precision type a device trains fast in, and loss scaling for
// fp16, whose narrow exponent range lets small gradients underflow.
#pragma once

#include <string>

#include <torch/torch.h>

namespace trainyard {

enum class Precision { kFp32, kBf16, kFp16 };
const char* to_string(Precision precision);

/// CPU instructions that make bf16 matrix work faster than fp32 (read with cpuid at run time).
struct CpuFeatures {
  bool avx512_bf16 = false;  // AVX512_BF16: dot products of bf16 pairs (Cooper Lake and later)
  bool amx_bf16 = false;     // AMX tiles (Sapphire Rapids and later)
  bool native_bf16() const { return avx512_bf16 || amx_bf16; }
};
CpuFeatures detect_cpu_features();

/// Resolves `train.precision` for `device`: "auto" is bf16 on CPUs with native bf16 and on GPUs
/// that support it, fp16 on older GPUs, fp32 otherwise. Throws InputError for fp16 on a CPU
/// (LibTorch's CPU autocast has no fp16).
Precision resolve_precision(const std::string& setting, const torch::Device& device,
                            const CpuFeatures& cpu = detect_cpu_features());

/// Dynamic loss scaling (Micikevicius et al., "Mixed Precision Training", 2018), as PyTorch's
/// GradScaler: multiply the loss before backward, divide the gradients before the step, skip
/// steps whose gradients overflowed and halve the scale; double it after `growth_interval`
/// clean steps. Disabled, every call is a pass-through.
class LossScaler {
 public:
  explicit LossScaler(bool enabled, double initial_scale = 65536.0, int growth_interval = 2000);

  torch::Tensor scale(const torch::Tensor& loss) const;
  /// Unscales the gradients and steps `optimizer` unless one is inf/NaN. Returns whether it stepped.
  bool step(torch::optim::Optimizer& optimizer);
  double scale_value() const { return scale_; }
  bool enabled() const { return enabled_; }
  int clean_steps() const { return clean_steps_; }
  /// Continues from a saved state (a resumed run).
  void restore(double scale, int clean_steps) {
    scale_ = scale;
    clean_steps_ = clean_steps;
  }

 private:
  bool enabled_;
  double scale_;
  int growth_interval_;
  int clean_steps_ = 0;
};

}  // namespace trainyard
