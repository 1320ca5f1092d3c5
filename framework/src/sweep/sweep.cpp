#include "trainyard/sweep/sweep.h"

#include <cmath>
#include <map>
#include <random>
#include <sstream>

#include "trainyard/errors.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/suggest.h"

namespace trainyard {
namespace {

const std::vector<std::string> kSweepKeys = {"name", "jobs", "grid", "random"};
const std::vector<std::string> kRandomKeys = {"trials", "seed", "params"};
const std::vector<std::string> kDistributions = {"uniform", "loguniform", "int", "choice"};

// The YAML text of a scalar or flow sequence, as --set would take it.
std::string yaml_text(const YAML::Node& node) {
  if (node.IsScalar()) return node.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

void reject_unknown_keys(const ExperimentDocument& doc, const YAML::Node& map, const std::string& section,
                         const std::vector<std::string>& known) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string message = doc.location(it->first, section + "." + key) + ": unknown key '" + section + "." + key + "'";
    if (auto near = nearest_name(key, known)) message += " (did you mean '" + section + "." + *near + "'?)";
    throw ConfigError(message + "; " + section + " accepts: " + join_names(known));
  }
}

double number(const ExperimentDocument& doc, const YAML::Node& node, const std::string& key) {
  double value = 0.0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !std::isfinite(value)) {
    throw ConfigError(doc.location(node, key) + ": " + key + ": expected a number");
  }
  return value;
}

RandomParameter parse_random_parameter(const ExperimentDocument& doc, const std::string& key, const YAML::Node& spec) {
  const std::string where_key = "sweep.random.params." + key;
  if (!spec.IsMap() || spec.size() != 1) {
    throw ConfigError(doc.location(spec, where_key) + ": " + where_key +
                      ": expected one of {uniform: [low, high]}, {loguniform: [low, high]}, "
                      "{int: [low, high]}, {choice: [a, b, ...]}");
  }
  RandomParameter p;
  p.key = key;
  p.distribution = spec.begin()->first.Scalar();
  const YAML::Node args = spec.begin()->second;
  if (std::find(kDistributions.begin(), kDistributions.end(), p.distribution) == kDistributions.end()) {
    std::string message =
        doc.location(spec, where_key) + ": " + where_key + ": unknown distribution '" + p.distribution + "'";
    if (auto near = nearest_name(p.distribution, kDistributions)) message += " (did you mean '" + *near + "'?)";
    throw ConfigError(message + "; accepted: " + join_names(kDistributions));
  }
  if (!args.IsSequence() || args.size() == 0) {
    throw ConfigError(doc.location(args, where_key) + ": " + where_key + ": " + p.distribution + " needs a list");
  }
  if (p.distribution == "choice") {
    for (const auto& choice : args) p.choices.push_back(yaml_text(choice));
    return p;
  }
  if (args.size() != 2) {
    throw ConfigError(doc.location(args, where_key) + ": " + where_key + ": " + p.distribution + " needs [low, high]");
  }
  p.low = number(doc, args[0], where_key);
  p.high = number(doc, args[1], where_key);
  if (p.low > p.high) {
    throw ConfigError(doc.location(args, where_key) + ": " + where_key + ": low is above high");
  }
  if (p.distribution == "loguniform" && p.low <= 0) {
    throw ConfigError(doc.location(args, where_key) + ": " + where_key + ": loguniform needs low > 0");
  }
  if (p.distribution == "int" && (p.low != std::floor(p.low) || p.high != std::floor(p.high))) {
    throw ConfigError(doc.location(args, where_key) + ": " + where_key + ": int needs integer bounds");
  }
  return p;
}

std::vector<std::string> split_values(const std::string& text) {
  // "1e-3,1e-4" or a YAML flow list "[1e-3, 1e-4]".
  if (!text.empty() && text.front() == '[') {
    std::vector<std::string> out;
    for (const auto& item : YAML::Load(text)) out.push_back(yaml_text(item));
    return out;
  }
  std::vector<std::string> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) out.push_back(item);
  return out;
}

}  // namespace

std::string SweepSpec::to_yaml() const {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << name;
  out << YAML::Key << "jobs" << YAML::Value << jobs;
  if (!grid.empty()) {
    out << YAML::Key << "grid" << YAML::Value << YAML::BeginMap;
    for (const auto& [key, values] : grid) {
      out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const auto& v : values) out << v;
      out << YAML::EndSeq;
    }
    out << YAML::EndMap;
  }
  if (!random.empty()) {
    out << YAML::Key << "random" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "trials" << YAML::Value << random_trials;
    out << YAML::Key << "seed" << YAML::Value << random_seed;
    out << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
    for (const auto& p : random) {
      out << YAML::Key << p.key << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << p.distribution
          << YAML::Value << YAML::BeginSeq;
      if (p.distribution == "choice") {
        for (const auto& c : p.choices) out << c;
      } else {
        out << format_double(p.low) << format_double(p.high);
      }
      out << YAML::EndSeq << YAML::EndMap;
    }
    out << YAML::EndMap << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string SweepTrial::key() const {
  std::string out;
  for (const auto& o : overrides) out += (out.empty() ? "" : " ") + o.key + "=" + o.value;
  return out;
}

SweepSpec parse_sweep(const ExperimentDocument& doc, const std::string& experiment_name,
                      const std::vector<std::string>& command_line_sweeps) {
  SweepSpec spec;
  spec.name = experiment_name;
  const YAML::Node section = doc.section("sweep");
  if (section && !section.IsNull()) {
    if (!section.IsMap()) {
      throw ConfigError(doc.location(section, "sweep") + ": sweep: expected a mapping with grid and/or random");
    }
    reject_unknown_keys(doc, section, "sweep", kSweepKeys);
    if (section["name"]) spec.name = section["name"].Scalar();
    if (section["jobs"]) {
      const double jobs = number(doc, section["jobs"], "sweep.jobs");
      if (jobs < 1 || jobs != std::floor(jobs)) {
        throw ConfigError(doc.location(section["jobs"], "sweep.jobs") + ": sweep.jobs: expected an integer >= 1");
      }
      spec.jobs = static_cast<std::int64_t>(jobs);
    }
    if (const YAML::Node grid = section["grid"]) {
      if (!grid.IsMap()) throw ConfigError(doc.location(grid, "sweep.grid") + ": sweep.grid: expected KEY: [values]");
      for (auto it = grid.begin(); it != grid.end(); ++it) {
        const std::string key = it->first.Scalar();
        // A copy: `it->second` lives in a temporary proxy that a range-for would outlive
        // (AddressSanitizer: stack-use-after-scope).
        const YAML::Node listed = it->second;
        if (!listed.IsSequence() || listed.size() == 0) {
          throw ConfigError(doc.location(listed, "sweep.grid." + key) + ": sweep.grid." + key +
                            ": expected a non-empty list of values");
        }
        std::vector<std::string> values;
        for (const auto& v : listed) values.push_back(yaml_text(v));
        spec.grid.emplace_back(key, values);
      }
    }
    if (const YAML::Node random = section["random"]) {
      if (!random.IsMap())
        throw ConfigError(doc.location(random, "sweep.random") + ": sweep.random: expected a mapping");
      reject_unknown_keys(doc, random, "sweep.random", kRandomKeys);
      const double trials = random["trials"] ? number(doc, random["trials"], "sweep.random.trials") : 0;
      if (trials < 1 || trials != std::floor(trials)) {
        throw ConfigError(doc.location(random, "sweep.random") + ": sweep.random.trials: expected an integer >= 1");
      }
      spec.random_trials = static_cast<std::int64_t>(trials);
      if (random["seed"])
        spec.random_seed = static_cast<std::uint64_t>(number(doc, random["seed"], "sweep.random.seed"));
      const YAML::Node params = random["params"];
      if (!params || !params.IsMap() || params.size() == 0) {
        throw ConfigError(doc.location(random, "sweep.random") +
                          ": sweep.random.params: expected KEY: {distribution: [...]}");
      }
      for (auto it = params.begin(); it != params.end(); ++it) {
        spec.random.push_back(parse_random_parameter(doc, it->first.Scalar(), it->second));
      }
    }
  }
  for (const auto& text : command_line_sweeps) {
    const Override o = parse_override(text);
    auto values = split_values(o.value);
    if (values.empty()) throw ConfigError("--sweep " + text + ": no values");
    auto existing = std::find_if(spec.grid.begin(), spec.grid.end(), [&](const auto& g) { return g.first == o.key; });
    if (existing != spec.grid.end()) {
      existing->second = values;
    } else {
      spec.grid.emplace_back(o.key, values);
    }
  }
  return spec;
}

std::vector<SweepTrial> expand_sweep(const SweepSpec& spec) {
  std::vector<SweepTrial> grid_points{SweepTrial{}};
  for (const auto& [key, values] : spec.grid) {
    std::vector<SweepTrial> next;
    for (const auto& point : grid_points) {
      for (const auto& value : values) {
        SweepTrial trial = point;
        trial.overrides.push_back({key, value});
        next.push_back(trial);
      }
    }
    grid_points = std::move(next);
  }
  if (spec.random.empty()) return grid_points;

  // Draws come from a 64-bit Mersenne Twister seeded by the sweep, turned into values with our
  // own arithmetic (not std::*_distribution, whose algorithms differ between standard libraries).
  std::mt19937_64 rng(spec.random_seed);
  auto unit = [&] { return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0); };
  std::vector<SweepTrial> trials;
  for (std::int64_t t = 0; t < spec.random_trials; ++t) {
    std::vector<Override> drawn;
    for (const auto& p : spec.random) {
      std::string value;
      if (p.distribution == "uniform") {
        value = format_double(p.low + (p.high - p.low) * unit());
      } else if (p.distribution == "loguniform") {
        value = format_double(std::exp(std::log(p.low) + (std::log(p.high) - std::log(p.low)) * unit()));
      } else if (p.distribution == "int") {
        const auto span = static_cast<std::uint64_t>(p.high - p.low) + 1;
        value = std::to_string(static_cast<std::int64_t>(p.low) + static_cast<std::int64_t>(rng() % span));
      } else {
        value = p.choices[static_cast<std::size_t>(rng() % p.choices.size())];
      }
      drawn.push_back({p.key, value});
    }
    for (const auto& point : grid_points) {
      SweepTrial trial = point;
      trial.overrides.insert(trial.overrides.end(), drawn.begin(), drawn.end());
      trials.push_back(trial);
    }
  }
  return trials;
}

std::vector<ExperimentConfig> validate_trials(const ExperimentDocument& document, const std::vector<SweepTrial>& trials,
                                              const PluginRegistry& registry) {
  std::vector<ExperimentConfig> configs;
  configs.reserve(trials.size());
  for (std::size_t i = 0; i < trials.size(); ++i) {
    try {
      configs.push_back(document.with_overrides(trials[i].overrides).resolve(registry));
    } catch (const ConfigError& e) {
      throw ConfigError("sweep trial " + std::to_string(i + 1) + " of " + std::to_string(trials.size()) + " (" +
                        trials[i].key() + ") is invalid; nothing was run:\n" + e.what());
    }
  }
  return configs;
}

}  // namespace trainyard
