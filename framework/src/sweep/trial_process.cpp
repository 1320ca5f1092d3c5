#include "trial_process.h"

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "trainyard/config/config_rows.h"
#include "trainyard/errors.h"
#include "trainyard/store/results_store.h"
#include "trainyard/system/utf8.h"

namespace fs = std::filesystem;

namespace trainyard {

const ExperimentConfig& sweep_base_config(const SweepSpec& spec, const std::vector<ExperimentConfig>& configs) {
  const ExperimentConfig& base = configs.front();
  for (const auto& c : configs) {
    if (c.output.db != base.output.db) {
      throw ConfigError("sweep '" + spec.name + "': output.db cannot differ between trials ('" + base.output.db +
                        "' and '" + c.output.db + "'); sweep other keys");
    }
  }
  return base;
}

std::vector<std::string> trial_arguments(const std::string& runner_path, const std::string& experiment_file,
                                         const std::vector<std::string>& base_sets, const SweepTrial& trial,
                                         std::int64_t sweep_id) {
  std::vector<std::string> arguments{runner_path, experiment_file, "-q"};
  for (const auto& s : base_sets) arguments.insert(arguments.end(), {"--set", s});
  for (const auto& o : trial.overrides) arguments.insert(arguments.end(), {"--trial-set", o.key + "=" + o.value});
  arguments.insert(arguments.end(), {"--trial-of-sweep", std::to_string(sweep_id), "--trial-key", trial.key()});
  return arguments;
}

std::vector<std::string> resume_arguments(const std::string& runner_path, std::int64_t run_id, const std::string& db) {
  return {runner_path, "--resume", std::to_string(run_id), "--db", db, "-q"};
}

bool can_continue_trial_run(const ResultsStore::TrialRun& run, const ExperimentConfig& config) {
  if (is_done(run.status) || run.status == RunStatus::kRunning) return false;
  // The run's own folder as recorded (runs from before schema 7: the old name).
  const fs::path folder = !run.run_dir.empty()
                              ? fs::path(run.run_dir)
                              : fs::path(config.output.checkpoints) / ("run-" + std::to_string(run.id));
  std::error_code ec;
  if (!fs::exists(folder / "last.pt", ec)) return false;
  const std::string& stored_config_yaml = run.config_yaml;
  auto rows = [](const std::string& yaml) {
    std::map<std::string, std::string> out;
    for (const auto& row : flatten_config_yaml(yaml)) {
      if (row.key != "train.threads" && row.key != "device") out[row.key] = row.value;
    }
    return out;
  };
  try {
    return rows(stored_config_yaml) == rows(config.to_yaml());
  } catch (const ConfigError&) {
    return false;
  }
}

pid_t start_trial(const std::vector<std::string>& arguments, const fs::path& log, bool die_with_parent,
                  const RunCommandLine& run_here, const std::string& location, std::unique_ptr<ResultsStore>& store) {
  ChildOptions options;
  options.output = log;
  options.die_with_parent = die_with_parent;
  if (run_here && single_threaded()) {
    store.reset();
    std::optional<pid_t> pid;
    try {
      pid = fork_child([&] { return run_here(arguments); }, options);
    } catch (...) {
      store = std::make_unique<ResultsStore>(location);
      throw;
    }
    store = std::make_unique<ResultsStore>(location);
    if (pid) return *pid;
  }
  return spawn_child(arguments, options);
}

std::string tail_of(const fs::path& log, std::size_t max_chars) {
  std::ifstream in(log);
  std::ostringstream text;
  text << in.rdbuf();
  // The tail goes into the database as the trial's error: cut at a character boundary and made
  // valid UTF-8, which PostgreSQL and the JSON output require (a cut inside a character broke both).
  std::string s = text.str();
  s = s.size() > max_chars ? "..." + utf8_tail(s, max_chars) : valid_utf8(s);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TrialEnd settle_trial(ResultsStore& store, std::int64_t sweep_id, const SweepTrial& trial,
                      const ExperimentConfig& config, const std::string& experiment_file, const std::string& host,
                      pid_t pid, int wait_status, const fs::path& log, bool stop_requested) {
  const std::string key = trial.key();
  const auto run_id = store.trial_run(sweep_id, key, host, pid);
  if (!run_id) {
    // The trial died before starting its run (bad data, say): record it so the sweep shows it.
    RunRecord record;
    record.experiment = config.name;
    record.experiment_file = experiment_file;
    record.config_yaml = config.to_yaml();
    record.host = host;
    record.seed = config.seed;
    record.sweep_id = sweep_id;
    record.trial_key = key;
    for (const auto& o : trial.overrides) record.overrides.emplace_back(o.key, o.value);
    const auto id = store.begin_run(record);
    const std::string error = "its process " + describe_exit(wait_status) + " before its run started: " + tail_of(log);
    store.finish_run(id, RunStatus::kFailed, error);
    return {id, RunStatus::kFailed, error};
  }
  const auto run = store.run(*run_id);
  TrialEnd end{*run_id, run ? run->status : RunStatus::kFailed, run ? run->error : ""};
  if (end.status == RunStatus::kRunning) {
    // Killed without a chance to say so (a crash, the OOM killer, a second Ctrl-C).
    end.status = stop_requested ? RunStatus::kInterrupted : RunStatus::kFailed;
    end.error = "its process " + describe_exit(wait_status) + ": " + tail_of(log);
    store.finish_run(*run_id, end.status, end.error);
  }
  return end;
}

}  // namespace trainyard
