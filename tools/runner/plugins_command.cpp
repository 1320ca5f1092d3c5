// runner --list-plugins, runner --describe NAME (a plugin, a framework section, or `keys`: the
// README's table of every framework key).
#include "commands.h"

#include <cstdio>
#include <iostream>
#include <sstream>
#include <variant>

#include <trainyard/errors.h>
#include <trainyard/suggest.h>

namespace trainyard::runner {

int list_plugins_command(const PluginRegistry& registry) {
  for (auto kind :
       {trainyard::PluginKind::kModel, trainyard::PluginKind::kDataset, trainyard::PluginKind::kOptimizer}) {
    std::cout << trainyard::to_string(kind) << " plugins:\n";
    const auto plugins = registry.plugins(kind);
    if (plugins.empty()) std::cout << "  (none)\n";
    for (const auto* p : plugins) {
      std::printf("  %-14s %-8s %s\n      %s\n", p->name().c_str(), p->version().c_str(), p->info->description,
                  p->path.c_str());
    }
  }
  if (!registry.rejected().empty()) {
    std::cout << "refused plugin files:\n";
    for (const auto& r : registry.rejected()) std::cout << "  " << r.reason << "\n";
  }
  std::cout << "searched: ";
  bool first = true;
  for (const auto& folder : trainyard::plugin_search_path()) {
    std::cout << (first ? "" : ":") << folder.string();
    first = false;
  }
  std::cout << "\n";
  return kExitOk;
}

namespace {

std::string format_default(const trainyard::ParamSpec& spec) {
  if (!spec.default_value) return "(required)";
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>)
          return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>)
          return v.empty() ? "\"\"" : v;
        else {
          std::ostringstream out;
          out << v;
          return out.str();
        }
      },
      *spec.default_value);
}

void print_schema(const std::vector<trainyard::ParamSpec>& schema,
                  const std::vector<trainyard::NestedKey>& nested = {}) {
  if (schema.empty() && nested.empty()) std::cout << "  (no parameters)\n";
  for (const auto& spec : schema) {
    std::printf("  %-18s %-8s %-14s %s; accepted: %s\n", spec.name.c_str(), trainyard::to_string(spec.type),
                format_default(spec).c_str(), spec.description.c_str(), trainyard::describe_accepted(spec).c_str());
  }
  for (const auto& key : nested) {
    std::printf("  %-18s %-8s %-14s %s; accepted: %s\n", key.name.c_str(), "mapping", "(none)", key.meaning.c_str(),
                key.form.c_str());
  }
}

struct DescribedSection {
  const char* name;
  std::vector<trainyard::ParamSpec> schema;
  std::vector<trainyard::NestedKey> nested = {};  // its structured keys
};

// Every section of an experiment that the framework itself reads, in the order the README lists
// them: what `--describe SECTION` and `--describe keys` (the README's table) print.
std::vector<DescribedSection> framework_sections() {
  return {{"experiment", trainyard::experiment_top_level_schema()},
          {"model", trainyard::model_init_schema()},
          {"train", trainyard::train_schema(), trainyard::train_nested_keys()},
          {"train.early_stopping", trainyard::early_stopping_schema()},
          {"schedule", trainyard::schedule_schema()},
          {"distributed", trainyard::distributed_schema()},
          {"output", trainyard::output_schema()},
          {"sweep", trainyard::sweep_schema(), trainyard::sweep_nested_keys()},
          {"sweep.random", trainyard::random_schema(), trainyard::drawn_nested_keys()},
          {"sweep.tpe", trainyard::tpe_schema(), trainyard::drawn_nested_keys()},
          {"sweep.pruner", trainyard::pruner_schema()}};
}

// The README's table of framework keys, as Markdown.
void print_key_table() {
  std::cout << "| section | key | type | default | meaning | accepted |\n| --- | --- | --- | --- | --- | --- |\n";
  for (const auto& section : framework_sections()) {
    for (const auto& spec : section.schema) {
      std::cout << "| " << section.name << " | `" << spec.name << "` | " << trainyard::to_string(spec.type) << " | "
                << format_default(spec) << " | " << spec.description << " | " << trainyard::describe_accepted(spec)
                << " |\n";
    }
    for (const auto& key : section.nested) {
      std::string form;  // a | inside a code span still splits a Markdown table's cell
      for (const char c : key.form) form += c == '|' ? std::string("\\|") : std::string(1, c);
      std::cout << "| " << section.name << " | `" << key.name << "` | mapping | (none) | " << key.meaning << " | `"
                << form << "` |\n";
    }
  }
}

bool describe_plugin(const PluginRegistry& registry, const std::string& name) {
  bool found = false;
  for (auto kind :
       {trainyard::PluginKind::kModel, trainyard::PluginKind::kDataset, trainyard::PluginKind::kOptimizer}) {
    for (const auto* p : registry.plugins(kind)) {
      if (p->name() != name) continue;
      found = true;
      std::cout << trainyard::to_string(kind) << " plugin '" << p->name() << "' " << p->version() << ": "
                << p->info->description << "\n  file: " << p->path.string()
                << "\nparameters (name, type, default, meaning):\n";
      print_schema(p->schema);
    }
  }
  return found;
}

}  // namespace

int describe_command(const PluginRegistry& registry, const std::string& name) {
  if (name == "keys") {
    print_key_table();
    return kExitOk;
  }
  if (describe_plugin(registry, name)) return kExitOk;
  // A section, then those inside it: `--describe sweep` shows sweep.random, sweep.tpe, sweep.pruner.
  std::vector<std::string> known;
  bool described = false;
  for (const auto& section : framework_sections()) {
    const std::string section_name = section.name;
    if (section_name == name || section_name.rfind(name + ".", 0) == 0) {
      std::cout << (described ? "\n" : "") << "section '" << section_name << "' (name, type, default, meaning):\n";
      print_schema(section.schema, section.nested);
      described = true;
    }
    known.push_back(section.name);
  }
  if (described) return kExitOk;
  known.push_back("keys");
  for (auto kind :
       {trainyard::PluginKind::kModel, trainyard::PluginKind::kDataset, trainyard::PluginKind::kOptimizer}) {
    for (const auto& n : registry.names(kind)) known.push_back(n);
  }
  const auto near = trainyard::nearest_name(name, known);
  throw trainyard::PluginError("Didn't find a registered implementation for name: '" + name + "'" +
                               (near ? " (did you mean '" + *near + "'?)" : "") +
                               ". Known plugins and sections: " + trainyard::join_names(known));
}

}  // namespace trainyard::runner
