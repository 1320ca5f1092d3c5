#include "trainyard/config/experiment_config.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "trainyard/config/config_rows.h"
#include "trainyard/config/validation.h"
#include "trainyard/errors.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/store/postgres_connection.h"
#include "trainyard/suggest.h"

#include "framework_keys.h"

namespace fs = std::filesystem;

namespace trainyard {

std::vector<ParamSpec> experiment_top_level_schema() {
  return {
      string_param("name", "", "experiment name, recorded with every run; empty: the file's name without .yaml"),
      int_param("seed", 42, "seed for the split, the initialization and the shuffling").at_least(0),
      string_param("device", "auto", "auto (CUDA when available, else CPU), cpu, cuda or cuda:N"),
  };
}

namespace {

// The top level's sections, each read by its own code; its scalars are experiment_top_level_schema().
const std::vector<std::string> kTopLevelSections = {"plugin_paths", "model",       "dataset", "optimizer", "train",
                                                    "schedule",     "distributed", "output",  "sweep"};

struct Context {
  const std::string& source;
  const std::set<std::string>& overridden;

  // "file.yaml:12:5" (1-based, as editors count) or "--set optimizer.lr".
  std::string where(const YAML::Node& node, const std::string& key) const {
    if (overridden.count(key)) return "--set " + key;
    if (node && node.Mark().line >= 0 && !node.Mark().is_null()) {
      return source + ":" + std::to_string(node.Mark().line + 1) + ":" + std::to_string(node.Mark().column + 1);
    }
    return source;
  }
};

std::string mark_text(const YAML::Mark& mark) {
  return std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// yaml-cpp keeps every pair of a mapping and answers a lookup with the first, so a key given twice
// would silently lose one of its values (`optimizer: {lr: 1e-3, lr: 1e-4}`). Each one is a problem.
void find_duplicate_keys(const YAML::Node& node, const std::string& source, const std::string& path,
                         Problems& problems) {
  if (node.IsSequence()) {
    for (const auto& item : node) find_duplicate_keys(item, source, path, problems);
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, YAML::Mark> first_seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    const std::string full = path.empty() ? key : path + "." + key;
    const auto [first, inserted] = first_seen.emplace(key, it->first.Mark());
    if (!inserted) {
      problems.add(source + ":" + mark_text(it->first.Mark()) + ": duplicate key '" + full + "' (first given at " +
                   source + ":" + mark_text(first->second) + "); give each key once");
    }
    find_duplicate_keys(it->second, source, full, problems);
  }
}

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string where = source;
    if (!e.mark.is_null()) where += ":" + mark_text(e.mark);
    throw ConfigError(where + ": malformed YAML: " + e.msg);
  }
  Problems problems;
  find_duplicate_keys(node, source, "", problems);
  if (!problems.empty()) problems.raise(source);
  return node;
}

}  // namespace

void emit_value(YAML::Emitter& out, const ParamValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          out << YAML::TrueFalseBool << v;
        } else if constexpr (std::is_same_v<T, double>) {
          out << format_double(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          // Quote strings YAML would otherwise read as something else (numbers, booleans, null).
          YAML::Node probe;
          bool looks_typed = v.empty();
          try {
            probe = YAML::Load(v);
            double d;
            bool b;
            looks_typed = looks_typed || !probe.IsScalar() || probe.Scalar() != v ||
                          YAML::convert<double>::decode(probe, d) || YAML::convert<bool>::decode(probe, b) ||
                          v == "~" || v == "null";
          } catch (const YAML::Exception&) {
            looks_typed = true;
          }
          if (looks_typed) out << YAML::DoubleQuoted;
          out << v;
        } else {
          out << v;
        }
      },
      value);
}

std::vector<std::string> nested_key_names(const std::vector<NestedKey>& keys) {
  std::vector<std::string> names;
  for (const auto& key : keys) names.push_back(key.name);
  return names;
}

std::string format_double(double v) {
  std::string text = shortest_decimal(v);
  // Keep it a YAML float, not an integer: "1" -> "1.0".
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

Override parse_override(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("--set '" + text + "': expected KEY=VALUE, e.g. --set optimizer.lr=1e-3");
  }
  return Override{text.substr(0, eq), text.substr(eq + 1)};
}

ExperimentDocument ExperimentDocument::load(const fs::path& file, const std::vector<Override>& overrides) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw ConfigError("Experiment file '" + file.string() + "' does not exist");
  }
  if (fs::is_directory(file, ec)) {
    throw ConfigError("Experiment file '" + file.string() + "' is a folder; give a .yaml file");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError("Experiment file '" + file.string() + "' cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  ExperimentDocument doc = parse(text.str(), file.string(), overrides);
  doc.folder_ = fs::absolute(file, ec).parent_path();
  return doc;
}

ExperimentDocument ExperimentDocument::parse(const std::string& yaml_text, const std::string& source,
                                             const std::vector<Override>& overrides) {
  ExperimentDocument doc;
  doc.source_ = source;
  doc.root_ = parse_yaml(yaml_text, source);
  if (doc.root_.IsNull()) doc.root_ = YAML::Node(YAML::NodeType::Map);
  if (!doc.root_.IsMap()) {
    throw ConfigError(source + ": the experiment must be a YAML mapping (key: value lines), got " +
                      describe_node(doc.root_));
  }
  for (const auto& o : overrides) doc.apply(o);
  // A password in output.db would go into every stored copy of the configuration (the run's row,
  // its config rows, its checkpoints) and every command line a sweep builds: take it out here,
  // where every configuration is read, into the environment libpq reads.
  YAML::Node output = doc.root_["output"];
  if (output.IsMap() && output["db"].IsScalar()) {
    const std::string db = output["db"].Scalar(), url = move_postgres_password_to_environment(db);
    if (url != db) output["db"] = url;
  }
  return doc;
}

ExperimentDocument ExperimentDocument::with_overrides(const std::vector<Override>& overrides) const {
  ExperimentDocument copy;
  copy.source_ = source_;
  copy.folder_ = folder_;
  copy.root_ = YAML::Clone(root_);
  copy.overridden_ = overridden_;
  for (const auto& o : overrides) copy.apply(o);
  return copy;
}

YAML::Node ExperimentDocument::section(const std::string& key) const { return root_[key]; }

std::string ExperimentDocument::location(const YAML::Node& node, const std::string& key) const {
  return Context{source_, overridden_}.where(node, key);
}

void ExperimentDocument::apply(const Override& o) {
  const YAML::Node value = parse_yaml(o.value, "--set " + o.key);
  std::vector<std::string> parts;
  std::stringstream stream(o.key);
  std::string part;
  while (std::getline(stream, part, '.')) {
    if (part.empty()) throw ConfigError("--set " + o.key + ": empty key segment");
    parts.push_back(part);
  }
  YAML::Node node;
  node.reset(root_);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node child = node[parts[i]];
    if (!child.IsDefined() || child.IsNull()) {
      node[parts[i]] = YAML::Node(YAML::NodeType::Map);
      child = node[parts[i]];
    }
    if (!child.IsMap()) {
      throw ConfigError("--set " + o.key + ": '" + parts[i] + "' is not a section");
    }
    node.reset(child);
  }
  node[parts.back()] = value;
  overridden_.insert(o.key);
}

std::vector<fs::path> ExperimentDocument::plugin_paths() const {
  std::vector<fs::path> out;
  const YAML::Node list = root_["plugin_paths"];
  if (!list) return out;
  const Context ctx{source_, overridden_};
  if (!list.IsSequence()) {
    throw ConfigError(ctx.where(list, "plugin_paths") + ": plugin_paths: expected a list of folders, got " +
                      describe_node(list));
  }
  for (const auto& item : list) {
    if (!item.IsScalar()) {
      throw ConfigError(ctx.where(item, "plugin_paths") + ": plugin_paths: each entry must be a folder path");
    }
    const fs::path entry(item.Scalar());
    out.push_back(entry.is_relative() && !folder_.empty() ? (folder_ / entry).lexically_normal() : entry);
  }
  return out;
}

namespace {

void resolve_top_level(const ExperimentDocument& doc, const YAML::Node& root, ExperimentConfig& config,
                       Problems& problems) {
  const Params top =
      validate_section(doc, root, experiment_top_level_schema(), "", "an experiment", kTopLevelSections, problems);
  if (top.contains("name")) config.name = top.get_string("name");
  // A missing or empty name is the file's stem, so quick experiments need not repeat it.
  if (config.name.empty()) config.name = fs::path(doc.source()).stem().string();
  if (top.contains("seed")) config.seed = top.get_int("seed");
  if (top.contains("device")) {
    config.device = top.get_string("device");
    static const std::regex device_pattern("auto|cpu|cuda(:[0-9]+)?");
    if (!std::regex_match(config.device, device_pattern)) {
      problems.add(doc.location(root["device"], "device") + ": device: '" + config.device +
                   "' is not a device; accepted: auto, cpu, cuda, cuda:N");
    }
  }
  try {
    for (const auto& p : doc.plugin_paths()) config.plugin_paths.push_back(p.string());
  } catch (const ConfigError& e) {
    problems.add(e.what());
  }
}

// A plugin section: a `plugin:` name, then that plugin's own parameters.
void resolve_plugin_section(const ExperimentDocument& doc, const YAML::Node& root, const PluginRegistry& registry,
                            PluginKind kind, PluginSection& target, Problems& problems) {
  const std::string section_name = to_string(kind);
  const YAML::Node section = root[section_name];
  const std::string known = "known " + section_name + " plugins: " + join_names(registry.names(kind));
  if (!section) {
    problems.add(doc.source() + ": missing section '" + section_name + "' (e.g. " + section_name +
                 ": {plugin: NAME}); " + known);
    return;
  }
  if (!section.IsMap()) {
    problems.add(doc.location(section, section_name) + ": " + section_name +
                 ": expected a mapping with a 'plugin' key, got " + describe_node(section));
    return;
  }
  const YAML::Node plugin_node = section["plugin"];
  if (!plugin_node || !plugin_node.IsScalar()) {
    problems.add(doc.location(section, section_name) + ": " + section_name + ": missing key 'plugin'; " + known);
    return;
  }
  const std::string key = section_name + ".plugin";
  const LoadedPlugin* plugin = nullptr;
  try {
    plugin = &registry.find(kind, plugin_node.Scalar());
  } catch (const PluginError& e) {
    problems.add(doc.location(plugin_node, key) + ": " + key + ": " + e.what());
    return;
  }
  target.plugin = plugin->name();
  std::vector<std::string> reserved = {"plugin"};
  if (kind == PluginKind::kModel) {
    for (const auto& spec : model_init_schema()) reserved.push_back(spec.name);
  }
  target.params = validate_section(doc, section, plugin->schema, section_name,
                                   section_name + " plugin '" + plugin->name() + "'", reserved, problems);
}

// The model section's framework keys (init_from, init_skip); every other key of the section is
// its plugin's, validated above.
void resolve_model_init(const ExperimentDocument& doc, const YAML::Node& root, ExperimentConfig& config,
                        Problems& problems) {
  const YAML::Node section = root["model"];
  if (!section || !section.IsMap()) return;  // reported with the plugin's keys
  std::vector<std::string> plugin_keys;
  for (auto it = section.begin(); it != section.end(); ++it) plugin_keys.push_back(it->first.Scalar());
  for (const auto& spec : model_init_schema()) {
    plugin_keys.erase(std::remove(plugin_keys.begin(), plugin_keys.end(), spec.name), plugin_keys.end());
  }
  const Params params =
      validate_section(doc, section, model_init_schema(), "model", "section 'model'", plugin_keys, problems);
  if (problems.empty()) config.model_init = read_model_init(params);
  if (config.model_init.from.empty() && !config.model_init.skip.empty()) {
    problems.add(doc.location(section["init_skip"], "model.init_skip") +
                 ": model.init_skip without model.init_from: there is nothing to skip (set init_from, or remove it)");
  }
}

// The framework's sections: each key's spec and field from one table (framework_keys.cpp).
void resolve_framework_sections(const ExperimentDocument& doc, const YAML::Node& root, ExperimentConfig& config,
                                Problems& problems) {
  const FrameworkSection sections[] = {
      {"train", train_schema(), [&](const Params& p) { config.train = read_train(p); },
       nested_key_names(train_nested_keys())},
      {"schedule", schedule_schema(), [&](const Params& p) { config.schedule = read_schedule(p); }, {}},
      {"distributed", distributed_schema(), [&](const Params& p) { config.distributed = read_distributed(p); }, {}},
      {"output", output_schema(), [&](const Params& p) { config.output = read_output(p); }, {}}};
  for (const auto& [name, schema, apply, subsections] : sections) {
    const YAML::Node section = root[name];
    if (section && !section.IsMap()) {
      problems.add(doc.location(section, name) + ": " + name + ": expected a mapping, got " + describe_node(section));
      continue;
    }
    const Params params =
        validate_section(doc, section, schema, name, std::string("section '") + name + "'", subsections, problems);
    if (problems.empty()) apply(params);
  }
}

// train.early_stopping: a mapping of its own keys; absent (or null) it is off.
void resolve_early_stopping(const ExperimentDocument& doc, const YAML::Node& root, ExperimentConfig& config,
                            Problems& problems) {
  const YAML::Node train = root["train"];
  if (!train || !train.IsMap()) return;  // reported with the section
  const YAML::Node section = train["early_stopping"];
  if (!section || section.IsNull()) return;
  const std::string name = "train.early_stopping";
  if (!section.IsMap()) {
    problems.add(doc.location(section, name) + ": " + name + ": expected a mapping such as {patience: 3}, got " +
                 describe_node(section));
    return;
  }
  const Params params =
      validate_section(doc, section, early_stopping_schema(), name, "section '" + name + "'", {}, problems);
  if (problems.empty()) config.train.early_stopping = read_early_stopping(params);
}

}  // namespace

ExperimentConfig ExperimentDocument::resolve(const PluginRegistry& registry) const {
  Problems problems;
  ExperimentConfig config;
  config.source = source_;
  resolve_top_level(*this, root_, config, problems);
  resolve_plugin_section(*this, root_, registry, PluginKind::kModel, config.model, problems);
  resolve_model_init(*this, root_, config, problems);
  resolve_plugin_section(*this, root_, registry, PluginKind::kDataset, config.dataset, problems);
  resolve_plugin_section(*this, root_, registry, PluginKind::kOptimizer, config.optimizer, problems);
  resolve_framework_sections(*this, root_, config, problems);
  resolve_early_stopping(*this, root_, config, problems);
  if (!problems.empty()) problems.raise(source_);
  return config;
}

std::string ExperimentConfig::to_yaml() const {
  // Plugin parameters come out sorted by name (Params keeps them so), framework keys in a fixed order.
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value;
  emit_value(out, name);
  out << YAML::Key << "seed" << YAML::Value << seed;
  out << YAML::Key << "device" << YAML::Value << device;
  if (!plugin_paths.empty()) {
    out << YAML::Key << "plugin_paths" << YAML::Value << YAML::BeginSeq;
    for (const auto& p : plugin_paths) emit_value(out, p);
    out << YAML::EndSeq;
  }
  const std::pair<const char*, const PluginSection*> sections[] = {
      {"model", &model}, {"dataset", &dataset}, {"optimizer", &optimizer}};
  for (const auto& [key, section] : sections) {
    out << YAML::Key << key << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "plugin" << YAML::Value << section->plugin;
    for (const auto& [param, value] : section->params.values()) {
      out << YAML::Key << param << YAML::Value;
      emit_value(out, value);
    }
    if (section == &model) write_model_init(out, model_init);
    out << YAML::EndMap;
  }
  write_train(out, train);
  write_schedule(out, schedule);
  write_distributed(out, distributed);
  write_output(out, output);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace trainyard
