#include "figures.h"

#include "output_format.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdio>
#include <map>
#include <sstream>

#include "plot.h"
#include "trainyard/config/config_rows.h"
#include "trainyard/errors.h"
#include "trainyard/suggest.h"

namespace trainyard::results {
namespace {

double as_double(const SqlValue& value) {
  if (const auto* real = std::get_if<double>(&value)) return *real;
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return static_cast<double>(*integer);
  return std::numeric_limits<double>::quiet_NaN();
}

// "run 12 quickstart (optimizer.lr=0.001, seed=3)": the config keys that tell the plotted runs
// apart (output paths aside), at most three.
std::vector<std::string> run_labels(const ResultsReader& reader, const std::vector<std::int64_t>& ids) {
  std::vector<std::map<std::string, std::string>> configs;
  for (const auto id : ids) configs.push_back(reader.config(id));
  std::vector<std::string> differing;
  for (const auto& [key, value] : configs.front()) {
    if (key.rfind("output.", 0) == 0) continue;
    for (const auto& c : configs) {
      const auto it = c.find(key);
      if (it == c.end() || it->second != value) {
        differing.push_back(key);
        break;
      }
    }
  }
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::string label = "run " + std::to_string(ids[i]);
    const auto name = configs[i].find("name");
    if (name != configs[i].end()) label += " " + name->second;
    std::string details;
    for (std::size_t k = 0; k < differing.size() && k < 3; ++k) {
      const auto it = configs[i].find(differing[k]);
      details += (k ? ", " : "") + differing[k] + "=" + (it == configs[i].end() ? "-" : it->second);
    }
    labels.push_back(details.empty() ? label : label + " (" + details + ")");
  }
  return labels;
}

}  // namespace

namespace {

std::int64_t parse_id(const std::string& text, const std::string& what) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw InputError("plot --confusion '" + what + "': expected a run id (its newest evaluation) or eval:ID");
  }
  return std::stoll(text);
}

// "12" (run 12's newest evaluation) or "eval:3".
std::int64_t evaluation_id(const ResultsReader& reader, const std::string& which) {
  const std::string prefix = "eval:";
  if (which.rfind(prefix, 0) == 0) return parse_id(which.substr(prefix.size()), which);
  const std::int64_t run = parse_id(which, which);
  reader.require_runs({run});
  const SqlRows evaluations = reader.evaluations(run);
  if (evaluations.empty()) {
    throw InputError("plot --confusion " + which + ": run " + which + " has no evaluation yet (runner --evaluate " +
                     which + " makes one)");
  }
  return evaluations.integer(evaluations.size() - 1, 0);
}

}  // namespace

void plot_confusion(const ResultsReader& reader, const std::string& which, const std::filesystem::path& file) {
  const std::int64_t id = evaluation_id(reader, which);
  const SqlRows rows = reader.evaluation_classes(id);
  Heatmap map;
  map.row_title = "true class";
  map.column_title = "predicted class";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    map.rows.push_back(rows.text(r, 4));
    std::vector<double> counts;
    std::stringstream stream(rows.text(r, 5));
    for (std::string count; std::getline(stream, count, ',');) counts.push_back(std::stod(count));
    double total = 0;
    for (const double c : counts) total += c;
    std::vector<double> shade;
    std::vector<std::string> text;
    for (const double c : counts) {
      shade.push_back(total > 0 ? c / total : 0.0);
      text.push_back(std::to_string(static_cast<long long>(c)));
    }
    map.shade.push_back(std::move(shade));
    map.text.push_back(std::move(text));
  }
  map.columns = map.rows;
  for (const auto& row : map.text) {
    if (row.size() != map.columns.size()) {
      throw InputError("evaluation " + std::to_string(id) + " in '" + reader.path() +
                       "' holds a confusion matrix of another size than its classes");
    }
  }
  char accuracy[32];
  std::snprintf(accuracy, sizeof accuracy, "%.2f%%", 100 * as_double(rows.rows[0][2]));
  map.title = "Confusion matrix: run " + std::to_string(rows.integer(0, 0)) + ", evaluation " + std::to_string(id) +
              " (" + rows.text(0, 1) + ", epoch " + std::to_string(static_cast<long long>(as_double(rows.rows[0][3]))) +
              "), accuracy " + accuracy;
  render_heatmap(map, file);
}

void plot_curves(const ResultsReader& reader, const std::vector<std::int64_t>& ids, const std::filesystem::path& file) {
  if (ids.empty()) throw InputError("plot: name at least one run (results plot RUN... --out FILE)");
  reader.require_runs(ids);
  Panel loss{"Loss", "epoch", "cross-entropy loss", {}, false, false, {}};
  Panel accuracy{"Accuracy", "epoch", "accuracy", {}, false, true, {}};
  std::vector<LegendEntry> legend;
  const auto labels = run_labels(reader, ids);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const SqlRows epochs = reader.epochs(ids[i]);
    const int colour = static_cast<int>(i);
    for (const bool train : {true, false}) {
      Series l, a;
      l.color = a.color = colour;
      l.dashed = a.dashed = train;
      for (const auto& row : epochs.rows) {
        const double epoch = as_double(row[epochs.column("epoch")]);
        l.x.push_back(epoch);
        a.x.push_back(epoch);
        l.y.push_back(as_double(row[epochs.column(train ? "train_loss" : "test_loss")]));
        a.y.push_back(as_double(row[epochs.column(train ? "train_accuracy" : "test_accuracy")]));
      }
      l.markers = a.markers = epochs.rows.size() == 1;  // one epoch draws no line
      loss.series.push_back(std::move(l));
      accuracy.series.push_back(std::move(a));
    }
    legend.push_back({labels[i], colour, false});
  }
  legend.push_back({"test (solid)", -1, false});
  legend.push_back({"train (dashed)", -1, true});
  const std::string title = ids.size() == 1 ? labels.front() : std::to_string(ids.size()) + " runs";
  render_figure(title, {loss, accuracy}, legend, file);
}

namespace {

void require_metric(const std::string& metric) {
  const auto& metrics = ResultsReader::metrics();
  if (std::find(metrics.begin(), metrics.end(), metric) != metrics.end()) return;
  const auto nearest = nearest_name(metric, metrics);
  throw InputError("--metric '" + metric + "' is not a run metric" +
                   (nearest ? "; did you mean '" + *nearest + "'?" : "") + " Metrics: " + join_names(metrics));
}

// One point of a sweep plot: a trial's latest run.
struct TrialPoint {
  std::string value;  // of the swept parameter, as recorded
  double metric = 0;
  bool pruned = false;
};

// The rows of `newest_first` (a sweep's runs, newest first) that are each trial's latest run, as
// the leaderboard counts them.
std::vector<std::size_t> latest_run_of_each_trial(const SqlRows& newest_first) {
  std::vector<std::size_t> rows;
  std::vector<std::string> seen;
  for (std::size_t i = 0; i < newest_first.size(); ++i) {
    const std::string trial = format_cell("", newest_first.rows[i][newest_first.column("trial_key")]);
    if (std::find(seen.begin(), seen.end(), trial) != seen.end()) continue;
    seen.push_back(trial);
    rows.push_back(i);
  }
  return rows;
}

// The latest run of each trial, as the leaderboard counts them.
std::vector<TrialPoint> trial_points(const ResultsReader& reader, const std::string& sweep,
                                     const std::string& parameter, const std::string& metric) {
  RunFilter filter;
  filter.sweep = sweep;
  const SqlRows runs = reader.runs(filter, {parameter});
  std::map<std::string, TrialPoint> by_trial;
  for (const std::size_t r : latest_run_of_each_trial(runs)) {
    const auto& row = runs.rows[r];
    const std::string trial = format_cell("", row[runs.column("trial_key")]);
    RunFilter one;
    one.ids = {std::get<std::int64_t>(row[0])};
    one.sort = metric;
    const SqlRows summary = reader.runs(one);
    by_trial[trial] = {format_cell("", row[runs.column(parameter)]),
                       as_double(summary.rows.front()[summary.column(metric)]),
                       format_cell("", row[runs.column("status")]) == "pruned"};
  }
  std::vector<TrialPoint> points;
  for (auto& entry : by_trial) points.push_back(std::move(entry.second));
  if (points.empty()) throw InputError("sweep '" + sweep + "' has no runs to plot yet");
  return points;
}

constexpr int kPrunedColour = 3;  // red in tab10

}  // namespace

void plot_sweep(const ResultsReader& reader, const std::string& sweep, const std::string& parameter,
                const std::string& metric, const std::filesystem::path& file) {
  require_metric(metric);
  const std::vector<TrialPoint> points = trial_points(reader, sweep, parameter, metric);
  Panel panel{
      metric + " by " + parameter, parameter, metric, {}, false, metric.find("accuracy") != std::string::npos, {}};
  // Every trial as a point, pruned ones apart (their metric is of the epochs they got); a line
  // through the mean of the trials that ran to the end at each value (trials may repeat a value
  // with other seeds).
  Series trials, pruned, means;
  trials.markers = pruned.markers = true;
  trials.line = pruned.line = false;
  pruned.color = kPrunedColour;
  means.label = "mean";
  const bool numeric =
      std::all_of(points.begin(), points.end(), [](const auto& p) { return parse_number(p.value).has_value(); });
  std::vector<std::string> categories;
  for (const auto& p : points) {
    if (!numeric && std::find(categories.begin(), categories.end(), p.value) == categories.end())
      categories.push_back(p.value);
  }
  std::sort(categories.begin(), categories.end());
  std::map<double, std::pair<double, int>> sums;  // x -> (sum of y, count)
  for (const auto& p : points) {
    const double x =
        numeric ? *parse_number(p.value)
                : static_cast<double>(std::find(categories.begin(), categories.end(), p.value) - categories.begin());
    Series& series = p.pruned ? pruned : trials;
    series.x.push_back(x);
    series.y.push_back(p.metric);
    if (!p.pruned && std::isfinite(p.metric)) sums[x].first += p.metric, sums[x].second += 1;
  }
  for (const auto& [x, sum] : sums) {
    means.x.push_back(x);
    means.y.push_back(sum.first / sum.second);
  }
  panel.x_categories = categories;
  if (numeric) {
    const auto [low, high] = std::minmax_element(points.begin(), points.end(), [](const auto& a, const auto& b) {
      return *parse_number(a.value) < *parse_number(b.value);
    });
    panel.log_x = *parse_number(low->value) > 0 && *parse_number(high->value) / *parse_number(low->value) >= 10.0;
  }
  std::vector<LegendEntry> legend;
  if (!means.x.empty()) panel.series.push_back(means);
  panel.series.push_back(trials);
  if (!pruned.x.empty()) {
    panel.series.push_back(pruned);
    legend = {{"trial (line: mean of those not pruned)", 0, false},
              {"pruned trial (" + std::to_string(pruned.x.size()) + ")", kPrunedColour, false}};
  }
  render_figure("sweep " + sweep + ": " + metric + " against " + parameter, {panel}, legend, file);
}

namespace {

// "optimizer.lr=0.001 train.batch_size=32" (SweepTrial::key) as its keys and values, in order.
std::vector<std::pair<std::string, std::string>> trial_overrides(const std::string& trial_key) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream words(trial_key);
  for (std::string word; words >> word;) {
    const auto at = word.find('=');
    if (at != std::string::npos && at > 0) out.emplace_back(word.substr(0, at), word.substr(at + 1));
  }
  return out;
}

// One axis of swept values: numbers when every value is one (log over a decade or more), else
// the values as sorted categories.
ParallelAxis swept_axis(const std::string& key, const std::vector<std::string>& values) {
  ParallelAxis axis;
  axis.name = key;
  const bool numeric = std::all_of(values.begin(), values.end(), [](const auto& v) { return parse_number(v); });
  if (numeric) {
    for (const auto& v : values) axis.values.push_back(*parse_number(v));
    const auto [low, high] = std::minmax_element(axis.values.begin(), axis.values.end());
    axis.log = !axis.values.empty() && *low > 0 && *high / *low >= 10.0;
    return axis;
  }
  axis.categories = values;
  std::sort(axis.categories.begin(), axis.categories.end());
  axis.categories.erase(std::unique(axis.categories.begin(), axis.categories.end()), axis.categories.end());
  for (const auto& v : values) {
    const auto at = std::find(axis.categories.begin(), axis.categories.end(), v) - axis.categories.begin();
    axis.values.push_back(v.empty() ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(at));
  }
  return axis;
}

}  // namespace

void plot_sweep_parallel(const ResultsReader& reader, const std::string& sweep, const std::string& metric,
                         const std::filesystem::path& file) {
  require_metric(metric);
  RunFilter filter;
  filter.sweep = sweep;
  const SqlRows newest_first = reader.runs(filter);
  std::vector<std::int64_t> latest;
  for (const std::size_t r : latest_run_of_each_trial(newest_first)) {
    latest.push_back(std::get<std::int64_t>(newest_first.rows[r][0]));
  }
  if (latest.empty()) throw InputError("sweep '" + sweep + "' has no runs to plot yet");
  RunFilter trials;
  trials.ids = latest;
  trials.sort = metric;  // best first
  const SqlRows rows = reader.runs(trials);

  std::vector<std::string> keys;
  std::vector<std::map<std::string, std::string>> overrides;
  for (const auto& row : rows.rows) {
    overrides.emplace_back();
    for (const auto& [key, value] : trial_overrides(format_cell("", row[rows.column("trial_key")]))) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
      overrides.back()[key] = value;
    }
  }
  if (keys.empty()) throw InputError("sweep '" + sweep + "': its trials' keys name no swept key to plot");
  ParallelFigure figure;
  figure.title = "sweep " + sweep + ": each trial across its swept keys and " + metric;
  for (const auto& key : keys) {
    std::vector<std::string> values;
    for (const auto& o : overrides) values.push_back(o.count(key) ? o.at(key) : std::string());
    figure.axes.push_back(swept_axis(key, values));
  }
  ParallelAxis score;
  score.name = metric;
  score.percent = metric.find("accuracy") != std::string::npos;
  std::size_t pruned = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    score.values.push_back(as_double(rows.rows[i][rows.column(metric)]));
    const bool was_pruned = format_cell("", rows.rows[i][rows.column("status")]) == "pruned";
    pruned += was_pruned;
    figure.colors.push_back(was_pruned ? -1 : i == 0 ? 1 : 0);  // the best orange, pruned grey
  }
  figure.axes.push_back(score);
  figure.legend = {
      {"best: run " + format_cell("", rows.rows[0][0]) + " " + format_cell("", rows.rows[0][rows.column("trial_key")]),
       1, false},
      {"another trial", 0, false}};
  if (pruned) figure.legend.push_back({"pruned trial (" + std::to_string(pruned) + ")", -1, false});
  render_parallel(figure, file);
}

void plot_sweep_history(const ResultsReader& reader, const std::string& sweep, const std::filesystem::path& file) {
  const SqlRows history = reader.sweep_history(sweep);
  if (history.rows.empty()) throw InputError("sweep '" + sweep + "' has no epochs to plot yet");
  Panel panel{"best so far against epochs spent",
              "epochs trained (all trials, in the order they ended)",
              "selection accuracy",
              {},
              false,
              true,
              {}};
  Series best, finished, pruned;
  best.label = "best so far";
  finished.markers = pruned.markers = true;
  finished.line = pruned.line = false;
  finished.color = 7;  // grey: each epoch's own figure
  pruned.color = kPrunedColour;
  double best_so_far = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < history.size(); ++i) {
    const double x = static_cast<double>(i + 1);
    const double accuracy = as_double(history.rows[i][history.column("selection_accuracy")]);
    Series& epoch = history.text(i, history.column("status")) == "pruned" ? pruned : finished;
    epoch.x.push_back(x);
    epoch.y.push_back(accuracy);
    if (std::isfinite(accuracy) && accuracy > best_so_far) best_so_far = accuracy;
    if (std::isfinite(best_so_far)) best.x.push_back(x), best.y.push_back(best_so_far);
  }
  std::vector<LegendEntry> legend{{"best so far", 0, false}, {"an epoch of a trial not pruned", 7, false}};
  if (!pruned.x.empty()) legend.push_back({"an epoch of a pruned trial", kPrunedColour, false});
  for (Series* series : {&finished, &pruned, &best}) {
    if (!series->x.empty()) panel.series.push_back(std::move(*series));
  }
  const std::string title = "sweep " + sweep + ": " + std::to_string(history.size()) + " epochs, best " +
                            (std::isfinite(best_so_far) ? format_cell("accuracy", SqlValue{best_so_far}) : "none");
  render_figure(title, {panel}, legend, file);
}

}  // namespace trainyard::results
