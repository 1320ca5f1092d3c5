#include "trainyard/store/sql_database.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "trainyard/errors.h"
#include "trainyard/store/postgres_connection.h"

namespace trainyard {
namespace {

[[noreturn]] void kind_error(const SqlRows& rows, std::size_t column, const char* wanted) {
  const std::string name = column < rows.columns.size() ? rows.columns[column] : std::to_string(column);
  throw std::logic_error("column '" + name + "' is not " + wanted);
}

// ---- SQLite, through SQLiteCpp

class SqliteDatabase : public SqlDatabase {
 public:
  SqliteDatabase(const std::string& path, bool read_only)
      : path_(path), db_(path, read_only ? SQLite::OPEN_READONLY : SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {
    db_.setBusyTimeout(10000);
  }
  SqlDialect dialect() const override { return SqlDialect::kSqlite; }
  std::string describe() const override { return path_; }

  SqlRows query(const std::string& sql, const std::vector<SqlValue>& parameters) override {
    try {
      SQLite::Statement statement(db_, sql);
      for (std::size_t i = 0; i < parameters.size(); ++i) {
        const int index = static_cast<int>(i) + 1;
        std::visit(
            [&](const auto& v) {
              using T = std::decay_t<decltype(v)>;
              if constexpr (std::is_same_v<T, std::monostate>) {
                statement.bind(index);
              } else if constexpr (std::is_same_v<T, std::int64_t>) {
                statement.bind(index, static_cast<int64_t>(v));
              } else {
                statement.bind(index, v);
              }
            },
            parameters[i]);
      }
      SqlRows rows;
      for (int c = 0; c < statement.getColumnCount(); ++c) rows.columns.emplace_back(statement.getColumnName(c));
      while (statement.executeStep()) {
        std::vector<SqlValue> row;
        for (int c = 0; c < statement.getColumnCount(); ++c) {
          const SQLite::Column value = statement.getColumn(c);
          if (value.isInteger()) {
            row.emplace_back(static_cast<std::int64_t>(value.getInt64()));
          } else if (value.isFloat()) {
            row.emplace_back(value.getDouble());
          } else if (value.isNull()) {
            row.emplace_back(std::monostate{});
          } else {
            row.emplace_back(value.getString());
          }
        }
        rows.rows.push_back(std::move(row));
      }
      return rows;
    } catch (const SQLite::Exception& e) {
      throw StoreError("results database '" + path_ + "': '" + statement_head(sql) + "' failed: " + e.what());
    }
  }

  void execute_script(const std::string& sql) override {
    try {
      db_.exec(sql);
    } catch (const SQLite::Exception& e) {
      throw StoreError("results database '" + path_ + "': '" + statement_head(sql) + "' failed: " + e.what());
    }
  }
  void begin_write() override { execute_script("BEGIN IMMEDIATE"); }
  void commit() override { execute_script("COMMIT"); }
  void rollback() override { execute_script("ROLLBACK"); }

 private:
  std::string path_;
  SQLite::Database db_;
};

// ---- PostgreSQL, through libpq

class PostgresDatabase : public SqlDatabase {
 public:
  explicit PostgresDatabase(const std::string& url) : connection_(url) {}
  SqlDialect dialect() const override { return SqlDialect::kPostgres; }
  std::string describe() const override { return connection_.url(); }

  SqlRows query(const std::string& sql, const std::vector<SqlValue>& parameters) override {
    return reconnecting([&] { return run_query(sql, parameters); }, is_read(sql));
  }
  SqlRows query_idempotent(const std::string& sql, const std::vector<SqlValue>& parameters) override {
    return reconnecting([&] { return run_query(sql, parameters); }, true);
  }

  void execute_script(const std::string& sql) override {
    reconnecting(
        [&] {
          try {
            connection_.exec_script(sql);
          } catch (const PostgresError& e) {
            throw StoreError("results database '" + connection_.url() + "': " + e.what());
          }
          return 0;
        },
        true);  // BEGIN, ROLLBACK, schema scripts: inside a transaction never run twice anyway
  }
  void begin_write() override {
    execute_script("BEGIN");
    in_transaction_ = true;
  }
  // Never run again on a new connection: a COMMIT there would "succeed" with nothing to commit.
  void commit() override { end_transaction("COMMIT"); }
  void rollback() override { end_transaction("ROLLBACK"); }

 private:
  // A server restart or a dropped connection is noticed by the first statement after it. Outside
  // a transaction a statement that may run twice (`retry_safe`: a read, an idempotent write) is
  // run once more on a new connection, so a sweep's workers and runs ride out a database restart.
  // Another write's error stands: the server may have committed it before the answer was lost.
  // Inside a transaction the error stands too (what it wrote is gone); the caller's rollback ends
  // it, and the next statement reconnects.
  template <typename Statement>
  std::invoke_result_t<Statement> reconnecting(Statement statement, bool retry_safe) {
    if (!in_transaction_ && connection_.lost()) connection_.reconnect();
    try {
      return statement();
    } catch (const StoreError&) {
      if (in_transaction_ || !connection_.lost() || !retry_safe) throw;
    }
    connection_.reconnect();
    return statement();
  }

  static bool is_read(const std::string& sql) {
    const auto start = sql.find_first_not_of(" \t\n");
    if (start == std::string::npos) return false;
    std::string head = sql.substr(start, 6);
    for (auto& c : head) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return head == "SELECT";
  }

  void end_transaction(const char* sql) {
    try {
      execute_script(sql);  // in_transaction_ is still set: no second try
    } catch (...) {
      in_transaction_ = false;  // ended either way: a failed COMMIT rolls back
      throw;
    }
    in_transaction_ = false;
  }

  SqlRows run_query(const std::string& sql, const std::vector<SqlValue>& parameters) {
    std::vector<std::optional<std::string>> texts;
    for (const auto& p : parameters) {
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
              texts.emplace_back(std::nullopt);
            } else if constexpr (std::is_same_v<T, std::string>) {
              texts.emplace_back(v);
            } else if constexpr (std::is_same_v<T, double>) {
              // SQLite stores a NaN as NULL; PostgreSQL would keep 'NaN', and the two engines would
              // answer differently (a diverged loss sorts first in one, is absent in the other).
              if (std::isnan(v)) {
                texts.emplace_back(std::nullopt);
                return;
              }
              char buffer[32];
              std::snprintf(buffer, sizeof buffer, "%.17g", v);  // every double reads back exactly
              texts.emplace_back(std::isinf(v) ? (v > 0 ? "Infinity" : "-Infinity") : buffer);
            } else {
              texts.emplace_back(std::to_string(v));
            }
          },
          p);
    }
    try {
      const auto result = connection_.exec(number_placeholders(sql), texts);
      SqlRows rows;
      for (int c = 0; c < result.columns(); ++c) rows.columns.push_back(result.column_name(c));
      for (int r = 0; r < result.rows(); ++r) {
        std::vector<SqlValue> row;
        for (int c = 0; c < result.columns(); ++c) {
          const auto text = result.text(r, c);
          if (!text) {
            row.emplace_back(std::monostate{});
            continue;
          }
          switch (result.column_type(c)) {
            case 20:
            case 21:
            case 23:  // int8, int2, int4
              row.emplace_back(static_cast<std::int64_t>(std::stoll(*text)));
              break;
            case 700:
            case 701:
            case 1700:  // float4, float8, numeric
              row.emplace_back(std::stod(*text));
              break;
            case 16:  // bool, as SQLite gives it
              row.emplace_back(static_cast<std::int64_t>(*text == "t" ? 1 : 0));
              break;
            default: row.emplace_back(*text);
          }
        }
        rows.rows.push_back(std::move(row));
      }
      return rows;
    } catch (const PostgresError& e) {
      throw StoreError("results database '" + connection_.url() + "': " + e.what());
    }
  }

  PostgresConnection connection_;
  bool in_transaction_ = false;
};

}  // namespace

bool SqlRows::is_null(std::size_t row, std::size_t column) const {
  return std::holds_alternative<std::monostate>(rows.at(row).at(column));
}

std::int64_t SqlRows::integer(std::size_t row, std::size_t column) const {
  const auto& v = rows.at(row).at(column);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  kind_error(*this, column, "an integer");
}

double SqlRows::real(std::size_t row, std::size_t column) const {
  const auto& v = rows.at(row).at(column);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  kind_error(*this, column, "a number");
}

std::string SqlRows::text(std::size_t row, std::size_t column) const {
  const auto& v = rows.at(row).at(column);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  kind_error(*this, column, "text");
}

std::size_t SqlRows::column(const std::string& name) const {
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (columns[c] == name) return c;
  }
  std::string known;
  for (const auto& c : columns) known += (known.empty() ? "" : ", ") + c;
  throw std::logic_error("no column '" + name + "' (columns: " + known + ")");
}

SqlDatabase::~SqlDatabase() = default;

SqlWriteTransaction::SqlWriteTransaction(SqlDatabase& database) : database_(database) { database_.begin_write(); }

SqlWriteTransaction::~SqlWriteTransaction() {
  if (done_) return;
  try {
    database_.rollback();
  } catch (...) {
    // The connection is gone or the transaction already ended: nothing was committed either way.
  }
}

void SqlWriteTransaction::commit() {
  database_.commit();
  done_ = true;
}

std::string statement_head(const std::string& sql) {
  const auto start = sql.find_first_not_of(" \n\t");
  if (start == std::string::npos) return "";
  const auto end = sql.find('\n', start);
  return sql.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string number_placeholders(const std::string& sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int next = 1;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {  // a literal or a quoted name, '' and "" escapes included
      const std::size_t end = sql.find(c, i + 1);
      const std::size_t stop = end == std::string::npos ? sql.size() : end + 1;
      out.append(sql, i, stop - i);
      i = stop - 1;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {  // a comment to the line's end
      const std::size_t end = sql.find('\n', i);
      const std::size_t stop = end == std::string::npos ? sql.size() : end;
      out.append(sql, i, stop - i);
      i = stop - 1;
    } else if (c == '?') {
      out += "$" + std::to_string(next++);
    } else {
      out += c;
    }
  }
  return out;
}

std::unique_ptr<SqlDatabase> open_sqlite_database(const std::string& path, bool read_only) {
  try {
    return std::make_unique<SqliteDatabase>(path, read_only);
  } catch (const SQLite::Exception& e) {
    throw StoreError("Cannot open results database '" + path + "': " + e.what());
  }
}

std::unique_ptr<SqlDatabase> open_postgres_database(const std::string& url) {
  return std::make_unique<PostgresDatabase>(url);
}

}  // namespace trainyard
