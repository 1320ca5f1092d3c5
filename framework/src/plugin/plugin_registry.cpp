#include "trainyard/plugin/plugin_registry.h"

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <set>
#include <sstream>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

#include "trainyard/errors.h"
#include "trainyard/suggest.h"

namespace fs = std::filesystem;

namespace trainyard {
namespace {

// Libraries that link LibTorch register operators, types and thread pools on load; unloading one
// leaves dangling pointers behind in LibTorch. Every library loaded is therefore kept loaded until
// the process exits: this list is deliberately never destroyed.
std::vector<std::shared_ptr<boost::dll::shared_library>>& keep_loaded() {
  static auto* libraries = new std::vector<std::shared_ptr<boost::dll::shared_library>>();
  return *libraries;
}

// Two plugins claim one name: always fatal, unlike a single bad file, which discover() skips.
class DuplicatePluginError : public PluginError {
 public:
  using PluginError::PluginError;
};

std::string describe(const fs::path& path) { return "'" + path.string() + "'"; }

// Holds `library` for as long as `object` lives: the object's code (vtable, destructor) is in it.
template <typename T>
std::shared_ptr<T> holding_library(std::shared_ptr<T> object, std::shared_ptr<boost::dll::shared_library> library) {
  if (!object) return object;
  // std::pair destroys `second` (the object) before `first` (the library reference).
  auto holder = std::make_shared<std::pair<std::shared_ptr<boost::dll::shared_library>, std::shared_ptr<T>>>(
      std::move(library), object);
  return std::shared_ptr<T>(holder, object.get());
}

// Calls into plugin code, turning any exception into a PluginError that names the plugin.
template <typename Fn>
auto at_plugin_boundary(const LoadedPlugin& plugin, const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (...) {
    throw PluginError(std::string(to_string(plugin.kind())) + " plugin '" + plugin.name() + "' (" +
                      plugin.path.string() + ") failed to " + what + ": " +
                      exception_message(std::current_exception()));
  }
}

void check_schema(const std::vector<ParamSpec>& schema, const std::string& plugin_name, const fs::path& path) {
  std::set<std::string> seen;
  for (const auto& spec : schema) {
    const std::string where = "plugin '" + plugin_name + "' (" + path.string() + ") declares ";
    if (spec.name.empty() || spec.name == "plugin") {
      throw PluginError(where + "a parameter named '" + spec.name + "', which is reserved");
    }
    if (!seen.insert(spec.name).second) {
      throw PluginError(where + "parameter '" + spec.name + "' twice");
    }
    if (spec.default_value) {
      const auto& v = *spec.default_value;
      const bool matches = (spec.type == ParamType::kBool && std::holds_alternative<bool>(v)) ||
                           (spec.type == ParamType::kInt && std::holds_alternative<std::int64_t>(v)) ||
                           (spec.type == ParamType::kFloat && std::holds_alternative<double>(v)) ||
                           (spec.type == ParamType::kString && std::holds_alternative<std::string>(v));
      if (!matches) {
        throw PluginError(where + "parameter '" + spec.name + "' of type " + to_string(spec.type) +
                          " with a default of another type");
      }
    }
  }
}

// Opens a library and checks its entry point; throws PluginError with what is wrong.
LoadedPlugin open_plugin(const fs::path& path) {
  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    library->load(boost::dll::fs::path(path.string()),
                  boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw PluginError("Cannot load plugin library " + describe(path) + ": " + e.what());
  }
  keep_loaded().push_back(library);

  if (!library->has(kPluginEntrySymbol)) {
    throw PluginError("File " + describe(path) + " is not a Trainyard plugin: it does not export '" +
                      kPluginEntrySymbol + "'. A plugin declares its entry with TRAINYARD_PLUGIN().");
  }
  const PluginInfo* info = nullptr;
  try {
    info = library->get_alias<PluginEntry>(kPluginEntrySymbol)();
  } catch (...) {
    throw PluginError("Plugin " + describe(path) +
                      " failed in its entry point: " + exception_message(std::current_exception()));
  }
  if (info == nullptr) {
    throw PluginError("Plugin " + describe(path) + " returned no PluginInfo from its entry point");
  }
  const std::string name = info->name ? info->name : "";
  if (info->api_version != kPluginApiVersion) {
    std::ostringstream message;
    message << "Wrong API version on plugin '" << name << "' (" << path.string() << "). Got " << info->api_version
            << ", supported " << kPluginApiVersion << ". Rebuild the plugin against this Trainyard's plugin_api.h.";
    throw PluginError(message.str());
  }
  const std::string fingerprint = info->build_fingerprint ? info->build_fingerprint : "(none)";
  if (fingerprint != host_build_fingerprint()) {
    throw PluginError("Plugin '" + name + "' (" + path.string() + ") was built for " + fingerprint +
                      "; this Trainyard accepts " + host_build_fingerprint() +
                      ". Rebuild the plugin against the LibTorch this Trainyard uses.");
  }
  static const std::regex valid_name("[a-z0-9][a-z0-9_.-]*");
  if (!std::regex_match(name, valid_name)) {
    throw PluginError("Plugin " + describe(path) + " has an invalid name '" + name +
                      "': use lower-case letters, digits, '_', '-' and '.'");
  }
  const bool factory_present = (info->kind == PluginKind::kModel && info->make_model) ||
                               (info->kind == PluginKind::kDataset && info->make_dataset) ||
                               (info->kind == PluginKind::kOptimizer && info->make_optimizer);
  if (!factory_present) {
    throw PluginError("Plugin '" + name + "' (" + path.string() +
                      ") declares no factory for its kind (or an unknown kind)");
  }

  LoadedPlugin plugin;
  plugin.path = path;
  plugin.library = library;
  plugin.info = info;
  if (info->schema) {
    plugin.schema = at_plugin_boundary(plugin, "describe its parameters", [&] { return info->schema(); });
  }
  check_schema(plugin.schema, name, path);
  return plugin;
}

std::vector<fs::path> split_path_list(const std::string& list) {
  std::vector<fs::path> out;
  std::stringstream stream(list);
  std::string item;
  while (std::getline(stream, item, ':')) {
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

}  // namespace

std::vector<fs::path> plugin_search_path(const std::vector<fs::path>& extra) {
  std::vector<fs::path> folders;
  const fs::path exe_dir(boost::dll::program_location().parent_path().string());
  folders.push_back((exe_dir.parent_path() / "lib" / "trainyard" / "plugins").lexically_normal());
  if (const char* env = std::getenv("TRAINYARD_PLUGIN_PATH")) {
    for (auto& folder : split_path_list(env)) folders.push_back(std::move(folder));
  }
  folders.insert(folders.end(), extra.begin(), extra.end());
  return folders;
}

PluginRegistry::PluginRegistry() = default;
PluginRegistry::~PluginRegistry() = default;

namespace {
bool writable_by_others(const fs::path& path) {
  std::error_code ec;
  const auto perms = fs::status(path, ec).permissions();
  return !ec && (perms & fs::perms::others_write) != fs::perms::none;
}
}  // namespace

void PluginRegistry::discover(const std::vector<fs::path>& folders) {
  std::set<fs::path> seen_folders;
  for (const auto& folder : folders) {
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) {
      spdlog::debug("plugin folder '{}' does not exist; skipped", folder.string());
      continue;
    }
    const fs::path canonical_folder = fs::weakly_canonical(folder, ec);
    if (!seen_folders.insert(canonical_folder).second) continue;
    if (writable_by_others(folder)) {
      // Anyone on the machine could put a library there, and loading it runs its code as us.
      const std::string why = "plugin folder '" + folder.string() +
                              "' is writable by every user, so its libraries are not loaded (anyone could "
                              "put code there); make it yours alone: chmod o-w '" +
                              folder.string() + "'";
      spdlog::warn("{}", why);
      rejected_.push_back({folder, why});
      continue;
    }

    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
      if (entry.path().extension() != ".so" || !entry.is_regular_file(ec)) continue;
      if (writable_by_others(entry.path())) {
        const std::string why =
            "plugin '" + entry.path().string() + "' is writable by every user and is not loaded; chmod o-w it";
        spdlog::warn("{}", why);
        rejected_.push_back({entry.path(), why});
        continue;
      }
      files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      try {
        load(file);
      } catch (const DuplicatePluginError&) {
        throw;
      } catch (const PluginError& e) {
        spdlog::warn("{}", e.what());
        rejected_.push_back({file, e.what()});
      }
    }
  }
}

const LoadedPlugin& PluginRegistry::load(const fs::path& library_path) {
  LoadedPlugin plugin = open_plugin(library_path);
  auto& of_kind = plugins_[plugin.kind()];
  auto existing = of_kind.find(plugin.name());
  if (existing != of_kind.end()) {
    std::error_code ec;
    if (fs::equivalent(existing->second.path, library_path, ec)) return existing->second;
    throw DuplicatePluginError("Duplicate plugin name: " + std::string(to_string(plugin.kind())) + " '" +
                               plugin.name() + "' is provided by both '" + existing->second.path.string() + "' and '" +
                               library_path.string() +
                               "'. Remove one of them from the plugin path (TRAINYARD_PLUGIN_PATH).");
  }
  spdlog::debug("loaded {} plugin '{}' {} from {}", to_string(plugin.kind()), plugin.name(), plugin.version(),
                library_path.string());
  const std::string name = plugin.name();
  return of_kind.emplace(name, std::move(plugin)).first->second;
}

const LoadedPlugin& PluginRegistry::find(PluginKind kind, const std::string& name) const {
  auto of_kind = plugins_.find(kind);
  if (of_kind != plugins_.end()) {
    auto it = of_kind->second.find(name);
    if (it != of_kind->second.end()) return it->second;
  }
  const auto known = names(kind);
  std::ostringstream message;
  message << "Didn't find a registered implementation for " << to_string(kind) << " plugin name: '" << name << "'.";
  if (auto suggestion = nearest_name(name, known)) message << " Did you mean '" << *suggestion << "'?";
  message << " Known " << to_string(kind) << " plugins: " << join_names(known) << '.';
  if (!rejected_.empty()) {
    message << " Plugin files that were refused:";
    for (const auto& r : rejected_) message << "\n  " << r.reason;
  }
  throw PluginError(message.str());
}

std::vector<const LoadedPlugin*> PluginRegistry::plugins(PluginKind kind) const {
  std::vector<const LoadedPlugin*> out;
  auto of_kind = plugins_.find(kind);
  if (of_kind == plugins_.end()) return out;
  for (const auto& [name, plugin] : of_kind->second) out.push_back(&plugin);
  return out;
}

std::vector<std::string> PluginRegistry::names(PluginKind kind) const {
  std::vector<std::string> out;
  for (const auto* plugin : plugins(kind)) out.push_back(plugin->name());
  return out;
}

namespace {
template <typename T>
std::shared_ptr<T> checked_result(std::shared_ptr<T> object, const LoadedPlugin& plugin) {
  if (!object) {
    throw PluginError(std::string(to_string(plugin.kind())) + " plugin '" + plugin.name() + "' (" +
                      plugin.path.string() + ") returned nothing from its factory");
  }
  return holding_library(std::move(object), plugin.library);
}

// The parameters with the schema's defaults filled in for keys not given, so callers from code
// (tests, tools) need not spell out every key a plugin gains; experiment files come resolved.
Params with_defaults(const Params& params, const LoadedPlugin& plugin) {
  auto values = params.values();
  for (const auto& spec : plugin.schema) {
    if (spec.default_value && !values.count(spec.name)) values.emplace(spec.name, *spec.default_value);
  }
  return Params(std::move(values));
}
}  // namespace

std::shared_ptr<Model> PluginRegistry::make_model(const std::string& name, const Params& params,
                                                  const ModelContext& context) const {
  const auto& plugin = find(PluginKind::kModel, name);
  return checked_result(
      at_plugin_boundary(plugin, "create its model",
                         [&] { return plugin.info->make_model(with_defaults(params, plugin), context); }),
      plugin);
}

std::shared_ptr<Dataset> PluginRegistry::make_dataset(const std::string& name, const Params& params,
                                                      const DatasetContext& context) const {
  const auto& plugin = find(PluginKind::kDataset, name);
  return checked_result(
      at_plugin_boundary(plugin, "open its dataset",
                         [&] { return plugin.info->make_dataset(with_defaults(params, plugin), context); }),
      plugin);
}

std::shared_ptr<torch::optim::Optimizer> PluginRegistry::make_optimizer(const std::string& name, const Params& params,
                                                                        const OptimizerContext& context) const {
  const auto& plugin = find(PluginKind::kOptimizer, name);
  return checked_result(
      at_plugin_boundary(plugin, "create its optimizer",
                         [&] { return plugin.info->make_optimizer(with_defaults(params, plugin), context); }),
      plugin);
}

}  // namespace trainyard
