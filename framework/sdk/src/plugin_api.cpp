// Out-of-line pieces of the plugin API: interface destructors (so their vtables and type
// information live once, in the framework library), the parameter helpers and Params.
#include "trainyard/plugin_api.h"

#include "trainyard/collectives.h"

#include <cmath>
#include <sstream>

namespace trainyard {

Model::~Model() = default;
Dataset::~Dataset() = default;
bool Dataset::deterministic(Split) const { return false; }
std::string Dataset::content_key() const { return {}; }
void Dataset::begin_epoch(std::int64_t) {}
std::optional<Preprocessing> Dataset::preprocessing() const { return std::nullopt; }
std::optional<PixelNormalization> Dataset::pixel_normalization() const { return std::nullopt; }
DataError::~DataError() = default;
Collectives::~Collectives() = default;

const char* host_build_fingerprint() { return TRAINYARD_BUILD_FINGERPRINT; }

const char* to_string(PluginKind kind) {
  switch (kind) {
    case PluginKind::kModel: return "model";
    case PluginKind::kDataset: return "dataset";
    case PluginKind::kOptimizer: return "optimizer";
  }
  return "unknown";
}

const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::kBool: return "bool";
    case ParamType::kInt: return "integer";
    case ParamType::kFloat: return "number";
    case ParamType::kString: return "string";
  }
  return "unknown";
}

const char* to_string(Split split) {
  switch (split) {
    case Split::kTrain: return "train";
    case Split::kTest: return "test";
    case Split::kVal: return "val";
  }
  return "unknown";
}

namespace {
ParamSpec make_spec(std::string name, ParamType type, std::optional<ParamValue> value, std::string description) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.default_value = std::move(value);
  spec.description = std::move(description);
  return spec;
}

// Whole bounds as integers ("1048576", not the stream's "1.04858e+06"), others as the stream
// writes them.
std::string format_number(double v) {
  if (std::abs(v) < 9.0e15 && v == std::floor(v)) return std::to_string(static_cast<long long>(v));
  std::ostringstream out;
  out << v;
  return out.str();
}
}  // namespace

ParamSpec bool_param(std::string name, std::optional<bool> value, std::string description) {
  return make_spec(std::move(name), ParamType::kBool, value ? std::optional<ParamValue>(*value) : std::nullopt,
                   std::move(description));
}

ParamSpec int_param(std::string name, std::optional<std::int64_t> value, std::string description) {
  return make_spec(std::move(name), ParamType::kInt, value ? std::optional<ParamValue>(*value) : std::nullopt,
                   std::move(description));
}

ParamSpec float_param(std::string name, std::optional<double> value, std::string description) {
  return make_spec(std::move(name), ParamType::kFloat, value ? std::optional<ParamValue>(*value) : std::nullopt,
                   std::move(description));
}

ParamSpec string_param(std::string name, std::optional<std::string> value, std::string description) {
  return make_spec(std::move(name), ParamType::kString, value ? std::optional<ParamValue>(*value) : std::nullopt,
                   std::move(description));
}

std::string describe_accepted(const ParamSpec& spec) {
  std::ostringstream out;
  if (!spec.choices.empty()) {
    out << "one of: ";
    for (std::size_t i = 0; i < spec.choices.size(); ++i) out << (i ? ", " : "") << spec.choices[i];
    return out.str();
  }
  out << (spec.type == ParamType::kInt     ? "an integer"
          : spec.type == ParamType::kFloat ? "a number"
          : spec.type == ParamType::kBool  ? "true or false"
                                           : "a string");
  if (spec.min) out << ' ' << (spec.min->inclusive ? ">= " : "> ") << format_number(spec.min->value);
  if (spec.min && spec.max) out << " and";
  if (spec.max) out << ' ' << (spec.max->inclusive ? "<= " : "< ") << format_number(spec.max->value);
  return out.str();
}

Params::Params(std::map<std::string, ParamValue> values) : values_(std::move(values)) {}

const ParamValue& Params::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    throw std::logic_error("parameter '" + name + "' was read but is not declared in the plugin's schema");
  }
  return it->second;
}

namespace {
template <typename T>
const T& get_as(const ParamValue& value, const std::string& name, const char* wanted) {
  if (const T* v = std::get_if<T>(&value)) return *v;
  throw std::logic_error("parameter '" + name + "' is not declared as " + wanted);
}
}  // namespace

bool Params::get_bool(const std::string& name) const { return get_as<bool>(at(name), name, "bool"); }
std::int64_t Params::get_int(const std::string& name) const { return get_as<std::int64_t>(at(name), name, "integer"); }
double Params::get_float(const std::string& name) const {
  const ParamValue& v = at(name);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return get_as<double>(v, name, "number");
}
const std::string& Params::get_string(const std::string& name) const {
  return get_as<std::string>(at(name), name, "string");
}

}  // namespace trainyard
