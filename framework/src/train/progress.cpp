#include "progress.h"

#include <unistd.h>

namespace trainyard {

ProgressLine::ProgressLine(std::FILE* stream) : stream_(stream), enabled_(isatty(fileno(stream)) != 0), last_() {}

bool ProgressLine::due() {
  if (!enabled_) return false;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(500)) return false;
  last_ = now;
  return true;
}

void ProgressLine::draw(const std::string& label, std::int64_t done, std::int64_t total, const std::string& detail) {
  if (!enabled_) return;
  constexpr int kWidth = 24;
  const int filled = total > 0 ? static_cast<int>(kWidth * done / total) : 0;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stream_, "\r\033[K%s [%s] %lld/%lld %s", label.c_str(), bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total), detail.c_str());
  std::fflush(stream_);
  drawn_ = true;
}

void ProgressLine::clear() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(stream_, "\r\033[K");
  std::fflush(stream_);
  drawn_ = false;
}

}  // namespace trainyard
