// A one-line progress display for a terminal, redrawn in place at most a few times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace trainyard {

class ProgressLine {
 public:
  /// Draws on `stream` only when it is a terminal (logs redirected to a file stay clean).
  explicit ProgressLine(std::FILE* stream = stderr);
  bool enabled() const { return enabled_; }
  /// True when enough time has passed since the last draw that it is worth reading metrics
  /// (which synchronizes with the device) and drawing again.
  bool due();
  void draw(const std::string& label, std::int64_t done, std::int64_t total, const std::string& detail);
  /// Erases the line, so the next log line starts clean.
  void clear();

 private:
  std::FILE* stream_;
  bool enabled_ = false;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace trainyard
