// The runner process: its signal handlers, its own path, when it started.
#include "commands.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace trainyard::runner {

std::atomic<bool> g_stop_requested{false};
std::atomic<int> g_stop_signals{0};

namespace {

// A parent of runner processes (a sweep, or --nproc) only counts signals: it passes them on to
// its children (trials or ranks) and waits for them to record their state, however many come.
extern "C" void on_counted_signal(int) { g_stop_signals.fetch_add(1); }

// First SIGINT/SIGTERM: finish the current batch, record the run as interrupted, exit 130.
// Second: the default action, at once.
extern "C" void on_stop_signal(int signal_number) {
  if (g_stop_requested.exchange(true)) {
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
    return;
  }
  static const char message[] = "\nstopping after the current batch (signal again to exit at once)\n";
  [[maybe_unused]] auto written = ::write(2, message, sizeof message - 1);
}

}  // namespace

void install_counting_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_counted_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: waitpid returns EINTR so the signal is passed on at once
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

std::string runner_executable() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

// Field 22 of /proc/self/stat, in clock ticks since boot.
std::chrono::steady_clock::time_point process_start_time() {
  const auto now = std::chrono::steady_clock::now();
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::ifstream uptime_file("/proc/uptime");
  double uptime = 0;
  uptime_file >> uptime;
  const auto after_name = text.rfind(')');
  if (after_name == std::string::npos || uptime <= 0) return now;
  std::istringstream fields(text.substr(after_name + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) {
      const double started = std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
      const double age = std::max(0.0, uptime - started);
      return now - std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(age));
    }
  }
  return now;
}

}  // namespace trainyard::runner
