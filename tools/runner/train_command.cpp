// runner EXPERIMENT: one run, to its end or its interruption.
#include "commands.h"

#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/store/results_store.h>
#include <trainyard/store/store_recorder.h>
#include <trainyard/sweep/pruner.h>

#include "train_command.h"

namespace trainyard::runner {

namespace {
// --trial-lease TRIAL_ID:ATTEMPT:WORKER, as a sweep worker writes it (the worker's name has colons).
TrialLease parse_trial_lease(const std::string& text) {
  const auto first = text.find(':');
  const auto second = first == std::string::npos ? first : text.find(':', first + 1);
  try {
    if (second == std::string::npos || second + 1 >= text.size()) throw std::invalid_argument(text);
    return TrialLease{std::stoll(text.substr(0, first)), std::stoll(text.substr(first + 1, second - first - 1)),
                      text.substr(second + 1)};
  } catch (const std::logic_error&) {
    throw InputError("--trial-lease '" + text + "': expected TRIAL_ID:ATTEMPT:WORKER (set by runner --worker)");
  }
}
}  // namespace

RunOptions run_options(const Invocation& invocation) {
  install_stop_handlers();
  RunOptions options;
  options.stop_requested = &g_stop_requested;
  options.process_start = invocation.process_start;
  options.faults = FaultInjector::from_environment();  // the tests' seam; unset in use
  if (!invocation.trial_lease.empty()) options.trial_lease = parse_trial_lease(invocation.trial_lease);
  return options;
}

void add_sweep_pruner(RunOptions& options, const std::string& db) {
  if (!options.sweep_id) return;
  if (auto pruner = trainyard::sweep_trial_pruner(db, *options.sweep_id, options.trial_key))
    options.callbacks.push_back(std::move(pruner));
}

// The end of a run, for the log; the process's exit code.
int report(const RunOutcome& outcome) {
  spdlog::info("results: run {} in {} (peak memory {:.0f} MiB)", outcome.run_id, outcome.db_path,
               trainyard::peak_memory_mib());
  if (outcome.best) {
    const auto& best = *outcome.best;
    const std::string chosen = outcome.select_on == trainyard::SelectionSplit::kVal
                                   ? fmt::format("chosen on val accuracy {:.2f}%", 100 * best.val_accuracy.value_or(0))
                                   : std::string("chosen on test");
    spdlog::info("best: epoch {} ({}) test accuracy {:.2f}% (test loss {:.4f}); checkpoint {}", best.epoch, chosen,
                 100 * best.test_accuracy, best.test_loss, outcome.checkpoint_path);
  }
  switch (outcome.status) {
    case trainyard::RunStatus::kFinished:
      spdlog::info("run {} finished: {} epochs", outcome.run_id, outcome.epochs.size());
      return trainyard::kExitOk;
    case trainyard::RunStatus::kPruned:  // the sweep's decision, not a failure
      spdlog::info("run {} pruned after {} epochs", outcome.run_id, outcome.epochs.size());
      return trainyard::kExitOk;
    case trainyard::RunStatus::kInterrupted: return trainyard::kExitInterrupted;
    default: spdlog::error("run {} failed: {}", outcome.run_id, outcome.error); return trainyard::kExitRunFailed;
  }
}

int train_command(const Invocation& invocation, const ExperimentConfig& config,
                  const std::vector<Override>& trial_overrides, const PluginRegistry& registry) {
  RunOptions options = run_options(invocation);
  if (invocation.trial_of_sweep > 0) {
    options.sweep_id = invocation.trial_of_sweep;
    options.trial_key = invocation.trial_key;
    options.trial_overrides = trial_overrides;
    add_sweep_pruner(options, config.output.db);
  }
  return report(run_experiment(config, registry, options));
}

}  // namespace trainyard::runner
