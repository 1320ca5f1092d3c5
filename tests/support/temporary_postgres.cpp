#include "temporary_postgres.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>

#include <trainyard/distributed/distributed.h>
#include <trainyard/store/postgres_connection.h>

#include <gtest/gtest.h>

#include "test_support.h"

namespace fs = std::filesystem;

namespace trainyard::testing {
namespace {

// Debian installs the server's programs under /usr/lib/postgresql/<major>/bin.
fs::path server_bin() {
  std::error_code ec;
  fs::path best;
  double best_major = 0;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const double major = std::atof(entry.path().filename().c_str());  // the newest of "13", "15", ...
    if (fs::exists(entry.path() / "bin/initdb") && major > best_major) {
      best = entry.path() / "bin";
      best_major = major;
    }
  }
  if (best.empty())
    throw std::runtime_error("PostgreSQL's server is not installed (Debian: apt-get install postgresql)");
  return best;
}

}  // namespace

TemporaryPostgres::TemporaryPostgres() : bin_(server_bin()), port_(trainyard::free_loopback_port()) {
  char folder_template[] = "/tmp/trainyard-postgres-XXXXXX";
  if (!::mkdtemp(folder_template)) throw std::runtime_error("mkdtemp failed");
  folder_ = folder_template;
  // The server refuses to run as root: as root, the cluster belongs to Debian's postgres user.
  if (::geteuid() == 0) run_command("chown postgres " + shell_quote(folder_.string()));
  const auto init = run_command(run_as_owner(shell_quote((bin_ / "initdb").string()) + " -D " +
                                             shell_quote((folder_ / "data").string()) +
                                             " -U trainyard --auth=trust -E UTF8 --no-sync"));
  if (init.exit_code != 0) throw std::runtime_error("initdb failed:\n" + init.output);
  pg_ctl("start");
}

void TemporaryPostgres::pg_ctl(const std::string& action) const {
  // Durability off: a test cluster lives for seconds.
  const auto done = run_command(
      run_as_owner(shell_quote((bin_ / "pg_ctl").string()) + " -D " + shell_quote((folder_ / "data").string()) +
                   " -l " + shell_quote((folder_ / "server.log").string()) + " -m fast -w -t 60 -o '-h 127.0.0.1 -p " +
                   std::to_string(port_) + " -k " + folder_.string() +
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off' " + action));
  if (done.exit_code != 0) {
    throw std::runtime_error("the PostgreSQL server did not " + action + ":\n" + done.output + "\n" +
                             read_file(folder_ / "server.log"));
  }
}

void TemporaryPostgres::restart() const { pg_ctl("restart"); }

std::unique_ptr<TemporaryPostgres> TemporaryPostgres::adopt(int port) {
  std::unique_ptr<TemporaryPostgres> server(new TemporaryPostgres(port));
  try {
    PostgresConnection probe(server->url());
  } catch (const std::exception&) {
    return nullptr;  // a stale file: that run's server is gone
  }
  return server;
}

TemporaryPostgres::~TemporaryPostgres() {
  if (!owned_) return;
  run_command(run_as_owner(shell_quote((bin_ / "pg_ctl").string()) + " -D " + shell_quote((folder_ / "data").string()) +
                           " -m immediate stop"));
  std::error_code ec;
  fs::remove_all(folder_, ec);
}

std::string TemporaryPostgres::run_as_owner(const std::string& command) const {
  return ::geteuid() == 0 ? "runuser -u postgres -- " + command : command;
}

std::string TemporaryPostgres::url(const std::string& database) const {
  return "postgresql://trainyard@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string TemporaryPostgres::create_database(const std::string& name) const {
  PostgresConnection admin(url());
  admin.exec_script("DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)");  // a test run again
  admin.exec_script("CREATE DATABASE \"" + name + "\"");
  return url(name);
}

const TemporaryPostgres& shared_postgres() {
  static std::string failure;
  static const std::unique_ptr<TemporaryPostgres> server = []() -> std::unique_ptr<TemporaryPostgres> {
    try {
#ifdef TRAINYARD_TEST_POSTGRES_INFO_FILE
      std::ifstream info(TRAINYARD_TEST_POSTGRES_INFO_FILE);
      int port = 0;
      if (info >> port) {
        if (auto adopted = TemporaryPostgres::adopt(port)) return adopted;
      }
#endif
      return std::make_unique<TemporaryPostgres>();
    } catch (const std::exception& e) {
      failure = e.what();
      return nullptr;
    }
  }();
  if (!server) throw std::runtime_error("no PostgreSQL server for the tests: " + failure);
  return *server;
}

std::string database_for_this_test() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string("t_") + info->test_suite_name() + "_" + info->name();
  // Unique over the whole run (tests of several processes share the fixture's server): the name
  // cut to PostgreSQL's 63 characters, then a hash of all of it.
  char hash[12];
  std::snprintf(hash, sizeof hash, "_%08zx", std::hash<std::string>{}(name)&0xffffffffu);
  for (auto& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  return shared_postgres().create_database(name.substr(0, 63 - 9) + hash);
}

}  // namespace trainyard::testing
