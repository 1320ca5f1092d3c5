// results: query, compare, export and plot the runs in a Trainyard results database.
//
//   results runs --sweep lr-sweep --sort best_test_accuracy --show optimizer.lr
//   results show 12
//   results compare 12 13 14
//   results best --sweep lr-sweep
//   results export --format csv --out everything.csv
//   results plot 12 13 14 --out curves.png
//   results plot --sweep lr-sweep --param optimizer.lr --out lr.png
//   results plot --sweep lr-sweep --parallel --out parallel.png
//   results plot --confusion 12 --out confusion.png
//   results serve --port 8080        # the dashboard: http://127.0.0.1:8080/
//
// The database is opened read-only: a run writing to it is never blocked or changed.
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "figures.h"
#include "output_format.h"
#include "serve.h"
#include "trainyard/store/results_copy.h"
#include "trainyard/store/results_reader.h"
#include "trainyard/store/postgres_connection.h"
#include "trainyard/config/config_rows.h"
#include "trainyard/errors.h"

namespace tr = trainyard::results;

namespace {

struct FilterOptions {
  trainyard::RunFilter filter;
  std::vector<std::string> where;
  std::optional<std::int64_t> limit;

  void add_to(CLI::App* command, bool sorting) {
    command->add_option("--experiment", filter.experiment, "only runs of this experiment (its name)");
    command->add_option("--sweep", filter.sweep, "only the trials of this sweep (id or name)");
    command->add_option("--status", filter.status, "running, finished, failed or interrupted");
    command
        ->add_option("--where", where,
                     "KEY=VALUE on the resolved config (also !=, <, <=, >, >=), "
                     "e.g. optimizer.lr=0.001; repeatable")
        ->type_name("COND");
    command->add_option("--since", filter.since, "started on or after (2026-11-25, or a timestamp prefix)");
    command->add_option("--until", filter.until, "started on or before");
    if (sorting) {
      command->add_option("--sort", filter.sort, "a metric, run column or config key (default: run_id, newest first)");
      command->add_flag("--asc", filter.ascending, "ascending (default: descending)");
      command->add_option("--limit", limit, "at most N runs");
    }
  }

  const trainyard::RunFilter& resolve() {
    for (const auto& w : where) filter.where.push_back(trainyard::parse_condition(w));
    filter.limit = limit;
    return filter;
  }
};

// Standard output, or the --out file.
class Output {
 public:
  explicit Output(const std::string& file) {
    if (file.empty() || file == "-") return;
    file_.open(file);
    if (!file_) throw trainyard::InputError("--out '" + file + "': cannot write this file");
  }
  std::ostream& stream() { return file_.is_open() ? static_cast<std::ostream&>(file_) : std::cout; }

 private:
  std::ofstream file_;
};

}  // namespace

int main(int argc, char** argv) {
  trainyard::move_postgres_passwords_out_of_arguments(argc, argv);  // into PGPASSWORD: off `ps`
  CLI::App app{
      "Queries, compares, exports and plots the runs in a Trainyard results database "
      "(opened read-only)."};
  app.require_subcommand(1);
  app.fallthrough();  // --db and --format also after the subcommand
  std::string db = "results/trainyard.db";
  std::string format_text = "table";
  app.add_option("--db", db, "results database (the experiment's output.db): a file or a postgresql:// URL")
      ->capture_default_str();
  app.add_option("--format", format_text, "table, csv or json")->capture_default_str();

  FilterOptions runs_options;
  std::vector<std::string> show_keys;
  auto* runs = app.add_subcommand("runs", "list runs, filtered and sorted");
  runs_options.add_to(runs, true);
  runs->add_option("--show", show_keys, "also show these config keys as columns");

  app.add_subcommand("sweeps", "list sweeps with their trial counts and best run");
  app.add_subcommand("metrics", "list the metrics runs can be sorted and compared by");

  std::int64_t show_id = 0;
  auto* show = app.add_subcommand("show", "one run: provenance, resolved config, epochs");
  show->add_option("run", show_id, "run id")->required();

  std::vector<std::int64_t> compare_ids;
  bool all_keys = false;
  auto* compare = app.add_subcommand("compare", "runs side by side: config keys that differ, metrics");
  compare->add_option("runs", compare_ids, "run ids")->required()->expected(2, -1);
  compare->add_flag("--all-keys", all_keys, "every config key, not only those that differ");

  std::string best_sweep, best_metric = "best_selection_accuracy";
  bool best_lowest = false;
  auto* best = app.add_subcommand("best", "the best run of a sweep by a metric");
  best->add_option("--sweep", best_sweep, "sweep id or name")->required();
  best->add_option("--metric", best_metric, "metric (see `results metrics`)")->capture_default_str();
  best->add_flag("--lowest", best_lowest, "lowest is best (for losses); default: highest");

  FilterOptions export_options;
  std::vector<std::int64_t> export_ids;
  std::string export_out;
  auto* exporting = app.add_subcommand("export", "epochs of the chosen runs (default: all) for pandas, spreadsheets");
  export_options.add_to(exporting, false);
  exporting->add_option("runs", export_ids, "run ids (default: every run the filters select)");
  exporting->add_option("--out", export_out, "file to write (default: standard output)");

  std::string copy_to;
  auto* copying = app.add_subcommand(
      "copy",
      "copy the whole database (--db) into a new SQLite file or an empty PostgreSQL database, ids kept: "
      "e.g. a cluster sweep's server store into a file to analyse offline");
  copying->add_option("--to", copy_to, "destination: a file path or postgresql://USER@HOST:PORT/DBNAME")->required();

  std::vector<std::int64_t> plot_ids;
  std::string plot_out, plot_sweep, plot_param, plot_metric = "best_selection_accuracy";
  auto* plot = app.add_subcommand(
      "plot", "PNG or SVG: loss and accuracy curves of runs, or a sweep's metric against a parameter");
  plot->add_option("runs", plot_ids, "run ids (default: the newest run)");
  plot->add_option("--out", plot_out, "figure file, .png or .svg")->required();
  plot->add_option("--sweep", plot_sweep, "plot this sweep's --metric against --param");
  plot->add_option("--param", plot_param, "the swept config key, e.g. optimizer.lr");
  plot->add_option("--metric", plot_metric, "run metric for a sweep plot")->capture_default_str();
  bool plot_history = false, plot_parallel = false;
  plot->add_flag("--history", plot_history,
                 "with --sweep: every epoch the sweep trained, in order, and the best selection accuracy so far");
  plot->add_flag("--parallel", plot_parallel,
                 "with --sweep: parallel coordinates, one axis per swept key and one for --metric, a line per trial");
  std::string plot_confusion;
  plot->add_option("--confusion", plot_confusion,
                   "draw an evaluation's confusion matrix: a run id (its newest evaluation) or eval:ID")
      ->type_name("RUN|eval:ID");

  tr::ServeOptions serve_options;
  auto* serve =
      app.add_subcommand("serve", "a dashboard in the browser: runs, curves, compare, sweeps; and its JSON API");
  serve->add_option("--host", serve_options.host, "address to listen on (loopback: only this machine)")
      ->capture_default_str();
  serve->add_option("--port", serve_options.port, "port (0: any free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));

  CLI11_PARSE(app, argc, argv);

  try {
    const tr::Format format = tr::parse_format(format_text);
    if (app.got_subcommand("metrics")) {
      for (const auto& m : trainyard::ResultsReader::metrics()) std::cout << m << "\n";
      return trainyard::kExitOk;
    }
    if (app.got_subcommand(serve)) {
      serve_options.db = db;
      tr::serve_dashboard(serve_options, std::cout);
      return trainyard::kExitOk;
    }
    const trainyard::ResultsReader reader(db);
    if (app.got_subcommand(runs)) {
      tr::write_table(std::cout, reader.runs(runs_options.resolve(), show_keys), format);
    } else if (app.got_subcommand("sweeps")) {
      tr::write_table(std::cout, reader.sweeps(), format);
    } else if (app.got_subcommand(show)) {
      tr::write_run_details(std::cout, reader.run_fields(show_id), reader.config(show_id), reader.epochs(show_id),
                            reader.evaluations(show_id), format);
    } else if (app.got_subcommand(compare)) {
      tr::write_table(std::cout, reader.compare(compare_ids, all_keys), format, /*row_keyed=*/true);
    } else if (app.got_subcommand(best)) {
      trainyard::RunFilter filter;
      filter.sweep = best_sweep;
      filter.sort = best_metric;
      filter.ascending = best_lowest;
      filter.status = "finished";
      filter.limit = 1;
      const auto& metrics = trainyard::ResultsReader::metrics();
      if (std::find(metrics.begin(), metrics.end(), best_metric) == metrics.end()) {
        throw trainyard::InputError("--metric '" + best_metric + "' is not a run metric; see `results metrics`");
      }
      const trainyard::SqlRows top = reader.runs(filter);
      if (top.rows.empty()) {
        throw trainyard::InputError("sweep '" + best_sweep + "' has no finished trial yet");
      }
      if (format == tr::Format::kTable) {
        const auto& row = top.rows.front();
        // Which split the figure is of: the run's best epoch was chosen on it.
        const std::string split = best_metric == "best_selection_accuracy"
                                      ? " (of the " + tr::format_cell("", row[top.column("select_on")]) + " split)"
                                      : "";
        std::cout << "best of sweep " << best_sweep << " by " << best_metric << split << ": run "
                  << tr::format_cell("", row[0]) << " (" << tr::format_cell("", row[top.column("trial_key")]) << "), "
                  << best_metric << " " << tr::format_cell(best_metric, row[top.column(best_metric)])
                  << ", test accuracy " << tr::format_cell("best_test_accuracy", row[top.column("best_test_accuracy")])
                  << "\n";
        tr::write_sweep_spending(std::cout, reader, best_sweep);
      } else {
        tr::write_table(std::cout, top, format);
      }
    } else if (app.got_subcommand(exporting)) {
      const auto& filter = export_options.resolve();
      std::vector<std::int64_t> ids = export_ids;
      const bool filtered =
          filter.experiment || filter.sweep || filter.status || filter.since || filter.until || !filter.where.empty();
      if (!ids.empty()) reader.require_runs(ids);
      if (filtered) {
        trainyard::RunFilter selection = filter;
        selection.ids = ids;
        selection.sort = "run_id";
        selection.ascending = true;
        ids = reader.run_ids(selection);
        if (ids.empty()) throw trainyard::InputError("export: no run matches these filters");
      }
      Output out(export_out);
      tr::write_table(out.stream(), reader.export_epochs(ids),
                      format == tr::Format::kTable ? tr::Format::kCsv : format);
    } else if (app.got_subcommand(copying)) {
      const auto counts = trainyard::copy_results(reader, copy_to);
      std::cerr << "copied " << reader.path() << " into " << trainyard::redact_location(copy_to);
      for (std::size_t i = 0; i < counts.size(); ++i) {
        std::cerr << (i ? ", " : ": ") << counts[i].second << " " << counts[i].first;
      }
      std::cerr << "\n";
    } else if (app.got_subcommand(plot)) {
      if (!plot_confusion.empty()) {
        tr::plot_confusion(reader, plot_confusion, plot_out);
      } else if (plot_parallel) {
        if (plot_sweep.empty())
          throw trainyard::InputError("plot --parallel needs --sweep NAME (a sweep's id or name)");
        tr::plot_sweep_parallel(reader, plot_sweep, plot_metric, plot_out);
      } else if (plot_history) {
        if (plot_sweep.empty()) throw trainyard::InputError("plot --history needs --sweep NAME (a sweep's id or name)");
        tr::plot_sweep_history(reader, plot_sweep, plot_out);
      } else if (!plot_sweep.empty()) {
        if (plot_param.empty()) {
          throw trainyard::InputError(
              "plot --sweep needs --param KEY (the swept config key), or --history for best so far against epochs");
        }
        tr::plot_sweep(reader, plot_sweep, plot_param, plot_metric, plot_out);
      } else {
        if (plot_ids.empty()) {  // the newest run
          trainyard::RunFilter newest;
          newest.limit = 1;
          plot_ids = reader.run_ids(newest);
          if (plot_ids.empty()) throw trainyard::InputError("plot: '" + db + "' has no runs yet");
        }
        tr::plot_curves(reader, plot_ids, plot_out);
      }
      std::cerr << "wrote " << plot_out << "\n";
    }
    return trainyard::kExitOk;
  } catch (const trainyard::InputError& e) {
    std::cerr << "results: " << e.what() << "\n";
    return trainyard::kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "results: " << e.what() << "\n";
    return trainyard::kExitRunFailed;
  }
}
