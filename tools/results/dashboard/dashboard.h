// The dashboard `results serve` puts on a results database: its pages and the JSON API behind
// them, as one function of a request, so that every route is tested without a socket.
//
//   GET /                       the runs page (also /runs); /runs/ID, /sweeps, /sweeps/ID, /compare?ids=1,2
//   GET /api/runs               `results runs --format json`: ?sort=METRIC|KEY &order=asc|desc
//                               &limit=N (1..1000, default 50) &offset=N &status= &sweep= &experiment=
//                               &since= &until= &where=KEY<op>VALUE (repeatable) &show=KEY,KEY
//   GET /api/runs/ID            `results show ID --format json`: {run, config, epochs, evaluations}
//   GET /api/runs/ID/epochs     its epochs alone (what a live page polls)
//   GET /api/compare?ids=1,2    `results compare 1 2 --format json`
//   GET /api/sweeps             `results sweeps --format json`
//   GET /api/sweeps/ID/history  every epoch the sweep trained, in order (`results plot --history`)
//   GET /api/sweeps/ID/parallel.svg  parallel coordinates of its trials (`results plot --parallel`)
//   GET /api/evaluations/ID     an evaluation's classes: figures and confusion-matrix rows
//   GET /api/evaluations/ID/confusion.svg  its confusion matrix (`results plot --confusion eval:ID`)
//   GET /api/metrics            what runs can be sorted by
//
// Every parameter is bound into the reader's SQL, never spliced. A bad request gets 400 (404 for
// a run, sweep or path that does not exist) with the CLI's message, "did you mean" included.
#pragma once

#include <map>
#include <string>

#include "trainyard/store/results_reader.h"

namespace trainyard::results {

/// A query string's parameters, in order, a name possibly repeated (httplib's Params).
using QueryParameters = std::multimap<std::string, std::string>;

struct HttpAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

/// The answer to GET `path` with `query`.
HttpAnswer answer_request(const ResultsReader& reader, const std::string& path, const QueryParameters& query);

/// The most runs one page of /api/runs returns.
inline constexpr std::int64_t kMaxRunsPerPage = 1000;

}  // namespace trainyard::results
