#include "commands.h"

#include <trainyard/errors.h>
#include <trainyard/store/store_recorder.h>

#include "stored_run.h"
#include "train_command.h"

namespace trainyard::runner {

namespace {

// --set on a resume: only where the run goes (its device, its threads), which a sweep gives each
// of its slots; a resumed run keeps the rest of its configuration, or it would not continue exactly.
std::vector<Override> placement_overrides(const Invocation& invocation) {
  std::vector<Override> overrides;
  for (const auto& text : invocation.sets) {
    Override o = parse_override(text);
    if (o.key != "device" && o.key != "train.threads") {
      throw InputError("--resume " + std::to_string(invocation.resume_id) + ": --set " + o.key +
                       ": a resumed run keeps its stored configuration; only device and train.threads "
                       "may be set (where it runs, not what it computes)");
    }
    overrides.push_back(std::move(o));
  }
  return overrides;
}

}  // namespace

// runner --resume RUN_ID: the run's stored configuration, resolved again, trained on from its
// last checkpoint in the same database row.
int resume_command(const Invocation& invocation, PluginRegistry& registry) {
  const std::int64_t run_id = invocation.resume_id;
  const StoredRunContext stored = enter_stored_run(invocation, run_id, "--resume " + std::to_string(run_id));
  const ExperimentConfig config = resolve_stored_config(stored, registry, placement_overrides(invocation));
  RunOptions options = run_options(invocation);
  options.resume_run_id = run_id;
  if (stored.run.sweep_id) {
    options.sweep_id = stored.run.sweep_id;
    options.trial_key = stored.run.trial_key;
    // An interrupted trial goes on under its sweep's pruner; one the pruner ended is resumed to be
    // trained on (ASHA's promotion, or the user's call), so its pruner does not end it again.
    if (stored.run.status != trainyard::RunStatus::kPruned) add_sweep_pruner(options, stored.db);
  }
  return report(run_experiment(config, registry, options));
}

}  // namespace trainyard::runner
