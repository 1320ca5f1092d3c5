// What local sweeps (sweep_runner.cpp) and sweep workers (sweep_worker.cpp) share: starting a
// trial as its own runner process, and reading how it ended from the results database.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainyard/config/experiment_config.h"
#include "trainyard/store/results_store.h"
#include "trainyard/sweep/sweep.h"
#include "trainyard/system/child_process.h"
#include "trainyard/train/run_record.h"

namespace trainyard {

class ResultsStore;

/// The trials' configurations (configs[0] the first's) with their one results database checked:
/// a sweep reads its trials' outcomes from one database. Returns configs[0]; throws ConfigError
/// naming both databases when a trial would write elsewhere.
const ExperimentConfig& sweep_base_config(const SweepSpec& spec, const std::vector<ExperimentConfig>& configs);

/// The runner's command line for one trial: the experiment, the user's --set, the trial's
/// overrides, and which sweep and trial its run belongs to.
std::vector<std::string> trial_arguments(const std::string& runner_path, const std::string& experiment_file,
                                         const std::vector<std::string>& base_sets, const SweepTrial& trial,
                                         std::int64_t sweep_id);

/// The runner's command line that continues run `run_id` in its own row from its last checkpoint.
std::vector<std::string> resume_arguments(const std::string& runner_path, std::int64_t run_id, const std::string& db);

/// Whether a trial's latest run, stopped part-way, can be continued rather than started afresh:
/// it did not finish, its last.pt is visible from here, and it ran with the configuration the
/// trial would run with now (threads and device aside, which a sweep sets per slot).
bool can_continue_trial_run(const ResultsStore::TrialRun& run, const ExperimentConfig& config);

/// Starts a trial's process on `arguments` (a runner command line) with stdout and stderr into
/// `log`, in a process group of its own; with `die_with_parent` it dies with this process (a
/// worker's trials). With `run_here`, and while this process is single-threaded, it is a copy of
/// this process that runs the command line (fork_child): 0.35 s less than the runner's start
/// here, most of it loading LibTorch's libraries. The copy must not share this process's
/// database connection (an SQLite connection used or closed in two processes can break the file's
/// locks), so `store`, this process's connection to `location`, is closed around the fork and
/// opened again. Otherwise the runner at arguments[0] is started.
pid_t start_trial(const std::vector<std::string>& arguments, const std::filesystem::path& log, bool die_with_parent,
                  const RunCommandLine& run_here, const std::string& location, std::unique_ptr<ResultsStore>& store);

/// The last `max_chars` of a trial's log, for the error of a run that could not say why it failed.
std::string tail_of(const std::filesystem::path& log, std::size_t max_chars = 600);

/// How a trial's process ended, settled in the database: its run (recorded failed when the
/// process died before starting one, or left it 'running') and the run's final status.
struct TrialEnd {
  std::int64_t run_id = 0;
  RunStatus status = RunStatus::kFailed;  // finished, failed or interrupted
  std::string error;                      // why it did not finish, as the run records it
};
TrialEnd settle_trial(ResultsStore& store, std::int64_t sweep_id, const SweepTrial& trial,
                      const ExperimentConfig& config, const std::string& experiment_file, const std::string& host,
                      pid_t pid, int wait_status, const std::filesystem::path& log, bool stop_requested);

}  // namespace trainyard
