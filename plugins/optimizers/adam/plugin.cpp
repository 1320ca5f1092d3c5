// The `adam` optimizer plugin: Adam (Kingma & Ba, 2015), with the AMSGrad variant
// (Reddi et al., 2018) and L2 weight decay as LibTorch implements them.
#include <trainyard/plugin_api.h>

#include "adam_family.h"
#include "fused_adam.h"

namespace {

std::vector<trainyard::ParamSpec> schema() {
  auto params = trainyard::optimizers::adam_family_schema(0.0, "L2 penalty added to the gradient");
  params.push_back(trainyard::bool_param("fused", true,
                                         "update each float32 parameter in one pass over memory instead of "
                                         "LibTorch's kernel-per-operation step (same results to rounding)"));
  return params;
}

std::shared_ptr<torch::optim::Optimizer> make(const trainyard::Params& params,
                                              const trainyard::OptimizerContext& context) {
  const auto options = trainyard::optimizers::adam_family_options<torch::optim::AdamOptions>(params);
  if (params.get_bool("fused")) {
    return std::make_shared<trainyard::optimizers::FusedAdam>(context.parameters, options);
  }
  return std::make_shared<torch::optim::Adam>(context.parameters, options);
}

const trainyard::PluginInfo* plugin_info() {
  static const trainyard::PluginInfo info =
      trainyard::optimizer_plugin("adam", "1.0.0", "Adam (Kingma & Ba, 2015), optionally AMSGrad", &schema, &make);
  return &info;
}

}  // namespace

TRAINYARD_PLUGIN(plugin_info)
