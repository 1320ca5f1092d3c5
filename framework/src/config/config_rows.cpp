#include "trainyard/config/config_rows.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <yaml-cpp/yaml.h>

#include "trainyard/errors.h"

namespace trainyard {
namespace {

void flatten(const YAML::Node& node, const std::string& prefix, std::vector<ConfigRow>& rows) {
  if (node.IsMap()) {
    for (const auto& entry : node) {
      const std::string key = entry.first.as<std::string>();
      flatten(entry.second, prefix.empty() ? key : prefix + "." + key, rows);
    }
    return;
  }
  ConfigRow row;
  row.key = prefix;
  if (node.IsScalar()) {
    row.value = node.Scalar();
  } else if (node.IsSequence()) {
    YAML::Emitter out;
    out << YAML::Flow << node;
    row.value = out.c_str();
  }  // null: empty value
  row.number = parse_number(row.value);
  rows.push_back(std::move(row));
}

}  // namespace

std::string shortest_decimal(double value) {
  char buffer[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

std::optional<double> parse_number(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text.front()))) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || std::isnan(value)) return std::nullopt;
  return value;
}

std::vector<ConfigRow> flatten_config_yaml(const std::string& yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw ConfigError("stored configuration: malformed YAML: " + e.msg);
  }
  std::vector<ConfigRow> rows;
  if (root.IsMap()) flatten(root, "", rows);
  std::sort(rows.begin(), rows.end(), [](const ConfigRow& a, const ConfigRow& b) { return a.key < b.key; });
  return rows;
}

}  // namespace trainyard
