// How fast the results tool answers on a large database: makes (once) a database of N runs x E
// epochs with write_synthetic_results and times the everyday queries against it, printing the
// median of several repetitions and, as the baseline, the same top-10 question answered by
// reading every run's epochs (what a tool without the summary views and indexes would do).
//
//   results_benchmark [--runs 20000] [--epochs 20] [--db /tmp/trainyard-results-bench.db]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>

#include <CLI/CLI.hpp>
#include <SQLiteCpp/SQLiteCpp.h>

#include "trainyard/store/results_reader.h"
#include "synthetic_results.h"

namespace tr = trainyard::results;

namespace {

double median_ms(const std::function<void()>& work, int repetitions = 7) {
  std::vector<double> times;
  for (int i = 0; i < repetitions; ++i) {
    const auto start = std::chrono::steady_clock::now();
    work();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times the results tool's queries on a large generated database."};
  std::int64_t runs = 20000, epochs = 20;
  std::string db = (std::filesystem::temp_directory_path() / "trainyard-results-bench.db").string();
  app.add_option("--runs", runs)->capture_default_str();
  app.add_option("--epochs", epochs)->capture_default_str();
  app.add_option("--db", db, "made when missing")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (!std::filesystem::exists(db)) {
    const auto start = std::chrono::steady_clock::now();
    tr::write_synthetic_results(db, runs, epochs);
    std::printf("made %s: %lld runs x %lld epochs in %.1f s\n", db.c_str(), static_cast<long long>(runs),
                static_cast<long long>(epochs),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  double open_ms = median_ms([&] { trainyard::ResultsReader reader(db); });
  const trainyard::ResultsReader reader(db);
  auto top10 = [&](const std::string& sort, bool ascending) {
    trainyard::RunFilter filter;
    filter.sort = sort;
    filter.ascending = ascending;
    filter.limit = 10;
    return reader.runs(filter);
  };
  const double best_ms = median_ms([&] { top10("best_test_accuracy", false); });
  const double final_ms = median_ms([&] { top10("final_test_loss", true); });
  const double filtered_ms = median_ms([&] {
    trainyard::RunFilter filter;
    filter.sort = "best_test_accuracy";
    filter.limit = 10;
    filter.where.push_back(trainyard::parse_condition("optimizer.lr=1e-3"));
    filter.where.push_back(trainyard::parse_condition("train.batch_size>=32"));
    reader.runs(filter, {"optimizer.lr"});
  });
  const double sweeps_ms = median_ms([&] { reader.sweeps(); });
  const double show_ms = median_ms([&] {
    reader.run_fields(runs / 2);
    reader.epochs(runs / 2);
  });

  // Baseline: every epoch row read, best per run kept, top 10 sorted in the program.
  SQLite::Database raw(db, SQLite::OPEN_READONLY);
  const double scan_ms = median_ms(
      [&] {
        SQLite::Statement query(raw, "SELECT run_id, test_accuracy FROM epochs");
        std::vector<double> best(static_cast<std::size_t>(runs + 1), -1.0);
        while (query.executeStep()) {
          auto& b = best[static_cast<std::size_t>(query.getColumn(0).getInt64())];
          b = std::max(b, query.getColumn(1).getDouble());
        }
        const auto top = std::min<std::ptrdiff_t>(10, static_cast<std::ptrdiff_t>(best.size()));  // --runs under 10
        std::partial_sort(best.begin(), best.begin() + top, best.end(), std::greater<>());
      },
      3);

  std::printf("\n%-62s %10s\n", "query (median of 7)", "ms");
  std::printf("%-62s %10.2f\n", "open the database read-only", open_ms);
  std::printf("%-62s %10.2f\n", "top 10 runs by best test accuracy", best_ms);
  std::printf("%-62s %10.2f\n", "top 10 runs by final test loss (ascending)", final_ms);
  std::printf("%-62s %10.2f\n", "top 10 with optimizer.lr=1e-3 and train.batch_size>=32", filtered_ms);
  std::printf("%-62s %10.2f\n", "list sweeps with their best trial", sweeps_ms);
  std::printf("%-62s %10.2f\n", "one run's fields and epochs", show_ms);
  std::printf("%-62s %10.2f\n", "baseline: top 10 by best accuracy scanning every epoch", scan_ms);
  std::printf("\ntop 10 by best test accuracy: %.1fx faster than scanning every epoch\n", scan_ms / best_ms);
  return 0;
}
