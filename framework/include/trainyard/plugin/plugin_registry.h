// Finds, loads and checks plugin libraries, and makes objects through their factories.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "trainyard/plugin_api.h"

namespace boost::dll {
class shared_library;
}

namespace trainyard {

/// A plugin that passed every check.
struct LoadedPlugin {
  std::filesystem::path path;
  std::shared_ptr<boost::dll::shared_library> library;  // never unloaded (see plugin_registry.cpp)
  const PluginInfo* info = nullptr;
  std::vector<ParamSpec> schema;

  PluginKind kind() const { return info->kind; }
  std::string name() const { return info->name; }
  std::string version() const { return info->version; }
  /// "resnet50 1.0.0": how the run's provenance records it.
  std::string name_and_version() const { return name() + " " + version(); }
};

/// A file in a plugin folder that was not registered, and why.
struct RejectedPlugin {
  std::filesystem::path path;
  std::string reason;
};

/// Folders searched for plugins, in order: the plugin folder beside the running executable
/// (<exe>/../lib/trainyard/plugins, the same in the build and the install tree), then each folder
/// in TRAINYARD_PLUGIN_PATH (colon-separated), then `extra` (from the experiment file).
std::vector<std::filesystem::path> plugin_search_path(const std::vector<std::filesystem::path>& extra = {});

/// One registry per kind of plugin, filled from plugin folders.
class PluginRegistry {
 public:
  PluginRegistry();
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  /// Loads every shared library (*.so) in each folder. A file that is no plugin, or an
  /// incompatible one, is recorded in rejected() with the reason; two plugins of one kind with
  /// the same name throw PluginError naming both files. Missing folders are skipped.
  void discover(const std::vector<std::filesystem::path>& folders);

  /// Loads one library and registers its plugin. Throws PluginError naming the file and the
  /// problem: not loadable, no entry point, wrong API version, wrong build, duplicate name.
  const LoadedPlugin& load(const std::filesystem::path& library_path);

  /// The plugin of `kind` named `name`; throws PluginError "Didn't find a registered
  /// implementation for name: 'X'" with the known names, a suggestion and refused files.
  const LoadedPlugin& find(PluginKind kind, const std::string& name) const;

  std::vector<const LoadedPlugin*> plugins(PluginKind kind) const;
  std::vector<std::string> names(PluginKind kind) const;
  const std::vector<RejectedPlugin>& rejected() const { return rejected_; }

  // Factories, called at the plugin boundary: a plugin's exception comes back as PluginError
  // carrying the plugin's name and file; what the plugin made keeps its library referenced.
  // Keys missing from `params` take the schema's defaults.
  std::shared_ptr<Model> make_model(const std::string& name, const Params& params, const ModelContext& context) const;
  std::shared_ptr<Dataset> make_dataset(const std::string& name, const Params& params,
                                        const DatasetContext& context) const;
  std::shared_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, const Params& params,
                                                          const OptimizerContext& context) const;

 private:
  std::map<PluginKind, std::map<std::string, LoadedPlugin>> plugins_;
  std::vector<RejectedPlugin> rejected_;
};

}  // namespace trainyard
