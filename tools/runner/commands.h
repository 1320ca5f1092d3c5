// The runner's commands. main.cpp parses the command line into an Invocation (command_line.cpp)
// and hands it to one of these; each returns the process's exit code (trainyard::kExit*).
//
//   train    runner EXPERIMENT [--set ...] [--dry-run]          train_command.cpp
//   resume   runner --resume RUN_ID [--db DB]                     resume_command.cpp
//   evaluate runner --evaluate RUN_ID [--checkpoint ...] [--split ...|--data DIR] [--format ...]   evaluate_command.cpp
//   export   runner --export RUN_ID --out FILE [--checkpoint ...]   export_command.cpp
//   predict  runner --predict RUN_ID|PACKAGE FILE_OR_DIR... [--top K] [--format ...] [--out FILE]   predict_command.cpp
//   sweep    runner EXPERIMENT with a sweep [--jobs N] [--sweep-summary]   sweep_command.cpp
//   worker   runner EXPERIMENT --worker [--lease S]               worker_command.cpp
//   slurm    runner EXPERIMENT --emit-slurm FILE [--workers N ...]   slurm_command.cpp
//   ranks    runner ... --nproc N                                  ranks_command.cpp
//   plugins  runner --list-plugins | --describe NAME               plugins_command.cpp
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <trainyard/config/experiment_config.h>
#include <trainyard/package/model_package.h>
#include <trainyard/distributed/distributed.h>
#include <trainyard/plugin/plugin_registry.h>
#include <trainyard/sweep/sweep.h>

#include "slurm_script.h"

namespace CLI {
class App;
}

namespace trainyard::runner {

/// Everything the command line says.
struct Invocation {
  int argc = 0;
  char** argv = nullptr;
  std::chrono::steady_clock::time_point process_start;
  std::string experiment_file;
  std::vector<std::string> sets, sweeps;
  bool dry_run = false, list_plugins = false, verbose = false, quiet = false;
  std::string describe_name;
  int jobs = -1;  // --jobs (0: as many as the machine holds); -1: the file's sweep.jobs
  bool sweep_summary_only = false;
  bool worker = false;  // --worker: join the sweep through its database
  double lease_seconds = 60.0;
  std::string emit_slurm;  // --emit-slurm FILE
  SlurmResources slurm;
  std::int64_t resume_id = 0;
  std::string resume_db;  // --db, for --resume and --evaluate
  std::int64_t evaluate_id = 0;
  std::string checkpoint = "best";  // --checkpoint: best, last or a file
  std::string split = "test";       // --split: the run's split to evaluate on
  std::string format;               // --format of --evaluate's report (table) or --predict's (csv)
  std::int64_t export_id = 0;
  std::string out;                   // --out of --export and --predict
  std::vector<std::string> predict;  // --predict SOURCE FILE_OR_DIR...
  int top = 1;                       // --top K classes per image
  std::string on_bad_image;          // --on-bad-image of --predict, --evaluate --data; "": the run's
  std::string data;                  // --data of --evaluate: an ImageFolder to evaluate on
  int nproc = 0;
  // Set by a sweep for the trials it starts.
  std::int64_t trial_of_sweep = 0;
  std::string trial_key;
  std::vector<std::string> trial_sets;
  std::string trial_lease;  // "TRIAL_ID:ATTEMPT:WORKER": the lease of the worker that started it
};

/// Declares every option of the runner on `app`, writing into `invocation`.
void add_options(CLI::App& app, Invocation& invocation);

// The process: signals, and this binary (to start trials and ranks with).
extern std::atomic<bool> g_stop_requested;
extern std::atomic<int> g_stop_signals;
/// A run: the first SIGINT/SIGTERM stops it after the current batch, a second exits at once.
void install_stop_handlers();
/// A parent of runner processes (a sweep, a worker, --nproc) only counts signals and passes them on.
void install_counting_signal_handlers();
std::string runner_executable();
/// When the kernel started this process, so the time to the first batch includes loading libraries.
std::chrono::steady_clock::time_point process_start_time();
/// The runner's main on `arguments` (arguments[0] the runner), in this process: what a sweep's
/// trial started as a copy of the sweep's process runs (SweepRunOptions::run_here).
int run_command_line(const std::vector<std::string>& arguments);

int list_plugins_command(const PluginRegistry& registry);
int describe_command(const PluginRegistry& registry, const std::string& name);
/// One run of `config` (a sweep's trial when the invocation says so).
int train_command(const Invocation& invocation, const ExperimentConfig& config,
                  const std::vector<Override>& trial_overrides, const PluginRegistry& registry);
int resume_command(const Invocation& invocation, PluginRegistry& registry);
/// A recorded run's checkpoint evaluated on its own test (or validation) split.
int evaluate_command(const Invocation& invocation, PluginRegistry& registry);
/// A recorded run's checkpoint as a model package file.
int export_command(const Invocation& invocation, PluginRegistry& registry);
/// Images classified by a run's model or a model package.
int predict_command(const Invocation& invocation, PluginRegistry& registry);
/// A run's checkpoint packaged in memory, and what its dataset did with undecodable images.
struct PackagedRun {
  ModelPackage package;
  std::string dataset_on_bad_image;  // the run's dataset.on_bad_image ("fail" when it has none)
  std::string db;                    // the results database the run is in
};
/// Run `run_id`'s checkpoint (invocation.checkpoint) packaged in memory; `option` names the request.
PackagedRun package_stored_run(const Invocation& invocation, std::int64_t run_id, PluginRegistry& registry,
                               const std::string& option);
/// A sweep: run here, summarized, listed (--dry-run), or handed to the worker or Slurm commands.
int sweep_command(const Invocation& invocation, const ExperimentDocument& document, const SweepSpec& spec,
                  const PluginRegistry& registry);
int worker_command(const Invocation& invocation, const SweepSpec& spec, const std::vector<SweepTrial>& trials,
                   const std::vector<ExperimentConfig>& configs,
                   const std::function<ExperimentConfig(const SweepTrial&)>& resolve_trial);
int slurm_command(const Invocation& invocation, const SweepSpec& spec, std::size_t trials, const std::string& db);
/// The same command line once per rank (without --nproc), on this machine.
int ranks_command(const Invocation& invocation, const LaunchEnvironment& launch);

}  // namespace trainyard::runner
