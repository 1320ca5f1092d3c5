// `results serve`: the dashboard (dashboard.h) over HTTP, on cpp-httplib.
#pragma once

#include <ostream>
#include <string>

namespace trainyard::results {

struct ServeOptions {
  std::string db;
  std::string host = "127.0.0.1";  // loopback unless told otherwise: the runs are the user's
  int port = 8080;                 // 0: any free port (the printed URL says which)
};

/// Serves until the process is stopped (the database is only read, so stopping loses nothing).
/// Prints "dashboard: http://HOST:PORT/" to `out` once it listens. Throws InputError when the
/// address cannot be bound, StoreError when the database cannot be opened.
void serve_dashboard(const ServeOptions& options, std::ostream& out);

}  // namespace trainyard::results
