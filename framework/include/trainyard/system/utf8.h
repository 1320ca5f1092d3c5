// Text from outside (a child's log, a file name) on its way into the results database or JSON:
// PostgreSQL refuses a string that is not valid UTF-8, and JSON writers throw on one.
#pragma once

#include <string>

namespace trainyard {

/// `text` with every byte sequence that is not valid UTF-8 replaced by U+FFFD.
std::string valid_utf8(const std::string& text);

/// The last `max_bytes` bytes of `text` or fewer, starting at a character boundary (never inside
/// a multi-byte character), as valid UTF-8.
std::string utf8_tail(const std::string& text, std::size_t max_bytes);

}  // namespace trainyard
