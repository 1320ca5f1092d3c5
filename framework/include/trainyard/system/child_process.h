// The runner's child processes: a sweep's trials, a data-parallel run's ranks, a worker's trial.
// One way to start them, to reap them and to say how they ended.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace trainyard {

struct ChildOptions {
  /// stdout and stderr go to this file (created or truncated); empty: this process's.
  std::filesystem::path output;
  /// 0: a process group of its own, which it leads (a Ctrl-C at the terminal then reaches this
  /// process alone, which passes it on); otherwise the group to join.
  pid_t process_group = 0;
  /// The kernel kills it (SIGKILL) when this process dies: a killed worker's trial must not
  /// finish behind the back of the worker that takes it over.
  bool die_with_parent = false;
  /// Its whole environment as NAME=value entries; nullopt: this process's.
  std::optional<std::vector<std::string>> environment;
};

/// Starts `arguments` (arguments[0] a path to the program). Throws std::runtime_error naming
/// the program or the output file when it cannot.
pid_t spawn_child(const std::vector<std::string>& arguments, const ChildOptions& options = {});

/// Starts a child that runs `body` in a copy of this process (fork without exec) and exits with
/// its return value: what a runner's trial costs to start is then a fork, not loading LibTorch
/// and its hundreds of libraries again (0.35 s here). Its output, group and death with the parent
/// are as `options` say (its environment is this process's); SIGINT and SIGTERM are back at
/// their defaults, as after an exec. Only a single-threaded process can be copied so (a thread
/// holding a lock, or OpenMP's pool, would not be there in the copy): returns nullopt when this
/// one has other threads, and the caller starts the program instead. The caller must close what
/// must not be shared first (an SQLite connection must not be used or closed in both).
std::optional<pid_t> fork_child(const std::function<int()>& body, const ChildOptions& options = {});

/// `strings` as an argv (or envp): a pointer to each, then a null; valid while `strings` is.
std::vector<char*> argv_pointers(const std::vector<std::string>& strings);

/// Whether this process has one thread (Linux: the entries of /proc/self/task).
bool single_threaded();

/// How a reaped child ended.
struct ChildExit {
  pid_t pid = 0;
  int wait_status = 0;
  /// Its largest resident set (MiB), as the kernel kept it: what a sweep learns a trial needs.
  double peak_rss_mib = 0;
  bool succeeded() const;  // exited with code 0
  /// Its exit code; 1 when a signal killed it.
  int code() const;
  bool killed_by_signal() const;
};

/// Reaps child `pid` (-1: any child). With `block`, waits until one ends; without, returns
/// nullopt at once when none has. A signal arriving while it waits also returns nullopt, so the
/// caller can pass the signal on. Throws std::runtime_error when there is no such child.
std::optional<ChildExit> reap_child(pid_t pid = -1, bool block = false);

/// "exited with code 1", "was killed by signal 9 (Killed)".
std::string describe_exit(int wait_status);

}  // namespace trainyard
