#include "trainyard/store/results_reader.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "trainyard/config/config_rows.h"
#include "trainyard/errors.h"
#include "trainyard/store/postgres_connection.h"
#include "trainyard/store/results_store.h"
#include "trainyard/suggest.h"

#include "store_sql.h"

namespace fs = std::filesystem;

namespace trainyard {
namespace {

// The run_summary columns `runs` shows by default, in order.
const std::vector<std::string> kDefaultRunColumns = {
    "run_id",     "experiment",          "status",          "started_at", "epochs",   "best_test_accuracy",
    "best_epoch", "final_test_accuracy", "final_test_loss", "select_on",  "trial_key"};

// Columns of run_summary that are not metrics but can still be sorted and filtered on.
const std::vector<std::string> kRunColumns = {"run_id",    "experiment", "status",    "sweep_id",
                                              "trial_key", "seed",       "precision", "device",
                                              "host",      "started_at", "ended_at",  "select_on"};

// A string as an SQL literal ('it''s'), for the one place a value is part of an ORDER BY.
std::string sql_literal(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  return quoted + "'";
}

std::string id_list(const std::vector<std::int64_t>& ids) {
  std::string list;
  for (auto id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
  return list;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

ConfigCondition parse_condition(const std::string& text) {
  // The leftmost operator splits (a value may itself hold "=" or "<"); at one position the
  // two-character operator wins, so "a<=1" is not read as "a<" "=1".
  std::size_t at = std::string::npos;
  std::string op;
  for (const char* candidate : {"!=", "<=", ">=", "=", "<", ">"}) {
    const auto found = text.find(candidate);
    if (found == std::string::npos || found == 0 || found >= at) continue;
    at = found;
    op = candidate;
  }
  if (at == std::string::npos) {
    throw InputError("--where '" + text +
                     "': expected KEY=VALUE (or !=, <, <=, >, >=), e.g. "
                     "optimizer.lr=0.001 or train.batch_size>=32");
  }
  ConfigCondition condition{text.substr(0, at), op, text.substr(at + op.size())};
  if (condition.op != "=" && condition.op != "!=" && !parse_number(condition.value)) {
    throw InputError("--where '" + text + "': " + condition.op + " needs a number on its right");
  }
  return condition;
}

ResultsReader::ResultsReader(const std::string& location) : path_(redact_location(location)) {
  const bool sqlite = !is_postgres_url(location);
  std::error_code ec;
  if (sqlite && !fs::exists(location, ec)) {
    throw StoreError("No results database at '" + path_ +
                     "'. Give the file with --db (runs write "
                     "their experiment's output.db, results/trainyard.db by default).");
  }
  if (sqlite && fs::is_directory(location, ec)) {
    throw StoreError("'" + path_ + "' is a folder; --db takes the results database file");
  }
  DatabaseIdentity id;
  try {
    db_ = sqlite ? open_sqlite_database(location, /*read_only=*/true) : open_postgres_database(location);
    id = ResultsStore::identity(*db_);
  } catch (const StoreError& e) {
    if (!sqlite) throw;
    throw StoreError("'" + path_ + "' is not a Trainyard results database (SQLite says: " + e.what() +
                     "); it was not modified");
  }
  if (!id.trainyard) {
    throw StoreError("'" + path_ + "' is not a Trainyard results database (" +
                     (id.empty ? "it is empty"
                      : sqlite ? "it has another application id"
                               : "it holds other tables") +
                     "); it was not modified");
  }
  schema_version_ = static_cast<int>(id.version);
  if (schema_version_ > ResultsStore::kSchemaVersion) {
    throw StoreError("'" + path_ + "' has schema version " + std::to_string(schema_version_) +
                     ", written by a newer Trainyard; this build reads versions up to " +
                     std::to_string(ResultsStore::kSchemaVersion) + ". Use a newer results tool.");
  }
  if (schema_version_ < 3) {  // only SQLite files are that old
    throw StoreError("'" + path_ + "' has schema version " + std::to_string(schema_version_) +
                     ", from an early Trainyard. The results tool never modifies a file: upgrade "
                     "it by running any experiment with output.db set to it.");
  }
  if (schema_version_ < 4) {
    // The config rows of schema 4, in this connection's temporary schema only.
    db_->execute_script(
        "CREATE TEMP TABLE run_config (run_id INTEGER NOT NULL, key TEXT NOT NULL, "
        "value TEXT NOT NULL, number REAL, PRIMARY KEY (run_id, key))");
    ResultsStore::fill_config_rows(*db_, "temp.run_config");
  }
  // This build's views over an older file's tables, as temporary views (they are found before
  // the file's own): the file itself is never changed.
  if (schema_version_ < 8) db_->execute_script(ResultsStore::views_sql(true, db_->dialect(), schema_version_));
}

ResultsReader::~ResultsReader() = default;

const std::vector<std::string>& ResultsReader::metrics() {
  static const std::vector<std::string> names = {"best_selection_accuracy", "best_val_accuracy", "best_val_loss",
                                                 "best_test_accuracy",      "best_test_loss",    "best_epoch",
                                                 "final_test_accuracy",     "final_test_loss",   "final_train_accuracy",
                                                 "final_train_loss",        "min_test_loss",     "epochs",
                                                 "train_images_per_second", "train_seconds"};
  return names;
}

std::vector<std::string> ResultsReader::config_keys() const {
  std::vector<std::string> keys;
  const auto rows = db_->query("SELECT DISTINCT key FROM run_config ORDER BY key");
  for (std::size_t i = 0; i < rows.size(); ++i) keys.push_back(rows.text(i, 0));
  return keys;
}

std::string ResultsReader::sort_expression(const std::string& sort, bool ascending) const {
  std::string expression;
  if (contains(metrics(), sort) || contains(kRunColumns, sort)) {
    expression = "rs." + sort;
  } else {
    const auto keys = config_keys();
    if (!contains(keys, sort)) {
      std::vector<std::string> known = metrics();
      known.insert(known.end(), kRunColumns.begin(), kRunColumns.end());
      const auto nearest = nearest_name(sort, known);
      const auto nearest_key = nearest_name(sort, keys);
      throw InputError("--sort '" + sort + "' is neither a metric nor a config key of these runs" +
                       (nearest       ? "; did you mean '" + *nearest + "'?"
                        : nearest_key ? "; did you mean '" + *nearest_key + "'?"
                                      : "") +
                       " Metrics: " + join_names(metrics()) + ".");
    }
    // Numbers by value (1e-4 < 3e-4), then text; the two engines agree on this order.
    const std::string of_run = " FROM run_config c WHERE c.run_id = rs.run_id AND c.key = " + sql_literal(sort) + ")";
    const std::string number = "(SELECT number" + of_run, text = "(SELECT value" + of_run;
    const std::string direction = ascending ? " ASC" : " DESC";
    return number + " IS NULL, " + number + direction + ", " + text + direction + ", rs.run_id DESC";
  }
  // NULLs (runs without epochs) last either way; ties by newest run.
  return expression + " IS NULL, " + expression + (ascending ? " ASC" : " DESC") + ", rs.run_id DESC";
}

std::vector<std::int64_t> ResultsReader::run_ids(const RunFilter& filter) const {
  const SqlRows table = runs(filter);
  std::vector<std::int64_t> ids;
  for (const auto& row : table.rows) ids.push_back(std::get<std::int64_t>(row[0]));
  return ids;
}

SqlRows ResultsReader::runs(const RunFilter& filter, const std::vector<std::string>& config_columns) const {
  std::vector<std::string> columns = kDefaultRunColumns;
  if ((contains(metrics(), filter.sort) || contains(kRunColumns, filter.sort)) && !contains(columns, filter.sort)) {
    columns.insert(columns.end() - 1, filter.sort);
  }
  const auto keys = config_keys();
  auto require_key = [&](const std::string& key, const std::string& option) {
    if (contains(keys, key)) return;
    const auto nearest = nearest_name(key, keys);
    throw InputError(option + " '" + key + "': no run in '" + path_ + "' has this config key" +
                     (nearest ? "; did you mean '" + *nearest + "'?" : ""));
  };

  std::vector<std::string> shown_keys = config_columns;  // a config key sorted by is shown too
  if (!contains(columns, filter.sort) && !contains(kRunColumns, filter.sort) && contains(keys, filter.sort) &&
      !contains(shown_keys, filter.sort)) {
    shown_keys.push_back(filter.sort);
  }
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < columns.size(); ++i) sql += (i ? ", rs." : "rs.") + columns[i];
  for (const auto& key : shown_keys) {
    require_key(key, "--show");
    sql += ", (SELECT value FROM run_config c WHERE c.run_id = rs.run_id AND c.key = ?) AS " +
           store_sql::quote_identifier(key);
  }
  sql += " FROM run_summary rs WHERE 1 = 1";
  std::vector<SqlValue> bindings(shown_keys.begin(), shown_keys.end());
  auto bind_text = [&](const std::string& text) { bindings.emplace_back(text); };

  if (!filter.ids.empty()) sql += " AND rs.run_id IN (" + id_list(filter.ids) + ")";
  if (filter.experiment) {
    sql += " AND rs.experiment = ?";
    bind_text(*filter.experiment);
  }
  if (filter.sweep) sql += " AND rs.sweep_id = " + std::to_string(resolve_sweep(*filter.sweep));
  if (filter.status) {
    static const std::vector<std::string> statuses = run_status_names();
    if (!contains(statuses, *filter.status)) {
      throw InputError("--status '" + *filter.status + "': accepted: " + join_names(statuses));
    }
    sql += " AND rs.status = ?";
    bind_text(*filter.status);
  }
  if (filter.since) {
    sql += " AND substr(rs.started_at, 1, length(CAST(? AS TEXT))) >= ?";
    bind_text(*filter.since);
    bind_text(*filter.since);
  }
  if (filter.until) {
    sql += " AND substr(rs.started_at, 1, length(CAST(? AS TEXT))) <= ?";
    bind_text(*filter.until);
    bind_text(*filter.until);
  }
  for (const auto& condition : filter.where) {
    require_key(condition.key, "--where");
    const auto number = parse_number(condition.value);
    sql += " AND rs.run_id IN (SELECT run_id FROM run_config WHERE key = ? AND " +
           std::string(number ? "number " : "value ") + condition.op + " ?)";
    bind_text(condition.key);
    if (number) {
      bindings.emplace_back(*number);
    } else {
      bind_text(condition.value);
    }
  }
  sql += " ORDER BY " + sort_expression(filter.sort, filter.ascending);
  if (filter.limit) sql += " LIMIT " + std::to_string(std::max<std::int64_t>(0, *filter.limit));
  if (filter.limit && filter.offset > 0) sql += " OFFSET " + std::to_string(filter.offset);

  return db_->query(sql, bindings);
}

SqlRows ResultsReader::sweeps() const {
  return db_->query(R"sql(
    SELECT s.id AS sweep_id, s.name AS sweep, s.experiment_file, s.created_at,
           count(l.run_id) AS trials,
           coalesce(sum(CASE WHEN l.status = 'finished' THEN 1 ELSE 0 END), 0) AS finished,
           coalesce(sum(CASE WHEN l.status = 'pruned' THEN 1 ELSE 0 END), 0) AS pruned,
           coalesce(sum(l.epochs), 0) AS epochs,
           CAST(coalesce(sum((SELECT c.number FROM run_config c WHERE c.run_id = l.run_id AND c.key = 'train.epochs')),
                         0) AS BIGINT) AS epochs_unpruned,
           (SELECT run_id FROM sweep_leaderboard b WHERE b.sweep_id = s.id AND b.rank = 1
            ORDER BY run_id LIMIT 1) AS best_run,
           (SELECT trial_key FROM sweep_leaderboard b WHERE b.sweep_id = s.id AND b.rank = 1
            ORDER BY run_id LIMIT 1) AS best_trial,
           (SELECT select_on FROM sweep_leaderboard b WHERE b.sweep_id = s.id AND b.rank = 1
            ORDER BY run_id LIMIT 1) AS ranked_on,
           max(l.best_selection_accuracy) AS best_selection_accuracy,
           (SELECT best_test_accuracy FROM sweep_leaderboard b WHERE b.sweep_id = s.id AND b.rank = 1
            ORDER BY run_id LIMIT 1) AS best_test_accuracy
    FROM sweeps s LEFT JOIN sweep_leaderboard l ON l.sweep_id = s.id
    GROUP BY s.id ORDER BY s.id)sql");
}

std::int64_t ResultsReader::resolve_sweep(const std::string& id_or_name) const {
  if (const auto number = parse_number(id_or_name)) {
    const auto rows = db_->query("SELECT id FROM sweeps WHERE id = ?", {static_cast<std::int64_t>(*number)});
    if (!rows.empty()) return rows.integer(0, 0);
  }
  const auto by_name = db_->query("SELECT id FROM sweeps WHERE name = ? ORDER BY id DESC", {id_or_name});
  if (!by_name.empty()) return by_name.integer(0, 0);
  std::vector<std::string> known;
  const auto all = db_->query("SELECT id, name FROM sweeps ORDER BY id");
  for (std::size_t i = 0; i < all.size(); ++i)
    known.push_back(all.text(i, 1) + " (" + std::to_string(all.integer(i, 0)) + ")");
  throw InputError("--sweep '" + id_or_name + "': no such sweep in '" + path_ + "'; sweeps: " + join_names(known));
}

void ResultsReader::require_runs(const std::vector<std::int64_t>& ids) const {
  for (const auto id : ids) {
    if (!db_->query("SELECT 1 FROM runs WHERE id = ?", {id}).empty()) continue;
    const auto range = db_->query("SELECT coalesce(min(id) || '..' || max(id), 'none') FROM runs").text(0, 0);
    throw InputError("no run " + std::to_string(id) + " in '" + path_ + "' (run ids there: " + range + ")");
  }
}

std::vector<std::pair<std::string, SqlValue>> ResultsReader::run_fields(std::int64_t id) const {
  require_runs({id});
  const auto row = db_->query(R"sql(
    SELECT r.*, rs.epochs, rs.select_on, rs.best_selection_accuracy, rs.best_val_accuracy, rs.best_val_loss,
           rs.best_test_loss, rs.final_test_accuracy, rs.final_test_loss,
           rs.final_train_accuracy, rs.final_train_loss, rs.train_images_per_second,
           rs.train_seconds, s.name AS sweep
    FROM runs r JOIN run_summary rs ON rs.run_id = r.id LEFT JOIN sweeps s ON s.id = r.sweep_id
    WHERE r.id = ?)sql",
                              {id});
  std::vector<std::pair<std::string, SqlValue>> fields;
  std::set<std::string> named;
  for (std::size_t i = 0; i < row.columns.size(); ++i) {
    if (row.columns[i] == "config_yaml") continue;  // shown as config
    // The summary's select_on and best_selection_accuracy stand in for the columns a file older
    // than schema 8 lacks; in a newer one they repeat the run's own.
    if (!named.insert(row.columns[i]).second) continue;
    fields.emplace_back(row.columns[i], row.rows.at(0)[i]);
  }
  return fields;
}

std::map<std::string, std::string> ResultsReader::config(std::int64_t id) const {
  const auto rows = db_->query("SELECT key, value FROM run_config WHERE run_id = ? ORDER BY key", {id});
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i < rows.size(); ++i) out[rows.text(i, 0)] = rows.text(i, 1);
  return out;
}

std::string ResultsReader::val_columns(const std::string& table) const {
  if (schema_version_ < 8) return "CAST(NULL AS REAL) AS val_loss, CAST(NULL AS REAL) AS val_accuracy";
  return table + ".val_loss, " + table + ".val_accuracy";
}

SqlRows ResultsReader::epochs(std::int64_t id) const {
  return db_->query(
      R"sql(
    SELECT epoch, train_loss, train_accuracy, )sql" +
          val_columns("epochs") + R"sql(, test_loss, test_accuracy, learning_rate,
           epoch_seconds, )sql" +
          std::string(schema_version_ < 11 ? "CAST(NULL AS REAL) AS checkpoint_seconds" : "checkpoint_seconds") +
          R"sql(, train_images_per_second, test_images_per_second, data_wait_fraction,
           finished_at
    FROM epochs WHERE run_id = ? ORDER BY epoch)sql",
      {id});
}

SqlRows ResultsReader::evaluations(std::int64_t id) const {
  if (schema_version_ < 9) return SqlRows{{"evaluation", "data", "checkpoint_epoch", "images", "accuracy", "loss"}, {}};
  return db_->query(R"sql(
    SELECT id AS evaluation, data, checkpoint_epoch, images, accuracy, loss, top5_accuracy, created_at, checkpoint
    FROM evaluations WHERE run_id = ? ORDER BY id)sql",
                    {id});
}

SqlRows ResultsReader::evaluation_classes(std::int64_t evaluation_id) const {
  SqlRows rows;
  if (schema_version_ >= 9) {
    rows = db_->query(R"sql(
      SELECT e.run_id, e.data, e.accuracy, e.checkpoint_epoch, c.class_name, c.predicted,
             c.precision, c.recall, c.f1, c.support
      FROM evaluation_classes c JOIN evaluations e ON e.id = c.evaluation_id
      WHERE c.evaluation_id = ? ORDER BY c.class_index)sql",
                      {evaluation_id});
  }
  if (rows.empty()) {
    throw InputError("no evaluation " + std::to_string(evaluation_id) + " in '" + path_ +
                     "' (results show RUN lists a run's evaluations; runner --evaluate RUN makes one)");
  }
  return rows;
}

SqlRows ResultsReader::sweep_history(const std::string& sweep) const {
  const std::int64_t id = resolve_sweep(sweep);
  // Before schema 8 no run had a validation split: every run chose on test.
  const std::string selection = schema_version_ < 8 ? "e.test_accuracy" : store_sql::selection_accuracy("rs", "e");
  return db_->query(R"sql(
    SELECT e.run_id, rs.trial_key, rs.status, e.epoch, )sql" +
                        selection + R"sql( AS selection_accuracy, e.finished_at
    FROM epochs e JOIN run_summary rs ON rs.run_id = e.run_id
    WHERE rs.sweep_id = ? ORDER BY e.finished_at, e.run_id, e.epoch)sql",
                    {id});
}

SqlRows ResultsReader::export_epochs(const std::vector<std::int64_t>& ids) const {
  std::string sql = R"sql(
    SELECT e.run_id, r.experiment, r.trial_key, e.epoch, e.train_loss, e.train_accuracy, )sql" +
                    val_columns("e") + R"sql(,
           e.test_loss, e.test_accuracy, e.learning_rate, e.epoch_seconds,
           e.train_images_per_second, e.test_images_per_second, e.data_wait_fraction, e.finished_at
    FROM epochs e JOIN runs r ON r.id = e.run_id)sql";
  if (!ids.empty()) sql += " WHERE e.run_id IN (" + id_list(ids) + ")";
  sql += " ORDER BY e.run_id, e.epoch";
  return db_->query(sql);
}

SqlRows ResultsReader::compare(const std::vector<std::int64_t>& ids, bool all_keys) const {
  require_runs(ids);
  SqlRows table;
  table.columns.push_back("key");
  std::vector<std::map<std::string, std::string>> configs;
  std::set<std::string> keys;
  for (const auto id : ids) {
    table.columns.push_back("run " + std::to_string(id));
    configs.push_back(config(id));
    for (const auto& entry : configs.back()) keys.insert(entry.first);
  }
  for (const auto& key : keys) {
    std::vector<SqlValue> row{key};
    std::set<std::string> distinct;
    for (const auto& c : configs) {
      const auto it = c.find(key);
      row.push_back(it == c.end() ? SqlValue{} : SqlValue{it->second});
      distinct.insert(it == c.end() ? std::string("\x01missing") : it->second);
    }
    if (all_keys || distinct.size() > 1) table.rows.push_back(std::move(row));
  }
  const std::vector<std::string> shown = {"status",          "epochs",
                                          "select_on",       "best_val_accuracy",
                                          "best_epoch",      "best_test_accuracy",
                                          "best_test_loss",  "final_test_accuracy",
                                          "final_test_loss", "train_images_per_second",
                                          "train_seconds"};
  const auto summary = db_->query(
      "SELECT run_id, status, epochs, select_on, best_val_accuracy, best_epoch, best_test_accuracy, "
      "best_test_loss, final_test_accuracy, final_test_loss, "
      "train_images_per_second, train_seconds FROM run_summary "
      "WHERE run_id IN (" +
      id_list(ids) + ")");
  std::map<std::int64_t, std::vector<SqlValue>> by_run;
  for (std::size_t r = 0; r < summary.size(); ++r) {
    by_run[summary.integer(r, 0)] = std::vector<SqlValue>(summary.rows[r].begin() + 1, summary.rows[r].end());
  }
  for (std::size_t m = 0; m < shown.size(); ++m) {
    std::vector<SqlValue> row{shown[m]};
    for (const auto id : ids) row.push_back(by_run[id][m]);
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace trainyard
