// runner: trains the experiment a YAML file describes, through plugins loaded at run time, and
// records every epoch in its results database (SQLite, or PostgreSQL for sweeps across
// machines). main parses the command line and hands it to one command (commands.h lists them);
// bad input exits 2, a failed run 1, an interrupted one 130.
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/store/postgres_connection.h>
#include <trainyard/system/child_process.h>
#include <trainyard/train/device.h>

#include "commands.h"

namespace runner = trainyard::runner;

namespace {

void set_up_logging(const runner::Invocation& invocation) {
  auto logger = spdlog::stderr_color_mt("trainyard");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%^[%H:%M:%S %l]%$ %v");
  spdlog::set_level(invocation.verbose ? spdlog::level::debug
                    : invocation.quiet ? spdlog::level::warn
                                       : spdlog::level::info);
}

void set_up_rank_logging(const runner::Invocation& invocation, const trainyard::LaunchEnvironment& launch) {
  if (launch.distributed() && launch.rank != 0) {
    // One voice per run: the other ranks speak only of problems, and say who they are.
    spdlog::set_pattern("%^[%H:%M:%S %l rank " + std::to_string(launch.rank) + "]%$ %v");
    if (!invocation.verbose) spdlog::set_level(spdlog::level::warn);
  }
}

// runner EXPERIMENT ...: a sweep's commands when the file (or --sweep) declares one, else one run
// (over --nproc processes when asked).
int experiment_command(const runner::Invocation& invocation, const trainyard::LaunchEnvironment& launch,
                       trainyard::PluginRegistry& registry) {
  std::vector<trainyard::Override> overrides, trial_overrides;
  for (const auto& s : invocation.sets) overrides.push_back(trainyard::parse_override(s));
  for (const auto& s : invocation.trial_sets) trial_overrides.push_back(trainyard::parse_override(s));
  overrides.insert(overrides.end(), trial_overrides.begin(), trial_overrides.end());
  const auto document = trainyard::ExperimentDocument::load(invocation.experiment_file, overrides);
  registry.discover(trainyard::plugin_search_path(document.plugin_paths()));
  const trainyard::ExperimentConfig config = document.resolve(registry);
  const bool several_processes = launch.distributed() || invocation.nproc > 1;

  if (invocation.trial_of_sweep == 0) {
    const auto spec = trainyard::parse_sweep(document, config.name, invocation.sweeps);
    if (!spec.empty() && several_processes) {
      throw trainyard::InputError(invocation.experiment_file +
                                  ": sweep: a sweep cannot run over several processes "
                                  "yet; run it as one process (its trials run side by side with --jobs)");
    }
    if (spec.empty() && (invocation.worker || !invocation.emit_slurm.empty())) {
      throw trainyard::InputError(invocation.experiment_file + ": " +
                                  (invocation.worker ? "--worker" : "--emit-slurm") +
                                  " runs a sweep, and this experiment declares none (a sweep: section or --sweep)");
    }
    if (!spec.empty() || invocation.sweep_summary_only)
      return runner::sweep_command(invocation, document, spec, registry);
  }
  if (invocation.dry_run) {
    std::cout << config.to_yaml();
    return trainyard::kExitOk;
  }
  // --nproc: the experiment is validated here once, then each rank starts from the same argv.
  if (invocation.nproc > 1) {
    trainyard::require_gpu_per_local_process(trainyard::resolve_device(config.device), invocation.nproc,
                                             static_cast<int>(torch::cuda::device_count()));
    return runner::ranks_command(invocation, launch);
  }
  return runner::train_command(invocation, config, trial_overrides, registry);
}

int dispatch(const runner::Invocation& invocation, const trainyard::LaunchEnvironment& launch, CLI::App& app) {
  trainyard::PluginRegistry registry;
  if (invocation.list_plugins || !invocation.describe_name.empty()) {
    registry.discover(trainyard::plugin_search_path());
    if (invocation.list_plugins) runner::list_plugins_command(registry);
    if (!invocation.describe_name.empty()) runner::describe_command(registry, invocation.describe_name);
    return trainyard::kExitOk;
  }
  if (invocation.evaluate_id > 0) return runner::evaluate_command(invocation, registry);
  if (invocation.export_id > 0) return runner::export_command(invocation, registry);
  if (!invocation.predict.empty()) return runner::predict_command(invocation, registry);
  if (invocation.resume_id > 0) {
    // Every rank reads the run's configuration from the database; rank 0 sends the checkpoint.
    if (invocation.nproc > 1) return runner::ranks_command(invocation, launch);
    return runner::resume_command(invocation, registry);
  }
  if (invocation.experiment_file.empty()) {
    std::cerr << "runner: no experiment file given\n" << app.help();
    return trainyard::kExitBadInput;
  }
  return experiment_command(invocation, launch, registry);
}

int runner_main(int argc, char** argv) {
  trainyard::move_postgres_passwords_out_of_arguments(argc, argv);  // into PGPASSWORD, before anything reads them
  runner::Invocation invocation;
  invocation.process_start = runner::process_start_time();
  invocation.argc = argc;
  invocation.argv = argv;
  CLI::App app{
      "Trainyard runner: trains the experiment a YAML file describes, logging every "
      "epoch to its results database (SQLite, or PostgreSQL for sweeps across machines).\nExit codes: "
      "0 finished, 1 the run failed, 2 bad input (nothing started), 130 interrupted."};
  runner::add_options(app, invocation);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? trainyard::kExitOk : trainyard::kExitBadInput;
  }
  set_up_logging(invocation);
  try {
    const trainyard::LaunchEnvironment launch = trainyard::read_launch_environment();
    set_up_rank_logging(invocation, launch);
    return dispatch(invocation, launch, app);
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

}  // namespace

namespace trainyard::runner {

// A sweep's trial started as a copy of the sweep's process (fork_child): the runner's main, with
// what the sweep set up put back as a fresh process has it.
int run_command_line(const std::vector<std::string>& arguments) {
  spdlog::drop_all();  // the sweep's logger: set_up_logging makes the trial's own
  g_stop_requested = false;
  g_stop_signals = 0;
  std::vector<std::string> strings = arguments;  // the runner may rewrite its arguments in place
  auto argv = argv_pointers(strings);
  return runner_main(static_cast<int>(strings.size()), argv.data());
}

}  // namespace trainyard::runner

int main(int argc, char** argv) { return runner_main(argc, argv); }
