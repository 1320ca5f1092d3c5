#include "dashboard.h"

#include <stdlib.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "assets.h"
#include "figures.h"
#include "output_format.h"
#include "trainyard/errors.h"

namespace trainyard::results {
namespace {

/// A request the CLI would refuse: 400, or 404 for what does not exist.
struct BadRequest {
  int status;
  std::string message;
};

HttpAnswer json_answer(int status, const std::string& body) { return {status, "application/json", body}; }

HttpAnswer error_answer(int status, const std::string& message) {
  return json_answer(status, nlohmann::json{{"error", message}, {"status", status}}.dump() + "\n");
}

std::string as_json(const SqlRows& rows, bool row_keyed = false) {
  std::ostringstream out;
  write_table(out, rows, Format::kJson, row_keyed);
  return out.str();
}

/// A whole decimal number, or nullopt ("12x", "", "-" are not).
std::optional<std::int64_t> whole_number(const std::string& text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end || text.empty()) return std::nullopt;
  return value;
}

std::int64_t whole_parameter(const std::string& name, const std::string& text, std::int64_t low, std::int64_t high) {
  const auto value = whole_number(text);
  if (!value || *value < low || *value > high) {
    throw BadRequest{400, name + "='" + text + "': expected a whole number from " + std::to_string(low) + " to " +
                              std::to_string(high)};
  }
  return *value;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

const std::vector<std::string>& run_parameters() {
  static const std::vector<std::string> names = {"sort",       "order", "limit", "offset", "status", "sweep",
                                                 "experiment", "since", "until", "where",  "show"};
  return names;
}

/// /api/runs's query as the CLI's RunFilter and --show keys. Unknown names are refused (a typo
/// must not silently widen the filter).
std::pair<RunFilter, std::vector<std::string>> runs_request(const QueryParameters& query) {
  RunFilter filter;
  filter.limit = 50;
  std::vector<std::string> show;
  for (const auto& [name, value] : query) {
    if (name == "sort") {
      filter.sort = value;
    } else if (name == "order") {
      if (value != "asc" && value != "desc") throw BadRequest{400, "order='" + value + "': accepted: asc, desc"};
      filter.ascending = value == "asc";
    } else if (name == "limit") {
      filter.limit = whole_parameter("limit", value, 1, kMaxRunsPerPage);
    } else if (name == "offset") {
      filter.offset = whole_parameter("offset", value, 0, std::int64_t{1} << 40);
    } else if (name == "status" || name == "sweep" || name == "experiment" || name == "since" || name == "until") {
      if (value.empty()) continue;  // an empty form field: no filter
      auto& field = name == "status"       ? filter.status
                    : name == "sweep"      ? filter.sweep
                    : name == "experiment" ? filter.experiment
                    : name == "since"      ? filter.since
                                           : filter.until;
      field = value;
    } else if (name == "where") {
      if (!value.empty()) filter.where.push_back(parse_condition(value));
    } else if (name == "show") {
      for (auto& key : split_list(value)) show.push_back(key);
    } else {
      std::string accepted;
      for (const auto& n : run_parameters()) accepted += (accepted.empty() ? "" : ", ") + n;
      throw BadRequest{400, "unknown parameter '" + name + "'; accepted: " + accepted};
    }
  }
  return {filter, show};
}

/// The id of a `kind` ("run", "evaluation") in a path; anything but a positive whole number is
/// one that does not exist.
std::int64_t id_of(const std::string& kind, const std::string& text) {
  const auto id = whole_number(text);
  if (!id || *id < 1) throw BadRequest{404, "no " + kind + " '" + text + "': " + kind + " ids are whole numbers"};
  return *id;
}

std::int64_t run_id_of(const std::string& text) { return id_of("run", text); }

/// What `look_up` answers, its InputError (the reader's "no run 12 in ...", "no such sweep")
/// as a 404: the request named something that does not exist.
template <typename LookUp>
auto found_or_404(LookUp look_up) {
  try {
    return look_up();
  } catch (const InputError& e) {
    throw BadRequest{404, e.what()};
  }
}

void require_run(const ResultsReader& reader, std::int64_t id) {
  found_or_404([&] { reader.require_runs({id}); });
}

HttpAnswer api_run(const ResultsReader& reader, std::int64_t id) {
  require_run(reader, id);
  std::ostringstream out;
  write_run_details(out, reader.run_fields(id), reader.config(id), reader.epochs(id), reader.evaluations(id),
                    Format::kJson);
  return json_answer(200, out.str());
}

HttpAnswer api_compare(const ResultsReader& reader, const QueryParameters& query) {
  std::vector<std::int64_t> ids;
  bool all_keys = false;
  for (const auto& [name, value] : query) {
    if (name == "ids") {
      for (const auto& id : split_list(value)) ids.push_back(run_id_of(id));
    } else if (name == "all_keys") {
      all_keys = value == "1" || value == "true";
    } else {
      throw BadRequest{400, "unknown parameter '" + name + "'; accepted: ids, all_keys"};
    }
  }
  if (ids.size() < 2) throw BadRequest{400, "ids: give two run ids or more, e.g. ?ids=3,4"};
  for (const auto id : ids) require_run(reader, id);
  return json_answer(200, as_json(reader.compare(ids, all_keys), /*row_keyed=*/true));
}

/// A sweep's id or name, as the CLI's --sweep: unknown is a 404 with the sweeps there.
std::string sweep_of(const ResultsReader& reader, const std::string& text) {
  found_or_404([&] { return reader.resolve_sweep(text); });
  return text;
}

/// A figure of the results tool (figures.h) as SVG: drawn into a folder of its own under the
/// temporary folder, read back, removed. The database is not touched.
HttpAnswer figure_svg(const std::function<void(const std::filesystem::path&)>& draw) {
  std::string folder = (std::filesystem::temp_directory_path() / "trainyard-figure-XXXXXX").string();
  if (!::mkdtemp(folder.data())) throw std::runtime_error("cannot make a temporary folder for a figure");
  const std::filesystem::path file = std::filesystem::path(folder) / "figure.svg";
  HttpAnswer answer{200, "image/svg+xml", ""};
  try {
    draw(file);
    std::ifstream in(file, std::ios::binary);
    answer.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (...) {
    std::filesystem::remove_all(folder);
    throw;
  }
  std::filesystem::remove_all(folder);
  return answer;
}

/// /api/evaluations/ID[...]: an evaluation's classes (404 when there is none such).
HttpAnswer api_evaluation(const ResultsReader& reader, const std::string& id_text, bool confusion) {
  const auto id = id_of("evaluation", id_text);
  const SqlRows classes = found_or_404([&] { return reader.evaluation_classes(id); });
  if (!confusion) return json_answer(200, as_json(classes));
  return figure_svg([&](const std::filesystem::path& file) { plot_confusion(reader, "eval:" + id_text, file); });
}

HttpAnswer page_or_asset(const std::string& path) {
  static const std::regex page(R"(^/(runs(/[0-9]+)?|sweeps(/[^/]+)?|compare)?/?$)");
  if (std::regex_match(path, page)) {
    return {200, "text/html; charset=utf-8", std::string(*find_asset("/static/page.html"))};
  }
  if (const auto asset = find_asset(path)) {
    const auto ends = [&](const char* suffix) {
      const std::string s(suffix);
      return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
    };
    const char* type = ends(".js")     ? "text/javascript; charset=utf-8"
                       : ends(".css")  ? "text/css; charset=utf-8"
                       : ends(".html") ? "text/html; charset=utf-8"
                                       : "text/plain; charset=utf-8";
    return {200, type, std::string(*asset)};
  }
  throw BadRequest{404, "no page '" + path + "'; pages: /runs, /runs/ID, /sweeps, /sweeps/ID, /compare?ids=A,B"};
}

void no_parameters(const QueryParameters& query) {
  if (!query.empty()) throw BadRequest{400, "unknown parameter '" + query.begin()->first + "'; this takes none"};
}

HttpAnswer api(const ResultsReader& reader, const std::string& path, const QueryParameters& query) {
  static const std::regex run(R"(^/api/runs/([^/]+)$)"), epochs(R"(^/api/runs/([^/]+)/epochs$)"),
      history(R"(^/api/sweeps/([^/]+)/history$)"), parallel(R"(^/api/sweeps/([^/]+)/parallel\.svg$)"),
      evaluation(R"(^/api/evaluations/([^/]+)(/confusion\.svg)?$)");
  std::smatch m;
  if (path == "/api/runs") {
    const auto [filter, show] = runs_request(query);
    return json_answer(200, as_json(reader.runs(filter, show)));
  }
  if (std::regex_match(path, m, run)) {
    no_parameters(query);
    return api_run(reader, run_id_of(m[1]));
  }
  if (std::regex_match(path, m, epochs)) {
    no_parameters(query);
    const auto id = run_id_of(m[1]);
    require_run(reader, id);
    return json_answer(200, as_json(reader.epochs(id)));
  }
  if (path == "/api/compare") return api_compare(reader, query);
  if (path == "/api/sweeps") {
    no_parameters(query);
    return json_answer(200, as_json(reader.sweeps()));
  }
  if (std::regex_match(path, m, history)) {
    no_parameters(query);
    return json_answer(200, as_json(reader.sweep_history(sweep_of(reader, m[1]))));
  }
  if (std::regex_match(path, m, parallel)) {
    std::string metric = "best_selection_accuracy";
    for (const auto& [name, value] : query) {
      if (name != "metric") throw BadRequest{400, "unknown parameter '" + name + "'; accepted: metric"};
      metric = value;
    }
    const std::string sweep = sweep_of(reader, m[1]);
    return figure_svg([&](const std::filesystem::path& file) { plot_sweep_parallel(reader, sweep, metric, file); });
  }
  if (std::regex_match(path, m, evaluation)) {
    no_parameters(query);
    return api_evaluation(reader, m[1], m[2].matched);
  }
  if (path == "/api/metrics") {
    no_parameters(query);
    return json_answer(200, nlohmann::json(ResultsReader::metrics()).dump() + "\n");
  }
  throw BadRequest{404, "no API '" + path +
                            "'; there are /api/runs, /api/runs/ID, /api/runs/ID/epochs, /api/compare, /api/sweeps, "
                            "/api/sweeps/ID/history, /api/sweeps/ID/parallel.svg, /api/evaluations/ID, "
                            "/api/evaluations/ID/confusion.svg, /api/metrics"};
}

}  // namespace

HttpAnswer answer_request(const ResultsReader& reader, const std::string& path, const QueryParameters& query) {
  try {
    if (path.rfind("/api/", 0) == 0) return api(reader, path, query);
    return page_or_asset(path);
  } catch (const BadRequest& e) {
    return error_answer(e.status, e.message);
  } catch (const InputError& e) {  // the reader's own: an unknown key, sort or status
    return error_answer(400, e.what());
  }
}

}  // namespace trainyard::results
