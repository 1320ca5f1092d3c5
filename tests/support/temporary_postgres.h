// A real PostgreSQL server for tests: Debian's `postgresql` binaries, a fresh cluster in a
// temporary folder, listening on 127.0.0.1 at a free port, stopped and removed at destruction.
#pragma once

#include <filesystem>
#include <string>

namespace trainyard::testing {

class TemporaryPostgres {
 public:
  /// Starts the server (about half a second); throws std::runtime_error with initdb's or the
  /// server's log when it cannot.
  TemporaryPostgres();
  ~TemporaryPostgres();
  TemporaryPostgres(const TemporaryPostgres&) = delete;
  TemporaryPostgres& operator=(const TemporaryPostgres&) = delete;

  /// postgresql://trainyard@127.0.0.1:PORT/DBNAME (trust authentication, no password).
  std::string url(const std::string& database = "postgres") const;
  /// Creates an empty database and returns its URL: one per test keeps tests apart.
  std::string create_database(const std::string& name) const;
  int port() const { return port_; }
  /// Stops the server (ending every connection) and starts it again on the same port.
  void restart() const;

 private:
  std::string run_as_owner(const std::string& command) const;
  void pg_ctl(const std::string& action) const;
  std::filesystem::path folder_;
  std::filesystem::path bin_;
  int port_ = 0;
};

/// One server for this test process, started on first use and stopped at exit. When it cannot
/// start, every call throws the reason, so a test that needs it fails (a skip would pass in CTest).
const TemporaryPostgres& shared_postgres();

/// A fresh database on the shared server, named after the running test; its URL.
std::string database_for_this_test();

}  // namespace trainyard::testing
