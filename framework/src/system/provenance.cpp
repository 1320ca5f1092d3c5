#include "trainyard/system/provenance.h"

#include <unistd.h>

#include "trainyard/system/shell_quote.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace trainyard {

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "unknown";
  return buffer;
}
namespace {

// Runs a shell command; its standard output, or nothing if it failed.
std::string capture(const std::string& command) {
  FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
  if (!pipe) return "";
  std::string out;
  std::array<char, 256> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe)) out += buffer.data();
  const int status = pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

std::string git_revision(const std::filesystem::path& file) {
  std::error_code ec;
  auto folder = std::filesystem::absolute(file, ec).parent_path();
  if (ec || !std::filesystem::is_directory(folder, ec)) return "";
  // The experiment's folder may be anyone's checkout: its git config must not run a program of
  // its choosing when we ask for the revision (core.fsmonitor is a command git runs on status).
  const std::string git =
      "git -c core.fsmonitor=false -c core.hooksPath=/dev/null --no-optional-locks -C " + shell_quote(folder.string());
  const std::string commit = capture(git + " rev-parse HEAD");
  if (commit.empty()) return "";
  const std::string changes = capture(git + " status --porcelain --untracked-files=no");
  return changes.empty() ? commit : commit + "-dirty";
}

}  // namespace trainyard
