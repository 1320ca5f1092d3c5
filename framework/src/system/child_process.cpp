#include "trainyard/system/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace trainyard {
namespace {

std::vector<char*> pointers(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Between fork and exec a child of a multithreaded process may only make async-signal-safe
// calls: everything it needs was made before the fork.
[[noreturn]] void become_child(char* const* argv, char* const* envp, int output_fd, pid_t group, pid_t parent,
                               bool die_with_parent) {
  ::setpgid(0, group);
  if (die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before the line above
  }
  if (output_fd >= 0) {
    ::dup2(output_fd, STDOUT_FILENO);
    ::dup2(output_fd, STDERR_FILENO);
  }
  if (envp) {
    ::execve(argv[0], argv, envp);
  } else {
    ::execv(argv[0], argv);
  }
  ::_exit(127);
}

}  // namespace

pid_t spawn_child(const std::vector<std::string>& arguments, const ChildOptions& options) {
  if (arguments.empty()) throw std::runtime_error("spawn_child: no program to start");
  // Said here, not as an exit code 127 from a child that could not exec.
  if (::access(arguments[0].c_str(), X_OK) != 0) {
    throw std::runtime_error("cannot start '" + arguments[0] + "': " + std::strerror(errno));
  }
  auto argv = pointers(arguments);
  std::vector<char*> envp;
  if (options.environment) envp = pointers(*options.environment);
  int output_fd = -1;
  if (!options.output.empty()) {
    output_fd = ::open(options.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (output_fd < 0) {
      throw std::runtime_error("cannot write '" + options.output.string() + "': " + std::strerror(errno));
    }
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    become_child(argv.data(), options.environment ? envp.data() : nullptr, output_fd, options.process_group, parent,
                 options.die_with_parent);
  }
  const int fork_error = errno;
  if (output_fd >= 0) ::close(output_fd);
  if (pid < 0) throw std::runtime_error("cannot start '" + arguments[0] + "': " + std::strerror(fork_error));
  // The parent sets the group too: a signal sent to the group right after this returns must
  // reach the child even if it has not run yet (EACCES once it has exec'd: already done).
  ::setpgid(pid, options.process_group);
  return pid;
}

bool ChildExit::succeeded() const { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }
int ChildExit::code() const { return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 1; }
bool ChildExit::killed_by_signal() const { return WIFSIGNALED(wait_status); }

std::optional<ChildExit> reap_child(pid_t pid, bool block) {
  int status = 0;
  const pid_t done = ::waitpid(pid, &status, block ? 0 : WNOHANG);
  if (done > 0) return ChildExit{done, status};
  if (done == 0 || errno == EINTR) return std::nullopt;
  throw std::runtime_error(std::string("waitpid failed: ") + std::strerror(errno));
}

std::string describe_exit(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(wait_status)) + " (" + strsignal(WTERMSIG(wait_status)) +
           ")";
  }
  return "exited with code " + std::to_string(WEXITSTATUS(wait_status));
}

}  // namespace trainyard
