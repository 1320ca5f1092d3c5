// trainyard::BatchNorm2d: torch::nn::BatchNorm2d's computation and parameter names (checkpoints
// are interchangeable), plus what LibTorch's C++ API lacks: in a data-parallel run with
// `distributed: {batch_norm: sync}` its training statistics are those of the global batch, summed
// over every process (PyTorch's SyncBatchNorm). Model plugins that want that use this class
// instead of torch::nn::BatchNorm2d; nothing else changes for them.
#pragma once

#include <torch/torch.h>

namespace trainyard {

class Collectives;

class BatchNorm2dImpl : public torch::nn::Cloneable<BatchNorm2dImpl> {
 public:
  explicit BatchNorm2dImpl(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1);
  ~BatchNorm2dImpl() override;
  void reset() override;
  torch::Tensor forward(const torch::Tensor& input);
  void pretty_print(std::ostream& stream) const override;

  /// Set by the host for `batch_norm: sync` (null: statistics of this process's batch only).
  void synchronize_with(Collectives* collectives) { collectives_ = collectives; }

  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  torch::Tensor synchronized_forward(const torch::Tensor& input);

  std::int64_t num_features_;
  double eps_, momentum_;
  Collectives* collectives_ = nullptr;
};
TORCH_MODULE(BatchNorm2d);

/// Turns on `sync` in every trainyard::BatchNorm2d of `model`. Returns how many; throws
/// InputError when the model also has LibTorch batch norm layers, which cannot be synchronized.
int synchronize_batch_norm(torch::nn::Module& model, Collectives& collectives, const std::string& model_name);

}  // namespace trainyard
