#include "trainyard/store/results_copy.h"

#include "trainyard/errors.h"
#include "trainyard/store/results_store.h"

namespace trainyard {
namespace {

// Parents before children, so every foreign key finds its row.
const char* const kTables[] = {"sweeps", "runs", "epochs", "run_overrides", "run_config", "trials"};

bool has_table(SqlDatabase& db, const std::string& table) {
  if (db.dialect() == SqlDialect::kPostgres) {
    return db.query("SELECT to_regclass(?) IS NOT NULL", {table}).integer(0, 0) != 0;
  }
  // sqlite_temp_master too: the reader gives files from before schema 4 a temporary run_config.
  return db.query(
               "SELECT count(*) FROM (SELECT name FROM sqlite_master UNION ALL "
               "SELECT name FROM sqlite_temp_master) WHERE name = ?",
               {table})
             .integer(0, 0) != 0;
}

}  // namespace

CopyCounts copy_results(const ResultsReader& source, const std::string& destination) {
  SqlDatabase& from = source.database();
  ResultsStore store(destination);
  SqlDatabase& to = store.database();
  const auto existing = to.query("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM sweeps)");
  if (existing.integer(0, 0) + existing.integer(0, 1) > 0) {
    throw InputError("copy: '" + store.path() + "' already holds " + std::to_string(existing.integer(0, 0)) +
                     " runs and " + std::to_string(existing.integer(0, 1)) +
                     " sweeps; copy into a new file or an empty database (ids are kept, so they would collide)");
  }
  CopyCounts counts;
  SqlWriteTransaction transaction(to);
  for (const std::string table : kTables) {
    if (!has_table(from, table)) continue;
    const auto rows = from.query("SELECT * FROM " + table);
    std::string insert = "INSERT INTO " + table + " (";
    std::string values;
    for (std::size_t c = 0; c < rows.columns.size(); ++c) {
      insert += (c ? ", " : "") + rows.columns[c];
      values += c ? ", ?" : "?";
    }
    insert += ") VALUES (" + values + ")";
    for (const auto& row : rows.rows) to.query(insert, row);
    counts.emplace_back(table, static_cast<std::int64_t>(rows.size()));
  }
  if (to.dialect() == SqlDialect::kPostgres) {
    // Ids were copied as they were: the identity sequences go on after the largest.
    for (const char* table : {"sweeps", "runs", "trials"}) {
      to.query(std::string("SELECT setval(pg_get_serial_sequence('") + table + "', 'id'), max(id)) FROM " + table +
               " HAVING max(id) IS NOT NULL");
    }
  }
  transaction.commit();
  return counts;
}

}  // namespace trainyard
