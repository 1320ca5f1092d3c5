// Text for a POSIX shell: single-quoted, so that nothing inside is expanded or split.
#pragma once

#include <string>

namespace trainyard {

/// 'text' with each ' written as '\'' : safe for sh and bash whatever `text` holds.
inline std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace trainyard
