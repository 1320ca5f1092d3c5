// The `resnet50` model plugin: the reference recipe's ResNet-50 (bottleneck blocks, 3-4-6-3).
#include <trainyard/plugin_api.h>

#include "resnet.h"

namespace {

std::vector<trainyard::ParamSpec> schema() {
  return {
      trainyard::bool_param("zero_init_residual", false,
                            "start each block's last BN scale at zero, so blocks begin as the "
                            "identity (Goyal et al., 2017)"),
  };
}

std::shared_ptr<trainyard::Model> make(const trainyard::Params& params,
                                       const trainyard::ModelContext& context) {
  trainyard::models::BottleneckResNetOptions options;
  options.blocks = {3, 4, 6, 3};
  options.num_classes = context.num_classes;
  options.in_channels = context.in_channels;
  options.zero_init_residual = params.get_bool("zero_init_residual");
  return trainyard::models::BottleneckResNet(options).ptr();
}

const trainyard::PluginInfo* plugin_info() {
  static const trainyard::PluginInfo info = trainyard::model_plugin(
      "resnet50", "1.0.0", "ResNet-50 with bottleneck blocks (He et al., 2016)", &schema, &make);
  return &info;
}

}  // namespace

TRAINYARD_PLUGIN(plugin_info)
