// A very small CNN for fast end-to-end tests of the framework's logic.
#include <trainyard/plugin_api.h>

namespace {
class TinyNetImpl : public trainyard::Model {
 public:
  TinyNetImpl(std::int64_t in_channels, std::int64_t num_classes, std::int64_t width) {
    conv_ = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, width, 3).padding(1)));
    fc_ = register_module("fc", torch::nn::Linear(width, num_classes));
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(conv_(x));
    return fc_(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
  }

 private:
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

std::vector<trainyard::ParamSpec> schema() {
  return {trainyard::int_param("width", 8, "channels of the one conv layer").at_least(1)};
}
std::shared_ptr<trainyard::Model> make(const trainyard::Params& params, const trainyard::ModelContext& c) {
  return std::make_shared<TinyNetImpl>(c.in_channels, c.num_classes, params.get_int("width"));
}
const trainyard::PluginInfo* info() {
  static const auto i = trainyard::model_plugin("tiny", "1.0.0", "one conv layer", &schema, &make);
  return &i;
}
}  // namespace
TRAINYARD_PLUGIN(info)
