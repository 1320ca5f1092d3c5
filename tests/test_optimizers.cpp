// The sgd and adamw optimizer plugins: their steps equal LibTorch's own optimizers given the same
// options (what the YAML keys map to), and a contradictory setting fails with its name.
#include <gtest/gtest.h>

#include "test_support.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/errors.h"

namespace t = trainyard::testing;

namespace {

std::vector<torch::Tensor> make_parameters() {
  torch::manual_seed(0);
  return {torch::randn({6, 3, 3, 3}).requires_grad_(), torch::randn({6}).requires_grad_()};
}

// The same made-up gradients for both optimizers at each step.
void set_gradients(std::vector<torch::Tensor>& params, int step) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i].mutable_grad() = torch::cos(torch::arange(params[i].numel()).to(torch::kFloat32) * (0.3 * (step + 1) + i))
                                   .view(params[i].sizes());
  }
}

// Runs `steps` steps of the plugin's optimizer and of `reference` on equal parameters.
void expect_same_steps(
    const std::string& plugin, const trainyard::Params& params,
    const std::function<std::shared_ptr<torch::optim::Optimizer>(std::vector<torch::Tensor>)>& reference) {
  auto ours = make_parameters();
  auto theirs = make_parameters();
  auto optimizer = t::build_registry().make_optimizer(plugin, params, {ours});
  auto expected = reference(theirs);
  for (int step = 0; step < 5; ++step) {
    set_gradients(ours, step);
    set_gradients(theirs, step);
    optimizer->step();
    expected->step();
  }
  for (std::size_t i = 0; i < ours.size(); ++i) {
    EXPECT_TRUE(torch::equal(ours[i], theirs[i])) << plugin << " parameter " << i;
    EXPECT_FALSE(torch::equal(ours[i], make_parameters()[i])) << plugin << ": nothing moved";
  }
}

}  // namespace

TEST(SgdPlugin, StepsEqualLibTorchSgdWithNesterovMomentumAndWeightDecay) {
  expect_same_steps(
      "sgd",
      trainyard::Params(
          {{"lr", 0.05}, {"momentum", 0.8}, {"dampening", 0.0}, {"weight_decay", 1e-3}, {"nesterov", true}}),
      [](std::vector<torch::Tensor> p) {
        return std::make_shared<torch::optim::SGD>(
            p, torch::optim::SGDOptions(0.05).momentum(0.8).weight_decay(1e-3).nesterov(true));
      });
  expect_same_steps(
      "sgd",
      trainyard::Params(
          {{"lr", 0.1}, {"momentum", 0.0}, {"dampening", 0.0}, {"weight_decay", 0.0}, {"nesterov", false}}),
      [](std::vector<torch::Tensor> p) {
        return std::make_shared<torch::optim::SGD>(p, torch::optim::SGDOptions(0.1));
      });
}

TEST(SgdPlugin, NesterovWithoutMomentumIsRefusedWithThePluginsName) {
  std::vector<torch::Tensor> params = make_parameters();
  try {
    t::build_registry().make_optimizer(
        "sgd",
        trainyard::Params(
            {{"lr", 0.1}, {"momentum", 0.0}, {"dampening", 0.0}, {"weight_decay", 0.0}, {"nesterov", true}}),
        {params});
    FAIL() << "accepted";
  } catch (const trainyard::PluginError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("sgd"), std::string::npos) << message;
    EXPECT_NE(message.find("nesterov: true needs momentum > 0"), std::string::npos) << message;
  }
}

TEST(AdamWPlugin, StepsEqualLibTorchAdamWWithDecoupledDecay) {
  for (const bool amsgrad : {false, true}) {
    expect_same_steps(
        "adamw",
        trainyard::Params({{"lr", 0.01},
                           {"beta1", 0.85},
                           {"beta2", 0.99},
                           {"eps", 1e-7},
                           {"weight_decay", 0.05},
                           {"amsgrad", amsgrad}}),
        [amsgrad](std::vector<torch::Tensor> p) {
          return std::make_shared<torch::optim::AdamW>(
              p, torch::optim::AdamWOptions(0.01).betas({0.85, 0.99}).eps(1e-7).weight_decay(0.05).amsgrad(amsgrad));
        });
  }
}
