// The adam optimizer plugin: the fused step matches LibTorch's Adam, in every option and layout.
#include <gtest/gtest.h>

#include <trainyard/torch_compat.h>

#include "test_support.h"
#include "trainyard/plugin/plugin_registry.h"

namespace t = trainyard::testing;

namespace {
struct Case {
  bool amsgrad;
  double weight_decay;
  bool channels_last;
};

std::vector<torch::Tensor> make_parameters(bool channels_last) {
  torch::manual_seed(0);
  auto conv = torch::randn({8, 4, 3, 3});
  auto pointwise = torch::randn({16, 8, 1, 1});  // 1x1: strides differ from its gradient's
  auto bias = torch::randn({8});
  if (channels_last) {
    conv = conv.contiguous(at::MemoryFormat::ChannelsLast);
    pointwise = pointwise.contiguous(at::MemoryFormat::ChannelsLast);
  }
  return {conv.requires_grad_(), pointwise.requires_grad_(), bias.requires_grad_()};
}

void set_gradients(std::vector<torch::Tensor>& params, int step) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto g = torch::sin(torch::arange(params[i].numel()).to(torch::kFloat32) * (0.1 * (step + 1) + i))
                 .view(params[i].sizes());
    params[i].mutable_grad() = g.contiguous();  // contiguous, as backward often leaves it
  }
}
}  // namespace

TEST(AdamPlugin, FusedStepMatchesLibTorchAdam) {
  for (const Case c :
       {Case{false, 0.0, false}, Case{true, 0.0, true}, Case{false, 0.01, true}, Case{true, 0.05, false}}) {
    auto fused_params = make_parameters(c.channels_last);
    auto reference_params = make_parameters(c.channels_last);
    trainyard::Params params({{"lr", 0.01},
                              {"beta1", 0.9},
                              {"beta2", 0.99},
                              {"eps", 1e-8},
                              {"weight_decay", c.weight_decay},
                              {"amsgrad", c.amsgrad},
                              {"fused", true}});
    auto fused = t::build_registry().make_optimizer("adam", params, {fused_params});
    torch::optim::Adam reference(
        reference_params,
        torch::optim::AdamOptions(0.01).betas({0.9, 0.99}).eps(1e-8).weight_decay(c.weight_decay).amsgrad(c.amsgrad));
    for (int step = 0; step < 5; ++step) {
      set_gradients(fused_params, step);
      set_gradients(reference_params, step);
      fused->step();
      reference.step();
    }
    for (std::size_t i = 0; i < fused_params.size(); ++i) {
      EXPECT_TRUE(torch::allclose(fused_params[i], reference_params[i], 1e-5, 1e-6))
          << "parameter " << i << " amsgrad " << c.amsgrad << " wd " << c.weight_decay << " channels_last "
          << c.channels_last << ": max diff " << (fused_params[i] - reference_params[i]).abs().max().item<float>();
      // It moved: a step that did nothing would also "match" an optimizer that did nothing.
      EXPECT_FALSE(torch::allclose(fused_params[i], make_parameters(c.channels_last)[i]));
    }
  }
}

TEST(AdamPlugin, FusedStateSavesAndLoadsLikeAdam) {
  auto params = make_parameters(true);
  trainyard::Params options({{"lr", 0.01},
                             {"beta1", 0.9},
                             {"beta2", 0.999},
                             {"eps", 1e-8},
                             {"weight_decay", 0.0},
                             {"amsgrad", false},
                             {"fused", true}});
  auto fused = t::build_registry().make_optimizer("adam", options, {params});
  set_gradients(params, 0);
  fused->step();
  torch::serialize::OutputArchive out;
  fused->save(out);
  std::ostringstream bytes;
  out.save_to(bytes);

  auto params2 = make_parameters(true);
  torch::optim::Adam plain(params2, torch::optim::AdamOptions(0.01));
  torch::serialize::InputArchive in;
  std::istringstream stream(bytes.str());
  in.load_from(stream);
  plain.load(in);
  auto& state = static_cast<torch::optim::AdamParamState&>(
      *plain.state().at(trainyard::compat::optimizer_state_key(plain.state(), params2[0])));
  EXPECT_EQ(state.step(), 1);
  EXPECT_GT(state.exp_avg().abs().sum().item<float>(), 0.0f);
}
