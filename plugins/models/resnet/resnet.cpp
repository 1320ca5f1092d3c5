#include "resnet.h"

#include <stdexcept>

namespace trainyard::models {
namespace {

torch::nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
                       std::int64_t padding) {
  // No bias: every conv is followed by batch norm, whose shift makes a bias redundant.
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

torch::nn::Sequential projection(std::int64_t in, std::int64_t out, std::int64_t stride) {
  return torch::nn::Sequential(conv(in, out, 1, stride, 0), trainyard::BatchNorm2d(out));
}

// Builds one stage of `count` blocks of type Block; returns the channels it outputs.
template <typename Block, typename BlockImpl>
std::int64_t add_stage(torch::nn::Sequential& stage, std::int64_t in_channels, std::int64_t width, std::int64_t stride,
                       std::int64_t count, bool zero_init) {
  for (std::int64_t b = 0; b < count; ++b) {
    const std::int64_t out_channels = width * BlockImpl::kExpansion;
    const std::int64_t block_stride = b == 0 ? stride : 1;
    Block block(in_channels, width, block_stride, block_stride != 1 || in_channels != out_channels);
    if (zero_init) block->zero_init_last_norm();
    stage->push_back(block);
    in_channels = out_channels;
  }
  return in_channels;
}

}  // namespace

BasicBlockImpl::BasicBlockImpl(std::int64_t in_channels, std::int64_t width, std::int64_t stride, bool project) {
  conv1_ = register_module("conv1", conv(in_channels, width, 3, stride, 1));
  bn1_ = register_module("bn1", trainyard::BatchNorm2d(width));
  conv2_ = register_module("conv2", conv(width, width, 3, 1, 1));
  bn2_ = register_module("bn2", trainyard::BatchNorm2d(width));
  if (project) shortcut_ = register_module("shortcut", projection(in_channels, width, stride));
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  auto out = bn1_(conv1_(x)).relu_();
  out = bn2_(conv2_(out));
  out += shortcut_ ? shortcut_->forward(x) : x;
  return out.relu_();
}

void BasicBlockImpl::zero_init_last_norm() {
  torch::NoGradGuard no_grad;
  bn2_->weight.zero_();
}

BottleneckImpl::BottleneckImpl(std::int64_t in_channels, std::int64_t width, std::int64_t stride, bool project) {
  const std::int64_t out_channels = width * kExpansion;
  conv1_ = register_module("conv1", conv(in_channels, width, 1, stride, 0));
  bn1_ = register_module("bn1", trainyard::BatchNorm2d(width));
  conv2_ = register_module("conv2", conv(width, width, 3, 1, 1));
  bn2_ = register_module("bn2", trainyard::BatchNorm2d(width));
  conv3_ = register_module("conv3", conv(width, out_channels, 1, 1, 0));
  bn3_ = register_module("bn3", trainyard::BatchNorm2d(out_channels));
  if (project) shortcut_ = register_module("shortcut", projection(in_channels, out_channels, stride));
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

ResNetOptions resnet_options(int depth) {
  ResNetOptions options;
  switch (depth) {
    case 18:
      options.block = BlockKind::kBasic;
      options.blocks = {2, 2, 2, 2};
      break;
    case 34:
      options.block = BlockKind::kBasic;
      options.blocks = {3, 4, 6, 3};
      break;
    case 50:
      options.block = BlockKind::kBottleneck;
      options.blocks = {3, 4, 6, 3};
      break;
    case 101:
      options.block = BlockKind::kBottleneck;
      options.blocks = {3, 4, 23, 3};
      break;
    case 152:
      options.block = BlockKind::kBottleneck;
      options.blocks = {3, 8, 36, 3};
      break;
    default: throw std::invalid_argument("no ResNet of depth " + std::to_string(depth) + " (18, 34, 50, 101, 152)");
  }
  return options;
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) {
  stem_ = register_module(
      "stem", torch::nn::Sequential(conv(options.in_channels, 64, 7, 2, 3), trainyard::BatchNorm2d(64),
                                    torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)),
                                    torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(0))));
  std::int64_t channels = 64;
  const std::array<std::int64_t, 4> widths{64, 128, 256, 512};
  for (std::size_t s = 0; s < 4; ++s) {
    torch::nn::Sequential stage;
    // The first stage keeps the resolution: the stem's max-pool already halved it.
    const std::int64_t stride = s == 0 ? 1 : 2;
    channels = options.block == BlockKind::kBasic
                   ? add_stage<BasicBlock, BasicBlockImpl>(stage, channels, widths[s], stride, options.blocks[s],
                                                           options.zero_init_residual)
                   : add_stage<Bottleneck, BottleneckImpl>(stage, channels, widths[s], stride, options.blocks[s],
                                                           options.zero_init_residual);
    stages_[s] = register_module("layer" + std::to_string(s + 1), stage);
  }
  fc_ = register_module("fc", torch::nn::Linear(channels, options.num_classes));
}

torch::Tensor ResNetImpl::forward(torch::Tensor images) {
  auto x = stem_->forward(images);
  for (auto& stage : stages_) x = stage->forward(x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc_(x);
}

}  // namespace trainyard::models
