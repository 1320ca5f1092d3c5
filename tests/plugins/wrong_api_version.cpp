// A plugin built against a future plugin API: the host must refuse it, naming both versions.
#include <trainyard/plugin_api.h>

namespace {
std::vector<trainyard::ParamSpec> schema() { return {}; }
std::shared_ptr<trainyard::Model> make(const trainyard::Params&, const trainyard::ModelContext&) { return nullptr; }
const trainyard::PluginInfo* info() {
  static trainyard::PluginInfo i = trainyard::model_plugin("stale", "0.1.0", "wrong API", &schema, &make);
  i.api_version = trainyard::kPluginApiVersion + 1;
  return &i;
}
}  // namespace
TRAINYARD_PLUGIN(info)
