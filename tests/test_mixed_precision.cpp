// Precision selection, the autocast guard and fp16 loss scaling (its logic runs on the CPU too).
#include <gtest/gtest.h>

#include <trainyard/errors.h>
#include <trainyard/train/mixed_precision.h>
#include <trainyard/torch_compat.h>

using trainyard::CpuFeatures;
using trainyard::LossScaler;
using trainyard::Precision;

TEST(MixedPrecision, AutoPicksBf16OnlyOnCpusWithNativeBf16) {
  const torch::Device cpu(torch::kCPU);
  CpuFeatures none;
  CpuFeatures avx512;
  avx512.avx512_bf16 = true;
  CpuFeatures amx;
  amx.amx_bf16 = true;
  EXPECT_EQ(trainyard::resolve_precision("auto", cpu, none), Precision::kFp32);
  EXPECT_EQ(trainyard::resolve_precision("auto", cpu, avx512), Precision::kBf16);
  EXPECT_EQ(trainyard::resolve_precision("auto", cpu, amx), Precision::kBf16);
  EXPECT_EQ(trainyard::resolve_precision("fp32", cpu, avx512), Precision::kFp32);
  EXPECT_EQ(trainyard::resolve_precision("bf16", cpu, none), Precision::kBf16);
  EXPECT_THROW(trainyard::resolve_precision("fp16", cpu, avx512), trainyard::InputError);
}

TEST(MixedPrecision, CpuFeatureDetectionIsStable) {
  const auto a = trainyard::detect_cpu_features();
  const auto b = trainyard::detect_cpu_features();
  EXPECT_EQ(a.avx512_bf16, b.avx512_bf16);
  EXPECT_EQ(a.amx_bf16, b.amx_bf16);
}

TEST(MixedPrecision, AutocastGuardCastsConvolutionsAndRestoresState) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3));
  const auto x = torch::randn({1, 3, 8, 8});
  {
    trainyard::compat::AutocastGuard guard(c10::DeviceType::CPU, at::kBFloat16, true);
    EXPECT_EQ(conv(x).scalar_type(), at::kBFloat16);
    {
      trainyard::compat::AutocastGuard nested(c10::DeviceType::CPU, at::kBFloat16, true);
      EXPECT_EQ(conv(x).scalar_type(), at::kBFloat16);
    }
    EXPECT_EQ(conv(x).scalar_type(), at::kBFloat16);  // the inner guard left the outer one on
  }
  EXPECT_EQ(conv(x).scalar_type(), at::kFloat);
  trainyard::compat::AutocastGuard disabled(c10::DeviceType::CPU, at::kBFloat16, false);
  EXPECT_EQ(conv(x).scalar_type(), at::kFloat);
}

namespace {
struct OneParameter {
  torch::Tensor weight = torch::ones({2}, torch::requires_grad());
  torch::optim::SGD sgd{std::vector<torch::Tensor>{weight}, torch::optim::SGDOptions(1.0)};
};
}  // namespace

TEST(LossScaler, UnscalesGradientsBeforeTheStep) {
  OneParameter m;
  LossScaler scaler(true, 1024.0);
  scaler.scale((m.weight * 3).sum()).backward();
  EXPECT_FLOAT_EQ(m.weight.grad()[0].item<float>(), 3 * 1024.0f);
  EXPECT_TRUE(scaler.step(m.sgd));
  EXPECT_FLOAT_EQ(m.weight[0].item<float>(), 1.0f - 3.0f);  // lr 1, unscaled gradient 3
}

TEST(LossScaler, SkipsOverflowingStepsAndHalvesTheScale) {
  OneParameter m;
  LossScaler scaler(true, 1024.0);
  m.weight.mutable_grad() = torch::tensor({1.0f, std::numeric_limits<float>::infinity()});
  EXPECT_FALSE(scaler.step(m.sgd));
  EXPECT_DOUBLE_EQ(scaler.scale_value(), 512.0);
  EXPECT_FLOAT_EQ(m.weight[0].item<float>(), 1.0f);  // unchanged
}

TEST(LossScaler, GrowsAfterCleanSteps) {
  OneParameter m;
  LossScaler scaler(true, 8.0, /*growth_interval=*/3);
  for (int i = 0; i < 3; ++i) {
    m.sgd.zero_grad();
    scaler.scale(m.weight.sum()).backward();
    EXPECT_TRUE(scaler.step(m.sgd));
  }
  EXPECT_DOUBLE_EQ(scaler.scale_value(), 16.0);
}

TEST(LossScaler, DisabledIsAPassThrough) {
  OneParameter m;
  LossScaler scaler(false);
  const auto loss = (m.weight * 2).sum();
  EXPECT_TRUE(scaler.scale(loss).equal(loss));
  loss.backward();
  EXPECT_TRUE(scaler.step(m.sgd));
  EXPECT_FLOAT_EQ(m.weight[0].item<float>(), -1.0f);
}
