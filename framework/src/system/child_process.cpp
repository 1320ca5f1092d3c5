#include "trainyard/system/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <stdexcept>

namespace trainyard {
namespace {

// The child's side of both ways to start one: its group, its death with the parent, its output.
// Between fork and exec a child of a multithreaded process may only make async-signal-safe
// calls: everything it needs was made before the fork.
void enter_child(int output_fd, pid_t group, pid_t parent, bool die_with_parent) {
  ::setpgid(0, group);
  if (die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before the line above
  }
  if (output_fd >= 0) {
    ::dup2(output_fd, STDOUT_FILENO);
    ::dup2(output_fd, STDERR_FILENO);
    ::close(output_fd);
  }
}

[[noreturn]] void exec_child(char* const* argv, char* const* envp) {
  if (envp) {
    ::execve(argv[0], argv, envp);
  } else {
    ::execv(argv[0], argv);
  }
  ::_exit(127);
}

int open_output(const ChildOptions& options) {
  if (options.output.empty()) return -1;
  const int fd = ::open(options.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write '" + options.output.string() + "': " + std::strerror(errno));
  return fd;
}

// The parent's half after a fork: its copy of the output closed, the child's group set.
pid_t after_fork(pid_t pid, int fork_error, int output_fd, const ChildOptions& options, const std::string& what) {
  if (output_fd >= 0) ::close(output_fd);
  if (pid < 0) throw std::runtime_error("cannot start '" + what + "': " + std::strerror(fork_error));
  // The parent sets the group too: a signal sent to the group right after this returns must
  // reach the child even if it has not run yet (EACCES once it has exec'd: already done).
  ::setpgid(pid, options.process_group);
  return pid;
}

}  // namespace

pid_t spawn_child(const std::vector<std::string>& arguments, const ChildOptions& options) {
  if (arguments.empty()) throw std::runtime_error("spawn_child: no program to start");
  // Said here, not as an exit code 127 from a child that could not exec.
  if (::access(arguments[0].c_str(), X_OK) != 0) {
    throw std::runtime_error("cannot start '" + arguments[0] + "': " + std::strerror(errno));
  }
  auto argv = argv_pointers(arguments);
  std::vector<char*> envp;
  if (options.environment) envp = argv_pointers(*options.environment);
  const int output_fd = open_output(options);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    enter_child(output_fd, options.process_group, parent, options.die_with_parent);
    exec_child(argv.data(), options.environment ? envp.data() : nullptr);
  }
  return after_fork(pid, errno, output_fd, options, arguments[0]);
}

bool single_threaded() {
  std::error_code ec;
  auto tasks = std::filesystem::directory_iterator("/proc/self/task", ec);
  if (ec) return false;
  return std::distance(tasks, std::filesystem::directory_iterator()) == 1;
}

std::optional<pid_t> fork_child(const std::function<int()>& body, const ChildOptions& options) {
  if (options.environment) throw std::runtime_error("fork_child: a copy of this process keeps its environment");
  if (!single_threaded()) return std::nullopt;
  const int output_fd = open_output(options);
  // What this process has buffered is its own: the child must not write it out a second time.
  std::fflush(nullptr);
  std::cout.flush();
  std::cerr.flush();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    enter_child(output_fd, options.process_group, parent, options.die_with_parent);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    int code = 1;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "the child's work ended in an unknown exception\n");
    }
    std::fflush(nullptr);
    std::cout.flush();
    std::cerr.flush();
    // Not exit(): this copy must not run the parent's atexit handlers and static destructors
    // (they would close what the parent still uses).
    ::_exit(code);
  }
  return after_fork(pid, errno, output_fd, options, "a copy of this process");
}

bool ChildExit::succeeded() const { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }
int ChildExit::code() const { return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 1; }
bool ChildExit::killed_by_signal() const { return WIFSIGNALED(wait_status); }

std::vector<char*> argv_pointers(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

std::optional<ChildExit> reap_child(pid_t pid, bool block) {
  int status = 0;
  rusage usage{};
  const pid_t done = ::wait4(pid, &status, block ? 0 : WNOHANG, &usage);
  if (done > 0) return ChildExit{done, status, static_cast<double>(usage.ru_maxrss) / 1024.0};  // Linux: KiB
  if (done == 0 || errno == EINTR) return std::nullopt;
  throw std::runtime_error(std::string("wait4 failed: ") + std::strerror(errno));
}

std::string describe_exit(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(wait_status)) + " (" + strsignal(WTERMSIG(wait_status)) +
           ")";
  }
  return "exited with code " + std::to_string(WEXITSTATUS(wait_status));
}

}  // namespace trainyard
