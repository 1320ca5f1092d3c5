// A real PostgreSQL server for tests: Debian's `postgresql` binaries, a fresh cluster in a
// temporary folder, listening on 127.0.0.1 at a free port, stopped and removed at destruction.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace trainyard::testing {

class TemporaryPostgres {
 public:
  /// Starts the server (about half a second); throws std::runtime_error with initdb's or the
  /// server's log when it cannot.
  TemporaryPostgres();
  /// The server another process started on `port` (CTest's fixture, tests/support/
  /// postgres_fixture.sh), used and left running; nullptr when none answers there.
  static std::unique_ptr<TemporaryPostgres> adopt(int port);
  ~TemporaryPostgres();
  TemporaryPostgres(const TemporaryPostgres&) = delete;
  TemporaryPostgres& operator=(const TemporaryPostgres&) = delete;

  /// postgresql://trainyard@127.0.0.1:PORT/DBNAME (trust authentication, no password).
  std::string url(const std::string& database = "postgres") const;
  /// Creates an empty database (dropping one of that name first) and returns its URL: one per test
  /// keeps tests apart.
  std::string create_database(const std::string& name) const;
  int port() const { return port_; }
  /// Stops the server (ending every connection) and starts it again on the same port.
  void restart() const;

 private:
  std::string run_as_owner(const std::string& command) const;
  void pg_ctl(const std::string& action) const;
  explicit TemporaryPostgres(int adopted_port) : port_(adopted_port), owned_(false) {}
  std::filesystem::path folder_;
  std::filesystem::path bin_;
  int port_ = 0;
  bool owned_ = true;
};

/// One server for this test process: under CTest the fixture's, shared by the whole run (its port
/// in TRAINYARD_TEST_POSTGRES_INFO_FILE); else one started on first use and stopped at exit. When
/// none can start, every call throws the reason, so a test that needs it fails (a skip would pass
/// in CTest).
const TemporaryPostgres& shared_postgres();

/// A fresh database on the shared server, named after the running test; its URL.
std::string database_for_this_test();

}  // namespace trainyard::testing
