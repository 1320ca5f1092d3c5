#include "serve.h"

#include <httplib.h>

#include <mutex>

#include "dashboard.h"
#include "trainyard/errors.h"
#include "trainyard/store/postgres_connection.h"

namespace trainyard::results {

void serve_dashboard(const ServeOptions& options, std::ostream& out) {
  const ResultsReader reader(options.db);  // read-only, as the CLI's
  std::mutex reading;                      // one connection: one request reads it at a time
  httplib::Server server;
  // Answers go out uncompressed. Debian's cpp-httplib compresses with brotli at its default
  // quality whenever the browser accepts it: that took 1.4 s of a 1,000-epoch run page's 1.7 s
  // in Chromium (495 KB of JSON, sent in 18 ms uncompressed), for a page served over loopback.
  // The request is httplib's own object, bound here as const: dropping the header is safe.
  server.set_pre_routing_handler([](const httplib::Request& request, httplib::Response&) {
    const_cast<httplib::Request&>(request).headers.erase("Accept-Encoding");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.Get(".*", [&](const httplib::Request& request, httplib::Response& response) {
    HttpAnswer answer;
    try {
      const std::lock_guard<std::mutex> lock(reading);
      answer = answer_request(reader, request.path, request.params);
    } catch (const std::exception& e) {  // a fault of the store, not of the request
      answer = {500, "text/plain; charset=utf-8", std::string("results serve: ") + e.what() + "\n"};
    }
    response.status = answer.status;
    response.set_header("Cache-Control", "no-store");  // live pages must see new epochs
    response.set_content(answer.body, answer.content_type.c_str());
  });
  // Requests other than GET: 405 (httplib's default for a method without a handler would be 404).
  const auto read_only = [](const httplib::Request&, httplib::Response& response) {
    response.status = 405;
    response.set_content("{\"error\": \"the dashboard only reads: use GET\", \"status\": 405}\n", "application/json");
  };
  server.Post(".*", read_only);
  server.Put(".*", read_only);
  server.Delete(".*", read_only);
  server.Patch(".*", read_only);

  const int port = options.port == 0 ? server.bind_to_any_port(options.host) : options.port;
  if (options.port != 0 && !server.bind_to_port(options.host, options.port)) {
    throw InputError(
        "--host " + options.host + " --port " + std::to_string(options.port) +
        ": cannot listen there (in use, or not an address of this machine); try --port 0 for any free port");
  }
  if (port < 0) throw InputError("--host " + options.host + ": cannot listen on any port of this address");
  out << "dashboard: http://" << options.host << ":" << port << "/  (" << redact_location(reader.path())
      << ", read-only; Ctrl-C stops it)" << std::endl;
  server.listen_after_bind();
}

}  // namespace trainyard::results
