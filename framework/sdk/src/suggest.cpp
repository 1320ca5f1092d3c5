#include "trainyard/suggest.h"

#include <algorithm>
#include <cctype>

namespace trainyard {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  // Optimal string alignment distance: a swapped pair ("lr" -> "rl") costs one edit, as typos do.
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost =
          std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1])) ? 0
                                                                                                                   : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::optional<std::string> nearest_name(const std::string& wanted, const std::vector<std::string>& known) {
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (const auto& name : known) {
    const std::size_t distance = edit_distance(wanted, name);
    if (!best || distance < best_distance) {
      best = name;
      best_distance = distance;
    }
  }
  // Close enough to be a typo: at most a third of the longer name, and never more than 3 edits.
  if (best) {
    const std::size_t longest = std::max(wanted.size(), best->size());
    const std::size_t limit = std::min<std::size_t>(3, std::max<std::size_t>(1, longest / 3));
    if (best_distance > limit) return std::nullopt;
  }
  return best;
}

std::string join_names(const std::vector<std::string>& names) {
  if (names.empty()) return "(none)";
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace trainyard
