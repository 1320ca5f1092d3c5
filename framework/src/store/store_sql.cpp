#include "store_sql.h"

#include "trainyard/config/config_rows.h"
#include "trainyard/errors.h"
#include "trainyard/suggest.h"
#include "trainyard/system/utf8.h"

namespace trainyard::store_sql {

std::string now_seconds(SqlDialect dialect) {
  return dialect == SqlDialect::kSqlite ? "((julianday('now') - 2440587.5) * 86400.0)"
                                        : "extract(epoch from clock_timestamp())::double precision";
}

std::string seconds_between(SqlDialect dialect, const std::string& from, const std::string& to) {
  return dialect == SqlDialect::kSqlite
             ? "((julianday(" + to + ") - julianday(" + from + ")) * 86400)"
             : "extract(epoch from ((" + to + ")::timestamptz - (" + from + ")::timestamptz))::double precision";
}

RunStatus stored_status(const std::string& text, std::int64_t run_id) {
  if (const auto status = parse_run_status(text)) return *status;
  throw StoreError("run " + std::to_string(run_id) + " has status '" + text +
                   "', which this Trainyard does not know (it writes " + join_names(run_status_names()) + ")");
}

void insert_config_rows(SqlDatabase& db, const std::string& table, std::int64_t run_id,
                        const std::string& config_yaml) {
  const std::string sql = "INSERT INTO " + table + " (run_id, key, value, number) VALUES (?, ?, ?, ?) " +
                          "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, number = excluded.number";
  for (const auto& row : flatten_config_yaml(config_yaml)) {
    db.query(sql, {run_id, row.key, row.value, row.number ? SqlValue{*row.number} : SqlValue{}});
  }
}

std::string quote_identifier(const std::string& name) {
  std::string quoted = "\"";
  for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

SqlValue text_or_null(const std::string& text) { return text.empty() ? SqlValue{} : SqlValue{valid_utf8(text)}; }

SqlValue real_or_null(const std::optional<double>& value) { return value ? SqlValue{*value} : SqlValue{}; }

std::string selection_accuracy(const std::string& run, const std::string& epoch) {
  return "CASE WHEN " + run + ".select_on = 'val' THEN " + epoch + ".val_accuracy ELSE " + epoch + ".test_accuracy END";
}

}  // namespace trainyard::store_sql
