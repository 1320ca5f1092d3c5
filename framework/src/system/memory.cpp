#include "trainyard/system/memory.h"

#include <fstream>
#include <sstream>

namespace trainyard {

std::optional<double> parse_mem_available_mib(const std::string& meminfo) {
  std::istringstream lines(meminfo);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    double kib = 0;
    if (fields >> kib && kib >= 0) return kib / 1024.0;
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<double> available_memory_mib() {
  std::ifstream file("/proc/meminfo");
  if (!file) return std::nullopt;
  std::ostringstream text;
  text << file.rdbuf();
  return parse_mem_available_mib(text.str());
}

}  // namespace trainyard
