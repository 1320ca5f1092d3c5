#include "trainyard/sweep/sweep_worker.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "trainyard/system/provenance.h"
#include "trainyard/train/device.h"
#include "trainyard/errors.h"
#include "trainyard/store/results_store.h"
#include "tpe_trials.h"
#include "trial_process.h"

namespace fs = std::filesystem;

namespace trainyard {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds seconds(double s) { return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0)); }

// sweep.tpe: with nothing left to claim, queues the search's next trial, chosen from the trials
// done so far; of workers choosing at once one queues it, the others claim it. False once the
// search has all its trials queued.
bool queue_next_tpe_trial(const SweepSpec& spec, ResultsStore& store, std::int64_t sweep_id, const std::string& me) {
  std::vector<SweepTrial> known;
  for (const auto& key : store.queued_trial_keys(sweep_id)) {
    auto trial = tpe_trial_of_key(spec.tpe, key);
    if (!trial) {
      throw InputError("worker " + me + ": sweep '" + spec.name + "' has a trial '" + key +
                       "' that its sweep.tpe.params do not make here; every worker of a sweep must run the same "
                       "experiment file and options");
    }
    known.push_back(std::move(*trial));
  }
  const auto next = next_tpe_trial(spec.tpe, known, store.sweep_trial_history(sweep_id));
  if (!next) return false;
  if (store.enqueue_trial_as(sweep_id, next->key(), static_cast<std::int64_t>(known.size()))) {
    spdlog::info("worker {}: TPE chose trial {}: {}", me, known.size() + 1, next->key());
  }
  return true;
}

}  // namespace

std::string worker_name() { return host_name() + ":" + std::to_string(::getpid()); }

WorkerOutcome run_sweep_worker(const SweepSpec& spec, const std::vector<SweepTrial>& given_trials,
                               const std::vector<ExperimentConfig>& given_configs, const SweepWorkerOptions& options) {
  std::vector<SweepTrial> trials = given_trials;  // and the trials a TPE search chooses as it goes
  std::vector<ExperimentConfig> configs = given_configs;
  const ExperimentConfig base = sweep_base_config(spec, configs);
  if (!(options.lease_seconds > 0.0)) throw InputError("--lease: must be more than 0 seconds");
  WorkerOutcome outcome;
  auto store = std::make_unique<ResultsStore>(base.output.db);
  const std::string host = host_name();
  const std::string me = worker_name();
  outcome.sweep_id = store->ensure_sweep(spec.name, options.experiment_file, spec.to_yaml());
  // Every worker offers the whole sweep; what is queued already stays as it is. Trials that
  // finished in an earlier sweep of the same name are not run again.
  std::vector<std::string> keys, finished;
  for (const auto& t : trials) keys.push_back(t.key());
  for (const auto& [key, run] : store->latest_trial_runs(outcome.sweep_id)) {
    if (is_done(run.status)) finished.push_back(key);
  }
  store->enqueue_trials(outcome.sweep_id, keys, finished);
  const fs::path logs = fs::path(base.output.checkpoints) / store->sweep_folder_name(outcome.sweep_id);
  fs::create_directories(logs);
  spdlog::info("worker {}: sweep '{}' (id {}) in {}, {} trials, lease {} s", me, spec.name, outcome.sweep_id,
               store->path(), trials.size(), options.lease_seconds);

  auto stop_count = [&] { return options.stop_signals ? options.stop_signals->load() : 0; };
  const auto poll = std::min(seconds(options.lease_seconds / 4), std::chrono::milliseconds(2000));
  while (stop_count() == 0) {
    const auto claimed = store->claim_trial(outcome.sweep_id, me, options.lease_seconds);
    if (!claimed) {
      if (spec.tpe.enabled() && queue_next_tpe_trial(spec, *store, outcome.sweep_id, me)) continue;
      const auto counts = store->trial_counts(outcome.sweep_id);
      if (counts.open() == 0) break;
      // Others hold the rest; one of them may die and its trial come back.
      std::this_thread::sleep_for(poll);
      continue;
    }
    auto found = std::find(keys.begin(), keys.end(), claimed->trial_key);
    const auto chosen =
        found == keys.end() && spec.tpe.enabled() ? tpe_trial_of_key(spec.tpe, claimed->trial_key) : std::nullopt;
    if (chosen) {  // a trial TPE chose, here or in another worker
      try {
        configs.push_back(options.resolve_trial(*chosen));
      } catch (const ConfigError&) {
        store->release_trial(claimed->id, me);
        throw;
      }
      trials.push_back(*chosen);
      keys.push_back(claimed->trial_key);
      found = keys.end() - 1;
    }
    if (found == keys.end()) {
      // Another worker queued a trial this one does not have: their experiments differ. This one
      // stops rather than fail a trial that the others can run.
      store->release_trial(claimed->id, me);
      throw InputError("worker " + me + ": sweep '" + spec.name + "' has a trial '" + claimed->trial_key + "' that " +
                       options.experiment_file +
                       " with this worker's --set/--sweep options does not "
                       "make; every worker of a sweep must run the same experiment file and options");
    }
    const auto index = static_cast<std::size_t>(found - keys.begin());
    const SweepTrial& trial = trials[index];
    // A trial claimed before (its worker died, or handed it back) continues its run from the last
    // checkpoint where that is visible here (a shared file system), else starts afresh.
    std::optional<std::int64_t> continued;
    if (claimed->attempt > 1) {
      const auto previous = store->latest_trial_runs(outcome.sweep_id);
      const auto it = previous.find(trial.key());
      if (it != previous.end() && is_done(it->second.status)) {
        // The worker before finished the run and died before saying so.
        store->complete_trial(claimed->id, me, true, it->second.id);
        continue;
      }
      if (it != previous.end() && can_continue_trial_run(it->second, configs[index])) {
        continued = it->second.id;
      }
      spdlog::warn("trial '{}': claimed again (attempt {}); {}", trial.key(), claimed->attempt,
                   continued ? "continuing run " + std::to_string(*continued) + " from its last checkpoint"
                             : std::string("starting it afresh"));
    }
    const fs::path log = logs / ("trial-" + std::to_string(index + 1) + "-" + me + ".log");
    auto arguments = continued ? resume_arguments(options.runner_path, *continued, base.output.db)
                               : trial_arguments(options.runner_path, options.experiment_file, options.base_sets, trial,
                                                 outcome.sweep_id);
    // The trial's process checks the lease before each write: should this worker stall past it
    // and another take the trial, the process stops without writing (see RunTakenOver).
    const TrialLease lease{claimed->id, claimed->attempt, me};
    arguments.insert(arguments.end(), {"--trial-lease", std::to_string(lease.trial_id) + ":" +
                                                            std::to_string(lease.attempt) + ":" + me});
    const pid_t pid = start_trial(arguments, log, /*die_with_parent=*/true, options.run_here, base.output.db, store);
    spdlog::info("[{}/{}] {}: {}  (log {})", index + 1, trials.size(), continued ? "continued" : "started", trial.key(),
                 log.string());

    // Wait for it, renewing the lease every third of its length.
    auto renew_at = Clock::now() + seconds(options.lease_seconds / 3);
    auto renewed_at = Clock::now();  // the lease runs to here + its length, at the least
    bool lost = false, stopped = false;
    int status = 0;
    for (;;) {
      if (const auto exited = reap_child(pid)) {
        status = exited->wait_status;
        break;
      }
      if (!stopped && stop_count() > 0) {
        ::kill(pid, SIGINT);  // it stops at the next step and records its run interrupted
        stopped = true;
      }
      if (!lost && Clock::now() >= renew_at) {
        bool renewed = false, retry = false;
        try {
          renewed = store->renew_trial_lease(claimed->id, me, options.lease_seconds);
          if (renewed) renewed_at = Clock::now();
        } catch (const StoreError& e) {
          // Try again soon: but a lease not renewed for its whole length has run out, and another
          // worker may hold the trial now (a failed renewal counted as one before).
          retry = Clock::now() - renewed_at < seconds(options.lease_seconds);
          spdlog::warn("trial '{}': could not renew its lease: {}", trial.key(), e.what());
        }
        if (!renewed && !retry) {
          // The lease lapsed (this machine stalled or lost the database) and another worker took
          // the trial, or may have: this copy must not finish it a second time.
          spdlog::error(
              "trial '{}': lost its lease (another worker holds the trial, or it ran out while the "
              "database was unreachable); stopping this copy",
              trial.key());
          ::kill(pid, SIGKILL);
          lost = true;
        }
        renew_at = Clock::now() + seconds(options.lease_seconds / 3);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // A trial another worker took over is not this one's to settle: the run may be that worker's
    // now (it continues the same row), and settling it here recorded a second, failed run.
    if (lost || !store->holds_trial(lease)) {
      if (!lost) spdlog::error("trial '{}': taken over by another worker while this one stalled", trial.key());
      ++outcome.lost;
      continue;
    }
    const auto end = settle_trial(*store, outcome.sweep_id, trial, configs[index], options.experiment_file, host, pid,
                                  status, log, stopped);
    if (end.status == RunStatus::kInterrupted) {
      store->release_trial(claimed->id, me);
      ++outcome.handed_back;
      spdlog::info("[{}/{}] interrupted, handed back to the queue: {}", index + 1, trials.size(), trial.key());
      continue;
    }
    const bool ok = is_done(end.status);
    const std::string error = ok ? "" : end.error;
    if (!store->complete_trial(claimed->id, me, ok, end.run_id, error)) {
      // Taken over between the check above and here; the run's own end was written under the
      // lease, and the worker holding the trial now settles it.
      spdlog::error("trial '{}': taken over by another worker as it ended (run {})", trial.key(), end.run_id);
      ++outcome.lost;
      continue;
    }
    ok ? ++outcome.finished : ++outcome.failed;
    spdlog::info("[{}/{}] {}: {} (run {})", index + 1, trials.size(), to_string(end.status), trial.key(), end.run_id);
  }
  return outcome;
}

}  // namespace trainyard
