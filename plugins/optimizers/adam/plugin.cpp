// The `adam` optimizer plugin: Adam (Kingma & Ba, 2015), with the AMSGrad variant
// (Reddi et al., 2018) and L2 weight decay as LibTorch implements them.
#include <trainyard/plugin_api.h>

#include "fused_adam.h"

namespace {

std::vector<trainyard::ParamSpec> schema() {
  return {
      trainyard::float_param("lr", 1e-3, "learning rate").greater_than(0),
      trainyard::float_param("beta1", 0.9, "decay of the first-moment estimate").at_least(0).less_than(1),
      trainyard::float_param("beta2", 0.999, "decay of the second-moment estimate").at_least(0).less_than(1),
      trainyard::float_param("eps", 1e-8, "term added to the denominator for stability").greater_than(0),
      trainyard::float_param("weight_decay", 0.0, "L2 penalty added to the gradient").at_least(0),
      trainyard::bool_param("amsgrad", false, "use the AMSGrad variant"),
      trainyard::bool_param("fused", true,
                            "update each float32 parameter in one pass over memory instead of "
                            "LibTorch's kernel-per-operation step (same results to rounding)"),
  };
}

std::shared_ptr<torch::optim::Optimizer> make(const trainyard::Params& params,
                                              const trainyard::OptimizerContext& context) {
  auto options = torch::optim::AdamOptions(params.get_float("lr"))
                     .betas({params.get_float("beta1"), params.get_float("beta2")})
                     .eps(params.get_float("eps"))
                     .weight_decay(params.get_float("weight_decay"))
                     .amsgrad(params.get_bool("amsgrad"));
  if (params.get_bool("fused")) {
    return std::make_shared<trainyard::optimizers::FusedAdam>(context.parameters, options);
  }
  return std::make_shared<torch::optim::Adam>(context.parameters, options);
}

const trainyard::PluginInfo* plugin_info() {
  static const trainyard::PluginInfo info = trainyard::optimizer_plugin(
      "adam", "1.0.0", "Adam (Kingma & Ba, 2015), optionally AMSGrad", &schema, &make);
  return &info;
}

}  // namespace

TRAINYARD_PLUGIN(plugin_info)
