// The `adamw` optimizer plugin: Adam with decoupled weight decay (Loshchilov & Hutter, 2019,
// "Decoupled Weight Decay Regularization"): the decay shrinks the weights directly instead of
// being added to the gradient, where Adam's scaling would weaken it.
#include <trainyard/plugin_api.h>

#include "adam_family.h"

namespace {

std::vector<trainyard::ParamSpec> schema() {
  return trainyard::optimizers::adam_family_schema(0.01, "decoupled weight decay per step (times lr)");
}

std::shared_ptr<torch::optim::Optimizer> make(const trainyard::Params& params,
                                              const trainyard::OptimizerContext& context) {
  return std::make_shared<torch::optim::AdamW>(
      context.parameters, trainyard::optimizers::adam_family_options<torch::optim::AdamWOptions>(params));
}

const trainyard::PluginInfo* plugin_info() {
  static const trainyard::PluginInfo info = trainyard::optimizer_plugin(
      "adamw", "1.0.0", "AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)", &schema, &make);
  return &info;
}

}  // namespace

TRAINYARD_PLUGIN(plugin_info)
