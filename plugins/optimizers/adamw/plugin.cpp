// The `adamw` optimizer plugin: Adam with decoupled weight decay (Loshchilov & Hutter, 2019,
// "Decoupled Weight Decay Regularization"): the decay shrinks the weights directly instead of
// being added to the gradient, where Adam's scaling would weaken it.
#include <trainyard/plugin_api.h>

namespace {

std::vector<trainyard::ParamSpec> schema() {
  return {
      trainyard::float_param("lr", 1e-3, "learning rate").greater_than(0),
      trainyard::float_param("beta1", 0.9, "decay of the first-moment estimate").at_least(0).less_than(1),
      trainyard::float_param("beta2", 0.999, "decay of the second-moment estimate").at_least(0).less_than(1),
      trainyard::float_param("eps", 1e-8, "term added to the denominator for stability").greater_than(0),
      trainyard::float_param("weight_decay", 0.01, "decoupled weight decay per step (times lr)").at_least(0),
      trainyard::bool_param("amsgrad", false, "use the AMSGrad variant"),
  };
}

std::shared_ptr<torch::optim::Optimizer> make(const trainyard::Params& params,
                                              const trainyard::OptimizerContext& context) {
  auto options = torch::optim::AdamWOptions(params.get_float("lr"))
                     .betas({params.get_float("beta1"), params.get_float("beta2")})
                     .eps(params.get_float("eps"))
                     .weight_decay(params.get_float("weight_decay"))
                     .amsgrad(params.get_bool("amsgrad"));
  return std::make_shared<torch::optim::AdamW>(context.parameters, options);
}

const trainyard::PluginInfo* plugin_info() {
  static const trainyard::PluginInfo info = trainyard::optimizer_plugin(
      "adamw", "1.0.0", "AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)", &schema, &make);
  return &info;
}

}  // namespace

TRAINYARD_PLUGIN(plugin_info)
