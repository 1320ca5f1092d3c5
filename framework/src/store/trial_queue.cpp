// The workers' queue of a sweep's trials: offered, claimed under a lease on the database's clock,
// renewed, handed back or completed, exactly once each.
#include "trainyard/store/results_store.h"

#include <algorithm>

#include "store_sql.h"

namespace trainyard {

using namespace store_sql;  // the store's shared SQL helpers

void ResultsStore::enqueue_trials(std::int64_t sweep_id, const std::vector<std::string>& keys,
                                  const std::vector<std::string>& finished) {
  SqlWriteTransaction transaction(*db_);
  for (const auto& key : keys) {
    const bool done = std::find(finished.begin(), finished.end(), key) != finished.end();
    db_->query(R"sql(
      INSERT INTO trials (sweep_id, trial_key, status) VALUES (?, ?, ?)
      ON CONFLICT (sweep_id, trial_key) DO NOTHING)sql",
               {sweep_id, key, std::string(done ? "finished" : "pending")});
  }
  transaction.commit();
}

std::vector<std::string> ResultsStore::queued_trial_keys(std::int64_t sweep_id) const {
  const auto rows = db_->query("SELECT trial_key FROM trials WHERE sweep_id = ? ORDER BY id", {sweep_id});
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < rows.size(); ++i) keys.push_back(rows.text(i, 0));
  return keys;
}

bool ResultsStore::enqueue_trial_as(std::int64_t sweep_id, const std::string& key, std::int64_t number) {
  SqlWriteTransaction transaction(*db_);
  // SQLite's write transaction holds the file's one write lock from its start; PostgreSQL's
  // workers are made to take turns on the sweep's row, so the count below is the one inserted to.
  if (db_->dialect() == SqlDialect::kPostgres) db_->query("SELECT id FROM sweeps WHERE id = ? FOR UPDATE", {sweep_id});
  const auto queued = db_->query("SELECT count(*) FROM trials WHERE sweep_id = ?", {sweep_id}).integer(0, 0);
  if (queued != number) return false;  // another worker queued trial `number` first
  db_->query(R"sql(
    INSERT INTO trials (sweep_id, trial_key, status) VALUES (?, ?, 'pending')
    ON CONFLICT (sweep_id, trial_key) DO NOTHING)sql",
             {sweep_id, key});
  transaction.commit();
  return true;
}

std::optional<ClaimedTrial> ResultsStore::claim_trial(std::int64_t sweep_id, const std::string& worker,
                                                      double lease_seconds, int max_attempts) {
  const std::string now = now_seconds(db_->dialect());
  SqlWriteTransaction transaction(*db_);
  // Trials whose workers died too often are failed, not handed on forever.
  db_->query(
      "UPDATE trials SET status = 'failed', ended_at = ?, error = ? WHERE sweep_id = ? AND status = 'claimed' "
      "AND lease_until < " +
          now + " AND attempts >= ?",
      {utc_timestamp(),
       "its worker stopped renewing the lease " + std::to_string(max_attempts) + " times (" +
           "each time the worker died or lost the database)",
       sweep_id, std::int64_t{max_attempts}});
  // PostgreSQL: rows another worker is claiming at this moment are skipped, not waited for.
  const std::string lock = db_->dialect() == SqlDialect::kPostgres ? " FOR UPDATE SKIP LOCKED" : "";
  const auto claimed = db_->query(
      "UPDATE trials SET status = 'claimed', worker = ?, attempts = attempts + 1, claimed_at = ?, "
      "lease_until = " +
          now +
          " + ? WHERE id = (SELECT id FROM trials WHERE sweep_id = ? AND "
          "(status = 'pending' OR (status = 'claimed' AND lease_until < " +
          now + ")) ORDER BY id LIMIT 1" + lock + ") RETURNING id, trial_key, attempts",
      {worker, utc_timestamp(), lease_seconds, sweep_id});
  if (claimed.empty()) {
    transaction.commit();
    return std::nullopt;
  }
  ClaimedTrial trial{claimed.integer(0, 0), claimed.text(0, 1), claimed.integer(0, 2)};
  if (trial.attempt > 1) {
    // The run of the worker that lost this trial cannot say so itself.
    db_->query(
        "UPDATE runs SET status = 'failed', ended_at = coalesce(heartbeat_at, started_at), error = ? "
        "WHERE sweep_id = ? AND trial_key = ? AND status = 'running'",
        {std::string("its worker stopped renewing the trial's lease (it died or lost the database); "
                     "the trial was handed to worker ") +
             worker,
         sweep_id, trial.trial_key});
  }
  transaction.commit();
  return trial;
}

bool ResultsStore::holds_trial(const TrialLease& lease) const {
  // PostgreSQL: the row is share-locked to the end of the caller's transaction, so a claim made
  // meanwhile (FOR UPDATE SKIP LOCKED) passes it by rather than taking it under a write.
  const std::string lock = db_->dialect() == SqlDialect::kPostgres ? " FOR SHARE" : "";
  return !db_->query("SELECT 1 FROM trials WHERE id = ? AND worker = ? AND attempts = ? AND status = 'claimed'" + lock,
                     {lease.trial_id, lease.worker, lease.attempt})
              .empty();
}

bool ResultsStore::renew_trial_lease(std::int64_t trial_id, const std::string& worker, double lease_seconds) {
  const auto rows = db_->query_idempotent("UPDATE trials SET lease_until = " + now_seconds(db_->dialect()) +
                                              " + ? WHERE id = ? AND worker = ? AND status = 'claimed' RETURNING id",
                                          {lease_seconds, trial_id, worker});
  return !rows.empty();
}

bool ResultsStore::release_trial(std::int64_t trial_id, const std::string& worker) {
  return !db_->query(
                 "UPDATE trials SET status = 'pending', worker = NULL, lease_until = NULL "
                 "WHERE id = ? AND worker = ? AND status = 'claimed' RETURNING id",
                 {trial_id, worker})
              .empty();
}

bool ResultsStore::complete_trial(std::int64_t trial_id, const std::string& worker, bool finished,
                                  std::optional<std::int64_t> run_id, const std::string& error) {
  // Idempotent, so that it may run again on a new connection: the same completion by the same
  // worker, already written (its answer lost with the connection), matches again and says so.
  // Before, the retry found the trial no longer 'claimed', and the worker took its finished trial
  // for lost.
  const std::string status = finished ? "finished" : "failed";
  const SqlValue run = run_id ? SqlValue{*run_id} : SqlValue{};
  const auto rows = db_->query_idempotent(
      "UPDATE trials SET ended_at = CASE WHEN status = 'claimed' THEN ? ELSE ended_at END, status = ?, "
      "run_id = ?, error = ? "
      "WHERE id = ? AND worker = ? AND (status = 'claimed' OR (status = ? AND run_id IS NOT DISTINCT FROM ?)) "
      "RETURNING id",
      {utc_timestamp(), status, run, text_or_null(error), trial_id, worker, status, run});
  return !rows.empty();
}

TrialCounts ResultsStore::trial_counts(std::int64_t sweep_id) const {
  const auto rows = db_->query("SELECT status, count(*) FROM trials WHERE sweep_id = ? GROUP BY status", {sweep_id});
  TrialCounts counts;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto status = rows.text(i, 0);
    const auto n = rows.integer(i, 1);
    if (status == "pending")
      counts.pending = n;
    else if (status == "claimed")
      counts.claimed = n;
    else if (status == "finished")
      counts.finished = n;
    else
      counts.failed = n;
  }
  return counts;
}

}  // namespace trainyard
