#include "output_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "trainyard/config/config_rows.h"
#include "trainyard/errors.h"
#include "trainyard/sweep/sweep_runner.h"

namespace trainyard::results {
std::string format_cell(const std::string& column, const SqlValue& value) {
  if (std::holds_alternative<std::monostate>(value)) return "";
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* integer = std::get_if<std::int64_t>(&value)) {
    if (column.find("accuracy") != std::string::npos) {
      return format_cell(column, SqlValue{static_cast<double>(*integer)});
    }
    return std::to_string(*integer);
  }
  const double v = std::get<double>(value);
  char buffer[64];
  if (column.find("accuracy") != std::string::npos || column.find("fraction") != std::string::npos) {
    std::snprintf(buffer, sizeof buffer, "%.2f%%", 100.0 * v);
  } else if (column.find("loss") != std::string::npos) {
    std::snprintf(buffer, sizeof buffer, "%.4f", v);
  } else if (column.find("per_second") != std::string::npos || column.find("seconds") != std::string::npos) {
    std::snprintf(buffer, sizeof buffer, "%.1f", v);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.6g", v);
  }
  return buffer;
}

namespace {

std::string csv_cell(const SqlValue& value) {
  if (std::holds_alternative<std::monostate>(value)) return "";
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return std::to_string(*integer);
  if (const auto* real = std::get_if<double>(&value)) return shortest_decimal(*real);
  const auto& text = std::get<std::string>(value);
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

nlohmann::ordered_json json_cell(const SqlValue& value) {
  if (std::holds_alternative<std::monostate>(value)) return nullptr;
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return *integer;
  if (const auto* real = std::get_if<double>(&value)) return *real;
  return std::get<std::string>(value);
}

nlohmann::ordered_json json_rows(const SqlRows& table) {
  auto rows = nlohmann::ordered_json::array();
  for (const auto& row : table.rows) {
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < row.size(); ++i) object[table.columns[i]] = json_cell(row[i]);
    rows.push_back(std::move(object));
  }
  return rows;
}

void write_aligned(std::ostream& out, const SqlRows& table, bool row_keyed) {
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> widths;
  for (const auto& c : table.columns) widths.push_back(c.size());
  std::vector<bool> numeric(table.columns.size(), true);
  for (const auto& row : table.rows) {
    std::vector<std::string> texts;
    const std::string key = row_keyed && !row.empty() ? format_cell("", row[0]) : "";
    for (std::size_t i = 0; i < row.size(); ++i) {
      texts.push_back(format_cell(row_keyed ? key : table.columns[i], row[i]));
      widths[i] = std::max(widths[i], texts.back().size());
      if (std::holds_alternative<std::string>(row[i])) numeric[i] = false;
    }
    cells.push_back(std::move(texts));
  }
  auto line = [&](const std::vector<std::string>& texts) {
    std::string text;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const auto pad = std::string(widths[i] - std::min(widths[i], texts[i].size()), ' ');
      const bool right = numeric[i] && !(row_keyed && i == 0);
      text += (i ? "  " : "") + (right ? pad + texts[i] : texts[i] + (i + 1 < texts.size() ? pad : ""));
    }
    out << text << "\n";
  };
  line(table.columns);
  for (const auto& texts : cells) line(texts);
}

}  // namespace

Format parse_format(const std::string& text) {
  if (text == "table") return Format::kTable;
  if (text == "csv") return Format::kCsv;
  if (text == "json") return Format::kJson;
  throw InputError("--format '" + text + "': accepted: table, csv, json");
}

void write_table(std::ostream& out, const SqlRows& table, Format format, bool row_keyed) {
  switch (format) {
    case Format::kTable: write_aligned(out, table, row_keyed); return;
    case Format::kCsv: {
      for (std::size_t i = 0; i < table.columns.size(); ++i) out << (i ? "," : "") << csv_cell(table.columns[i]);
      out << "\n";
      for (const auto& row : table.rows) {
        for (std::size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_cell(row[i]);
        out << "\n";
      }
      return;
    }
    case Format::kJson: out << json_rows(table).dump(2) << "\n"; return;
  }
}

void write_run_details(std::ostream& out, const std::vector<std::pair<std::string, SqlValue>>& fields,
                       const std::map<std::string, std::string>& config, const SqlRows& epochs,
                       const SqlRows& evaluations, Format format) {
  if (format == Format::kCsv) {
    write_table(out, epochs, format);
    return;
  }
  if (format == Format::kJson) {
    nlohmann::ordered_json run = nlohmann::ordered_json::object();
    for (const auto& [name, value] : fields) run[name] = json_cell(value);
    nlohmann::ordered_json document = {
        {"run", run}, {"config", config}, {"epochs", json_rows(epochs)}, {"evaluations", json_rows(evaluations)}};
    out << document.dump(2) << "\n";
    return;
  }
  for (const auto& [name, value] : fields) {
    const std::string text = format_cell(name, value);
    if (!text.empty()) out << name << ": " << text << "\n";
    if (name == "select_on" && text == "test") {
      out << "  (the best epoch was chosen on the test split, so its test accuracy is optimistic; "
             "dataset.val_fraction gives a validation split to choose on)\n";
    }
  }
  out << "config:\n";
  for (const auto& [key, value] : config) out << "  " << key << ": " << value << "\n";
  out << "epochs:\n";
  write_table(out, epochs, format);
  if (!evaluations.rows.empty()) {
    out << "evaluations (runner --evaluate):\n";
    write_table(out, evaluations, format);
  }
}

void write_sweep_spending(std::ostream& out, const ResultsReader& reader, const std::string& sweep) {
  const std::int64_t id = reader.resolve_sweep(sweep);
  const SqlRows sweeps = reader.sweeps();
  for (std::size_t i = 0; i < sweeps.size(); ++i) {
    if (sweeps.integer(i, sweeps.column("sweep_id")) != id) continue;
    // A sum is numeric on PostgreSQL (read as a double), an integer on SQLite.
    const auto count = [&](const char* column) {
      return static_cast<std::int64_t>(std::llround(sweeps.real(i, sweeps.column(column))));
    };
    out << "sweep " << sweeps.text(i, sweeps.column("sweep")) << ": " << count("trials") << " trials, "
        << count("finished") << " finished, " << count("pruned") << " pruned";
    if (count("epochs") < count("epochs_unpruned"))
      out << "; " << epochs_spent_text(count("epochs"), count("epochs_unpruned"));
    out << "\n";
  }
}

}  // namespace trainyard::results
