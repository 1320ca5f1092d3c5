// The resnetN model plugins (N = TRAINYARD_RESNET_DEPTH, set by CMakeLists.txt): one source for
// resnet18, resnet34, resnet50 (the reference recipe's), resnet101 and resnet152.
#include <trainyard/plugin_api.h>

#include "resnet.h"

#ifndef TRAINYARD_RESNET_DEPTH
#error "TRAINYARD_RESNET_DEPTH must be set (18, 34, 50, 101 or 152)"
#endif

namespace {

constexpr int kDepth = TRAINYARD_RESNET_DEPTH;

std::vector<trainyard::ParamSpec> schema() {
  return {
      trainyard::bool_param("zero_init_residual", false,
                            "start each block's last BN scale at zero, so blocks begin as the "
                            "identity (Goyal et al., 2017)"),
  };
}

std::shared_ptr<trainyard::Model> make(const trainyard::Params& params, const trainyard::ModelContext& context) {
  auto options = trainyard::models::resnet_options(kDepth);
  options.num_classes = context.num_classes;
  options.in_channels = context.in_channels;
  options.zero_init_residual = params.get_bool("zero_init_residual");
  return trainyard::models::ResNet(options).ptr();
}

const trainyard::PluginInfo* plugin_info() {
  static const std::string name = "resnet" + std::to_string(kDepth);
  static const std::string description = "ResNet-" + std::to_string(kDepth) + " with " +
                                         (kDepth < 50 ? "basic" : "bottleneck") + " blocks (He et al., 2016)";
  static const trainyard::PluginInfo info =
      trainyard::model_plugin(name.c_str(), "1.0.0", description.c_str(), &schema, &make);  // static: outlive the info
  return &info;
}

}  // namespace

TRAINYARD_PLUGIN(plugin_info)
