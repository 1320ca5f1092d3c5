#include "trainyard/config/experiment_config.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "trainyard/config/config_rows.h"
#include "trainyard/errors.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/suggest.h"

#include "framework_keys.h"

namespace fs = std::filesystem;

namespace trainyard {

std::vector<ParamSpec> experiment_top_level_schema() {
  return {
      string_param("name", std::nullopt, "experiment name, recorded with every run"),
      int_param("seed", 42, "seed for the split, the initialization and the shuffling").at_least(0),
      string_param("device", "auto", "auto (CUDA when available, else CPU), cpu, cuda or cuda:N"),
  };
}

namespace {

const std::vector<std::string> kTopLevelKeys = {"name",      "seed",  "device",   "plugin_paths", "model",  "dataset",
                                                "optimizer", "train", "schedule", "distributed",  "output", "sweep"};

// Collects every problem of a document so the user sees them all at once.
class Problems {
 public:
  void add(std::string message) { messages_.push_back(std::move(message)); }
  bool empty() const { return messages_.empty(); }
  [[noreturn]] void raise(const std::string& source) const {
    std::ostringstream out;
    out << "Invalid experiment '" << source << "' (" << messages_.size()
        << (messages_.size() == 1 ? " problem" : " problems") << "):";
    for (const auto& m : messages_) out << "\n  " << m;
    throw ConfigError(out.str());
  }

 private:
  std::vector<std::string> messages_;
};

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

std::string join_key(const std::string& section, const std::string& key) {
  return section.empty() ? key : section + "." + key;
}

std::string scalar_text(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "nothing";
}

bool in_bounds(const ParamSpec& spec, double v) {
  if (spec.min && (spec.min->inclusive ? v < spec.min->value : v <= spec.min->value)) return false;
  if (spec.max && (spec.max->inclusive ? v > spec.max->value : v >= spec.max->value)) return false;
  return true;
}

// Converts one YAML value to the spec's type and checks its range; nullopt (and a problem) if not.
std::optional<ParamValue> convert_value(const YAML::Node& value, const ParamSpec& spec, const std::string& key,
                                        const std::string& where, Problems& problems) {
  auto reject = [&](const std::string& why) {
    problems.add(where + ": " + key + ": " + why + "; accepted: " + describe_accepted(spec));
    return std::nullopt;
  };
  if (!value.IsScalar()) return reject("expected " + std::string(to_string(spec.type)) + ", got " + scalar_text(value));
  switch (spec.type) {
    case ParamType::kBool: {
      bool b = false;
      if (!YAML::convert<bool>::decode(value, b)) return reject("expected true or false, got " + scalar_text(value));
      return ParamValue(b);
    }
    case ParamType::kInt: {
      std::int64_t i = 0;
      if (!YAML::convert<std::int64_t>::decode(value, i)) {
        return reject("expected an integer, got " + scalar_text(value));
      }
      if (!in_bounds(spec, static_cast<double>(i))) return reject(std::to_string(i) + " is out of range");
      return ParamValue(i);
    }
    case ParamType::kFloat: {
      double d = 0.0;
      if (!YAML::convert<double>::decode(value, d) || !std::isfinite(d)) {
        return reject("expected a finite number, got " + scalar_text(value));
      }
      if (!in_bounds(spec, d)) return reject(value.Scalar() + " is out of range");
      return ParamValue(d);
    }
    case ParamType::kString: {
      const std::string& s = value.Scalar();
      if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end()) {
        std::string why = "'" + s + "' is not accepted";
        if (auto near = nearest_name(s, spec.choices)) why += " (did you mean '" + *near + "'?)";
        return reject(why);
      }
      return ParamValue(s);
    }
  }
  return std::nullopt;
}

// Validates `section` (a YAML map) against `schema`. Keys in `reserved` are allowed and skipped.
Params validate_section(const YAML::Node& section, const std::vector<ParamSpec>& schema,
                        const std::string& section_name, const std::string& owner,
                        const std::vector<std::string>& reserved, const Context& ctx, Problems& problems) {
  std::vector<std::string> known;
  for (const auto& spec : schema) known.push_back(spec.name);

  std::map<std::string, ParamValue> values;
  std::map<std::string, YAML::Node> given;
  if (section && section.IsMap()) {
    for (auto it = section.begin(); it != section.end(); ++it) {
      const std::string key = it->first.Scalar();
      const std::string full = join_key(section_name, key);
      if (std::find(reserved.begin(), reserved.end(), key) != reserved.end()) continue;
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string message = ctx.where(it->first, full) + ": unknown key '" + full + "'";
        if (auto near = nearest_name(key, known)) {
          message += " (did you mean '" + join_key(section_name, *near) + "'?)";
        }
        message += "; " + owner + " accepts: " + join_names(known);
        problems.add(message);
        continue;
      }
      given[key] = it->second;
    }
  }
  for (const auto& spec : schema) {
    const std::string full = join_key(section_name, spec.name);
    auto it = given.find(spec.name);
    if (it == given.end()) {
      if (spec.default_value) {
        values[spec.name] = *spec.default_value;
      } else {
        problems.add(ctx.where(section, section_name) + ": missing required key '" + full + "' (" + spec.description +
                     "; accepted: " + describe_accepted(spec) + ")");
      }
      continue;
    }
    if (auto v = convert_value(it->second, spec, full, ctx.where(it->second, full), problems)) {
      values[spec.name] = *v;
    }
  }
  return Params(std::move(values));
}

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string where = source;
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    throw ConfigError(where + ": malformed YAML: " + e.msg);
  }
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
  return parse(text.str(), file.string(), overrides);
}

ExperimentDocument ExperimentDocument::parse(const std::string& yaml_text, const std::string& source,
                                             const std::vector<Override>& overrides) {
  ExperimentDocument doc;
  doc.source_ = source;
  doc.root_ = parse_yaml(yaml_text, source);
  if (doc.root_.IsNull()) doc.root_ = YAML::Node(YAML::NodeType::Map);
  if (!doc.root_.IsMap()) {
    throw ConfigError(source + ": the experiment must be a YAML mapping (key: value lines), got " +
                      scalar_text(doc.root_));
  }
  for (const auto& o : overrides) doc.apply(o);
  return doc;
}

ExperimentDocument ExperimentDocument::with_overrides(const std::vector<Override>& overrides) const {
  ExperimentDocument copy;
  copy.source_ = source_;
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
                      scalar_text(list));
  }
  for (const auto& item : list) {
    if (!item.IsScalar()) {
      throw ConfigError(ctx.where(item, "plugin_paths") + ": plugin_paths: each entry must be a folder path");
    }
    out.emplace_back(item.Scalar());
  }
  return out;
}

ExperimentConfig ExperimentDocument::resolve(const PluginRegistry& registry) const {
  const Context ctx{source_, overridden_};
  Problems problems;
  ExperimentConfig config;
  config.source = source_;

  // Top level: unknown keys, then scalars.
  YAML::Node top_scalars(YAML::NodeType::Map);
  for (auto it = root_.begin(); it != root_.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(kTopLevelKeys.begin(), kTopLevelKeys.end(), key) == kTopLevelKeys.end()) {
      std::string message = ctx.where(it->first, key) + ": unknown key '" + key + "'";
      if (auto near = nearest_name(key, kTopLevelKeys)) message += " (did you mean '" + *near + "'?)";
      problems.add(message + "; an experiment accepts: " + join_names(kTopLevelKeys));
    }
  }
  YAML::Node scalars(YAML::NodeType::Map);
  for (const auto& spec : experiment_top_level_schema()) {
    if (root_[spec.name]) scalars[spec.name] = root_[spec.name];
  }
  if (!scalars["name"]) {
    // A missing name defaults to the file's stem, so quick experiments need not repeat it.
    scalars["name"] = fs::path(source_).stem().string();
  }
  const Params top = validate_section(scalars, experiment_top_level_schema(), "", "an experiment", {}, ctx, problems);
  if (top.contains("name")) config.name = top.get_string("name");
  if (top.contains("seed")) config.seed = top.get_int("seed");
  if (top.contains("device")) {
    config.device = top.get_string("device");
    static const std::regex device_pattern("auto|cpu|cuda(:[0-9]+)?");
    if (!std::regex_match(config.device, device_pattern)) {
      problems.add(ctx.where(root_["device"], "device") + ": device: '" + config.device +
                   "' is not a device; accepted: auto, cpu, cuda, cuda:N");
    }
  }
  try {
    for (const auto& p : plugin_paths()) config.plugin_paths.push_back(p.string());
  } catch (const ConfigError& e) {
    problems.add(e.what());
  }

  // The three plugin sections: a `plugin:` name, then that plugin's own parameters.
  const std::pair<PluginKind, PluginSection*> sections[] = {{PluginKind::kModel, &config.model},
                                                            {PluginKind::kDataset, &config.dataset},
                                                            {PluginKind::kOptimizer, &config.optimizer}};
  for (const auto& [kind, target] : sections) {
    const std::string section_name = to_string(kind);
    const YAML::Node section = root_[section_name];
    if (!section) {
      problems.add(source_ + ": missing section '" + section_name + "' (e.g. " + section_name +
                   ": {plugin: NAME}); known " + section_name + " plugins: " + join_names(registry.names(kind)));
      continue;
    }
    if (!section.IsMap()) {
      problems.add(ctx.where(section, section_name) + ": " + section_name +
                   ": expected a mapping with a 'plugin' key, got " + scalar_text(section));
      continue;
    }
    const YAML::Node plugin_node = section["plugin"];
    if (!plugin_node || !plugin_node.IsScalar()) {
      problems.add(ctx.where(section, section_name) + ": " + section_name + ": missing key 'plugin'; known " +
                   section_name + " plugins: " + join_names(registry.names(kind)));
      continue;
    }
    const std::string key = section_name + ".plugin";
    const LoadedPlugin* plugin = nullptr;
    try {
      plugin = &registry.find(kind, plugin_node.Scalar());
    } catch (const PluginError& e) {
      problems.add(ctx.where(plugin_node, key) + ": " + key + ": " + e.what());
      continue;
    }
    target->plugin = plugin->name();
    target->params = validate_section(section, plugin->schema, section_name,
                                      section_name + " plugin '" + plugin->name() + "'", {"plugin"}, ctx, problems);
  }

  // Framework sections: each key's spec and field from one table (framework_keys.cpp).
  const FrameworkSection sections_of_the_framework[] = {
      {"train", train_schema(), [&](const Params& p) { config.train = read_train(p); }},
      {"schedule", schedule_schema(), [&](const Params& p) { config.schedule = read_schedule(p); }},
      {"distributed", distributed_schema(), [&](const Params& p) { config.distributed = read_distributed(p); }},
      {"output", output_schema(), [&](const Params& p) { config.output = read_output(p); }}};
  for (const auto& [name, schema, apply] : sections_of_the_framework) {
    const YAML::Node section = root_[name];
    if (section && !section.IsMap()) {
      problems.add(ctx.where(section, name) + ": " + name + ": expected a mapping, got " + scalar_text(section));
      continue;
    }
    const Params params =
        validate_section(section, schema, name, std::string("section '") + name + "'", {}, ctx, problems);
    if (problems.empty()) apply(params);
  }

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
