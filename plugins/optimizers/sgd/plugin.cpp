// The `sgd` optimizer plugin: stochastic gradient descent with momentum (Polyak, 1964) or
// Nesterov momentum (Sutskever et al., 2013), as LibTorch implements them.
#include <trainyard/plugin_api.h>

namespace {

std::vector<trainyard::ParamSpec> schema() {
  return {
      trainyard::float_param("lr", 0.1, "learning rate").greater_than(0),
      trainyard::float_param("momentum", 0.9, "momentum factor (0: plain SGD)").at_least(0).less_than(1),
      trainyard::float_param("dampening", 0.0, "dampening of the momentum").at_least(0).at_most(1),
      trainyard::float_param("weight_decay", 0.0, "L2 penalty added to the gradient").at_least(0),
      trainyard::bool_param("nesterov", false, "Nesterov momentum (needs momentum > 0 and dampening 0)"),
  };
}

std::shared_ptr<torch::optim::Optimizer> make(const trainyard::Params& params,
                                              const trainyard::OptimizerContext& context) {
  const double momentum = params.get_float("momentum");
  const double dampening = params.get_float("dampening");
  const bool nesterov = params.get_bool("nesterov");
  if (nesterov && (momentum <= 0.0 || dampening != 0.0)) {
    throw std::invalid_argument("nesterov: true needs momentum > 0 and dampening 0 (got momentum " +
                                std::to_string(momentum) + ", dampening " + std::to_string(dampening) + ")");
  }
  auto options = torch::optim::SGDOptions(params.get_float("lr"))
                     .momentum(momentum)
                     .dampening(dampening)
                     .weight_decay(params.get_float("weight_decay"))
                     .nesterov(nesterov);
  return std::make_shared<torch::optim::SGD>(context.parameters, options);
}

const trainyard::PluginInfo* plugin_info() {
  static const trainyard::PluginInfo info =
      trainyard::optimizer_plugin("sgd", "1.0.0", "SGD with momentum or Nesterov momentum", &schema, &make);
  return &info;
}

}  // namespace

TRAINYARD_PLUGIN(plugin_info)
