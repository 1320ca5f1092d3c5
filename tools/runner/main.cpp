// runner: trains one experiment described by a YAML file, through plugins loaded at run time,
// and logs every epoch to SQLite.
//
//   runner experiments/resnet50_adam.yaml [--set key=value]... [--dry-run]
//   runner --list-plugins
//   runner --describe resnet50
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <trainyard/train/device.h>
#include <trainyard/distributed/distributed.h>
#include <trainyard/errors.h>
#include <trainyard/config/experiment_config.h>
#include <trainyard/plugin/plugin_registry.h>
#include <trainyard/store/results_store.h>
#include <trainyard/suggest.h>
#include <trainyard/sweep/sweep.h>
#include <trainyard/sweep/sweep_runner.h>
#include <trainyard/sweep/sweep_worker.h>
#include <trainyard/store/postgres_connection.h>
#include <trainyard/store/store_recorder.h>
#include <trainyard/train/training_run.h>

#include "local_launch.h"
#include "slurm_script.h"

namespace {

std::atomic<bool> g_stop_requested{false};
std::atomic<int> g_stop_signals{0};

// A parent of runner processes (a sweep, or --nproc) only counts signals: it passes them on to
// its children (trials or ranks) and waits for them to record their state, however many come.
extern "C" void on_counted_signal(int) { g_stop_signals.fetch_add(1); }

void install_counting_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_counted_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;   // no SA_RESTART: waitpid returns EINTR so the signal is passed on at once
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

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

// This very binary, to start trials and ranks with.
std::string runner_executable() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

void print_plugins(const trainyard::PluginRegistry& registry) {
  for (auto kind : {trainyard::PluginKind::kModel, trainyard::PluginKind::kDataset,
                    trainyard::PluginKind::kOptimizer}) {
    std::cout << trainyard::to_string(kind) << " plugins:\n";
    const auto plugins = registry.plugins(kind);
    if (plugins.empty()) std::cout << "  (none)\n";
    for (const auto* p : plugins) {
      std::printf("  %-14s %-8s %s\n      %s\n", p->name().c_str(), p->version().c_str(),
                  p->info->description, p->path.c_str());
    }
  }
  if (!registry.rejected().empty()) {
    std::cout << "refused plugin files:\n";
    for (const auto& r : registry.rejected()) std::cout << "  " << r.reason << "\n";
  }
  std::cout << "searched: ";
  bool first = true;
  for (const auto& folder : trainyard::plugin_search_path()) {
    std::cout << (first ? "" : ":") << folder.string();
    first = false;
  }
  std::cout << "\n";
}

std::string format_default(const trainyard::ParamSpec& spec) {
  if (!spec.default_value) return "(required)";
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return v.empty() ? "\"\"" : v;
        else {
          std::ostringstream out;
          out << v;
          return out.str();
        }
      },
      *spec.default_value);
}

void print_schema(const std::vector<trainyard::ParamSpec>& schema) {
  if (schema.empty()) std::cout << "  (no parameters)\n";
  for (const auto& spec : schema) {
    std::printf("  %-18s %-8s %-14s %s; accepted: %s\n", spec.name.c_str(),
                trainyard::to_string(spec.type), format_default(spec).c_str(),
                spec.description.c_str(), trainyard::describe_accepted(spec).c_str());
  }
}

int describe(const trainyard::PluginRegistry& registry, const std::string& name) {
  bool found = false;
  for (auto kind : {trainyard::PluginKind::kModel, trainyard::PluginKind::kDataset,
                    trainyard::PluginKind::kOptimizer}) {
    for (const auto* p : registry.plugins(kind)) {
      if (p->name() != name) continue;
      found = true;
      std::cout << trainyard::to_string(kind) << " plugin '" << p->name() << "' " << p->version()
                << ": " << p->info->description << "\n  file: " << p->path.string()
                << "\nparameters (name, type, default, meaning):\n";
      print_schema(p->schema);
    }
  }
  if (!found) {
    for (auto [section, schema] :
         {std::pair{"train", trainyard::train_schema()}, std::pair{"output", trainyard::output_schema()},
          std::pair{"schedule", trainyard::schedule_schema()},
          std::pair{"distributed", trainyard::distributed_schema()},
          std::pair{"experiment", trainyard::experiment_top_level_schema()}}) {
      if (name != section) continue;
      found = true;
      std::cout << "section '" << section << "' (name, type, default, meaning):\n";
      print_schema(schema);
    }
  }
  if (!found) {
    std::vector<std::string> known{"train", "output", "schedule", "distributed", "experiment"};
    for (auto kind : {trainyard::PluginKind::kModel, trainyard::PluginKind::kDataset,
                      trainyard::PluginKind::kOptimizer}) {
      for (const auto& n : registry.names(kind)) known.push_back(n);
    }
    throw trainyard::PluginError("Didn't find a registered implementation for name: '" + name +
                                 "'. Known plugins and sections: " + trainyard::join_names(known));
  }
  return trainyard::kExitOk;
}

// What a sweep command line asks for beyond the sweep itself.
struct SweepCommand {
  int jobs = 1;
  bool dry_run = false, summary_only = false;
  bool worker = false;                 // --worker: join the sweep through its database
  double lease_seconds = 60.0;
  std::string emit_slurm;              // --emit-slurm FILE
  trainyard::SlurmResources slurm;
  std::vector<std::string> sweeps;     // --sweep options, passed on to Slurm workers
};

// runner EXPERIMENT --emit-slurm FILE: the job array of workers for this sweep.
int emit_slurm_script(const trainyard::SweepSpec& spec, std::size_t trials, const std::string& db,
                      const std::string& experiment_file, const std::vector<std::string>& sets,
                      const SweepCommand& command) {
  if (!trainyard::is_postgres_url(db)) {
    throw trainyard::InputError(
        "--emit-slurm: workers on several machines need a shared PostgreSQL store, and output.db is the "
        "SQLite file '" + db + "' (SQLite over a network file system corrupts). Set output.db: "
        "postgresql://USER@HOST:PORT/DBNAME (README: Sweeps across machines)");
  }
  // Validated before anything is written: a bad resource leaves no file behind.
  trainyard::SlurmSweep sweep;
  sweep.sweep_name = spec.name;
  sweep.trials = trials;
  sweep.runner_path = std::filesystem::absolute(runner_executable()).string();
  sweep.experiment_file = std::filesystem::absolute(experiment_file).string();
  sweep.working_folder = std::filesystem::current_path().string();
  sweep.database = trainyard::redact_postgres_url(db);
  sweep.sets = sets;
  sweep.sweeps = command.sweeps;
  sweep.lease_seconds = command.lease_seconds;
  const std::string script = trainyard::slurm_script(sweep, command.slurm);
  const std::filesystem::path file(command.emit_slurm);
  const std::filesystem::path partial = file.string() + ".partial";
  {
    std::ofstream out(partial, std::ios::trunc);
    out << script;
    if (!out.flush()) throw trainyard::InputError("--emit-slurm: cannot write '" + file.string() + "'");
  }
  std::filesystem::permissions(partial, std::filesystem::perms::owner_exec | std::filesystem::perms::group_exec,
                               std::filesystem::perm_options::add);
  std::filesystem::rename(partial, file);
  std::cout << "wrote " << file.string() << ": sweep '" << spec.name << "', " << trials << " trials, "
            << command.slurm.workers << " workers (job array) through " << sweep.database
            << "\nsubmit it with: sbatch " << file.string() << "\n";
  return trainyard::kExitOk;
}

// runner EXPERIMENT --worker: claim trials from the sweep's database until none is left.
int run_sweep_worker_command(const trainyard::SweepSpec& spec, const std::vector<trainyard::SweepTrial>& trials,
                             const std::vector<trainyard::ExperimentConfig>& configs,
                             const std::string& experiment_file, const std::vector<std::string>& sets,
                             const SweepCommand& command) {
  install_counting_signal_handlers();
  trainyard::SweepWorkerOptions options;
  options.runner_path = runner_executable();
  options.experiment_file = experiment_file;
  options.base_sets = sets;
  options.lease_seconds = command.lease_seconds;
  options.stop_signals = &g_stop_signals;
  const auto outcome = trainyard::run_sweep_worker(spec, trials, configs, options);
  trainyard::ResultsStore store(configs.front().output.db);
  const auto counts = store.trial_counts(outcome.sweep_id);
  spdlog::info("worker done: {} finished, {} failed, {} lost to another worker, {} handed back; sweep '{}': "
               "{} of {} trials finished, {} failed, {} still open",
               outcome.finished, outcome.failed, outcome.lost, outcome.handed_back, spec.name, counts.finished,
               trials.size(), counts.failed, counts.open());
  if (g_stop_signals.load() > 0) return trainyard::kExitInterrupted;
  return outcome.failed > 0 ? trainyard::kExitRunFailed : trainyard::kExitOk;
}

int run_sweep_command(const trainyard::ExperimentDocument& document, const trainyard::SweepSpec& spec,
                      const trainyard::PluginRegistry& registry, const std::string& experiment_file,
                      const std::vector<std::string>& sets, const SweepCommand& command) {
  const int jobs = command.jobs;
  const bool dry_run = command.dry_run, summary_only = command.summary_only;
  const auto trials = trainyard::expand_sweep(spec);
  if (trials.empty() && !summary_only) throw trainyard::ConfigError("sweep '" + spec.name + "' has no trials");
  // Every trial is checked against the schemas before the first one starts.
  const auto configs = trainyard::validate_trials(document, trials, registry);
  if (summary_only) {
    const std::string db = document.resolve(registry).output.db;
    trainyard::ResultsStore store(db);
    const auto sweep_id = store.find_sweep(spec.name, experiment_file);
    if (!sweep_id) {
      throw trainyard::InputError("no sweep '" + spec.name + "' of '" + experiment_file + "' in " + db);
    }
    std::cout << trainyard::format_sweep_summary(store, *sweep_id);
    return trainyard::kExitOk;
  }
  if (dry_run) {
    std::cout << "sweep '" << spec.name << "': " << trials.size() << " trials, all valid\n";
    for (std::size_t i = 0; i < trials.size(); ++i) std::cout << "  " << i + 1 << ": " << trials[i].key() << "\n";
    return trainyard::kExitOk;
  }
  if (!command.emit_slurm.empty()) {
    return emit_slurm_script(spec, trials.size(), configs.front().output.db, experiment_file, sets, command);
  }
  if (command.worker) return run_sweep_worker_command(spec, trials, configs, experiment_file, sets, command);
  install_counting_signal_handlers();
  trainyard::SweepRunOptions options;
  options.runner_path = runner_executable();
  options.experiment_file = experiment_file;
  options.base_sets = sets;
  options.jobs = std::max(1, jobs);
  options.stop_signals = &g_stop_signals;
  const auto outcome = trainyard::run_sweep(spec, trials, configs, options);
  trainyard::ResultsStore store(configs.front().output.db);
  std::cout << "\nsweep '" << spec.name << "' (id " << outcome.sweep_id << ") in " << store.path()
            << ":\n" << trainyard::format_sweep_summary(store, outcome.sweep_id);
  spdlog::info("sweep: {} finished, {} failed, {} interrupted, {} already finished before", outcome.finished,
               outcome.failed, outcome.interrupted, outcome.skipped);
  if (g_stop_signals.load() > 0 || outcome.interrupted > 0) return trainyard::kExitInterrupted;
  return outcome.failed > 0 ? trainyard::kExitRunFailed : trainyard::kExitOk;
}

}  // namespace

// When the kernel started this process (field 22 of /proc/self/stat, in clock ticks since boot),
// so the time to the first batch includes loading LibTorch and the other shared libraries.
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
      return now - std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(age));
    }
  }
  return now;
}

// The end of a run, for the log; the process's exit code.
int report(const trainyard::RunOutcome& outcome) {
  spdlog::info("results: run {} in {} (peak memory {:.0f} MiB)", outcome.run_id, outcome.db_path,
               trainyard::peak_memory_mib());
  if (outcome.best) {
    spdlog::info("best: epoch {} test accuracy {:.2f}% (test loss {:.4f}); checkpoint {}",
                 outcome.best->epoch, 100 * outcome.best->test_accuracy, outcome.best->test_loss,
                 outcome.checkpoint_path);
  }
  switch (outcome.status) {
    case trainyard::RunStatus::kFinished:
      spdlog::info("run {} finished: {} epochs", outcome.run_id, outcome.epochs.size());
      return trainyard::kExitOk;
    case trainyard::RunStatus::kInterrupted:
      return trainyard::kExitInterrupted;
    default:
      spdlog::error("run {} failed: {}", outcome.run_id, outcome.error);
      return trainyard::kExitRunFailed;
  }
}

// runner --resume RUN_ID: the run's stored configuration, resolved again, trained on from its
// last checkpoint in the same database row.
int resume_run(std::int64_t run_id, std::string db, const std::string& experiment_file,
               trainyard::PluginRegistry& registry,
               std::chrono::steady_clock::time_point process_start) {
  if (db.empty() && !experiment_file.empty()) {
    db = trainyard::ExperimentDocument::load(experiment_file).section("output")["db"].as<std::string>("results/trainyard.db");
  }
  if (db.empty()) db = "results/trainyard.db";
  if (!trainyard::is_postgres_url(db) && !std::filesystem::exists(db)) {
    throw trainyard::InputError("--resume: no results database at '" + db + "' (give it with --db)");
  }
  std::string config_yaml;
  {
    trainyard::ResultsStore store(db);
    const auto stored = store.run(run_id);
    if (!stored) {
      throw trainyard::InputError("--resume " + std::to_string(run_id) + ": no such run in '" + store.path() + "'");
    }
    config_yaml = stored->config_yaml;
  }
  const auto document =
      trainyard::ExperimentDocument::parse(config_yaml, "run " + std::to_string(run_id) + " of " + db);
  registry.discover(trainyard::plugin_search_path(document.plugin_paths()));
  trainyard::ExperimentConfig config = document.resolve(registry);
  config.output.db = db;   // where the run is, whatever its config called it
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  trainyard::RunOptions options;
  options.stop_requested = &g_stop_requested;
  options.process_start = process_start;
  options.faults = trainyard::FaultInjector::from_environment();   // the tests' seam; unset in use
  options.resume_run_id = run_id;
  return report(trainyard::run_experiment(config, registry, options));
}

int main(int argc, char** argv) {
  const auto process_start = process_start_time();
  CLI::App app{"Trainyard runner: trains the experiment a YAML file describes, logging every "
               "epoch to its results database (SQLite, or PostgreSQL for sweeps across machines).\nExit codes: 0 finished, 1 the run failed, 2 bad input "
               "(nothing started), 130 interrupted."};
  std::string experiment_file;
  std::vector<std::string> sets;
  bool dry_run = false, list_plugins = false, verbose = false, quiet = false;
  std::string describe_name;
  std::vector<std::string> sweeps, trial_sets;
  int jobs = 0;
  bool sweep_summary_only = false;
  SweepCommand sweep_command;
  std::int64_t trial_of_sweep = 0;
  std::string trial_key;
  app.add_option("experiment", experiment_file, "experiment YAML file");
  app.add_option("--set", sets, "override a key, e.g. --set optimizer.lr=1e-3 (repeatable)");
  app.add_option("--sweep", sweeps,
                 "sweep a key over values, e.g. --sweep optimizer.lr=1e-3,1e-4 (repeatable; adds to "
                 "the file's sweep: grid)");
  app.add_option("--jobs", jobs, "sweep trials to run at once (default: the file's sweep.jobs, or 1)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--sweep-summary", sweep_summary_only, "print the summary table of the file's sweep and exit");
  app.add_flag("--worker", sweep_command.worker,
               "join the file's sweep as a worker: claim its pending trials from output.db one at a time "
               "until none is left (start any number, on any machines sharing a PostgreSQL output.db)");
  app.add_option("--lease", sweep_command.lease_seconds,
                 "with --worker: seconds a claimed trial stays this worker's without renewal; after a worker "
                 "dies its trial passes to another once this has run out")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--emit-slurm", sweep_command.emit_slurm,
                 "write a Slurm batch script (a job array of --worker processes) for the file's sweep to FILE, "
                 "for sbatch; resources from the Slurm options")
      ->type_name("FILE");
  auto* slurm_group = "Slurm (with --emit-slurm)";
  app.add_option("--workers", sweep_command.slurm.workers, "array tasks: workers running at once")
      ->capture_default_str()->group(slurm_group)->check(CLI::PositiveNumber);
  app.add_option("--cpus-per-worker", sweep_command.slurm.cpus_per_worker, "--cpus-per-task of each worker")
      ->capture_default_str()->group(slurm_group)->check(CLI::PositiveNumber);
  app.add_option("--gpus-per-worker", sweep_command.slurm.gpus_per_worker, "--gres=gpu:N of each worker")
      ->capture_default_str()->group(slurm_group)->check(CLI::NonNegativeNumber);
  app.add_option("--mem", sweep_command.slurm.memory, "--mem of each worker, e.g. 16G")->group(slurm_group);
  app.add_option("--time", sweep_command.slurm.time_limit, "--time of each worker, e.g. 04:00:00")->group(slurm_group);
  app.add_option("--partition", sweep_command.slurm.partition, "--partition")->group(slurm_group);
  app.add_option("--account", sweep_command.slurm.account, "--account")->group(slurm_group);
  // Used by a sweep to start its trials.
  app.add_option("--trial-of-sweep", trial_of_sweep)->group("");
  app.add_option("--trial-key", trial_key)->group("");
  app.add_option("--trial-set", trial_sets)->group("");
  std::int64_t resume_id = 0;
  std::string resume_db;
  app.add_option("--resume", resume_id,
                 "continue run RUN_ID (interrupted, failed or killed) in its own row, from its last "
                 "checkpoint, with its stored configuration; run from the folder it was started in")
      ->type_name("RUN_ID");
  app.add_option("--db", resume_db, "with --resume: the results database (default: the experiment's "
                                     "output.db when an experiment file is given, else results/trainyard.db)");
  int nproc = 0;
  app.add_option("--nproc", nproc,
                 "train one run over N processes on this machine (data-parallel, c10d: Gloo on the "
                 "CPU, NCCL on GPUs); under torchrun or srun, leave it out")
      ->check(CLI::PositiveNumber);
  app.add_flag("--dry-run", dry_run, "validate the experiment and print the resolved configuration");
  app.add_flag("--list-plugins", list_plugins, "list the plugins found, with versions and files");
  app.add_option("--describe", describe_name, "print a plugin's (or section's) parameters");
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.add_flag("-q,--quiet", quiet, "warnings and errors only");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? trainyard::kExitOk : trainyard::kExitBadInput;
  }

  auto logger = spdlog::stderr_color_mt("trainyard");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%^[%H:%M:%S %l]%$ %v");
  spdlog::set_level(verbose ? spdlog::level::debug : quiet ? spdlog::level::warn : spdlog::level::info);

  try {
    const trainyard::LaunchEnvironment launch = trainyard::read_launch_environment();
    if (launch.distributed() && launch.rank != 0) {
      // One voice per run: the other ranks speak only of problems, and say who they are.
      spdlog::set_pattern("%^[%H:%M:%S %l rank " + std::to_string(launch.rank) + "]%$ %v");
      if (!verbose) spdlog::set_level(spdlog::level::warn);
    }
    // runner ... --nproc N: the same command line once per rank, without --nproc.
    auto launch_ranks = [&]() {
      if (launch.distributed()) {
        throw trainyard::InputError("--nproc: this process is already rank " + std::to_string(launch.rank) + " of " +
                                    std::to_string(launch.world_size) + " (" + launch.launcher +
                                    " set the environment); leave --nproc out under a launcher");
      }
      std::vector<std::string> arguments{runner_executable()};
      for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--nproc") {
          ++i;
        } else if (a.rfind("--nproc=", 0) != 0) {
          arguments.push_back(a);
        }
      }
      install_counting_signal_handlers();
      trainyard::LocalLaunchOptions launch_options;
      launch_options.nproc = nproc;
      launch_options.signals = &g_stop_signals;
      return trainyard::launch_local_ranks(arguments, launch_options);
    };
    trainyard::PluginRegistry registry;
    if (list_plugins || !describe_name.empty()) {
      registry.discover(trainyard::plugin_search_path());
      if (list_plugins) print_plugins(registry);
      if (!describe_name.empty()) describe(registry, describe_name);
      return trainyard::kExitOk;
    }
    if (resume_id > 0) {
      // Every rank reads the run's configuration from the database; rank 0 sends the checkpoint.
      if (nproc > 1) return launch_ranks();
      return resume_run(resume_id, resume_db, experiment_file, registry, process_start);
    }
    if (experiment_file.empty()) {
      std::cerr << "runner: no experiment file given\n" << app.help();
      return trainyard::kExitBadInput;
    }
    std::vector<trainyard::Override> overrides, trial_overrides;
    for (const auto& s : sets) overrides.push_back(trainyard::parse_override(s));
    for (const auto& s : trial_sets) trial_overrides.push_back(trainyard::parse_override(s));
    overrides.insert(overrides.end(), trial_overrides.begin(), trial_overrides.end());
    const auto document = trainyard::ExperimentDocument::load(experiment_file, overrides);
    registry.discover(trainyard::plugin_search_path(document.plugin_paths()));
    const trainyard::ExperimentConfig config = document.resolve(registry);

    if (trial_of_sweep == 0) {
      const auto spec = trainyard::parse_sweep(document, config.name, sweeps);
      if (!spec.empty() && (launch.distributed() || nproc > 1)) {
        throw trainyard::InputError(experiment_file + ": sweep: a sweep cannot run over several processes "
                                    "yet; run it as one process (its trials run side by side with --jobs)");
      }
      if (spec.empty() && (sweep_command.worker || !sweep_command.emit_slurm.empty())) {
        throw trainyard::InputError(experiment_file + ": " +
                                    (sweep_command.worker ? "--worker" : "--emit-slurm") +
                                    " runs a sweep, and this experiment declares none (a sweep: section or --sweep)");
      }
      if (!spec.empty() || sweep_summary_only) {
        sweep_command.jobs = jobs > 0 ? jobs : static_cast<int>(spec.jobs);
        sweep_command.dry_run = dry_run;
        sweep_command.summary_only = sweep_summary_only;
        sweep_command.sweeps = sweeps;
        return run_sweep_command(document, spec, registry, experiment_file, sets, sweep_command);
      }
    }
    if (dry_run) {
      std::cout << config.to_yaml();
      return trainyard::kExitOk;
    }
    // --nproc: the experiment is validated here once, then each rank starts from the same argv.
    if (nproc > 1) {
      trainyard::require_gpu_per_local_process(trainyard::resolve_device(config.device), nproc,
                                               static_cast<int>(torch::cuda::device_count()));
      return launch_ranks();
    }


    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    trainyard::RunOptions options;
    options.stop_requested = &g_stop_requested;
    options.process_start = process_start;
    options.faults = trainyard::FaultInjector::from_environment();   // the tests' seam; unset in use
    if (trial_of_sweep > 0) {
      options.sweep_id = trial_of_sweep;
      options.trial_key = trial_key;
      options.trial_overrides = trial_overrides;
    }
    return report(trainyard::run_experiment(config, registry, options));
  } catch (const trainyard::InputError& e) {
    spdlog::error("{}", e.what());
    return trainyard::kExitBadInput;
  } catch (const c10::Error& e) {
    spdlog::error("{}", e.what_without_backtrace());
    return trainyard::kExitRunFailed;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return trainyard::kExitRunFailed;
  }
}
