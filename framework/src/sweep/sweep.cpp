#include "trainyard/sweep/sweep.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "trainyard/config/validation.h"
#include "trainyard/errors.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/suggest.h"
#include "trainyard/sweep/tpe.h"

namespace trainyard {

// The scalar keys of `sweep:` and of its `random:` block, declared once: validated, defaulted and
// described by the machinery that checks every other section. grid, random and params are
// structured and read below.
std::vector<ParamSpec> sweep_schema() {
  return {string_param("name", "", "the sweep's name, which reruns find it by (empty: the experiment's name)"),
          int_param("jobs", kJobsAuto,
                    "trials run at once on this machine; 0 = one per core (one thread each) or per GPU, as many "
                    "as the memory holds, one at a time for tpe or a pruner (--jobs wins)")
              .at_least(0)
              .at_most(1024)};
}

std::vector<ParamSpec> random_schema() {
  return {int_param("trials", std::nullopt, "draws from the random parameters").at_least(1).at_most(1000000),
          int_param("seed", 0, "seed of the draws: the same seed draws the same trials").at_least(0)};
}

std::vector<ParamSpec> tpe_schema() {
  const TpeSpec d;
  return {int_param("trials", std::nullopt, "trials in all: the start-up draws, then those TPE chooses")
              .at_least(1)
              .at_most(1000000),
          int_param("seed", 0, "seed of the draws: the same seed and results give the same trials").at_least(0),
          int_param("startup_trials", d.startup_trials, "random draws before TPE models the trials done")
              .at_least(1)
              .at_most(1000000)};
}

std::vector<NestedKey> sweep_nested_keys() {
  return {{"grid", "{KEY: [value, ...], ...}", "every combination of the values of any experiment keys, in order"},
          {"random", "{trials, seed, params}",
           "trials drawn at random from params (combined with every grid point); see sweep.random"},
          {"tpe", "{trials, seed, startup_trials, params}",
           "a model-based search in place of grid and random: the Tree-structured Parzen Estimator (Bergstra et "
           "al. 2011) as Optuna's TPESampler, learning from the trials done; see sweep.tpe"},
          {"pruner", "{kind, ...}", "ends trials that fall behind, from the results database; see sweep.pruner"}};
}

std::vector<NestedKey> drawn_nested_keys() {
  return {{"params",
           "{KEY: {uniform: [low, high]} | {loguniform: [low, high]} | {int: [low, high]} | {choice: [a, b, ...]}}",
           "the experiment keys drawn, each with its distribution"}};
}

// One declaration per key; which kind each applies to is said in its meaning and checked below.
std::vector<ParamSpec> pruner_schema() {
  const PrunerSpec d;
  return {
      string_param("kind", d.kind,
                   "median: end a trial whose selection accuracy at an epoch is below the median of the other "
                   "trials' at that epoch; asha: asynchronous successive halving (Li et al. 2018), only the top "
                   "1/reduction of the trials at each rung go on; none")
          .one_of({"none", "median", "asha"}),
      int_param("warmup_epochs", d.warmup_epochs, "median: no trial is pruned at these first epochs")
          .at_least(0)
          .at_most(1000000),
      int_param("min_trials", d.min_trials, "median: other trials that must have reached the epoch first")
          .at_least(1)
          .at_most(1000000),
      int_param("min_epochs", d.min_epochs, "asha: the first rung's epoch; rung k is at min_epochs x reduction^k")
          .at_least(1)
          .at_most(1000000),
      int_param("reduction", d.reduction, "asha: 1/reduction of the trials at a rung go on").at_least(2).at_most(1000)};
}

namespace {

const std::vector<std::string> kDistributions = {"uniform", "loguniform", "int", "choice"};

// The YAML text of a scalar or flow sequence, as --set would take it.
std::string yaml_text(const YAML::Node& node) {
  if (node.IsScalar()) return node.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

std::optional<double> number(const YAML::Node& node) {
  double value = 0.0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !std::isfinite(value)) return std::nullopt;
  return value;
}

// Checks [low, high] of a numeric distribution; the first thing wrong with it, or "".
std::string bounds_problem(RandomParameter& p, const YAML::Node& args) {
  if (args.size() != 2) return p.distribution + " needs [low, high]";
  const auto low = number(args[0]), high = number(args[1]);
  if (!low || !high) return p.distribution + " needs numbers, got " + yaml_text(args);
  p.low = *low;
  p.high = *high;
  if (p.low > p.high) return "low is above high";
  if (p.distribution == "loguniform" && p.low <= 0) return "loguniform needs low > 0";
  if (p.distribution == "int" && (p.low != std::floor(p.low) || p.high != std::floor(p.high))) {
    return "int needs integer bounds";
  }
  return "";
}

std::optional<RandomParameter> parse_random_parameter(const ExperimentDocument& doc, const std::string& section,
                                                      const std::string& key, const YAML::Node& spec,
                                                      Problems& problems) {
  const std::string where_key = section + ".params." + key;
  auto problem = [&](const YAML::Node& node, const std::string& what) {
    problems.add(doc.location(node, where_key) + ": " + where_key + ": " + what);
    return std::nullopt;
  };
  if (!spec.IsMap() || spec.size() != 1) {
    return problem(spec,
                   "expected one of {uniform: [low, high]}, {loguniform: [low, high]}, {int: [low, high]}, "
                   "{choice: [a, b, ...]}, got " +
                       describe_node(spec));
  }
  RandomParameter p;
  p.key = key;
  p.distribution = spec.begin()->first.Scalar();
  const YAML::Node args = spec.begin()->second;
  if (std::find(kDistributions.begin(), kDistributions.end(), p.distribution) == kDistributions.end()) {
    const auto near = nearest_name(p.distribution, kDistributions);
    return problem(spec, "unknown distribution '" + p.distribution + "'" +
                             (near ? " (did you mean '" + *near + "'?)" : "") +
                             "; accepted: " + join_names(kDistributions));
  }
  if (!args.IsSequence() || args.size() == 0) return problem(args, p.distribution + " needs a list");
  if (p.distribution == "choice") {
    for (const auto& choice : args) p.choices.push_back(yaml_text(choice));
    return p;
  }
  if (const std::string why = bounds_problem(p, args); !why.empty()) return problem(args, why);
  return p;
}

void parse_grid(const ExperimentDocument& doc, const YAML::Node& grid, SweepSpec& spec, Problems& problems) {
  if (!grid.IsMap()) {
    problems.add(doc.location(grid, "sweep.grid") + ": sweep.grid: expected KEY: [values], got " + describe_node(grid));
    return;
  }
  for (auto it = grid.begin(); it != grid.end(); ++it) {
    const std::string key = it->first.Scalar();
    // A copy: `it->second` lives in a temporary proxy that a range-for would outlive
    // (AddressSanitizer: stack-use-after-scope).
    const YAML::Node listed = it->second;
    if (!listed.IsSequence() || listed.size() == 0) {
      problems.add(doc.location(listed, "sweep.grid." + key) + ": sweep.grid." + key +
                   ": expected a non-empty list of values, got " + describe_node(listed));
      continue;
    }
    std::vector<std::string> values;
    for (const auto& v : listed) values.push_back(yaml_text(v));
    spec.grid.emplace_back(key, values);
  }
}

// The scalar keys and the params of a block of drawn parameters (sweep.random, sweep.tpe); the
// keys' values, or nullopt when the block is not a mapping.
std::optional<Params> parse_drawn_block(const ExperimentDocument& doc, const YAML::Node& block,
                                        const std::string& section, const std::vector<ParamSpec>& schema,
                                        std::vector<RandomParameter>& params, Problems& problems) {
  if (!block.IsMap()) {
    problems.add(doc.location(block, section) + ": " + section + ": expected a mapping, got " + describe_node(block));
    return std::nullopt;
  }
  Params values =
      validate_section(doc, block, schema, section, section, nested_key_names(drawn_nested_keys()), problems);
  const YAML::Node listed = block["params"];
  if (!listed || !listed.IsMap() || listed.size() == 0) {
    problems.add(doc.location(listed ? listed : block, section + ".params") + ": " + section +
                 ".params: expected KEY: {distribution: [...]} for at least one key");
    return values;
  }
  for (auto it = listed.begin(); it != listed.end(); ++it) {
    if (auto p = parse_random_parameter(doc, section, it->first.Scalar(), it->second, problems)) params.push_back(*p);
  }
  return values;
}

void parse_random(const ExperimentDocument& doc, const YAML::Node& random, SweepSpec& spec, Problems& problems) {
  const auto values = parse_drawn_block(doc, random, "sweep.random", random_schema(), spec.random, problems);
  if (!values) return;
  if (values->contains("trials")) spec.random_trials = values->get_int("trials");
  if (values->contains("seed")) spec.random_seed = static_cast<std::uint64_t>(values->get_int("seed"));
}

void parse_tpe(const ExperimentDocument& doc, const YAML::Node& tpe, SweepSpec& spec, Problems& problems) {
  const auto values = parse_drawn_block(doc, tpe, "sweep.tpe", tpe_schema(), spec.tpe.params, problems);
  if (!values) return;
  if (values->contains("trials")) spec.tpe.trials = values->get_int("trials");
  if (values->contains("seed")) spec.tpe.seed = static_cast<std::uint64_t>(values->get_int("seed"));
  if (values->contains("startup_trials")) spec.tpe.startup_trials = values->get_int("startup_trials");
}

// Writes a block of drawn parameters (random's or tpe's) as YAML.
void emit_parameters(YAML::Emitter& out, const std::vector<RandomParameter>& params) {
  out << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
  for (const auto& p : params) {
    out << YAML::Key << p.key << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << p.distribution
        << YAML::Value << YAML::BeginSeq;
    if (p.distribution == "choice") {
      for (const auto& c : p.choices) out << c;
    } else {
      out << format_double(p.low) << format_double(p.high);
    }
    out << YAML::EndSeq << YAML::EndMap;
  }
  out << YAML::EndMap;
}

void parse_pruner(const ExperimentDocument& doc, const YAML::Node& section, SweepSpec& spec, Problems& problems) {
  if (!section.IsMap()) {
    problems.add(doc.location(section, "sweep.pruner") +
                 ": sweep.pruner: expected a mapping such as {kind: median}, got " + describe_node(section));
    return;
  }
  const Params values = validate_section(doc, section, pruner_schema(), "sweep.pruner", "sweep.pruner", {}, problems);
  if (!problems.empty()) return;
  PrunerSpec& p = spec.pruner;
  p.kind = values.get_string("kind");
  p.warmup_epochs = values.get_int("warmup_epochs");
  p.min_trials = values.get_int("min_trials");
  p.min_epochs = values.get_int("min_epochs");
  p.reduction = values.get_int("reduction");
  // A key of the other kind would silently do nothing.
  const std::map<std::string, std::string> kind_of = {
      {"warmup_epochs", "median"}, {"min_trials", "median"}, {"min_epochs", "asha"}, {"reduction", "asha"}};
  for (const auto& [key, kind] : kind_of) {
    if (section[key] && kind != p.kind) {
      problems.add(doc.location(section[key], "sweep.pruner." + key) + ": sweep.pruner." + key + " applies to kind " +
                   kind + ", not " + p.kind);
    }
  }
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

void add_command_line_sweeps(const std::vector<std::string>& texts, SweepSpec& spec, Problems& problems) {
  for (const auto& text : texts) {
    try {
      const Override o = parse_override(text);
      auto values = split_values(o.value);
      if (values.empty()) throw ConfigError("--sweep " + text + ": no values");
      auto existing = std::find_if(spec.grid.begin(), spec.grid.end(), [&](const auto& g) { return g.first == o.key; });
      if (existing != spec.grid.end()) {
        existing->second = values;
      } else {
        spec.grid.emplace_back(o.key, values);
      }
    } catch (const std::exception& e) {  // ConfigError, or YAML's for a malformed [list]
      problems.add(std::string("--sweep ") + text + ": " + e.what());
    }
  }
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
    emit_parameters(out, random);
    out << YAML::EndMap;
  }
  if (tpe.enabled()) {
    out << YAML::Key << "tpe" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "trials" << YAML::Value << tpe.trials;
    out << YAML::Key << "seed" << YAML::Value << tpe.seed;
    out << YAML::Key << "startup_trials" << YAML::Value << tpe.startup_trials;
    emit_parameters(out, tpe.params);
    out << YAML::EndMap;
  }
  if (pruner.enabled()) {
    out << YAML::Key << "pruner" << YAML::Value << YAML::BeginMap << YAML::Key << "kind" << YAML::Value << pruner.kind;
    if (pruner.kind == "median") {
      out << YAML::Key << "warmup_epochs" << YAML::Value << pruner.warmup_epochs;
      out << YAML::Key << "min_trials" << YAML::Value << pruner.min_trials;
    } else {
      out << YAML::Key << "min_epochs" << YAML::Value << pruner.min_epochs;
      out << YAML::Key << "reduction" << YAML::Value << pruner.reduction;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

SweepSpec parse_stored_sweep(const std::string& spec_yaml) {
  YAML::Node root(YAML::NodeType::Map);
  root["sweep"] = YAML::Load(spec_yaml);
  YAML::Emitter out;
  out << root;
  const auto document = ExperimentDocument::parse(out.c_str(), "the sweep's stored spec");
  return parse_sweep(document, "", {});
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
  Problems problems;
  const YAML::Node section = doc.section("sweep");
  if (section && !section.IsNull() && !section.IsMap()) {
    problems.add(doc.location(section, "sweep") + ": sweep: expected a mapping with grid and/or random, got " +
                 describe_node(section));
  } else if (section && section.IsMap()) {
    const Params values = validate_section(doc, section, sweep_schema(), "sweep", "sweep",
                                           nested_key_names(sweep_nested_keys()), problems);
    if (values.contains("name") && !values.get_string("name").empty()) spec.name = values.get_string("name");
    if (values.contains("jobs")) spec.jobs = values.get_int("jobs");
    if (const YAML::Node grid = section["grid"]) parse_grid(doc, grid, spec, problems);
    if (const YAML::Node random = section["random"]) parse_random(doc, random, spec, problems);
    if (const YAML::Node pruner = section["pruner"]) parse_pruner(doc, pruner, spec, problems);
    if (const YAML::Node tpe = section["tpe"]) parse_tpe(doc, tpe, spec, problems);
  }
  add_command_line_sweeps(command_line_sweeps, spec, problems);
  if (spec.tpe.enabled() && (!spec.grid.empty() || !spec.random.empty())) {
    // TPE models every swept value: a grid or random key beside it would be a dimension it cannot see.
    problems.add(doc.location(section["tpe"], "sweep.tpe") + ": sweep.tpe: give every swept key to tpe.params " +
                 "(with {choice: [...]} for a list of values); it cannot be combined with sweep.grid, sweep.random " +
                 "or --sweep");
  }
  if (!problems.empty()) problems.raise(doc.source());
  return spec;
}

double draw_unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0); }

namespace {

// TPE's first trials: random draws, each depending on the seed, its number and the ones before.
std::vector<SweepTrial> tpe_startup_trials(const TpeSpec& tpe) {
  TpeSettings settings;
  settings.startup_trials = tpe.startup_trials;
  std::vector<SweepTrial> trials;
  std::vector<std::vector<std::string>> tried;
  for (std::int64_t n = 0; n < std::min(tpe.trials, tpe.startup_trials); ++n) {
    tried.push_back(tpe_suggest(tpe.params, {}, tried, settings, tpe.seed, n));
    trials.push_back(tpe_trial(tpe, tried.back()));
  }
  return trials;
}

}  // namespace

SweepTrial tpe_trial(const TpeSpec& tpe, const std::vector<std::string>& values) {
  SweepTrial trial;
  for (std::size_t i = 0; i < tpe.params.size(); ++i) trial.overrides.push_back({tpe.params[i].key, values[i]});
  return trial;
}

std::string draw_random_value(const RandomParameter& p, std::mt19937_64& rng) {
  auto unit = [&] { return draw_unit(rng); };
  if (p.distribution == "uniform") return format_double(p.low + (p.high - p.low) * unit());
  if (p.distribution == "loguniform") {
    return format_double(std::exp(std::log(p.low) + (std::log(p.high) - std::log(p.low)) * unit()));
  }
  if (p.distribution == "int") {
    const auto span = static_cast<std::uint64_t>(p.high - p.low) + 1;
    return std::to_string(static_cast<std::int64_t>(p.low) + static_cast<std::int64_t>(rng() % span));
  }
  return p.choices[static_cast<std::size_t>(rng() % p.choices.size())];
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
  if (spec.tpe.enabled()) return tpe_startup_trials(spec.tpe);
  if (spec.random.empty()) return grid_points;

  // Draws come from a 64-bit Mersenne Twister seeded by the sweep.
  std::mt19937_64 rng(spec.random_seed);
  std::vector<SweepTrial> trials;
  for (std::int64_t t = 0; t < spec.random_trials; ++t) {
    std::vector<Override> drawn;
    for (const auto& p : spec.random) drawn.push_back({p.key, draw_random_value(p, rng)});
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
  constexpr std::size_t kTrialsShown = 5;  // the same mistake in a large grid need not fill the screen
  std::vector<ExperimentConfig> configs;
  configs.reserve(trials.size());
  std::vector<std::string> invalid;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    try {
      configs.push_back(document.with_overrides(trials[i].overrides).resolve(registry));
    } catch (const ConfigError& e) {
      invalid.push_back("sweep trial " + std::to_string(i + 1) + " of " + std::to_string(trials.size()) + " (" +
                        trials[i].key() + "): " + e.what());
    }
  }
  if (invalid.empty()) return configs;
  std::string message = std::to_string(invalid.size()) + " of " + std::to_string(trials.size()) +
                        " sweep trials are invalid; nothing was run:";
  for (std::size_t i = 0; i < std::min(invalid.size(), kTrialsShown); ++i) message += "\n" + invalid[i];
  if (invalid.size() > kTrialsShown) {
    message += "\n... and " + std::to_string(invalid.size() - kTrialsShown) + " more invalid trials";
  }
  throw ConfigError(message);
}

}  // namespace trainyard
