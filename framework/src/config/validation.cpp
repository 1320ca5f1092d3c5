#include "trainyard/config/validation.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

#include "trainyard/errors.h"
#include "trainyard/suggest.h"

namespace trainyard {

void Problems::raise(const std::string& source) const {
  std::ostringstream out;
  out << "Invalid experiment '" << source << "' (" << messages_.size()
      << (messages_.size() == 1 ? " problem" : " problems") << "):";
  for (const auto& m : messages_) out << "\n  " << m;
  throw ConfigError(out.str());
}

std::string describe_node(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "nothing";
}

namespace {

std::string join_key(const std::string& section, const std::string& key) {
  return section.empty() ? key : section + "." + key;
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
  if (!value.IsScalar())
    return reject("expected " + std::string(to_string(spec.type)) + ", got " + describe_node(value));
  switch (spec.type) {
    case ParamType::kBool: {
      bool b = false;
      if (!YAML::convert<bool>::decode(value, b)) return reject("expected true or false, got " + describe_node(value));
      return ParamValue(b);
    }
    case ParamType::kInt: {
      std::int64_t i = 0;
      if (!YAML::convert<std::int64_t>::decode(value, i)) {
        return reject("expected an integer, got " + describe_node(value));
      }
      if (!in_bounds(spec, static_cast<double>(i))) return reject(std::to_string(i) + " is out of range");
      return ParamValue(i);
    }
    case ParamType::kFloat: {
      double d = 0.0;
      if (!YAML::convert<double>::decode(value, d) || !std::isfinite(d)) {
        return reject("expected a finite number, got " + describe_node(value));
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

}  // namespace

Params validate_section(const ExperimentDocument& document, const YAML::Node& section,
                        const std::vector<ParamSpec>& schema, const std::string& section_name, const std::string& owner,
                        const std::vector<std::string>& reserved, Problems& problems) {
  std::vector<std::string> known;  // what "accepts:" lists and "did you mean" draws from
  for (const auto& spec : schema) known.push_back(spec.name);
  known.insert(known.end(), reserved.begin(), reserved.end());

  std::map<std::string, ParamValue> values;
  std::map<std::string, YAML::Node> given;
  if (section && section.IsMap()) {
    for (auto it = section.begin(); it != section.end(); ++it) {
      const std::string key = it->first.Scalar();
      const std::string full = join_key(section_name, key);
      if (std::find(reserved.begin(), reserved.end(), key) != reserved.end()) continue;
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string message = document.location(it->first, full) + ": unknown key '" + full + "'";
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
        problems.add(document.location(section, section_name) + ": missing required key '" + full + "' (" +
                     spec.description + "; accepted: " + describe_accepted(spec) + ")");
      }
      continue;
    }
    if (auto v = convert_value(it->second, spec, full, document.location(it->second, full), problems)) {
      values[spec.name] = *v;
    }
  }
  return Params(std::move(values));
}

}  // namespace trainyard
