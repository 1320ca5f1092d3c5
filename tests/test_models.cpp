// The model plugins: the ResNet family's parameter counts against the published architectures,
// the reference ResNet-50's layer structure and output shapes, the small CNN.
#include <gtest/gtest.h>

#include "test_support.h"
#include "trainyard/plugin/plugin_registry.h"

namespace t = trainyard::testing;

namespace {
std::shared_ptr<trainyard::Model> make_resnet(int depth, std::int64_t classes, bool zero_init = false) {
  return t::build_registry().make_model("resnet" + std::to_string(depth),
                                        trainyard::Params({{"zero_init_residual", zero_init}}), {classes, 3, 224});
}
std::shared_ptr<trainyard::Model> make_resnet50(std::int64_t classes, bool zero_init = false) {
  return make_resnet(50, classes, zero_init);
}
std::int64_t count_parameters(torch::nn::Module& module) {
  std::int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}
}  // namespace

TEST(ResNet50, HasTheRecipesParameterCountForThreeClasses) {
  auto model = make_resnet50(3);
  EXPECT_EQ(count_parameters(*model), 23514179);
}

TEST(ResNet50, HasTheStandardParameterCountFor1000Classes) {
  // torchvision's resnet50 has 25,557,032 parameters; moving the stride inside the block does
  // not change the count.
  auto model = make_resnet50(1000);
  EXPECT_EQ(count_parameters(*model), 25557032);
}

TEST(ResNetFamily, ParameterCountsMatchThePublishedArchitecturesFor1000Classes) {
  // torchvision's resnet18/34/50/101/152 (the stride's place inside a block and the stem's
  // max-pool padding change no count).
  const std::pair<int, std::int64_t> published[] = {
      {18, 11689512}, {34, 21797672}, {50, 25557032}, {101, 44549160}, {152, 60192808}};
  for (const auto& [depth, count] : published) {
    auto model = make_resnet(depth, 1000);
    EXPECT_EQ(count_parameters(*model), count) << "resnet" << depth;
  }
}

TEST(ResNetFamily, BasicBlockNetworksProjectOnlyWhereTheShapeChanges) {
  auto model = make_resnet(18, 10);
  int convs = 0, shortcuts = 0;
  for (const auto& item : model->named_modules()) {
    if (item.value()->as<torch::nn::Conv2d>()) ++convs;
    const auto& key = item.key();
    if (key.size() >= 8 && key.substr(key.size() - 8) == "shortcut") ++shortcuts;
  }
  EXPECT_EQ(shortcuts, 3);          // stages 2-4 halve the resolution; stage 1 keeps 64 channels
  EXPECT_EQ(convs, 1 + 8 * 2 + 3);  // stem, 8 blocks of two 3x3, 3 projections
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(torch::randn({2, 3, 64, 64})).sizes(), (std::vector<std::int64_t>{2, 10}));
}

TEST(ResNetFamily, EveryDepthIsAListedPluginWithItsBlockKind) {
  const auto& registry = t::build_registry();
  for (int depth : {18, 34, 50, 101, 152}) {
    const auto& plugin = registry.find(trainyard::PluginKind::kModel, "resnet" + std::to_string(depth));
    EXPECT_NE(plugin.name_and_version().find("1.0.0"), std::string::npos);
    EXPECT_NE(std::string(plugin.info->description).find(depth < 50 ? "basic" : "bottleneck"), std::string::npos)
        << depth;
  }
}

TEST(ResNet50, Has53ConvolutionsAnd4ProjectionShortcuts) {
  auto model = make_resnet50(3);
  int convs = 0, shortcuts = 0, bottlenecks = 0;
  for (const auto& item : model->named_modules()) {
    if (item.value()->as<torch::nn::Conv2d>()) ++convs;
    if (item.key().size() >= 8 && item.key().substr(item.key().size() - 8) == "shortcut") ++shortcuts;
    if (item.key().find('.') != std::string::npos && std::count(item.key().begin(), item.key().end(), '.') == 1 &&
        item.key().rfind("layer", 0) == 0) {
      ++bottlenecks;
    }
  }
  EXPECT_EQ(bottlenecks, 3 + 4 + 6 + 3);
  EXPECT_EQ(shortcuts, 4);
  EXPECT_EQ(convs, 1 + 16 * 3 + 4);
}

TEST(ResNet50, StemMaxPoolHasNoPaddingAndStageStridesAreOnTheFirst1x1) {
  auto model = make_resnet50(3);
  model->eval();
  torch::NoGradGuard no_grad;
  auto children = model->named_children();
  auto stem = children["stem"]->as<torch::nn::Sequential>();
  ASSERT_NE(stem, nullptr);
  const auto x = torch::randn({1, 3, 224, 224});
  auto y = stem->forward(x);
  // 224 -> 112 (7x7/2, pad 3) -> 55 (3x3/2 max-pool, no padding).
  EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{1, 64, 55, 55}));
  const std::vector<std::int64_t> expected[] = {{1, 256, 55, 55}, {1, 512, 28, 28}, {1, 1024, 14, 14}, {1, 2048, 7, 7}};
  for (int s = 0; s < 4; ++s) {
    auto stage = children["layer" + std::to_string(s + 1)]->as<torch::nn::Sequential>();
    y = stage->forward(y);
    EXPECT_EQ(y.sizes(), expected[s]) << "stage " << s + 1;
    // The stride of a downsampling stage sits on its first block's first 1x1 convolution.
    auto first_block = stage->children().front();
    auto conv1 = first_block->named_children()["conv1"]->as<torch::nn::Conv2d>();
    auto conv2 = first_block->named_children()["conv2"]->as<torch::nn::Conv2d>();
    EXPECT_EQ(conv1->options.kernel_size()->at(0), 1);
    EXPECT_EQ(conv1->options.stride()->at(0), s == 0 ? 1 : 2);
    EXPECT_EQ(conv2->options.stride()->at(0), 1);
  }
}

TEST(ResNet50, OutputsLogitsFor224And64PixelInputs) {
  auto model = make_resnet50(3);
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(torch::randn({2, 3, 224, 224})).sizes(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(model->forward(torch::randn({2, 3, 64, 64})).sizes(), (std::vector<std::int64_t>{2, 3}));
}

TEST(ResNet50, ZeroInitResidualMakesBlocksStartAsIdentity) {
  auto model = make_resnet50(3, /*zero_init=*/true);
  int zeroed = 0;
  for (const auto& p : model->named_parameters()) {
    if (p.key().find("bn3.weight") != std::string::npos) {
      EXPECT_EQ(p.value().abs().sum().item<float>(), 0.0f) << p.key();
      ++zeroed;
    }
  }
  EXPECT_EQ(zeroed, 16);
}

TEST(SmallCnn, HasTheParametersItsLayersAdmitAndClassifies) {
  auto model = t::build_registry().make_model(
      "small_cnn", trainyard::Params({{"width", std::int64_t{16}}, {"dropout", 0.0}}), {10, 3, 32});
  // 3x3 convs 3->16 and 16->32 without bias, two batch norms, a linear layer 32->10.
  EXPECT_EQ(count_parameters(*model), 3 * 16 * 9 + 2 * 16 + 16 * 32 * 9 + 2 * 32 + 32 * 10 + 10);
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(torch::randn({4, 3, 32, 32})).sizes(), (std::vector<std::int64_t>{4, 10}));
}
