// A plugin that claims to be built against another LibTorch: the host must refuse it.
#include <trainyard/plugin_api.h>

namespace {
std::vector<trainyard::ParamSpec> schema() { return {}; }
std::shared_ptr<trainyard::Model> make(const trainyard::Params&, const trainyard::ModelContext&) { return nullptr; }
const trainyard::PluginInfo* info() {
  static trainyard::PluginInfo i = trainyard::model_plugin("foreign", "0.1.0", "other LibTorch", &schema, &make);
  i.build_fingerprint = "libtorch 0.4.0, C++11 ABI 0";
  return &i;
}
}  // namespace
TRAINYARD_PLUGIN(info)
