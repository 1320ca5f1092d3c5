// Sweeps: their rows, their trials' latest runs, the summary table.
#include "trainyard/store/results_store.h"

#include "store_sql.h"

namespace trainyard {

using namespace store_sql;  // the store's shared SQL helpers

std::int64_t ResultsStore::ensure_sweep(const std::string& name, const std::string& experiment_file,
                                        const std::string& spec_yaml) {
  SqlWriteTransaction transaction(*db_);
  const auto id = db_->query(R"sql(
    INSERT INTO sweeps (name, experiment_file, spec_yaml, created_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (name, experiment_file) DO UPDATE SET spec_yaml = excluded.spec_yaml
    RETURNING id)sql",
                             {name, experiment_file, spec_yaml, utc_timestamp()})
                      .integer(0, 0);
  transaction.commit();
  return id;
}

std::optional<std::int64_t> ResultsStore::find_sweep(const std::string& name,
                                                     const std::string& experiment_file) const {
  const auto rows = db_->query("SELECT id FROM sweeps WHERE name = ? AND experiment_file = ?", {name, experiment_file});
  if (rows.empty()) return std::nullopt;
  return rows.integer(0, 0);
}

std::map<std::string, ResultsStore::TrialRun> ResultsStore::latest_trial_runs(std::int64_t sweep_id) const {
  const auto rows = db_->query(R"sql(
    SELECT trial_key, id, status, config_yaml, coalesce(run_dir, '') FROM runs r WHERE sweep_id = ? AND id = (
      SELECT max(id) FROM runs WHERE sweep_id = r.sweep_id AND trial_key = r.trial_key))sql",
                               {sweep_id});
  std::map<std::string, TrialRun> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out[rows.text(i, 0)] = TrialRun{rows.integer(i, 1), stored_status(rows.text(i, 2), rows.integer(i, 1)),
                                    rows.text(i, 3), rows.text(i, 4)};
  }
  return out;
}

std::optional<std::int64_t> ResultsStore::trial_run(std::int64_t sweep_id, const std::string& trial_key,
                                                    const std::string& host, std::int64_t pid) const {
  const auto rows = db_->query("SELECT max(id) FROM runs WHERE sweep_id = ? AND trial_key = ? AND host = ? AND pid = ?",
                               {sweep_id, trial_key, host, pid});
  if (rows.empty() || rows.is_null(0, 0)) return std::nullopt;
  return rows.integer(0, 0);
}

std::vector<SweepTrialSummary> ResultsStore::sweep_summary(std::int64_t sweep_id) const {
  const auto rows =
      db_->query(R"sql(
    SELECT id, trial_key, status, best_test_accuracy, best_epoch, )sql" +
                     seconds_between(db_->dialect(), "started_at", "coalesce(ended_at, heartbeat_at, started_at)") +
                     R"sql(, coalesce(error, ''), coalesce(select_on, 'test'),
           coalesce(best_selection_accuracy, best_test_accuracy), startup_seconds,
           wall_seconds - (SELECT sum(epoch_seconds) FROM epochs WHERE run_id = r.id),
           (SELECT count(*) FROM epochs WHERE run_id = r.id), coalesce(stop_reason, ''), peak_memory_mib
    FROM runs r WHERE sweep_id = ? AND id = (
      SELECT max(id) FROM runs WHERE sweep_id = r.sweep_id AND trial_key = r.trial_key)
    ORDER BY coalesce(best_selection_accuracy, best_test_accuracy) IS NULL,
             coalesce(best_selection_accuracy, best_test_accuracy) DESC, id)sql",
                 {sweep_id});
  std::vector<SweepTrialSummary> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    SweepTrialSummary s;
    s.run_id = rows.integer(i, 0);
    s.trial_key = rows.text(i, 1);
    s.status = stored_status(rows.text(i, 2), s.run_id);
    if (!rows.is_null(i, 3)) s.best_test_accuracy = rows.real(i, 3);
    if (!rows.is_null(i, 4)) s.best_epoch = rows.integer(i, 4);
    s.seconds = rows.real(i, 5);
    s.error = rows.text(i, 6);
    s.select_on = rows.text(i, 7);
    if (!rows.is_null(i, 8)) s.best_selection_accuracy = rows.real(i, 8);
    if (!rows.is_null(i, 9)) s.startup_seconds = rows.real(i, 9);
    if (!rows.is_null(i, 10)) s.outside_epochs_seconds = rows.real(i, 10);
    s.epochs = rows.integer(i, 11);
    s.stop_reason = rows.text(i, 12);
    if (!rows.is_null(i, 13)) s.peak_memory_mib = rows.real(i, 13);
    out.push_back(s);
  }
  return out;
}

std::vector<double> ResultsStore::sweep_accuracies_at(std::int64_t sweep_id, std::int64_t epoch,
                                                      const std::string& trial_key) const {
  // Each run is ranked on its own split (select_on), as the sweep's leaderboard ranks it.
  const auto rows = db_->query("SELECT " + store_sql::selection_accuracy("r", "e") + R"sql(
    FROM runs r JOIN epochs e ON e.run_id = r.id AND e.epoch = ?
    WHERE r.sweep_id = ? AND r.trial_key <> ? AND r.id = (
      SELECT max(id) FROM runs WHERE sweep_id = r.sweep_id AND trial_key = r.trial_key))sql",
                               {epoch, sweep_id, trial_key});
  std::vector<double> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!rows.is_null(i, 0)) out.push_back(rows.real(i, 0));
  }
  return out;
}

std::pair<std::int64_t, std::int64_t> ResultsStore::sweep_epochs_spent(std::int64_t sweep_id) const {
  const auto rows = db_->query(R"sql(
    SELECT CAST(coalesce(sum((SELECT count(*) FROM epochs WHERE run_id = r.id)), 0) AS BIGINT),
           CAST(coalesce(sum((SELECT c.number FROM run_config c WHERE c.run_id = r.id AND c.key = 'train.epochs')), 0)
                AS BIGINT)
    FROM runs r WHERE sweep_id = ? AND id = (
      SELECT max(id) FROM runs WHERE sweep_id = r.sweep_id AND trial_key = r.trial_key))sql",
                               {sweep_id});
  return {rows.integer(0, 0), rows.integer(0, 1)};
}

std::vector<SweepTrialRecord> ResultsStore::sweep_trial_history(std::int64_t sweep_id) const {
  const auto rows = db_->query(R"sql(
    SELECT r.id, r.trial_key, r.status, coalesce(r.best_selection_accuracy, r.best_test_accuracy),
           (SELECT )sql" + store_sql::selection_accuracy("r", "e") +
                                   R"sql(
            FROM epochs e WHERE e.run_id = r.id ORDER BY e.epoch DESC LIMIT 1),
           (SELECT count(*) FROM epochs e WHERE e.run_id = r.id)
    FROM runs r WHERE r.sweep_id = ? AND r.id = (
      SELECT max(id) FROM runs WHERE sweep_id = r.sweep_id AND trial_key = r.trial_key)
    ORDER BY (SELECT min(id) FROM runs WHERE sweep_id = r.sweep_id AND trial_key = r.trial_key))sql",
                               {sweep_id});
  std::vector<SweepTrialRecord> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    SweepTrialRecord t;
    t.trial_key = rows.text(i, 1);
    t.status = stored_status(rows.text(i, 2), rows.integer(i, 0));
    if (!rows.is_null(i, 3)) t.best_selection_accuracy = rows.real(i, 3);
    if (!rows.is_null(i, 4)) t.last_selection_accuracy = rows.real(i, 4);
    t.epochs = rows.integer(i, 5);
    const auto overrides =
        db_->query("SELECT key, value FROM run_overrides WHERE run_id = ? ORDER BY key", {rows.integer(i, 0)});
    for (std::size_t j = 0; j < overrides.size(); ++j)
      t.overrides.emplace_back(overrides.text(j, 0), overrides.text(j, 1));
    out.push_back(std::move(t));
  }
  return out;
}

std::string ResultsStore::sweep_spec_yaml(std::int64_t sweep_id) const {
  const auto rows = db_->query("SELECT spec_yaml FROM sweeps WHERE id = ?", {sweep_id});
  return rows.empty() ? "" : rows.text(0, 0);
}

}  // namespace trainyard
