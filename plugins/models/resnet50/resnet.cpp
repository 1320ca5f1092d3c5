#include "resnet.h"

namespace trainyard::models {
namespace {
torch::nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
                       std::int64_t padding) {
  // No bias: every conv is followed by batch norm, whose shift makes a bias redundant.
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}
}  // namespace

BottleneckImpl::BottleneckImpl(std::int64_t in_channels, std::int64_t width, std::int64_t stride,
                               bool project) {
  const std::int64_t out_channels = width * kExpansion;
  conv1_ = register_module("conv1", conv(in_channels, width, 1, stride, 0));
  bn1_ = register_module("bn1", torch::nn::BatchNorm2d(width));
  conv2_ = register_module("conv2", conv(width, width, 3, 1, 1));
  bn2_ = register_module("bn2", torch::nn::BatchNorm2d(width));
  conv3_ = register_module("conv3", conv(width, out_channels, 1, 1, 0));
  bn3_ = register_module("bn3", torch::nn::BatchNorm2d(out_channels));
  if (project) {
    shortcut_ = register_module(
        "shortcut", torch::nn::Sequential(conv(in_channels, out_channels, 1, stride, 0),
                                          torch::nn::BatchNorm2d(out_channels)));
  }
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  auto out = bn1_(conv1_(x)).relu_();
  out = bn2_(conv2_(out)).relu_();
  out = bn3_(conv3_(out));
  out += shortcut_ ? shortcut_->forward(x) : x;
  return out.relu_();
}

void BottleneckImpl::zero_init_last_norm() {
  torch::NoGradGuard no_grad;
  bn3_->weight.zero_();
}

BottleneckResNetImpl::BottleneckResNetImpl(const BottleneckResNetOptions& options) {
  stem_ = register_module(
      "stem", torch::nn::Sequential(
                  conv(options.in_channels, 64, 7, 2, 3), torch::nn::BatchNorm2d(64),
                  torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)),
                  torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(0))));
  std::int64_t in_channels = 64;
  const std::array<std::int64_t, 4> widths{64, 128, 256, 512};
  for (std::size_t s = 0; s < 4; ++s) {
    torch::nn::Sequential stage;
    // The first stage keeps the resolution: the stem's max-pool already halved it.
    const std::int64_t stride = s == 0 ? 1 : 2;
    for (std::int64_t b = 0; b < options.blocks[s]; ++b) {
      Bottleneck block(in_channels, widths[s], b == 0 ? stride : 1, /*project=*/b == 0);
      if (options.zero_init_residual) block->zero_init_last_norm();
      stage->push_back(block);
      in_channels = widths[s] * BottleneckImpl::kExpansion;
    }
    stages_[s] = register_module("layer" + std::to_string(s + 1), stage);
  }
  fc_ = register_module("fc", torch::nn::Linear(in_channels, options.num_classes));
}

torch::Tensor BottleneckResNetImpl::forward(torch::Tensor images) {
  auto x = stem_->forward(images);
  for (auto& stage : stages_) x = stage->forward(x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc_(x);
}

}  // namespace trainyard::models
