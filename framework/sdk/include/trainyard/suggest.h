// "Did you mean ...?" for unknown keys and plugin names.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace trainyard {

/// Edit distance (insertions, deletions, substitutions, adjacent transpositions).
std::size_t edit_distance(const std::string& a, const std::string& b);

/// The known name closest to `wanted`, if it is close enough to be a plausible typo.
std::optional<std::string> nearest_name(const std::string& wanted, const std::vector<std::string>& known);

/// "a, b, c" (or "(none)").
std::string join_names(const std::vector<std::string>& names);

}  // namespace trainyard
