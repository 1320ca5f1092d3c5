// Adam with the whole update of a parameter in one pass over memory.
#pragma once

#include <torch/torch.h>

namespace trainyard::optimizers {

/// torch::optim::Adam with a fused step for dense float32 parameters: LibTorch's step makes about
/// a dozen passes over each parameter's memory (separate mul_, add_, addcmul_, sqrt, div, add_,
/// addcdiv_ kernels and their temporaries); this one reads parameter, gradient and both moments
/// once and writes them once. Same state, options and serialization as Adam; other parameters
/// (float64, sparse, odd strides) take Adam's own path. Results match Adam's to float rounding.
class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace trainyard::optimizers
