// ResNet with bottleneck blocks, as in He et al., "Deep Residual Learning for Image Recognition"
// (CVPR 2016), Table 1: ResNet-50 is stages of 3, 4, 6 and 3 blocks.
#pragma once

#include <array>
#include <cstdint>

#include <trainyard/plugin_api.h>

namespace trainyard::models {

/// 1x1 down to `width` channels, 3x3, 1x1 up to 4 x width, plus the shortcut. The stride sits on
/// the first 1x1 conv, as in the original paper (torchvision's "v1.5" moves it to the 3x3).
/// The first block of each stage projects the shortcut with a strided 1x1 conv + BN (option B in
/// the paper); the others add the input unchanged.
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr std::int64_t kExpansion = 4;

  BottleneckImpl(std::int64_t in_channels, std::int64_t width, std::int64_t stride, bool project);
  torch::Tensor forward(torch::Tensor x);
  /// Zeroes the last BN's scale so the block starts as the identity (Goyal et al., 2017,
  /// "Accurate, Large Minibatch SGD", section 5.1).
  void zero_init_last_norm();

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(Bottleneck);

struct BottleneckResNetOptions {
  std::array<std::int64_t, 4> blocks{3, 4, 6, 3};
  std::int64_t num_classes = 1000;
  std::int64_t in_channels = 3;
  bool zero_init_residual = false;
};

/// Stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool without padding), four bottleneck stages of
/// 64, 128, 256 and 512 channels (x4 out), global average pooling, one fully connected layer.
/// Adaptive pooling lets inputs other than 224x224 through.
class BottleneckResNetImpl : public trainyard::Model {
 public:
  explicit BottleneckResNetImpl(const BottleneckResNetOptions& options);
  torch::Tensor forward(torch::Tensor images) override;

 private:
  torch::nn::Sequential stem_{nullptr};
  std::array<torch::nn::Sequential, 4> stages_{nullptr, nullptr, nullptr, nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(BottleneckResNet);

}  // namespace trainyard::models
