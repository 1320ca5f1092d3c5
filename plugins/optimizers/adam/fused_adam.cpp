#include "fused_adam.h"

#include <ATen/Parallel.h>
#include <trainyard/torch_compat.h>

#include <cmath>

namespace trainyard::optimizers {
namespace {

struct AdamScalars {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, weight_decay, eps;
  float inverse_sqrt_bias_correction2, step_size;
};

// The per-element Adam update (Kingma & Ba, 2015, Algorithm 1, with LibTorch's L2 weight decay
// and, when kAmsgrad, AMSGrad). A branch-free loop the compiler vectorizes; compiled for AVX-512,
// AVX2 and baseline x86-64, the best chosen when the plugin loads.
template <bool kAmsgrad>
inline void adam_update_loop(float* __restrict param, const float* __restrict grad, float* __restrict exp_avg,
                             float* __restrict exp_avg_sq, float* __restrict max_exp_avg_sq, std::int64_t n,
                             const AdamScalars& s) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + s.weight_decay * param[i];
    const float m = s.beta1 * exp_avg[i] + s.one_minus_beta1 * g;
    const float v = s.beta2 * exp_avg_sq[i] + s.one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    float second = v;
    if constexpr (kAmsgrad) {
      second = std::max(max_exp_avg_sq[i], v);
      max_exp_avg_sq[i] = second;
    }
    param[i] -= s.step_size * m / (std::sqrt(second) * s.inverse_sqrt_bias_correction2 + s.eps);
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TRAINYARD_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TRAINYARD_CPU_CLONES
#endif

TRAINYARD_CPU_CLONES
void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n, AdamScalars s) {
  adam_update_loop<false>(param, grad, exp_avg, exp_avg_sq, nullptr, n, s);
}

TRAINYARD_CPU_CLONES
void amsgrad_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                    std::int64_t n, AdamScalars s) {
  adam_update_loop<true>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, s);
}

// Element i of both tensors' memory is the same element of the tensor: both contiguous, or both
// channels-last. (Strides may still differ in dimensions of size 1, as a 1x1 conv's weight and its
// gradient do after a channels-last conversion.)
bool same_memory_order(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  if (a.is_contiguous() && b.is_contiguous()) return true;
  return a.dim() == 4 && a.is_contiguous(at::MemoryFormat::ChannelsLast) &&
         b.is_contiguous(at::MemoryFormat::ChannelsLast);
}

bool fusable(const torch::Tensor& p, const torch::Tensor& grad) {
  return p.scalar_type() == torch::kFloat32 && grad.scalar_type() == torch::kFloat32 && p.device().is_cpu() &&
         !grad.is_sparse() && same_memory_order(p, grad);
}

torch::Tensor in_layout_of(const torch::Tensor& state, const torch::Tensor& p) {
  if (same_memory_order(state, p) && state.scalar_type() == p.scalar_type()) return state;
  auto copy = torch::empty_like(p, at::MemoryFormat::Preserve);
  copy.copy_(state);
  return copy;
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  for (auto& group : param_groups_) {
    for (auto& p : group.params()) {
      if (p.grad().defined() && !fusable(p, p.grad())) return torch::optim::Adam::step(closure);
    }
  }
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const auto key = compat::optimizer_state_key(state_, p);
      auto found = state_.find(key);
      if (found == state_.end()) {
        auto state = std::make_unique<torch::optim::AdamParamState>();
        state->step(0);
        // Preserve the parameter's layout (channels-last, say) so the strides line up.
        state->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        state->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        if (options.amsgrad()) state->max_exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        found = state_.emplace(key, std::move(state)).first;
      }
      auto& state = static_cast<torch::optim::AdamParamState&>(*found->second);
      // State loaded from a checkpoint may be in another layout: bring it to the parameter's.
      state.exp_avg(in_layout_of(state.exp_avg(), p));
      state.exp_avg_sq(in_layout_of(state.exp_avg_sq(), p));
      if (options.amsgrad()) state.max_exp_avg_sq(in_layout_of(state.max_exp_avg_sq(), p));
      torch::Tensor max_sq = options.amsgrad() ? state.max_exp_avg_sq() : torch::Tensor();
      state.step(state.step() + 1);
      const double beta1 = std::get<0>(options.betas());
      const double beta2 = std::get<1>(options.betas());
      const double bias_correction1 = 1 - std::pow(beta1, state.step());
      const double bias_correction2 = 1 - std::pow(beta2, state.step());
      const AdamScalars s{static_cast<float>(beta1),
                          static_cast<float>(beta2),
                          static_cast<float>(1 - beta1),
                          static_cast<float>(1 - beta2),
                          static_cast<float>(options.weight_decay()),
                          static_cast<float>(options.eps()),
                          static_cast<float>(1 / std::sqrt(bias_correction2)),
                          static_cast<float>(options.lr() / bias_correction1)};
      float* param = p.data_ptr<float>();
      const float* grad = p.grad().data_ptr<float>();
      float* exp_avg = state.exp_avg().data_ptr<float>();
      float* exp_avg_sq = state.exp_avg_sq().data_ptr<float>();
      float* max_exp_avg_sq = max_sq.defined() ? max_sq.data_ptr<float>() : nullptr;
      at::parallel_for(0, p.numel(), 1 << 15, [&](std::int64_t begin, std::int64_t end) {
        if (max_exp_avg_sq) {
          amsgrad_update(param + begin, grad + begin, exp_avg + begin, exp_avg_sq + begin, max_exp_avg_sq + begin,
                         end - begin, s);
        } else {
          adam_update(param + begin, grad + begin, exp_avg + begin, exp_avg_sq + begin, end - begin, s);
        }
      });
    }
  }
  return loss;
}

}  // namespace trainyard::optimizers
