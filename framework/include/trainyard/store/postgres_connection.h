// A connection to a PostgreSQL server through libpq (Debian's libpq-dev): statements with bound
// text parameters, results read as text, errors with the server's SQLSTATE and message, and
// reconnect() for a lost connection. SqlDatabase's PostgreSQL engine (sql_database.h) is built on
// it and decides when to reconnect; `output.db: postgresql://user@host:port/dbname` selects it.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct pg_conn;
struct pg_result;

namespace trainyard {

/// `postgresql://` or `postgres://` (a libpq URI): what selects the PostgreSQL store.
bool is_postgres_url(const std::string& text);

/// The connection string with any password replaced by "***", for messages and logs.
std::string redact_postgres_url(const std::string& url);

/// A results database's location for messages: a PostgreSQL URL redacted, a file path as it is.
std::string redact_location(const std::string& location);

/// `url` without its password (user:PASSWORD@ in the authority, or a password= parameter); the
/// password, percent-decoded as libpq decodes it, goes to `password` when given. A URL without
/// one, or a file path, comes back as it is.
std::string without_postgres_password(const std::string& url, std::string* password = nullptr);

/// A password in `location` (a PostgreSQL URL) is never stored, logged or put on a command line:
/// this takes it out of the URL into this process's PGPASSWORD, which libpq reads and the
/// processes this one starts inherit, and returns the URL without it. Anything else comes back as
/// it is. (~/.pgpass or PGPASSWORD set by the user is the documented way; this catches the rest.)
std::string move_postgres_password_to_environment(const std::string& location);

/// The same for a process's own command line, before it is parsed: every argument holding a
/// PostgreSQL URL ("--db=postgresql://u:pw@h/db", "output.db=postgresql://...") loses its password,
/// in place, so neither this process's /proc/PID/cmdline (what `ps` shows) nor the command lines it
/// builds for its children carry it.
void move_postgres_passwords_out_of_arguments(int argc, char** argv);

class PostgresResult {
 public:
  explicit PostgresResult(pg_result* result);
  ~PostgresResult();
  PostgresResult(PostgresResult&& other) noexcept;
  PostgresResult& operator=(PostgresResult&& other) noexcept;

  int rows() const;
  int columns() const;
  std::string column_name(int column) const;
  /// The column's type OID (20 int8, 23 int4, 701 float8, 25 text, ...: pg_type).
  unsigned column_type(int column) const;
  bool is_null(int row, int column) const;
  /// The value as PostgreSQL writes it in text form; nullopt for NULL.
  std::optional<std::string> text(int row, int column) const;
  /// Rows changed by an INSERT, UPDATE or DELETE.
  long affected_rows() const;

 private:
  pg_result* result_;
};

/// Thrown for a statement the server refused; `sqlstate` tells conflicts (40001, 40P01) and
/// unique violations (23505) from the rest.
class PostgresError : public std::runtime_error {
 public:
  PostgresError(const std::string& message, std::string sqlstate)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
  ~PostgresError() override;
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

class PostgresConnection {
 public:
  /// Connects; throws StoreError naming the (redacted) URL and libpq's reason.
  explicit PostgresConnection(const std::string& url);
  ~PostgresConnection();
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  /// Runs one statement with $1, $2, ... bound to `parameters` (nullopt: NULL). Throws
  /// PostgresError with the statement's first line, SQLSTATE and the server's message.
  PostgresResult exec(const std::string& sql, const std::vector<std::optional<std::string>>& parameters = {});
  /// Runs several statements separated by semicolons, without parameters (schema scripts).
  void exec_script(const std::string& sql);

  const std::string& url() const { return url_; }  // redacted

  /// Whether the connection broke (the server restarted, the network dropped it).
  bool lost() const;
  /// Connects again with the same parameters; throws StoreError when the server is still away.
  void reconnect();

 private:
  pg_conn* connection_ = nullptr;
  std::string url_;
};

}  // namespace trainyard
