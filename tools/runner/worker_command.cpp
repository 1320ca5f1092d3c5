#include "commands.h"

#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/train/device.h>
#include <trainyard/store/results_store.h>
#include <trainyard/sweep/sweep_worker.h>

namespace trainyard::runner {

// runner EXPERIMENT --worker: claim trials from the sweep's database until none is left.
int worker_command(const Invocation& invocation, const SweepSpec& spec, const std::vector<SweepTrial>& trials,
                   const std::vector<ExperimentConfig>& configs,
                   const std::function<ExperimentConfig(const SweepTrial&)>& resolve_trial) {
  install_counting_signal_handlers();
  trainyard::SweepWorkerOptions options;
  options.runner_path = runner_executable();
  options.experiment_file = invocation.experiment_file;
  options.base_sets = invocation.sets;
  options.lease_seconds = invocation.lease_seconds;
  options.stop_signals = &g_stop_signals;
  options.resolve_trial = resolve_trial;
  if (!trainyard::libtorch_has_cuda()) options.run_here = run_command_line;  // CUDA does not survive a fork
  const auto outcome = trainyard::run_sweep_worker(spec, trials, configs, options);
  trainyard::ResultsStore store(configs.front().output.db);
  const auto counts = store.trial_counts(outcome.sweep_id);
  spdlog::info(
      "worker done: {} finished, {} failed, {} lost to another worker, {} handed back; sweep '{}': "
      "{} of {} trials finished, {} failed, {} still open",
      outcome.finished, outcome.failed, outcome.lost, outcome.handed_back, spec.name, counts.finished,
      spec.tpe.enabled() ? static_cast<std::size_t>(spec.tpe.trials) : trials.size(), counts.failed, counts.open());
  if (g_stop_signals.load() > 0) return trainyard::kExitInterrupted;
  return outcome.failed > 0 ? trainyard::kExitRunFailed : trainyard::kExitOk;
}

}  // namespace trainyard::runner
