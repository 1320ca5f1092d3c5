#include "trainyard/sweep/sweep_runner.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "trainyard/system/memory.h"
#include "trainyard/system/provenance.h"
#include "trainyard/train/device.h"
#include "trainyard/errors.h"
#include "trainyard/store/results_store.h"
#include "tpe_trials.h"
#include "trial_process.h"

namespace fs = std::filesystem;

namespace trainyard {
namespace {

struct RunningTrial {
  std::size_t index = 0;
  std::size_t slot = 0;  // which of the `jobs` places it holds (and so which GPU)
  fs::path log;
};

/// The largest resident set a trial of the sweep has recorded, if one has.
std::optional<double> largest_trial_memory(const std::vector<SweepTrialSummary>& trials) {
  std::optional<double> largest;
  for (const auto& t : trials) {
    if (t.peak_memory_mib && (!largest || *t.peak_memory_mib > *largest)) largest = t.peak_memory_mib;
  }
  return largest;
}

}  // namespace

JobsChoice choose_jobs(const SweepSpec& spec, int jobs, int cores, int gpus, std::optional<double> available_mib,
                       double trial_mib) {
  if (jobs != kJobsAuto) return {std::max(1, jobs), "as given"};
  const std::string why = "sweep.jobs 0: ";
  if (spec.tpe.enabled() || spec.pruner.enabled()) {
    return {1, why + "a search or a pruner decides from the trials done, so one at a time keeps it reproducible"};
  }
  if (gpus > 0) return {gpus, why + "one per GPU"};
  if (!available_mib) return {1, why + "the memory available is not known"};
  const auto fit = static_cast<int>(kTrialsMemoryShare * *available_mib / std::max(1.0, trial_mib));
  const int chosen = std::clamp(fit, 1, std::max(1, cores));
  return {chosen, fmt::format("{}{} core{}, {:.1f} GiB available, {:.1f} GiB per trial", why, cores,
                              cores == 1 ? "" : "s", *available_mib / 1024, trial_mib / 1024)};
}

SweepOutcome run_sweep(const SweepSpec& spec, const std::vector<SweepTrial>& given_trials,
                       const std::vector<ExperimentConfig>& given_configs, const SweepRunOptions& options) {
  SweepOutcome outcome;
  std::vector<SweepTrial> trials = given_trials;  // a TPE search adds to them as it goes
  std::vector<ExperimentConfig> configs = given_configs;
  const ExperimentConfig base = sweep_base_config(spec, configs);
  auto store = std::make_unique<ResultsStore>(base.output.db);
  const std::string host = host_name();
  for (const auto id : store->mark_abandoned_runs(host)) {
    spdlog::warn("run {} was left 'running' by a process that is gone; marked interrupted", id);
  }
  outcome.sweep_id = store->ensure_sweep(spec.name, options.experiment_file, spec.to_yaml());
  const fs::path logs = fs::path(base.output.checkpoints) / store->sweep_folder_name(outcome.sweep_id);
  fs::create_directories(logs);

  // TPE: the trials an earlier run of the sweep chose come back as they were, then new ones.
  auto add_trial = [&](SweepTrial trial) {
    configs.push_back(options.resolve_trial(trial));
    trials.push_back(std::move(trial));
  };
  if (spec.tpe.enabled()) {
    for (auto& t : recorded_tpe_trials(spec.tpe, trials, store->sweep_trial_history(outcome.sweep_id))) add_trial(t);
  }
  const auto previous = store->latest_trial_runs(outcome.sweep_id);
  std::vector<std::size_t> pending;
  std::map<std::size_t, std::int64_t> resumable;  // trial index -> the run to continue
  for (std::size_t i = 0; i < trials.size(); ++i) {
    auto it = previous.find(trials[i].key());
    if (it != previous.end() && (is_done(it->second.status) || it->second.status == RunStatus::kRunning)) {
      ++outcome.skipped;
      if (it->second.status == RunStatus::kRunning) {
        spdlog::warn("trial '{}' is running in another process; not started again", trials[i].key());
      }
      continue;
    }
    // A trial stopped or killed part-way continues from its last checkpoint, in its own row,
    // when it would run with the same configuration; otherwise it starts over.
    if (it != previous.end() && can_continue_trial_run(it->second, configs[i])) {
      resumable[i] = it->second.id;
    }
    pending.push_back(i);
  }
  // On a machine with several GPUs each running trial gets its own: slot k runs on cuda:k % GPUs.
  const bool wants_gpu = base.device == "auto" || base.device.rfind("cuda", 0) == 0;
  const int gpus = wants_gpu ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (gpus > 1) spdlog::info("sweep: {} GPUs, one trial per GPU", gpus);
  // jobs 0: as many as the memory holds at what a trial of this sweep took (its earlier run), or
  // is taken to take until one ends here.
  const int cores = available_cpu_cores();
  const auto available = available_memory_mib();
  double trial_mib = largest_trial_memory(store->sweep_summary(outcome.sweep_id)).value_or(kUnmeasuredTrialMib);
  const JobsChoice choice = choose_jobs(spec, options.jobs, cores, gpus, available, trial_mib);
  const int jobs = choice.jobs;
  int jobs_now = jobs;  // fewer once a trial has shown it needs more memory than was thought
  // Split the cores between the trials running at once, unless the experiment fixes threads.
  const int threads_per_trial = std::max(1, cores / jobs);
  // The trials in all: a TPE search's are chosen as it goes.
  const auto planned = [&] { return spec.tpe.enabled() ? static_cast<std::size_t>(spec.tpe.trials) : trials.size(); };
  spdlog::info("sweep '{}' (id {}): {} trials, {} done before, {} to run, {} at a time{} ({})", spec.name,
               outcome.sweep_id, planned(), outcome.skipped, planned() - outcome.skipped, jobs,
               jobs > 1 ? fmt::format(", {} thread{} each", threads_per_trial, threads_per_trial == 1 ? "" : "s")
                        : std::string(),
               choice.reason);
  // A trial that ended shows what one needs: fewer at once when they would not fit.
  auto learn_trial_memory = [&](double peak_mib) {
    if (options.jobs != kJobsAuto || peak_mib <= trial_mib) return;
    trial_mib = peak_mib;
    const int fits = std::min(jobs, choose_jobs(spec, kJobsAuto, cores, gpus, available, trial_mib).jobs);
    if (fits < jobs_now) {
      spdlog::warn("sweep: a trial took {:.0f} MiB; {} at a time from now on", peak_mib, fits);
      jobs_now = fits;
    }
  };
  std::vector<bool> slot_busy(static_cast<std::size_t>(jobs), false);

  std::map<pid_t, RunningTrial> running;
  std::size_t next = 0;
  int forwarded_signals = 0;
  auto stop_count = [&] { return options.stop_signals ? options.stop_signals->load() : 0; };

  // The next trial TPE chooses from the trials done so far; false once it has them all (or its
  // choice is not a valid configuration, which ends the search: every later one would be chosen
  // from the same trials).
  bool searching = spec.tpe.enabled();
  auto choose_trial = [&] {
    if (!searching) return false;
    try {
      const auto history = store->sweep_trial_history(outcome.sweep_id);
      if (auto trial = next_tpe_trial(spec.tpe, trials, history)) {
        const auto done =
            std::count_if(history.begin(), history.end(), [](const auto& r) { return is_done(r.status); });
        spdlog::info("TPE chose trial {} from {} done trial{}{}: {}", trials.size() + 1, done, done == 1 ? "" : "s",
                     done < spec.tpe.startup_trials
                         ? " (a random draw until " + std::to_string(spec.tpe.startup_trials) + " are done)"
                         : std::string(),
                     trial->key());
        add_trial(std::move(*trial));
        pending.push_back(trials.size() - 1);
        return true;
      }
    } catch (const ConfigError& e) {
      spdlog::error("sweep '{}': TPE chose trial {}, which is not valid; the search stops: {}", spec.name,
                    trials.size() + 1, e.what());
      ++outcome.failed;
    }
    searching = false;
    return false;
  };

  while (next < pending.size() || !running.empty() || (stop_count() == 0 && choose_trial())) {
    while (stop_count() == 0 && static_cast<int>(running.size()) < jobs_now &&
           (next < pending.size() || choose_trial())) {
      const std::size_t index = pending[next++];
      const SweepTrial& trial = trials[index];
      const auto slot =
          static_cast<std::size_t>(std::find(slot_busy.begin(), slot_busy.end(), false) - slot_busy.begin());
      // Each slot's share of the machine: its own GPU, or its share of the cores. A resumed trial
      // gets it too (it ran with its whole config before, two trials on one GPU).
      std::vector<std::string> placement;
      if (gpus > 1) {
        placement = {"--set", "device=cuda:" + std::to_string(static_cast<int>(slot) % gpus)};
      } else if (configs[index].train.threads == 0 && jobs > 1) {
        placement = {"--set", "train.threads=" + std::to_string(threads_per_trial)};
      }
      const auto resume = resumable.find(index);
      if (resume != resumable.end()) {
        slot_busy[slot] = true;
        auto arguments = resume_arguments(options.runner_path, resume->second, base.output.db);
        arguments.insert(arguments.end(), placement.begin(), placement.end());
        const fs::path log = logs / ("trial-" + std::to_string(index + 1) + ".log");
        const pid_t pid = start_trial(arguments, log, false, options.run_here, base.output.db, store);
        running[pid] = RunningTrial{index, slot, log};
        spdlog::info("[{}/{}] resumed: {} (run {})  (log {})", index + 1, planned(), trial.key(), resume->second,
                     log.string());
        continue;
      }
      auto arguments =
          trial_arguments(options.runner_path, options.experiment_file, options.base_sets, trial, outcome.sweep_id);
      slot_busy[slot] = true;
      arguments.insert(arguments.end(), placement.begin(), placement.end());
      const fs::path log = logs / ("trial-" + std::to_string(index + 1) + ".log");
      const pid_t pid = start_trial(arguments, log, false, options.run_here, base.output.db, store);
      running[pid] = RunningTrial{index, slot, log};
      spdlog::info("[{}/{}] started: {}  (log {})", index + 1, planned(), trial.key(), log.string());
    }
    if (running.empty()) break;

    // Pass each new signal on to the trials once.
    const int signals = stop_count();
    if (signals > forwarded_signals) {
      for (const auto& [pid, trial] : running) ::kill(pid, SIGINT);
      forwarded_signals = signals;
    }
    const auto exited = reap_child(-1, /*block=*/true);
    if (!exited) continue;  // a signal arrived: forward it at the top of the loop
    const pid_t pid = exited->pid;
    const int status = exited->wait_status;
    auto found = running.find(pid);
    if (found == running.end()) continue;
    const RunningTrial trial = found->second;
    running.erase(found);
    slot_busy[trial.slot] = false;
    learn_trial_memory(exited->peak_rss_mib);
    const std::string key = trials[trial.index].key();

    const RunStatus ended = settle_trial(*store, outcome.sweep_id, trials[trial.index], configs[trial.index],
                                         options.experiment_file, host, pid, status, trial.log, forwarded_signals > 0)
                                .status;
    if (ended == RunStatus::kFinished)
      ++outcome.finished;
    else if (ended == RunStatus::kPruned)
      ++outcome.pruned;
    else if (ended == RunStatus::kInterrupted)
      ++outcome.interrupted;
    else
      ++outcome.failed;
    spdlog::info("[{}/{}] {}: {}", trial.index + 1, planned(), to_string(ended), key);
  }
  return outcome;
}

std::string epochs_spent_text(std::int64_t trained, std::int64_t unpruned) {
  return fmt::format("epochs trained: {} of the {} a sweep without pruning or early stopping would ({:.0f}%)", trained,
                     unpruned,
                     unpruned > 0 ? 100.0 * static_cast<double>(trained) / static_cast<double>(unpruned) : 0.0);
}

std::string format_sweep_summary(ResultsStore& store, std::int64_t sweep_id) {
  const auto rows = store.sweep_summary(sweep_id);
  std::size_t width = 5;
  for (const auto& r : rows) width = std::max(width, r.trial_key.size());
  std::ostringstream out;
  char line[512];
  // Ranked on the split that chose each best epoch (validation when there is one); the test
  // accuracy beside it is then an unbiased estimate.
  // start-up and outside: the trial process's time before its first epoch, and all of its time
  // outside the epochs (start-up, checkpoints, its end): what a trial costs beyond training.
  // memory: its largest resident set, what `jobs: 0` sizes the trials side by side by.
  std::snprintf(line, sizeof line, "%-6s %-*s %-11s %-8s %9s %9s %5s %9s %9s %9s %8s\n", "run", static_cast<int>(width),
                "trial", "status", "ranked", "best acc", "test acc", "epoch", "time", "start-up", "outside", "memory");
  out << line;
  auto percent = [](const std::optional<double>& v) { return v ? fmt::format("{:.2f}%", 100 * *v) : std::string("-"); };
  auto seconds = [](const std::optional<double>& v) { return v ? fmt::format("{:.1f}s", *v) : std::string("-"); };
  auto mib = [](const std::optional<double>& v) { return v ? fmt::format("{:.0f}M", *v) : std::string("-"); };
  for (const auto& r : rows) {
    const std::string epoch = r.best_epoch ? std::to_string(*r.best_epoch) : "-";
    const std::string ranked = "on " + r.select_on;
    std::snprintf(line, sizeof line, "%-6lld %-*s %-11s %-8s %9s %9s %5s %8.0fs %9s %9s %8s\n",
                  static_cast<long long>(r.run_id), static_cast<int>(width), r.trial_key.c_str(), to_string(r.status),
                  ranked.c_str(), percent(r.best_selection_accuracy).c_str(), percent(r.best_test_accuracy).c_str(),
                  epoch.c_str(), r.seconds, seconds(r.startup_seconds).c_str(),
                  seconds(r.outside_epochs_seconds).c_str(), mib(r.peak_memory_mib).c_str());
    out << line;
  }
  for (const auto& r : rows) {
    if (!r.stop_reason.empty()) {
      out << fmt::format("run {} ({} epoch{}): {}\n", r.run_id, r.epochs, r.epochs == 1 ? "" : "s", r.stop_reason);
    }
  }
  const auto [trained, full] = store.sweep_epochs_spent(sweep_id);
  if (full > 0 && trained < full) {
    out << epochs_spent_text(trained, full) << "\n";
  }
  return out.str();
}

}  // namespace trainyard
