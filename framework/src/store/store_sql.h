// What the store's files share (private to store/): SQL that differs between the engines, and
// small conversions between rows and records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "trainyard/store/sql_database.h"
#include "trainyard/train/run_record.h"

namespace trainyard::store_sql {

/// The database's clock in seconds since 1970, for leases that several machines compare.
std::string now_seconds(SqlDialect dialect);
/// Seconds from ISO 8601 text `from` to `to` (both columns or expressions).
std::string seconds_between(SqlDialect dialect, const std::string& from, const std::string& to);
/// A run's status as the database holds it; throws StoreError for any other text (a database
/// changed by hand: the schema's CHECK admits only the four).
RunStatus stored_status(const std::string& text, std::int64_t run_id);
/// Writes the flattened config of one run into `table` (run_config, or the tool's temporary copy).
void insert_config_rows(SqlDatabase& db, const std::string& table, std::int64_t run_id, const std::string& config_yaml);
/// `name` as an SQL identifier ("a""b"): for names that come from a database or the user.
std::string quote_identifier(const std::string& name);
/// Free text (an error, a log tail) for a column: NULL when empty, else made valid UTF-8, which
/// PostgreSQL requires of every text.
SqlValue text_or_null(const std::string& text);
/// An epoch's selection accuracy, as SQL over the aliases of its run's row (runs or run_summary)
/// and its epoch's: the validation accuracy where the run chose on a validation split, else the
/// test accuracy.
std::string selection_accuracy(const std::string& run, const std::string& epoch);
/// A figure that may be absent (an epoch's validation accuracy): NULL when it is.
SqlValue real_or_null(const std::optional<double>& value);

}  // namespace trainyard::store_sql
