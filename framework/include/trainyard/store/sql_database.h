// One interface over the results store's two engines: SQLite (embedded, the default) and
// PostgreSQL (a server that many machines share). Statements are written once with `?`
// placeholders (PostgreSQL's side numbers them $1, $2, ...) and SQL both engines accept
// (RETURNING, ON CONFLICT ... DO UPDATE, window functions); what still differs is asked of
// dialect(). Values cross as integers, reals, text or NULL.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace trainyard {

using SqlValue = std::variant<std::monostate, std::int64_t, double, std::string>;

enum class SqlDialect { kSqlite, kPostgres };

/// The rows a statement returned, with their column names.
struct SqlRows {
  std::vector<std::string> columns;
  std::vector<std::vector<SqlValue>> rows;

  std::size_t size() const { return rows.size(); }
  bool empty() const { return rows.empty(); }
  bool is_null(std::size_t row, std::size_t column) const;
  /// The value as an integer, a real or text; throws std::logic_error naming the column when it
  /// is NULL or of another kind (an integer reads as a real too).
  std::int64_t integer(std::size_t row, std::size_t column) const;
  double real(std::size_t row, std::size_t column) const;
  std::string text(std::size_t row, std::size_t column) const;
  /// The index of a named column; throws std::logic_error listing the columns.
  std::size_t column(const std::string& name) const;
};

class SqlDatabase {
 public:
  virtual ~SqlDatabase();
  virtual SqlDialect dialect() const = 0;
  /// The file, or the server URL with its password hidden: for messages.
  virtual std::string describe() const = 0;
  /// Runs one statement with its `?` bound in order; returns its rows (none for most writes).
  /// Throws StoreError naming the database and the statement's first line.
  /// A PostgreSQL connection lost under a read (SELECT) is reconnected and the read run again; a
  /// write outside a transaction is not: the loss may have taken the statement or only its answer
  /// (a committed completion run twice then failed), so it throws and the next statement reconnects.
  virtual SqlRows query(const std::string& sql, const std::vector<SqlValue>& parameters = {}) = 0;
  /// A write whose second run changes nothing (it sets fixed values, or says "already done"):
  /// retried on a new connection as a read is.
  virtual SqlRows query_idempotent(const std::string& sql, const std::vector<SqlValue>& parameters = {}) {
    return query(sql, parameters);
  }
  /// Runs statements separated by semicolons, without parameters (a schema script).
  virtual void execute_script(const std::string& sql) = 0;
  /// A write transaction: SQLite takes its write lock at once (BEGIN IMMEDIATE), so two writers
  /// queue rather than deadlock on an upgrade; PostgreSQL locks rows as they are written.
  virtual void begin_write() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
};

/// begin_write() now; rollback() at destruction unless commit() was called.
class SqlWriteTransaction {
 public:
  explicit SqlWriteTransaction(SqlDatabase& database);
  ~SqlWriteTransaction();
  SqlWriteTransaction(const SqlWriteTransaction&) = delete;
  SqlWriteTransaction& operator=(const SqlWriteTransaction&) = delete;
  void commit();

 private:
  SqlDatabase& database_;
  bool done_ = false;
};

/// A statement's first line, to name it in messages.
std::string statement_head(const std::string& sql);

/// `?` placeholders numbered $1, $2, ... in order, leaving string literals, quoted names and
/// comments alone.
std::string number_placeholders(const std::string& sql);

/// A SQLite file (created when missing unless read-only), waiting up to 10 s for a lock.
std::unique_ptr<SqlDatabase> open_sqlite_database(const std::string& path, bool read_only = false);
/// A PostgreSQL database by libpq URL (postgresql://user@host:port/dbname).
std::unique_ptr<SqlDatabase> open_postgres_database(const std::string& url);

}  // namespace trainyard
