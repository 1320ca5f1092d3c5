#include "trainyard/batch_norm.h"

#include "trainyard/collectives.h"
#include "trainyard/errors.h"

namespace trainyard {
namespace {

// Sums a tensor over every rank, in the forward pass and again in the backward pass: each rank's
// loss depends on every rank's statistics, so each rank's share of their gradient is the sum of
// what all ranks send back (as PyTorch's SyncBatchNorm does).
class AllReduceSum : public torch::autograd::Function<AllReduceSum> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, torch::Tensor local,
                               Collectives* collectives) {
    context->saved_data["collectives"] = reinterpret_cast<std::int64_t>(collectives);
    std::vector<torch::Tensor> sums{local.clone()};
    collectives->all_reduce_sum(sums);
    return sums[0];
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* context,
                                               torch::autograd::tensor_list gradients) {
    auto* collectives = reinterpret_cast<Collectives*>(context->saved_data["collectives"].toInt());
    std::vector<torch::Tensor> sums{gradients[0].contiguous().clone()};
    collectives->all_reduce_sum(sums);
    return {sums[0], torch::Tensor()};
  }
};

}  // namespace

BatchNorm2dImpl::BatchNorm2dImpl(std::int64_t num_features, double eps, double momentum)
    : num_features_(num_features), eps_(eps), momentum_(momentum) {
  reset();
}

BatchNorm2dImpl::~BatchNorm2dImpl() = default;

void BatchNorm2dImpl::reset() {
  weight = register_parameter("weight", torch::ones({num_features_}));
  bias = register_parameter("bias", torch::zeros({num_features_}));
  running_mean = register_buffer("running_mean", torch::zeros({num_features_}));
  running_var = register_buffer("running_var", torch::ones({num_features_}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
}

void BatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "trainyard::BatchNorm2d(" << num_features_ << ", eps=" << eps_ << ", momentum=" << momentum_
         << (collectives_ ? ", synchronized" : "") << ")";
}

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& input) {
  if (is_training() && collectives_) return synchronized_forward(input);
  if (is_training()) {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
  }
  // What torch::nn::BatchNorm2d computes, through the same ATen call.
  return torch::batch_norm(input, weight, bias, running_mean, running_var, is_training(), momentum_, eps_,
                           at::globalContext().userEnabledCuDNN());
}

torch::Tensor BatchNorm2dImpl::synchronized_forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() == 4, "trainyard::BatchNorm2d expects [N, C, H, W] input, got ", input.sizes());
  // Statistics in float32 whatever autocast chose for the input, as cuDNN's batch norm keeps them.
  const auto x = input.to(torch::kFloat32);
  const auto count = static_cast<double>(x.size(0) * x.size(2) * x.size(3));
  const auto local = torch::cat({x.sum({0, 2, 3}), x.square().sum({0, 2, 3}), torch::full({1}, count, x.options())});
  const auto global = AllReduceSum::apply(local, collectives_);
  const auto total = global[2 * num_features_];
  const auto mean = global.narrow(0, 0, num_features_) / total;
  // E[x^2] - E[x]^2, clamped: the two sums come from one all-reduce instead of two passes.
  const auto variance = (global.narrow(0, num_features_, num_features_) / total - mean.square()).clamp_min(0);
  {
    torch::NoGradGuard no_grad;
    const double n = global[2 * num_features_].item<double>();
    running_mean.mul_(1 - momentum_).add_(mean.detach(), momentum_);
    running_var.mul_(1 - momentum_).add_(variance.detach() * (n / std::max(n - 1, 1.0)), momentum_);
    num_batches_tracked.add_(1);
  }
  const auto shape = std::vector<std::int64_t>{1, num_features_, 1, 1};
  const auto scale = (variance + eps_).rsqrt() * weight;
  const auto y = (x - mean.view(shape)) * scale.view(shape) + bias.view(shape);
  return y.to(input.scalar_type());
}

int synchronize_batch_norm(torch::nn::Module& model, Collectives& collectives, const std::string& model_name) {
  int synchronized = 0, unsupported = 0;
  for (const auto& module : model.modules(/*include_self=*/true)) {
    if (auto norm = std::dynamic_pointer_cast<BatchNorm2dImpl>(module)) {
      norm->synchronize_with(&collectives);
      ++synchronized;
    } else if (std::dynamic_pointer_cast<torch::nn::BatchNorm1dImpl>(module) ||
               std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(module) ||
               std::dynamic_pointer_cast<torch::nn::BatchNorm3dImpl>(module)) {
      ++unsupported;
    }
  }
  if (unsupported > 0) {
    throw InputError("distributed.batch_norm: sync: model '" + model_name + "' has " + std::to_string(unsupported) +
                     " torch::nn::BatchNorm layer(s), which LibTorch cannot synchronize; build them with "
                     "trainyard::BatchNorm2d (<trainyard/batch_norm.h>) or use batch_norm: local");
  }
  return synchronized;
}

}  // namespace trainyard
