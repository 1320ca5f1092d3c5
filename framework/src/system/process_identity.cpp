#include "trainyard/system/process_identity.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>

namespace trainyard {

namespace {
std::string boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

// Field 22 of /proc/PID/stat, counted after the command name (which may hold spaces and
// parentheses, so it is skipped up to its last ')').
std::string start_ticks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto name_end = text.rfind(')');
  if (name_end == std::string::npos) return "";
  std::istringstream fields(text.substr(name_end + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return field;
  }
  return "";
}
}  // namespace

std::string process_start_key(int pid) {
  const std::string boot = boot_id(), ticks = start_ticks(pid);
  if (boot.empty() || ticks.empty()) return "";
  return boot + "/" + ticks;
}

bool process_is_alive(int pid, const std::string& start_key) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  if (start_key.empty()) return true;  // nothing better to go by
  return process_start_key(pid) == start_key;
}

double process_uptime_seconds() {
  std::ifstream uptime_file("/proc/uptime");
  double since_boot = 0;
  const std::string ticks = start_ticks(static_cast<int>(::getpid()));
  const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  if (!(uptime_file >> since_boot) || ticks.empty() || ticks_per_second <= 0) return 0.0;
  const double started = std::stod(ticks) / static_cast<double>(ticks_per_second);
  return since_boot > started ? since_boot - started : 0.0;
}

}  // namespace trainyard
