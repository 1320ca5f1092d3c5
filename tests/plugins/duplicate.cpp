// Built twice, into two folders: two files claiming the optimizer name 'adam-copy'.
#include <trainyard/plugin_api.h>

namespace {
std::vector<trainyard::ParamSpec> schema() { return {}; }
std::shared_ptr<torch::optim::Optimizer> make(const trainyard::Params&, const trainyard::OptimizerContext& context) {
  return std::make_shared<torch::optim::SGD>(context.parameters, torch::optim::SGDOptions(0.1));
}
const trainyard::PluginInfo* info() {
  static const auto i = trainyard::optimizer_plugin("adam-copy", "1.0.0", "duplicate", &schema, &make);
  return &i;
}
}  // namespace
TRAINYARD_PLUGIN(info)
