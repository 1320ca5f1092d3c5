#include "local_launch.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>

#include <trainyard/distributed/distributed.h>
#include <trainyard/store/postgres_connection.h>
#include <trainyard/store/results_store.h>
#include <trainyard/system/child_process.h>

extern char** environ;

namespace trainyard {
namespace {

// This process's environment with the launch variables replaced.
std::vector<std::string> rank_environment(const std::map<std::string, std::string>& set) {
  std::vector<std::string> entries;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    if (!set.count(name)) entries.push_back(entry);
  }
  for (const auto& [name, value] : set) entries.push_back(name + "=" + value);
  return entries;
}

// Rank 0 died without recording the end of its run: record it failed, as rank 0 would have.
void fail_run_of_dead_rank0(const std::filesystem::path& record_file, const std::string& why) {
  std::ifstream in(record_file);
  std::int64_t run_id = 0;
  std::string db;
  if (!(in >> run_id) || !std::getline(in >> std::ws, db)) return;  // it died before its row existed
  try {
    ResultsStore store(db);
    const auto run = store.run(run_id);
    if (!run || run->status != trainyard::RunStatus::kRunning) return;
    store.finish_run(run_id, RunStatus::kFailed, "rank 0 " + why + " (recorded by runner --nproc)");
    spdlog::error("run {} in {} marked failed: rank 0 {}", run_id, store.path(), why);
  } catch (const std::exception& e) {
    spdlog::error("could not mark run {} in {} failed: {}", run_id, redact_location(db), e.what());
  }
}

}  // namespace

int launch_local_ranks(const std::vector<std::string>& arguments, const LocalLaunchOptions& options) {
  const int port = free_loopback_port();
  char record_template[] = "/tmp/trainyard-run-XXXXXX";
  const int record_fd = ::mkstemp(record_template);
  if (record_fd >= 0) ::close(record_fd);
  const std::filesystem::path record_file = record_fd >= 0 ? record_template : "";
  // The ranks meet through a file in a folder of this user's alone (mkdtemp: 0700), not a TCP
  // store: LibTorch 1.13's listens on every interface, where anyone could join the rendezvous.
  char rendezvous_template[] = "/tmp/trainyard-rendezvous-XXXXXX";
  if (!::mkdtemp(rendezvous_template)) {
    throw std::runtime_error(std::string("--nproc: cannot create a rendezvous folder in /tmp: ") +
                             std::strerror(errno));
  }
  const std::filesystem::path rendezvous_folder = rendezvous_template;
  std::map<pid_t, int> running;  // pid -> rank
  pid_t group = 0;
  for (int rank = 0; rank < options.nproc; ++rank) {
    const auto environment = rank_environment({{"TRAINYARD_RUN_RECORD_FILE", rank == 0 ? record_file.string() : ""},
                                               {"RANK", std::to_string(rank)},
                                               {"WORLD_SIZE", std::to_string(options.nproc)},
                                               {"LOCAL_RANK", std::to_string(rank)},
                                               {"LOCAL_WORLD_SIZE", std::to_string(options.nproc)},
                                               {"MASTER_ADDR", "127.0.0.1"},
                                               {"TRAINYARD_RENDEZVOUS_FILE", (rendezvous_folder / "store").string()},
                                               {"MASTER_PORT", std::to_string(port)}});
    ChildOptions child;
    child.process_group = group;
    child.environment = environment;
    const pid_t pid = spawn_child(arguments, child);
    if (group == 0) group = pid;  // rank 0 leads the group the others join
    running[pid] = rank;
  }
  spdlog::info("started {} processes on this machine (ranks 0-{}, rendezvous {})", options.nproc, options.nproc - 1,
               rendezvous_folder.string());

  int rank0_code = 0, first_failure_code = 0;
  int signals_passed = 0;
  std::optional<std::chrono::steady_clock::time_point> first_failure;
  bool terminated = false;
  while (!running.empty()) {
    // Pass on every signal the launcher got, once.
    const int signals = options.signals ? options.signals->load() : 0;
    for (; signals_passed < signals; ++signals_passed) ::kill(-group, signals_passed == 0 ? SIGINT : SIGTERM);
    if (first_failure) {
      const auto waited = std::chrono::steady_clock::now() - *first_failure;
      if (!terminated && waited > options.grace) {
        spdlog::error("ranks still running {} s after a rank failed: stopping them", options.grace.count());
        ::kill(-group, SIGTERM);
        terminated = true;
      } else if (terminated && waited > options.grace + std::chrono::seconds(10)) {
        ::kill(-group, SIGKILL);
      }
    }
    const auto exited = reap_child();
    if (!exited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const int status = exited->wait_status;
    const auto it = running.find(exited->pid);
    if (it == running.end()) continue;
    const int rank = it->second;
    running.erase(it);
    const bool ok = exited->succeeded();
    const int code = exited->code();
    const bool interrupted = !exited->killed_by_signal() && code == 130;
    if (interrupted) {
      spdlog::info("rank {} stopped on the signal", rank);
    } else if (!ok) {
      spdlog::log(rank == 0 || !first_failure ? spdlog::level::err : spdlog::level::warn, "rank {} {}", rank,
                  describe_exit(status));
      if (!first_failure) first_failure = std::chrono::steady_clock::now();
      if (rank == 0 && exited->killed_by_signal() && !record_file.empty()) {
        fail_run_of_dead_rank0(record_file, describe_exit(status));
      }
    }
    if (rank == 0 && !exited->killed_by_signal()) rank0_code = code;
    if (!ok && first_failure_code == 0) first_failure_code = code;  // 130 when interrupted
  }
  if (!record_file.empty()) std::filesystem::remove(record_file);
  std::error_code ignored;
  std::filesystem::remove_all(rendezvous_folder, ignored);
  return rank0_code != 0 ? rank0_code : first_failure_code;
}

}  // namespace trainyard
