// The results database: one row per run and one per finished epoch, each epoch committed as it
// ends so a killed run leaves every finished epoch readable. Two engines behind one schema:
// SQLite in WAL mode (a file: the default) and PostgreSQL (a postgresql:// URL: one store shared
// by workers on many machines). The schema is versioned and migrated forward on open; a database
// is marked as Trainyard's (SQLite: PRAGMA application_id and user_version; PostgreSQL: the table
// trainyard_schema) so a foreign or newer one is refused, never modified.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainyard/store/sql_database.h"
#include "trainyard/train/evaluation.h"
#include "trainyard/train/run_record.h"

namespace trainyard {

/// A run as stored (for tests and tools).
struct StoredRun {
  std::int64_t id = 0;
  RunStatus status = RunStatus::kRunning;
  std::string experiment, config_yaml, started_at, ended_at, device, error, checkpoint_path;
  std::optional<std::int64_t> best_epoch;
  std::optional<double> best_test_accuracy;
  std::string precision;
  std::optional<double> peak_memory_mib;
  std::string run_dir;      // its checkpoint folder, absolute; empty for runs recorded before schema 7
  std::string working_dir;  // where its relative paths resolve; empty before schema 7
  std::int64_t epoch_count = 0;
  std::string init_source;  // what a fine-tuned run's model started from (model.init_from); empty before schema 10
  std::string stop_reason;  // why it ended before train.epochs (early stopping); empty before schema 12
  std::optional<std::int64_t> sweep_id;  // the sweep it is a trial of
  std::string trial_key;
};

/// What a resumed run continues from: its stored resolved config and where it belongs.
struct ResumableRun {
  std::int64_t id = 0;
  std::string config_yaml;
  std::string experiment_file;
  std::optional<std::int64_t> sweep_id;
  std::string trial_key;
  std::vector<std::int64_t> abandoned;  // runs of this host found dead and marked interrupted first
};

/// One trial of a sweep (its latest run) as a model-based search learns from it.
struct SweepTrialRecord {
  std::string trial_key;
  RunStatus status = RunStatus::kRunning;
  std::vector<std::pair<std::string, std::string>> overrides;  // the trial's (run_overrides), by key
  std::optional<double> best_selection_accuracy;               // over its epochs
  std::optional<double> last_selection_accuracy;               // at its last epoch (a pruned trial's figure)
  std::int64_t epochs = 0;
};

/// One trial of a sweep, as the summary table shows it.
struct SweepTrialSummary {
  std::int64_t run_id = 0;
  std::string trial_key;
  RunStatus status = RunStatus::kRunning;
  std::string select_on = "test";                 // the split that ranks the trial: "val" or "test"
  std::optional<double> best_selection_accuracy;  // that split's accuracy at the best epoch
  std::optional<double> best_test_accuracy;
  std::optional<std::int64_t> best_epoch;
  double seconds = 0.0;
  /// The trial's process outside its epochs (runs of schema 11 that ended): its start-up, and all
  /// of its wall time outside epoch_seconds (start-up, checkpoints, the run's end).
  std::optional<double> startup_seconds, outside_epochs_seconds;
  std::optional<double> peak_memory_mib;  // its process's largest resident set (runs that ended)
  std::string error;
  std::int64_t epochs = 0;  // trained (recorded)
  std::string stop_reason;  // why it ended early: pruned, or early stopping
};

/// A trial of a sweep that workers (`runner --worker`) share, as one of them claimed it.
struct ClaimedTrial {
  std::int64_t id = 0;
  std::string trial_key;
  std::int64_t attempt = 1;  // more than 1 when a worker holding it before stopped renewing its lease
};

/// How far a sweep's shared trials are.
struct TrialCounts {
  std::int64_t pending = 0, claimed = 0, finished = 0, failed = 0;
  std::int64_t open() const { return pending + claimed; }
};

/// What a database says of itself, before anything is written to it.
struct DatabaseIdentity {
  bool trainyard = false;    // it carries Trainyard's application id
  bool empty = false;        // no mark and no tables: a new database
  std::int64_t version = 0;  // its schema version (0 when unmarked)
  std::int64_t tables = 0;   // tables in it (PostgreSQL: in the connection's current schema)
};

class ResultsStore {
 public:
  /// The schema version this build writes; older databases are migrated, newer ones refused.
  static constexpr int kSchemaVersion = 13;
  /// The application id of Trainyard databases ("TRYD").
  static constexpr std::int32_t kApplicationId = 0x54525944;

  /// Opens (creating if needed) the database at `location`, a file path or a postgresql:// URL,
  /// and migrates it to kSchemaVersion. Throws StoreError if it is not a Trainyard database, is
  /// from a newer Trainyard, or cannot be opened or written. A refused database is left untouched.
  explicit ResultsStore(const std::string& location);
  ~ResultsStore();
  ResultsStore(const ResultsStore&) = delete;
  ResultsStore& operator=(const ResultsStore&) = delete;

  std::int64_t begin_run(const RunRecord& run);
  /// Inserts the epoch; when `new_best`, also records it as the run's best with its checkpoint.
  /// With a `lease`, only while it holds its trial (checked in the same transaction): false, and
  /// nothing written, when another worker has taken the trial over.
  bool record_epoch(std::int64_t run_id, const EpochRecord& epoch, bool new_best, const std::string& checkpoint_path,
                    const TrialLease* lease = nullptr);
  /// `error`: why it failed or was interrupted; `stop_reason`: why a finished run ended before
  /// train.epochs (early stopping).
  void finish_run(std::int64_t run_id, RunStatus status, const std::string& error = "",
                  const std::string& stop_reason = "");
  /// Adds one process's start-up and wall time to the run's (a resumed run sums its processes').
  void add_process_times(std::int64_t run_id, const ProcessTimes& times);
  /// Records that the run's process is alive (also done by record_epoch).
  void heartbeat(std::int64_t run_id);
  /// Takes run `run_id` up again in this process (status running, this pid) and returns what it
  /// needs. Throws InputError for an unknown run, a finished one, or one whose process is still
  /// alive (on this host) or that runs on another host.
  /// `device`, when given, replaces the recorded one (where the run goes on).
  ResumableRun resume_run(std::int64_t run_id, const std::string& host, const std::string& device = "");
  /// Deletes the run's epochs after `last_epoch` (done again by the resumed run) and sets its
  /// best epoch from those that remain.
  void truncate_epochs(std::int64_t run_id, std::int64_t last_epoch);
  /// Keeps one evaluation of run `run_id` (evaluations.cpp); returns its id.
  std::int64_t record_evaluation(std::int64_t run_id, const EvaluationRecord& evaluation);
  /// The evaluations of run `run_id`, oldest first, each with its classes and confusion matrix.
  std::vector<EvaluationRecord> evaluations(std::int64_t run_id) const;
  /// Marks runs of `host` still 'running' whose process is gone as interrupted; returns their ids.
  std::vector<std::int64_t> mark_abandoned_runs(const std::string& host);

  /// The sweep named `name` for `experiment_file`, created (or its spec updated) as needed.
  std::int64_t ensure_sweep(const std::string& name, const std::string& experiment_file, const std::string& spec_yaml);
  /// The id of the sweep named `name` for `experiment_file`, if it exists.
  std::optional<std::int64_t> find_sweep(const std::string& name, const std::string& experiment_file) const;
  /// The latest run of each trial of a sweep, by trial key: its id, status and configuration.
  struct TrialRun {
    std::int64_t id = 0;
    RunStatus status = RunStatus::kRunning;
    std::string config_yaml;
    std::string run_dir;  // empty for runs recorded before schema 7
  };
  std::map<std::string, TrialRun> latest_trial_runs(std::int64_t sweep_id) const;
  /// The run a trial's process `pid` on `host` started, if it got that far.
  std::optional<std::int64_t> trial_run(std::int64_t sweep_id, const std::string& trial_key, const std::string& host,
                                        std::int64_t pid) const;
  /// One line per trial (its latest run), best test accuracy first.
  std::vector<SweepTrialSummary> sweep_summary(std::int64_t sweep_id) const;
  /// The selection accuracy at `epoch` of the latest run of each trial of the sweep but
  /// `trial_key` that has recorded that epoch: what a pruner compares a trial with.
  std::vector<double> sweep_accuracies_at(std::int64_t sweep_id, std::int64_t epoch,
                                          const std::string& trial_key) const;
  /// Epochs the sweep's trials (their latest runs) trained, and what they would have trained
  /// without pruning or early stopping (each one's train.epochs).
  std::pair<std::int64_t, std::int64_t> sweep_epochs_spent(std::int64_t sweep_id) const;
  /// The spec a sweep was last run with (SweepSpec::to_yaml); empty when there is no such sweep.
  std::string sweep_spec_yaml(std::int64_t sweep_id) const;
  /// Every trial of the sweep (its latest run), in the order the trials first started.
  std::vector<SweepTrialRecord> sweep_trial_history(std::int64_t sweep_id) const;

  /// The work queue of workers (`runner --worker`). Adds the sweep's trials (those already
  /// queued stay as they are); keys in `finished` (their latest run finished before) go in done.
  void enqueue_trials(std::int64_t sweep_id, const std::vector<std::string>& keys,
                      const std::vector<std::string>& finished);
  /// Takes the next pending trial, or one whose lease ran out (its worker died), for `worker`
  /// until `lease_seconds` from now on the database's clock. One statement: PostgreSQL skips
  /// rows other workers are claiming (FOR UPDATE SKIP LOCKED); SQLite's write lock serializes.
  /// A trial whose lease ran out after `max_attempts` claims is failed instead. nullopt: none free.
  std::optional<ClaimedTrial> claim_trial(std::int64_t sweep_id, const std::string& worker, double lease_seconds,
                                          int max_attempts = 3);
  /// Whether `lease` still holds its trial: no worker has claimed it since. A lease that ran out
  /// and that no other worker took yet still holds (its worker may renew it).
  bool holds_trial(const TrialLease& lease) const;
  /// Extends the lease; false when `worker` no longer holds the trial (its lease ran out and
  /// another worker took it): the caller must stop the trial.
  bool renew_trial_lease(std::int64_t trial_id, const std::string& worker, double lease_seconds);
  /// Puts a trial `worker` holds back in the queue (its run was stopped by a signal); false when
  /// it no longer held it.
  bool release_trial(std::int64_t trial_id, const std::string& worker);
  /// Ends the trial as finished or failed with its run; false when `worker` no longer held it.
  bool complete_trial(std::int64_t trial_id, const std::string& worker, bool finished,
                      std::optional<std::int64_t> run_id, const std::string& error = "");
  TrialCounts trial_counts(std::int64_t sweep_id) const;
  /// The keys of the sweep's queued trials, in the order they were queued.
  std::vector<std::string> queued_trial_keys(std::int64_t sweep_id) const;
  /// Queues `key` as trial number `number` (0-based) of the sweep: only while the queue holds
  /// exactly `number` trials, so that of workers choosing the same number at once one wins (a
  /// model-based search's next trial). Whether it was queued.
  bool enqueue_trial_as(std::int64_t sweep_id, const std::string& key, std::int64_t number);

  int schema_version() const;

  /// The CREATE VIEW statements of the current schema (run_summary, run_best_epoch,
  /// run_last_epoch, sweep_leaderboard); `temporary` makes them TEMP views, which a read-only
  /// connection may create over a file from before they existed.
  /// In `dialect` (PostgreSQL: CREATE OR REPLACE VIEW); over tables of `schema_version` (a file
  /// older than 8 has no validation columns: its views show them as NULL, and 'test').
  static std::string views_sql(bool temporary, SqlDialect dialect = SqlDialect::kSqlite,
                               int schema_version = kSchemaVersion);
  /// Fills `table` (run_id, key, value, number) with every run's flattened configuration.
  static void fill_config_rows(SqlDatabase& database, const std::string& table);
  /// Reads `database`'s identity: SQLite's PRAGMA application_id and user_version (with the table
  /// count, in one statement, so in one snapshot), PostgreSQL's trainyard_schema row. Writes nothing.
  static DatabaseIdentity identity(SqlDatabase& database);
  std::optional<StoredRun> run(std::int64_t run_id) const;
  std::vector<EpochRecord> epochs(std::int64_t run_id) const;
  /// The file path, or the URL with its password hidden.
  const std::string& path() const { return path_; }
  /// This database's tag (eight hex digits, made with it): the folders of its runs and sweeps are
  /// named with it ("run-3-1f0c9a2e"), so two databases never share one.
  const std::string& tag() const { return tag_; }
  /// The name of run `run_id`'s checkpoint folder, and of sweep `sweep_id`'s log folder.
  std::string run_folder_name(std::int64_t run_id) const { return "run-" + std::to_string(run_id) + "-" + tag_; }
  std::string sweep_folder_name(std::int64_t sweep_id) const {
    return "sweep-" + std::to_string(sweep_id) + "-" + tag_;
  }
  SqlDatabase& database() { return *db_; }
  const SqlDatabase& database() const { return *db_; }

 private:
  void migrate();
  void refuse_unless_ours(const DatabaseIdentity& identity) const;
  std::string path_;
  std::string tag_;
  std::unique_ptr<SqlDatabase> db_;
};

/// `sql` (a migration written for SQLite) as PostgreSQL DDL: INTEGER PRIMARY KEY becomes a BIGINT
/// identity, INTEGER BIGINT, REAL DOUBLE PRECISION, CREATE [TEMP] VIEW IF NOT EXISTS CREATE OR
/// REPLACE [TEMP] VIEW. The only dialect difference in the schema: one text serves both engines.
std::string postgres_ddl(const std::string& sql);

/// Peak resident memory of this process so far, in MiB.
double peak_memory_mib();

/// Current UTC time as ISO 8601 with milliseconds ("2026-11-25T21:13:08.123Z").
std::string utc_timestamp();

}  // namespace trainyard
