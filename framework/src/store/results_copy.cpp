#include "trainyard/store/results_copy.h"

#include <filesystem>

#include "store_sql.h"
#include "trainyard/errors.h"
#include "trainyard/store/postgres_connection.h"
#include "trainyard/store/results_store.h"

namespace trainyard {
namespace {

// Parents before children, so every foreign key finds its row.
const char* const kTables[] = {"sweeps",     "runs",   "epochs",      "run_overrides",
                               "run_config", "trials", "evaluations", "evaluation_classes"};

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

// Refuses a destination that holds runs or sweeps before anything opens it for writing: opening
// a ResultsStore migrates an older Trainyard database, which must not happen to one refused.
void refuse_a_destination_in_use(const std::string& destination) {
  std::error_code ec;
  if (!is_postgres_url(destination) && !std::filesystem::exists(destination, ec)) return;       // a new file
  if (!is_postgres_url(destination) && std::filesystem::is_directory(destination, ec)) return;  // the store says
  const auto db = is_postgres_url(destination) ? open_postgres_database(destination)
                                               : open_sqlite_database(destination, /*read_only=*/true);
  if (!ResultsStore::identity(*db).trainyard) return;  // new, or foreign: the store refuses that untouched
  std::int64_t runs = 0, sweeps = 0;
  if (has_table(*db, "runs")) runs = db->query("SELECT count(*) FROM runs").integer(0, 0);
  if (has_table(*db, "sweeps")) sweeps = db->query("SELECT count(*) FROM sweeps").integer(0, 0);
  if (runs + sweeps > 0) {
    throw InputError("copy: '" + redact_location(destination) + "' already holds " + std::to_string(runs) +
                     " runs and " + std::to_string(sweeps) +
                     " sweeps; copy into a new file or an empty database (ids are kept, so they would collide)");
  }
}

}  // namespace

CopyCounts copy_results(const ResultsReader& source, const std::string& destination) {
  SqlDatabase& from = source.database();
  refuse_a_destination_in_use(destination);
  ResultsStore store(destination);
  SqlDatabase& to = store.database();
  CopyCounts counts;
  SqlWriteTransaction transaction(to);
  for (const std::string table : kTables) {
    if (!has_table(from, table)) continue;
    const auto rows = from.query("SELECT * FROM " + table);
    std::string insert = "INSERT INTO " + table + " (";
    std::string values;
    for (std::size_t c = 0; c < rows.columns.size(); ++c) {
      // The names come from the source file, which may be anyone's: quoted, not spliced in.
      insert += (c ? ", " : "") + store_sql::quote_identifier(rows.columns[c]);
      values += c ? ", ?" : "?";
    }
    insert += ") VALUES (" + values + ")";
    for (const auto& row : rows.rows) to.query(insert, row);
    counts.emplace_back(table, static_cast<std::int64_t>(rows.size()));
  }
  if (to.dialect() == SqlDialect::kPostgres) {
    // Ids were copied as they were: the identity sequences go on after the largest.
    for (const char* table : {"sweeps", "runs", "trials", "evaluations"}) {
      to.query(std::string("SELECT setval(pg_get_serial_sequence('") + table + "', 'id'), max(id)) FROM " + table +
               " HAVING max(id) IS NOT NULL");
    }
  }
  transaction.commit();
  return counts;
}

}  // namespace trainyard
