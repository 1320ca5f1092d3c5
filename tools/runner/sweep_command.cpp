// runner EXPERIMENT with a sweep: its trials here, --jobs at once; or its summary, or its list.
#include "commands.h"

#include <algorithm>
#include <iostream>

#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/store/results_store.h>
#include <trainyard/sweep/sweep_runner.h>
#include <trainyard/train/device.h>

namespace trainyard::runner {

int sweep_command(const Invocation& invocation, const ExperimentDocument& document, const SweepSpec& spec,
                  const PluginRegistry& registry) {
  const int jobs = invocation.jobs >= 0 ? invocation.jobs : static_cast<int>(spec.jobs);
  const bool dry_run = invocation.dry_run, summary_only = invocation.sweep_summary_only;
  const std::string& experiment_file = invocation.experiment_file;
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
    if (spec.tpe.enabled() && static_cast<std::size_t>(spec.tpe.trials) > trials.size()) {
      std::cout << "  then " << spec.tpe.trials - static_cast<std::int64_t>(trials.size())
                << " trials that TPE chooses from these as they finish\n";
    }
    return trainyard::kExitOk;
  }
  // A TPE search's later trials are chosen as it goes; each gets its configuration so.
  const auto resolve_trial = [&](const trainyard::SweepTrial& trial) {
    return document.with_overrides(trial.overrides).resolve(registry);
  };
  const std::size_t planned = spec.tpe.enabled() ? static_cast<std::size_t>(spec.tpe.trials) : trials.size();
  if (!invocation.emit_slurm.empty()) return slurm_command(invocation, spec, planned, configs.front().output.db);
  if (invocation.worker) return worker_command(invocation, spec, trials, configs, resolve_trial);
  install_counting_signal_handlers();
  trainyard::SweepRunOptions options;
  options.runner_path = runner_executable();
  options.experiment_file = experiment_file;
  options.base_sets = invocation.sets;
  options.jobs = jobs;
  options.stop_signals = &g_stop_signals;
  options.resolve_trial = resolve_trial;
  if (!trainyard::libtorch_has_cuda()) options.run_here = run_command_line;  // CUDA does not survive a fork
  const auto outcome = trainyard::run_sweep(spec, trials, configs, options);
  trainyard::ResultsStore store(configs.front().output.db);
  std::cout << "\nsweep '" << spec.name << "' (id " << outcome.sweep_id << ") in " << store.path() << ":\n"
            << trainyard::format_sweep_summary(store, outcome.sweep_id);
  spdlog::info("sweep: {} finished, {} pruned, {} failed, {} interrupted, {} done before", outcome.finished,
               outcome.pruned, outcome.failed, outcome.interrupted, outcome.skipped);
  if (g_stop_signals.load() > 0 || outcome.interrupted > 0) return trainyard::kExitInterrupted;
  return outcome.failed > 0 ? trainyard::kExitRunFailed : trainyard::kExitOk;
}

}  // namespace trainyard::runner
