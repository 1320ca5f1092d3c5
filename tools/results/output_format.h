// Writing a result table as an aligned table for people, CSV, or JSON.
#pragma once

#include <map>
#include <ostream>
#include <string>

#include "trainyard/store/results_reader.h"

namespace trainyard::results {

/// A metric's value as text for people: accuracies as percentages, losses with 4 decimals.
std::string format_cell(const std::string& column, const SqlValue& value);

enum class Format { kTable, kCsv, kJson };

/// "table", "csv" or "json"; throws InputError otherwise.
Format parse_format(const std::string& text);

/// Writes `table`. In kTable form cells are formatted for reading (accuracies as percentages);
/// when `row_keyed` the first cell of each row names what the row holds (a compare table) and
/// decides the formatting, else the column name does. CSV and JSON keep full precision.
void write_table(std::ostream& out, const SqlRows& table, Format format, bool row_keyed = false);

/// One run as `results show` prints it: its stored fields, its resolved config, its epochs and
/// its evaluations. As JSON one object {"run": {...}, "config": {...}, "epochs": [...],
/// "evaluations": [...]}; as CSV the epochs alone.
void write_run_details(std::ostream& out, const std::vector<std::pair<std::string, SqlValue>>& fields,
                       const std::map<std::string, std::string>& config, const SqlRows& epochs,
                       const SqlRows& evaluations, Format format);

/// One line under `results best`: the sweep's trials, how many finished and were pruned, and the
/// epochs trained against a sweep without pruning when it saved any.
void write_sweep_spending(std::ostream& out, const ResultsReader& reader, const std::string& sweep);

}  // namespace trainyard::results
