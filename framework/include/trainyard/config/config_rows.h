// A resolved experiment configuration as flat rows (optimizer.lr = 0.001), the form the results
// database stores it in so runs can be filtered and compared by any key with plain SQL.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace trainyard {

struct ConfigRow {
  std::string key;               // dotted path: "optimizer.lr", "train.batch_size"
  std::string value;             // the YAML scalar as written; lists in flow style "[a, b]"
  std::optional<double> number;  // the value as a number, when it is one (so 1e-4 == 0.0001)
};

/// Flattens a YAML mapping into rows sorted by key. Throws ConfigError on malformed YAML.
std::vector<ConfigRow> flatten_config_yaml(const std::string& yaml);

/// The shortest decimal text that reads back as the same double ("0.0001", "3", "1e-07").
std::string shortest_decimal(double value);

/// `text` as a number if all of it is one ("0.001", "1e-4", "32"); booleans are not numbers.
std::optional<double> parse_number(const std::string& text);

}  // namespace trainyard
