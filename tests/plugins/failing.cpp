// A dataset plugin whose factory throws, or returns nothing when asked to: the host must report
// the plugin's name and message, and stay up.
#include <trainyard/plugin_api.h>

namespace {
std::vector<trainyard::ParamSpec> schema() {
  return {trainyard::string_param("mode", "throw", "throw | null | c10").one_of({"throw", "null", "c10"})};
}
std::shared_ptr<trainyard::Dataset> make(const trainyard::Params& params, const trainyard::DatasetContext&) {
  const auto& mode = params.get_string("mode");
  if (mode == "throw") throw std::runtime_error("the disk is on fire");
  if (mode == "c10") TORCH_CHECK(false, "a LibTorch check failed");
  return nullptr;
}
const trainyard::PluginInfo* info() {
  static const auto i = trainyard::dataset_plugin("failing", "1.0.0", "always fails", &schema, &make);
  return &i;
}
}  // namespace
TRAINYARD_PLUGIN(info)
