// Line charts of runs, drawn with cairo into PNG or SVG: the loss and accuracy curves people
// compare runs by (the seed tutorial's matplotlib figure), and a sweep's metric against one
// swept parameter.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace trainyard::results {

/// One line of a panel.
struct Series {
  std::string label;
  std::vector<double> x, y;
  int color = 0;  // index into the palette (tab10)
  bool dashed = false;
  bool markers = false;
  bool line = true;  // false: markers only (a scatter)
};

/// One chart: axes, grid, lines.
struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_x = false;
  bool percent_y = false;                 // y ticks as percentages (values are fractions)
  std::vector<std::string> x_categories;  // when set, x values are indices into these labels
};

/// An entry of the figure's legend: a colour swatch (or a line style) and its text.
struct LegendEntry {
  std::string text;
  int color = -1;  // -1: grey, to explain a line style
  bool dashed = false;
};

/// Draws `panels` side by side under `title`, with the legend below them, into `file`: PNG or
/// SVG by its extension. Throws InputError for another extension or an unwritable file.
void render_figure(const std::string& title, const std::vector<Panel>& panels, const std::vector<LegendEntry>& legend,
                   const std::filesystem::path& file);

/// A matrix of cells, each shaded by its `shade` (0: white, 1: the darkest blue) and labelled
/// with its text: a confusion matrix.
struct Heatmap {
  std::string title, row_title, column_title;
  std::vector<std::string> rows, columns;  // labels
  std::vector<std::vector<double>> shade;  // [row][column], in [0, 1]
  std::vector<std::vector<std::string>> text;
};

/// Draws `map` into `file`, PNG or SVG by its extension. Throws InputError as render_figure.
void render_heatmap(const Heatmap& map, const std::filesystem::path& file);

/// Parallel coordinates: one vertical axis per variable, one line per item across them (a
/// sweep's trials across its swept keys and their metric, Inselberg 1985).
struct ParallelAxis {
  std::string name;
  std::vector<double> values;           // one per line; NaN: none (the line skips the axis)
  bool log = false;                     // a log scale (values span a decade or more)
  bool percent = false;                 // labels as percentages (values are fractions)
  std::vector<std::string> categories;  // when set, values are indices into these labels
};
struct ParallelFigure {
  std::string title;
  std::vector<ParallelAxis> axes;
  std::vector<int> colors;  // one per line, palette indices; -1: grey
  std::vector<LegendEntry> legend;
};

/// Draws `figure` into `file`, PNG or SVG by its extension. Throws InputError as render_figure.
void render_parallel(const ParallelFigure& figure, const std::filesystem::path& file);

/// Tick positions for [low, high]: 1-2-5 steps, about `target` of them.
std::vector<double> nice_ticks(double low, double high, int target = 5);

}  // namespace trainyard::results
