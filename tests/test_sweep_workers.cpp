// Sweep workers through the runner binary (`runner EXPERIMENT --worker`): several workers share a
// sweep through a real PostgreSQL server started for this suite; one is killed mid-trial and its
// trial passes to another once its lease lapses. Also: workers on a SQLite file on one machine,
// and the Slurm job array `--emit-slurm` writes.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "temporary_postgres.h"
#include "test_support.h"
#include "trainyard/system/provenance.h"
#include "trainyard/store/results_store.h"
#include "trainyard/store/sql_database.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

class SweepWorkers : public ::testing::Test {
 protected:
  void write_experiment(const std::string& db) {
    t::make_image_folder(dir_ / "data", {{"a", 8}, {"b", 8}}, 16);
    // Six trials of 300 quick epochs: each takes about a second, so a trial is caught mid-way.
    t::write_file(dir_ / "sweep.yaml", R"(name: workers
seed: 5
device: cpu
model:     {plugin: tiny}
dataset:   {plugin: imagefolder, root: data, image_size: 16, train_fraction: 0.5}
optimizer: {plugin: adam, lr: 1.0e-2}
train:     {epochs: 300, batch_size: 4, threads: 1}
output:    {db: ')" + db + R"(', checkpoints: results/checkpoints}
sweep:
  grid:
    optimizer.lr: [1.0e-2, 3.0e-3, 1.0e-3]
    model.width: [4, 8]
)");
  }
  std::string command(const std::string& arguments) const {
    return t::runner_command(dir_.path(), arguments, t::tiny_model_environment());
  }
  // Starts a worker in the background; returns its pid.
  pid_t start_worker(const std::string& log, const std::string& sets = "") const {
    return std::stoi(
        t::run_command(command("sweep.yaml --worker --lease 1.5 " + sets) + " > " + log + " 2>&1 & echo $!").output);
  }
  std::pair<std::string, std::unique_ptr<trainyard::SqlDatabase>> kill_one_of_three(const std::string& victim_sets);
  t::TempDir dir_;
};

std::int64_t count(trainyard::SqlDatabase& db, const std::string& sql) { return db.query(sql).integer(0, 0); }

}  // namespace

// Six trials on PostgreSQL, three workers; one (started with `victim_sets`) is SIGKILLed while its
// trial is mid-way. Checks that every trial finished exactly once and the two others exited 0;
// returns the killed trial's key and the database for the variant's own checks.
std::pair<std::string, std::unique_ptr<trainyard::SqlDatabase>> SweepWorkers::kill_one_of_three(
    const std::string& victim_sets) {
  const std::string url = t::database_for_this_test();
  write_experiment(url);
  // Two workers run to the end (their exit codes are checked); the third is killed mid-trial.
  auto first =
      std::async(std::launch::async, [&] { return t::run_command(command("sweep.yaml --worker --lease 1.5")); });
  const pid_t victim = start_worker("victim.log", victim_sets);
  auto second =
      std::async(std::launch::async, [&] { return t::run_command(command("sweep.yaml --worker --lease 1.5")); });

  const std::string victim_name = trainyard::host_name() + ":" + std::to_string(victim);
  // Caught mid-trial: its run has recorded some epochs and has most still to go.
  std::string killed_trial;
  bool caught = false;
  std::unique_ptr<trainyard::SqlDatabase> watcher;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       !caught && std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(10))) {
    try {
      if (!watcher) watcher = trainyard::open_postgres_database(url);
      const auto rows = watcher->query(R"sql(
        SELECT t.trial_key FROM trials t JOIN runs r ON r.sweep_id = t.sweep_id AND r.trial_key = t.trial_key
        WHERE t.worker = ? AND t.status = 'claimed' AND r.status = 'running'
          AND (SELECT count(*) FROM epochs WHERE run_id = r.id) BETWEEN 1 AND 200)sql",
                                       {victim_name});
      if (!rows.empty()) {
        killed_trial = rows.text(0, 0);
        caught = true;
      }
    } catch (const std::exception&) {
      // the schema is not there yet
    }
  }
  if (!caught) {
    ADD_FAILURE() << "the victim never ran a trial\n" << t::read_file(dir_ / "victim.log");
    return {"", nullptr};  // the two others finish the sweep first
  }
  EXPECT_EQ(kill(victim, SIGKILL), 0);  // a node failure: no chance to say anything
  EXPECT_TRUE(t::wait_for_exit(victim, 10));

  const auto a = first.get();
  const auto b = second.get();
  EXPECT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(b.exit_code, 0) << b.output;

  const auto db = trainyard::open_postgres_database(url);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM trials"), 6);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM trials WHERE status = 'finished'"), 6);
  // Each trial finished exactly once, and each finished trial points at its finished run.
  EXPECT_EQ(count(*db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 6);
  EXPECT_EQ(count(*db, "SELECT count(DISTINCT trial_key) FROM runs WHERE status = 'finished'"), 6);
  EXPECT_EQ(count(*db,
                  "SELECT count(*) FROM trials t JOIN runs r ON r.id = t.run_id "
                  "WHERE r.status = 'finished' AND r.trial_key = t.trial_key"),
            6);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM epochs e JOIN runs r ON r.id = e.run_id WHERE r.status = 'finished'"),
            6 * 300);
  // The killed worker's trial was taken over once.
  const auto killed = db->query("SELECT attempts, worker FROM trials WHERE trial_key = ?", {killed_trial});
  EXPECT_EQ(killed.integer(0, 0), 2);
  EXPECT_NE(killed.text(0, 1), victim_name);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM runs WHERE status = 'running'"), 0);
  // The work was shared.
  EXPECT_GE(count(*db, "SELECT count(DISTINCT worker) FROM trials"), 2);

  // The results tool reads the PostgreSQL store as it reads a file.
  const auto listed =
      t::run_command(t::shell_quote(TRAINYARD_RESULTS_PATH) + " --db " + t::shell_quote(url) + " sweeps --format csv");
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("workers"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find(",6,6,"), std::string::npos) << listed.output;  // 6 trials, 6 finished
  return {killed_trial, trainyard::open_postgres_database(url)};
}

TEST_F(SweepWorkers, SixTrialsThreeWorkersOneKilledMidTrialTheTrialContinuesFromItsCheckpoint) {
  // All workers see one checkpoint folder (one machine here; a shared file system on a cluster):
  // the worker taking the trial over continues the killed run in its own row from its last.pt.
  const auto [trial, db] = kill_one_of_three("");
  ASSERT_TRUE(db);
  const auto runs = db->query("SELECT id, status FROM runs WHERE trial_key = ?", {trial});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs.text(0, 1), "finished");
  const auto epochs =
      db->query("SELECT count(*), count(DISTINCT epoch), min(epoch), max(epoch) FROM epochs WHERE run_id = ?",
                {runs.integer(0, 0)});
  EXPECT_EQ(epochs.rows[0], (std::vector<trainyard::SqlValue>{std::int64_t{300}, std::int64_t{300}, std::int64_t{1},
                                                              std::int64_t{300}}));
}

TEST_F(SweepWorkers, SixTrialsThreeWorkersOneKilledMidTrialWithoutItsCheckpointTheTrialStartsAfresh) {
  // The killed worker kept its checkpoints where the others cannot see them.
  const auto [trial, db] = kill_one_of_three("--set output.checkpoints=victim-checkpoints");
  ASSERT_TRUE(db);
  const auto lost_runs =
      db->query("SELECT status, error FROM runs WHERE trial_key = ? AND status <> 'finished'", {trial});
  ASSERT_EQ(lost_runs.size(), 1u);
  // Whoever noticed first says why: the worker taking the trial over ("failed"), or, on this one
  // machine, a runner that found the dead process of a 'running' run ("interrupted").
  const std::string status = lost_runs.text(0, 0), error = lost_runs.text(0, 1);
  if (status == "failed") {
    EXPECT_NE(error.find("stopped renewing the trial's lease"), std::string::npos) << error;
  } else {
    EXPECT_EQ(status, "interrupted");
    EXPECT_NE(error.find("ended without finishing the run"), std::string::npos) << error;
  }
}

TEST_F(SweepWorkers, TwoWorkersShareASqliteSweepOnOneMachine) {
  write_experiment("results/sweep.db");
  auto first = std::async(std::launch::async, [&] { return t::run_command(command("sweep.yaml --worker")); });
  const auto second = t::run_command(command("sweep.yaml --worker"));
  const auto other = first.get();
  ASSERT_EQ(second.exit_code, 0) << second.output;
  ASSERT_EQ(other.exit_code, 0) << other.output;
  const auto db = trainyard::open_sqlite_database((dir_ / "results/sweep.db").string(), true);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM trials WHERE status = 'finished' AND attempts = 1"), 6);
  EXPECT_EQ(count(*db, "SELECT count(DISTINCT trial_key) FROM runs WHERE status = 'finished'"), 6);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM runs"), 6);

  // A worker started after the sweep is done finds nothing to do; the local sweep agrees.
  const auto late = t::run_command(command("sweep.yaml --worker"));
  ASSERT_EQ(late.exit_code, 0) << late.output;
  EXPECT_NE(late.output.find("6 of 6 trials finished"), std::string::npos) << late.output;
  const auto local = t::run_command(command("sweep.yaml"));
  EXPECT_NE(local.output.find("6 done before, 0 to run"), std::string::npos) << local.output;
}

TEST_F(SweepWorkers, ACtrlCStopsTheTrialAndHandsItBackToTheQueue) {
  write_experiment("results/sweep.db");
  const pid_t worker = start_worker("worker.log");
  const std::string db_path = (dir_ / "results/sweep.db").string();
  auto epochs_so_far = [&] {
    return trainyard::open_sqlite_database(db_path, true)->query("SELECT count(*) FROM epochs").integer(0, 0);
  };
  ASSERT_TRUE(t::wait_until([&] { return fs::exists(db_path) && epochs_so_far() >= 1; }, 60))
      << t::read_file(dir_ / "worker.log");
  ASSERT_EQ(kill(worker, SIGINT), 0);
  ASSERT_TRUE(t::wait_for_exit(worker, 30)) << t::read_file(dir_ / "worker.log");
  const auto db = trainyard::open_sqlite_database(db_path, true);
  // Its one trial is pending again (no lease to wait out), its run interrupted; nothing else began.
  EXPECT_EQ(count(*db, "SELECT count(*) FROM trials WHERE status = 'pending'"), 6);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM trials WHERE attempts = 1 AND worker IS NULL"), 1);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(db->query("SELECT status FROM runs").text(0, 0), "interrupted");
  EXPECT_NE(t::read_file(dir_ / "worker.log").find("handed back to the queue"), std::string::npos)
      << t::read_file(dir_ / "worker.log");
}

TEST_F(SweepWorkers, EmitSlurmWritesAJobArrayOfWorkers) {
  write_experiment("postgresql://trainyard@db.cluster:5432/sweeps");
  const auto written =
      t::run_command(command("sweep.yaml --emit-slurm sweep.sbatch --workers 3 --gpus-per-worker 1 "
                             "--cpus-per-worker 8 --mem 32G --time 02:00:00 --partition gpu "
                             "--set train.epochs=5"));
  ASSERT_EQ(written.exit_code, 0) << written.output;
  const auto script = t::read_file(dir_ / "sweep.sbatch");
  for (const char* line :
       {"#!/bin/bash\n", "#SBATCH --job-name=trainyard-workers\n", "#SBATCH --array=0-2\n",
        "#SBATCH --cpus-per-task=8\n", "#SBATCH --gres=gpu:1\n", "#SBATCH --mem=32G\n", "#SBATCH --time=02:00:00\n",
        "#SBATCH --partition=gpu\n", "6 trials shared by 3 workers", "--worker --lease 60 --set 'train.epochs=5'\n"}) {
    EXPECT_NE(script.find(line), std::string::npos) << line << "\n" << script;
  }
  EXPECT_NE(script.find("#SBATCH --chdir=" + fs::canonical(dir_.path()).string()), std::string::npos) << script;
  // The script is valid bash.
  EXPECT_EQ(t::run_command("bash -n " + t::shell_quote((dir_ / "sweep.sbatch").string())).exit_code, 0);

  // A SQLite output.db is refused: it cannot be shared between machines.
  write_experiment("results/sweep.db");
  const auto refused = t::run_command(command("sweep.yaml --emit-slurm other.sbatch"));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("need a shared PostgreSQL store"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(dir_ / "other.sbatch"));
}

// Issue 16: a sweep name holding a newline ended the script's comment and became a line of the
// script (here an #SBATCH directive); a Slurm value with one was written as it was.
TEST_F(SweepWorkers, EmitSlurmWritesNoLineTheSweepNameOrAnOptionCarries) {
  write_experiment("postgresql://trainyard@db.cluster:5432/sweeps");
  std::string experiment = t::read_file(dir_ / "sweep.yaml");
  experiment.replace(experiment.find("sweep:\n"), 7, "sweep:\n  name: \"lr\\n#SBATCH --wrap=evil\"\n");
  t::write_file(dir_ / "sweep.yaml", experiment);
  const auto written = t::run_command(command("sweep.yaml --emit-slurm sweep.sbatch --workers 2"));
  ASSERT_EQ(written.exit_code, 0) << written.output;
  const auto script = t::read_file(dir_ / "sweep.sbatch");
  EXPECT_EQ(script.find("\n#SBATCH --wrap"), std::string::npos) << script;
  EXPECT_NE(script.find("# Trainyard sweep 'lr?#SBATCH --wrap=evil'"), std::string::npos) << script;
  EXPECT_EQ(t::run_command("bash -n " + t::shell_quote((dir_ / "sweep.sbatch").string())).exit_code, 0);

  const auto refused =
      t::run_command(command("sweep.yaml --emit-slurm other.sbatch --mem \"$(printf '32G\\n#SBATCH --wrap=x')\""));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--mem '32G?#SBATCH --wrap=x': a Slurm option value cannot hold"), std::string::npos)
      << refused.output;
  EXPECT_FALSE(fs::exists(dir_ / "other.sbatch"));
}

TEST_F(SweepWorkers, AWorkerWhoseExperimentDiffersStopsAndLeavesTheTrialQueued) {
  write_experiment("results/sweep.db");
  {
    // Queued by a worker started with other options.
    trainyard::ResultsStore store((dir_ / "results/sweep.db").string());
    const auto sweep = store.ensure_sweep("workers", "sweep.yaml", "grid: {model.width: [16]}");
    store.enqueue_trials(sweep, {"model.width=16"}, {});
  }
  const auto refused = t::run_command(command("sweep.yaml --worker"));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("has a trial 'model.width=16' that sweep.yaml with this worker's --set/--sweep "
                                "options does not make"),
            std::string::npos)
      << refused.output;
  const auto db = trainyard::open_sqlite_database((dir_ / "results/sweep.db").string(), true);
  EXPECT_EQ(db->query("SELECT status FROM trials WHERE trial_key = 'model.width=16'").text(0, 0), "pending");
  EXPECT_EQ(count(*db, "SELECT count(*) FROM runs"), 0);
}

TEST_F(SweepWorkers, AWorkerNeedsASweep) {
  write_experiment("results/sweep.db");
  std::string text = t::read_file(dir_ / "sweep.yaml");
  text = text.substr(0, text.find("sweep:\n"));
  t::write_file(dir_ / "single.yaml", text);
  const auto refused = t::run_command(command("single.yaml --worker"));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--worker runs a sweep, and this experiment declares none"), std::string::npos)
      << refused.output;
}

// A worker that stalls past its lease (a suspended laptop) while another takes its trial over:
// before, both ran the trial and wrote the same run (its epochs, its last.pt), and the stalled one
// settled the trial again as a second, failed run. Now the stalled worker's trial process checks
// the lease before each write and stops without writing; the worker, woken, leaves the trial alone.
TEST_F(SweepWorkers, AStalledWorkersTrialStopsWithoutWritingOnceAnotherWorkerHasIt) {
  t::make_image_folder(dir_ / "data", {{"a", 8}, {"b", 8}}, 16);
  t::write_file(dir_ / "stall.yaml", R"(name: stall
seed: 5
device: cpu
model:     {plugin: tiny}
dataset:   {plugin: imagefolder, root: data, image_size: 16, train_fraction: 0.5}
optimizer: {plugin: adam, lr: 1.0e-2}
train:     {epochs: 6, batch_size: 4, threads: 1}
output:    {db: results/sweep.db, checkpoints: results/checkpoints}
sweep:
  grid:
    model.width: [4]
)");
  // Worker A's trial process stops itself after epoch 2 is written (outside any transaction).
  const pid_t a =
      std::stoi(t::run_command(t::runner_command(dir_.path(), "stall.yaml --worker --lease 1.5",
                                                 t::tiny_model_environment() + " TRAINYARD_FAULT_STOP_AFTER_EPOCH=2") +
                               " > a.log 2>&1 & echo $!")
                    .output);
  int trial_process = 0;
  ASSERT_TRUE(t::wait_until(
      [&] {
        const auto children = t::run_command("pgrep -P " + std::to_string(a)).output;
        if (children.empty()) return false;
        trial_process = std::stoi(children);
        return t::process_state(trial_process) == 'T';
      },
      60))
      << t::read_file(dir_ / "a.log");
  ASSERT_EQ(kill(a, SIGSTOP), 0);  // the whole machine stalls: the worker renews nothing now
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));

  auto b = std::async(std::launch::async, [&] { return t::run_command(command("stall.yaml --worker --lease 1.5")); });
  const std::string db_path = (dir_ / "results/sweep.db").string();
  ASSERT_TRUE(t::wait_until(
      [&] {
        return trainyard::open_sqlite_database(db_path, true)->query("SELECT attempts FROM trials").integer(0, 0) == 2;
      },
      60));
  ASSERT_EQ(kill(trial_process, SIGCONT), 0);  // A's trial process wakes, still holding the old lease
  EXPECT_TRUE(t::wait_for_exit(trial_process, 60));
  const auto worker_b = b.get();
  EXPECT_EQ(worker_b.exit_code, 0) << worker_b.output;
  ASSERT_EQ(kill(a, SIGCONT), 0);
  EXPECT_TRUE(t::wait_for_exit(a, 60));

  std::string trial_log;
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "results/checkpoints")) {
    const std::string name = entry.path().filename();
    if (name.size() > 4 && name.find(":" + std::to_string(a) + ".log") != std::string::npos) {
      trial_log = t::read_file(entry.path());
    }
  }
  EXPECT_NE(trial_log.find("no longer holds trial 1"), std::string::npos) << trial_log;
  EXPECT_NE(t::read_file(dir_ / "a.log").find("taken over by another worker"), std::string::npos)
      << t::read_file(dir_ / "a.log");

  const auto db = trainyard::open_sqlite_database(db_path, true);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM runs"), 1);  // no second, failed run settled by A
  EXPECT_EQ(db->query("SELECT status FROM runs").text(0, 0), "finished");
  EXPECT_EQ(count(*db, "SELECT count(*) FROM epochs"), 6);
  EXPECT_EQ(count(*db, "SELECT count(DISTINCT epoch) FROM epochs"), 6);
  const auto trial = db->query("SELECT status, attempts, worker FROM trials");
  EXPECT_EQ(trial.text(0, 0), "finished");
  EXPECT_EQ(trial.integer(0, 1), 2);
  EXPECT_NE(trial.text(0, 2), trainyard::host_name() + ":" + std::to_string(a));
}

// A password given in a PostgreSQL URL went into every run's stored configuration and config
// rows, every checkpoint (files anyone could read), the trial processes' command lines (`ps`) and
// four messages. It now goes to PGPASSWORD as the URL is read, and is written nowhere.
TEST_F(SweepWorkers, APasswordInTheUrlIsStoredLoggedAndShownNowhere) {
  const std::string password = "S3cr3t?Pw";
  std::string url = t::database_for_this_test();
  url.insert(url.find("@"), ":" + password);  // postgresql://trainyard:S3cr3t?Pw@127.0.0.1:PORT/db
  write_experiment(url);
  std::atomic<bool> done{false};
  std::vector<std::string> seen_in_ps;
  std::thread watcher([&] {
    while (!done) {
      for (const auto& entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string line;
        try {
          line = t::read_file(entry.path() / "cmdline");
        } catch (const std::exception&) {
          continue;  // gone meanwhile
        }
        std::replace(line.begin(), line.end(), '\0', ' ');
        // The trial processes the worker starts (the worker's own command line is the user's).
        const bool trial = line.find("--trial-key") != std::string::npos || line.find("--resume") != std::string::npos;
        if (trial && line.find(password) != std::string::npos) seen_in_ps.push_back(line);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const auto worker =
      t::run_command(command("sweep.yaml --worker --lease 5 --set train.epochs=20 --set 'output.db=" + url + "'"));
  done = true;
  watcher.join();
  ASSERT_EQ(worker.exit_code, 0) << worker.output;
  EXPECT_TRUE(seen_in_ps.empty()) << seen_in_ps.front();
  EXPECT_NE(worker.output.find("finished"), std::string::npos) << worker.output;
  EXPECT_EQ(worker.output.find(password), std::string::npos) << worker.output;

  // Nowhere in the database, whatever the table, nor in any file the sweep wrote.
  const auto db = trainyard::open_postgres_database(url);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 6);
  for (const char* table : {"runs", "run_config", "run_overrides", "sweeps", "trials", "epochs"}) {
    EXPECT_EQ(count(*db, std::string("SELECT count(*) FROM ") + table + " t WHERE t::text LIKE '%S3cr3t%'"), 0)
        << table;
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "results")) {
    if (!entry.is_regular_file()) continue;
    EXPECT_EQ(t::read_file(entry.path()).find(password), std::string::npos) << entry.path();
  }
}

namespace {

// A pruned TPE search of six trials (two start-up draws) run by `workers` workers at once on
// `db`: every trial is chosen once and run once, and each pruned one says why.
void run_tpe_search_with_workers(const t::TempDir& dir, const std::string& db, int workers) {
  t::make_image_folder(dir / "data", {{"a", 8}, {"b", 8}}, 16);
  t::write_file(dir / "tpe.yaml", R"(name: tpe_workers
seed: 5
device: cpu
model:     {plugin: tiny}
dataset:   {plugin: imagefolder, root: data, image_size: 16, train_fraction: 0.5}
optimizer: {plugin: adam}
train:     {epochs: 3, batch_size: 4, threads: 1}
output:    {db: ')" + db + R"(', checkpoints: results/checkpoints}
sweep:
  tpe:
    trials: 6
    startup_trials: 2
    params: {optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}, model.width: {int: [2, 8]}}
  pruner: {kind: median, warmup_epochs: 0, min_trials: 1}
)");
  const std::string worker = t::runner_command(dir.path(), "tpe.yaml --worker --lease 5", t::tiny_model_environment());
  std::vector<std::future<t::CommandResult>> running;
  for (int i = 0; i < workers; ++i)
    running.push_back(std::async(std::launch::async, [&] { return t::run_command(worker); }));
  for (auto& r : running) {
    const auto result = r.get();
    EXPECT_EQ(result.exit_code, 0) << result.output;
  }
}

void expect_each_trial_chosen_and_run_once(trainyard::SqlDatabase& db) {
  EXPECT_EQ(count(db, "SELECT count(*) FROM trials"), 6);
  EXPECT_EQ(count(db, "SELECT count(*) FROM trials WHERE status = 'finished' AND attempts = 1"), 6);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 6);
  EXPECT_EQ(count(db, "SELECT count(DISTINCT trial_key) FROM runs WHERE status IN ('finished', 'pruned')"), 6);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs WHERE status = 'pruned' AND stop_reason NOT LIKE 'pruned at epoch %'"),
            0);
}

}  // namespace

TEST_F(SweepWorkers, TwoWorkersShareAPrunedTpeSearchOnOneSqliteFile) {
  run_tpe_search_with_workers(dir_, "results/sweep.db", 2);
  const auto db = trainyard::open_sqlite_database((dir_ / "results/sweep.db").string(), true);
  expect_each_trial_chosen_and_run_once(*db);
  // The local sweep sees the search complete.
  const auto local = t::run_command(command("tpe.yaml"));
  EXPECT_NE(local.output.find("6 trials, 6 done before, 0 to run"), std::string::npos) << local.output;
}

TEST_F(SweepWorkers, ThreeWorkersShareAPrunedTpeSearchOnPostgres) {
  const std::string url = t::database_for_this_test();
  run_tpe_search_with_workers(dir_, url, 3);
  const auto db = trainyard::open_postgres_database(url);
  expect_each_trial_chosen_and_run_once(*db);
}

// A pruned TPE search on one SQLite file, three workers, one SIGKILLed mid-trial: its trial is
// taken over (not chosen again), every other trial is chosen and run once, and a worker started
// afterwards finds nothing left to do and changes nothing.
TEST_F(SweepWorkers, AWorkerKilledMidTrialOfAPrunedTpeSearchLosesNothing) {
  t::make_image_folder(dir_ / "data", {{"a", 8}, {"b", 8}}, 16);
  // 600 quick epochs a trial, the first rung at 200: a trial is caught before any decision.
  t::write_file(dir_ / "sweep.yaml", R"(name: tpe_kill
seed: 5
device: cpu
model:     {plugin: tiny}
dataset:   {plugin: imagefolder, root: data, image_size: 16, train_fraction: 0.5}
optimizer: {plugin: adam}
train:     {epochs: 600, batch_size: 4, threads: 1}
output:    {db: results/sweep.db, checkpoints: results/checkpoints}
sweep:
  tpe:
    trials: 6
    startup_trials: 2
    params: {optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}, model.width: {int: [2, 8]}}
  pruner: {kind: asha, min_epochs: 200, reduction: 2}
)");
  const std::string db_path = (dir_ / "results/sweep.db").string();
  auto first =
      std::async(std::launch::async, [&] { return t::run_command(command("sweep.yaml --worker --lease 1.5")); });
  const pid_t victim = start_worker("victim.log");
  auto second =
      std::async(std::launch::async, [&] { return t::run_command(command("sweep.yaml --worker --lease 1.5")); });
  const std::string victim_name = trainyard::host_name() + ":" + std::to_string(victim);
  std::string killed_trial;
  t::wait_until([&] {
    if (!fs::exists(db_path)) return false;
    try {
      const auto db = trainyard::open_sqlite_database(db_path, true);
      const auto rows = db->query(R"sql(
        SELECT t.trial_key FROM trials t JOIN runs r ON r.sweep_id = t.sweep_id AND r.trial_key = t.trial_key
        WHERE t.worker = ? AND t.status = 'claimed' AND r.status = 'running'
          AND (SELECT count(*) FROM epochs WHERE run_id = r.id) BETWEEN 1 AND 190)sql",
                                  {victim_name});
      if (rows.empty()) return false;
      killed_trial = rows.text(0, 0);
      return true;
    } catch (const std::exception&) {
      return false;  // the schema is not there yet
    }
  });
  ASSERT_FALSE(killed_trial.empty()) << "the victim never ran a trial\n" << t::read_file(dir_ / "victim.log");
  EXPECT_EQ(kill(victim, SIGKILL), 0);
  EXPECT_TRUE(t::wait_for_exit(victim, 10));
  const auto a = first.get();
  const auto b = second.get();
  EXPECT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(b.exit_code, 0) << b.output;

  const auto db = trainyard::open_sqlite_database(db_path, true);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM trials"), 6);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM trials WHERE status = 'finished'"), 6);
  const auto killed = db->query("SELECT attempts, worker FROM trials WHERE trial_key = ?", {killed_trial});
  ASSERT_EQ(killed.size(), 1u);
  EXPECT_EQ(killed.integer(0, 0), 2);  // taken over once, not chosen again
  EXPECT_NE(killed.text(0, 1), victim_name);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM trials WHERE attempts <> 1"), 1);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM runs WHERE status = 'running'"), 0);
  // Each trial's latest run ended finished or pruned, every prune with its reason (how many are
  // pruned depends on which trial reaches a rung first: tiny trials often tie there).
  EXPECT_EQ(count(*db, "SELECT count(DISTINCT trial_key) FROM runs WHERE status IN ('finished', 'pruned')"), 6);
  EXPECT_EQ(
      count(*db, "SELECT count(*) FROM runs WHERE status = 'pruned' AND stop_reason NOT LIKE 'pruned at epoch %'"), 0);

  const auto snapshot = [&] {
    return db
        ->query(
            "SELECT t.trial_key, t.status, t.attempts, r.id, r.status, (SELECT count(*) FROM epochs WHERE "
            "run_id = r.id) FROM trials t JOIN runs r ON r.trial_key = t.trial_key ORDER BY r.id")
        .rows;
  };
  const auto before = snapshot();
  const auto again = t::run_command(command("sweep.yaml --worker --lease 1.5"));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(snapshot(), before);
  const auto local = t::run_command(command("sweep.yaml"));
  EXPECT_NE(local.output.find("6 trials, 6 done before, 0 to run"), std::string::npos) << local.output;
}
