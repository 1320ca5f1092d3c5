// The ResNet family of He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016),
// Table 1: basic blocks for ResNet-18 and -34, bottleneck blocks for ResNet-50, -101 and -152,
// one stem and one stage layout shared by all. Each depth is its own plugin (plugin.cpp).
#pragma once

#include <array>
#include <cstdint>

#include <trainyard/batch_norm.h>
#include <trainyard/plugin_api.h>

namespace trainyard::models {

/// 3x3 and 3x3 at `width` channels, plus the shortcut (ResNet-18 and -34). The stride sits on
/// the first 3x3; a block that changes resolution or width projects its shortcut with a strided
/// 1x1 conv + BN (option B in the paper), the others add the input unchanged.
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr std::int64_t kExpansion = 1;

  BasicBlockImpl(std::int64_t in_channels, std::int64_t width, std::int64_t stride, bool project);
  torch::Tensor forward(torch::Tensor x);
  /// Zeroes the last BN's scale so the block starts as the identity (Goyal et al., 2017,
  /// "Accurate, Large Minibatch SGD", section 5.1).
  void zero_init_last_norm();

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  trainyard::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(BasicBlock);

/// 1x1 down to `width` channels, 3x3, 1x1 up to 4 x width, plus the shortcut (ResNet-50 and
/// deeper). The stride sits on the first 1x1 conv, as in the original paper (torchvision's
/// "v1.5" moves it to the 3x3); the first block of each stage projects its shortcut.
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr std::int64_t kExpansion = 4;

  BottleneckImpl(std::int64_t in_channels, std::int64_t width, std::int64_t stride, bool project);
  torch::Tensor forward(torch::Tensor x);
  void zero_init_last_norm();

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  trainyard::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(Bottleneck);

enum class BlockKind { kBasic, kBottleneck };

struct ResNetOptions {
  BlockKind block = BlockKind::kBottleneck;
  std::array<std::int64_t, 4> blocks{3, 4, 6, 3};  // blocks per stage
  std::int64_t num_classes = 1000;
  std::int64_t in_channels = 3;
  bool zero_init_residual = false;
};

/// The layout of each depth in Table 1 of the paper: 18, 34, 50, 101 or 152. Throws
/// std::invalid_argument for another depth.
ResNetOptions resnet_options(int depth);

/// Stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool without padding, as the reference recipe has
/// it), four stages of 64, 128, 256 and 512 channels (x4 out for bottlenecks), global average
/// pooling, one fully connected layer. Adaptive pooling lets inputs other than 224x224 through.
class ResNetImpl : public trainyard::Model {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  torch::Tensor forward(torch::Tensor images) override;

 private:
  torch::nn::Sequential stem_{nullptr};
  std::array<torch::nn::Sequential, 4> stages_{nullptr, nullptr, nullptr, nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace trainyard::models
