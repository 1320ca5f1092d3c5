// `results copy --to DEST`: a whole results database copied into another, across engines (a
// cluster sweep's PostgreSQL store into a SQLite file to analyse offline, or a file into a server).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "trainyard/store/results_reader.h"

namespace trainyard {

/// Rows copied per table, in copy order.
using CopyCounts = std::vector<std::pair<std::string, std::int64_t>>;

/// Copies every table of `source` (read-only; any schema the reader accepts) into `destination`
/// (a file path or postgresql:// URL), created or migrated to the current schema, which must hold
/// no runs or sweeps yet. Ids are kept, so run 12 is run 12 in both. One transaction: a failure
/// leaves the destination without any of the rows.
CopyCounts copy_results(const ResultsReader& source, const std::string& destination);

}  // namespace trainyard
