// Validating a section of an experiment against a schema (a list of ParamSpec): the machinery that
// checks the framework's sections, each plugin's parameters and the sweep section alike. Problems
// are collected, not thrown one by one, so that a user sees every mistake of a file at once.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "trainyard/config/experiment_config.h"

namespace trainyard {

/// Every problem found in a document, each one line naming where it is and what is accepted.
class Problems {
 public:
  void add(std::string message) { messages_.push_back(std::move(message)); }
  bool empty() const { return messages_.empty(); }
  /// Throws ConfigError: "Invalid experiment 'SOURCE' (N problems):" and one line per problem.
  [[noreturn]] void raise(const std::string& source) const;

 private:
  std::vector<std::string> messages_;
};

/// Validates `section` (a mapping, or null when absent) found under `section_name` ("" for the top
/// level) of `document` against `schema`: unknown keys (with "did you mean"), missing required
/// keys, wrong types and out-of-range values each add a problem naming the key and its
/// file:line:column (or --set). Keys in `reserved` are skipped: the caller reads them. `owner`
/// names the schema's owner in "OWNER accepts: ..." ("section 'train'", "model plugin 'resnet50'").
/// Returns the valid values, with defaults for keys not given.
Params validate_section(const ExperimentDocument& document, const YAML::Node& section,
                        const std::vector<ParamSpec>& schema, const std::string& section_name, const std::string& owner,
                        const std::vector<std::string>& reserved, Problems& problems);

/// "'text'" for a scalar, "a mapping", "a list" or "nothing": what a user wrote, for messages.
std::string describe_node(const YAML::Node& node);

}  // namespace trainyard
