#include "plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <cairo-svg.h>
#include <cairo.h>

#include "trainyard/errors.h"

namespace trainyard::results {
namespace {

// matplotlib's tab10: the colours people know from the Python figures.
constexpr double kPalette[10][3] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741},
    {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133}, {0.090, 0.745, 0.812}};

constexpr double kPanelWidth = 560, kPanelHeight = 400, kTitleHeight = 40;
constexpr double kLegendRow = 20, kLegendColumn = 270;
constexpr double kLeft = 72, kRight = 18, kTop = 34, kBottom = 50;

void set_colour(cairo_t* cr, int index) {
  if (index < 0) {
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    return;
  }
  const auto& c = kPalette[index % 10];
  cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

void set_style(cairo_t* cr, bool dashed) {
  const double dashes[] = {6.0, 4.0};
  cairo_set_dash(cr, dashes, dashed ? 2 : 0, 0);
}

enum class Align { kLeft, kCentre, kRight };

void text_at(cairo_t* cr, const std::string& text, double x, double y, Align align, double size, bool bold = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  double left = x;
  if (align == Align::kCentre) left = x - extents.width / 2 - extents.x_bearing;
  if (align == Align::kRight) left = x - extents.width - extents.x_bearing;
  cairo_move_to(cr, left, y);
  cairo_show_text(cr, text.c_str());
}

std::string tick_label(double value, double step, bool percent) {
  char buffer[32];
  if (percent) {
    std::snprintf(buffer, sizeof buffer, step * 100 >= 1 ? "%.0f%%" : "%.1f%%", value * 100);
  } else {
    std::snprintf(buffer, sizeof buffer, "%g", std::abs(value) < step * 1e-6 ? 0.0 : value);
  }
  return buffer;
}

struct Range {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  bool empty() const { return low > high; }
};

void draw_panel(cairo_t* cr, const Panel& panel, double origin_x, double origin_y) {
  const double left = origin_x + kLeft, right = origin_x + kPanelWidth - kRight;
  const double top = origin_y + kTop, bottom = origin_y + kPanelHeight - kBottom;

  Range xr, yr;
  for (const auto& s : panel.series) {
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (panel.log_x && s.x[i] <= 0) continue;
      xr.add(panel.log_x ? std::log10(s.x[i]) : s.x[i]);
      yr.add(s.y[i]);
    }
  }
  if (!panel.x_categories.empty()) {
    xr.low = -0.5;
    xr.high = static_cast<double>(panel.x_categories.size()) - 0.5;
  }
  if (xr.empty()) xr.low = 0, xr.high = 1;
  if (panel.x_categories.empty() && xr.high > xr.low) {
    const double pad = (xr.high - xr.low) * 0.04;  // markers at the ends stay whole
    xr.low -= pad, xr.high += pad;
  }
  if (yr.empty()) yr.low = 0, yr.high = 1;
  if (xr.high - xr.low < 1e-12) xr.low -= 0.5, xr.high += 0.5;
  if (yr.high - yr.low < 1e-12) {
    const double pad = std::max(std::abs(yr.low) * 0.05, 1e-3);
    yr.low -= pad, yr.high += pad;
  }
  const auto y_ticks = nice_ticks(yr.low, yr.high);
  const double y_step = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1.0;
  yr.low = std::min(yr.low, y_ticks.front());
  yr.high = std::max(yr.high, y_ticks.back());
  const double y_pad = (yr.high - yr.low) * 0.04;
  yr.low -= y_pad, yr.high += y_pad;

  auto to_x = [&](double v) { return left + (v - xr.low) / (xr.high - xr.low) * (right - left); };
  auto to_y = [&](double v) { return bottom - (v - yr.low) / (yr.high - yr.low) * (bottom - top); };

  // Grid and y ticks.
  cairo_set_line_width(cr, 1.0);
  set_style(cr, false);
  for (double t : y_ticks) {
    if (t < yr.low || t > yr.high) continue;
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, left, std::round(to_y(t)) + 0.5);
    cairo_line_to(cr, right, std::round(to_y(t)) + 0.5);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    text_at(cr, tick_label(t, y_step, panel.percent_y), left - 6, to_y(t) + 4, Align::kRight, 11);
  }
  // x ticks: categories, powers of ten, or 1-2-5 steps.
  std::vector<std::pair<double, std::string>> x_ticks;
  if (!panel.x_categories.empty()) {
    for (std::size_t i = 0; i < panel.x_categories.size(); ++i)
      x_ticks.emplace_back(static_cast<double>(i), panel.x_categories[i]);
  } else if (panel.log_x) {
    for (int e = static_cast<int>(std::floor(xr.low)); e <= static_cast<int>(std::ceil(xr.high)); ++e) {
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = std::log10(m) + e;
        if (v < xr.low - 1e-9 || v > xr.high + 1e-9) continue;
        if (m != 1.0 && xr.high - xr.low > 2.5) continue;  // only decades on a wide axis
        char label[32];
        std::snprintf(label, sizeof label, "%g", m * std::pow(10.0, e));
        x_ticks.emplace_back(v, label);
      }
    }
  } else {
    const auto ticks = nice_ticks(xr.low, xr.high, 6);
    const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
    for (double t : ticks) {
      if (t >= xr.low - 1e-9 && t <= xr.high + 1e-9) x_ticks.emplace_back(t, tick_label(t, step, false));
    }
  }
  for (const auto& [v, label] : x_ticks) {
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, std::round(to_x(v)) + 0.5, top);
    cairo_line_to(cr, std::round(to_x(v)) + 0.5, bottom);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    text_at(cr, label, to_x(v), bottom + 16, Align::kCentre, 11);
  }
  // Frame, titles.
  cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
  cairo_rectangle(cr, left + 0.5, top + 0.5, right - left, bottom - top);
  cairo_stroke(cr);
  text_at(cr, panel.title, (left + right) / 2, origin_y + 22, Align::kCentre, 14, true);
  text_at(cr, panel.x_label, (left + right) / 2, bottom + 38, Align::kCentre, 12);
  cairo_save(cr);
  cairo_translate(cr, origin_x + 18, (top + bottom) / 2);
  cairo_rotate(cr, -M_PI / 2);
  text_at(cr, panel.y_label, 0, 0, Align::kCentre, 12);
  cairo_restore(cr);

  // The lines, clipped to the plot area.
  cairo_save(cr);
  cairo_rectangle(cr, left, top, right - left, bottom - top);
  cairo_clip(cr);
  cairo_set_line_width(cr, 2.0);
  for (const auto& s : panel.series) {
    set_colour(cr, s.color);
    set_style(cr, s.dashed);
    bool drawing = false;
    if (!s.line) drawing = true, cairo_new_path(cr);
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || (panel.log_x && s.x[i] <= 0)) {
        drawing = false;
        continue;
      }
      const double px = to_x(panel.log_x ? std::log10(s.x[i]) : s.x[i]), py = to_y(s.y[i]);
      if (!s.line) continue;
      if (drawing) {
        cairo_line_to(cr, px, py);
      } else {
        cairo_move_to(cr, px, py);
      }
      drawing = true;
    }
    cairo_stroke(cr);
    if (s.markers) {
      set_style(cr, false);
      for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (!std::isfinite(s.y[i]) || (panel.log_x && s.x[i] <= 0)) continue;
        cairo_arc(cr, to_x(panel.log_x ? std::log10(s.x[i]) : s.x[i]), to_y(s.y[i]), 4, 0, 2 * M_PI);
        cairo_fill(cr);
      }
    }
  }
  cairo_restore(cr);
}

}  // namespace

std::vector<double> nice_ticks(double low, double high, int target) {
  if (!(high > low)) return {low};
  const double raw = (high - low) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::floor(low / step) * step; t <= high + step * 0.999; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

namespace {

// A cairo surface for `file` (PNG or SVG by its extension), written out by finish().
class Canvas {
 public:
  Canvas(const std::filesystem::path& file, double width, double height) : file_(file) {
    extension_ = file.extension().string();
    std::transform(extension_.begin(), extension_.end(), extension_.begin(), ::tolower);
    if (extension_ != ".png" && extension_ != ".svg") {
      throw InputError("--out '" + file.string() + "': give a .png or .svg file name");
    }
    surface_ = extension_ == ".png"
                   ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, static_cast<int>(width), static_cast<int>(height))
                   : cairo_svg_surface_create(file.c_str(), width, height);
    check(cairo_surface_status(surface_));
    cr_ = cairo_create(surface_);
    cairo_set_source_rgb(cr_, 1, 1, 1);
    cairo_paint(cr_);
  }
  ~Canvas() {
    if (cr_) cairo_destroy(cr_);
    cairo_surface_destroy(surface_);
  }
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;

  cairo_t* cr() const { return cr_; }

  void finish() {
    cairo_destroy(cr_);
    cr_ = nullptr;
    if (extension_ == ".png") {
      check(cairo_surface_write_to_png(surface_, file_.c_str()));
    } else {
      cairo_surface_finish(surface_);
      check(cairo_surface_status(surface_));
    }
  }

 private:
  void check(cairo_status_t status) const {
    if (status != CAIRO_STATUS_SUCCESS)
      throw InputError("cannot write '" + file_.string() + "': " + cairo_status_to_string(status));
  }

  std::filesystem::path file_;
  std::string extension_;
  cairo_surface_t* surface_ = nullptr;
  cairo_t* cr_ = nullptr;
};

// The title, bold, shrunk until it fits `width`.
void draw_title(cairo_t* cr, const std::string& title, double width) {
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  double title_size = 16;
  for (cairo_text_extents_t extents;; title_size -= 1) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, title_size);
    cairo_text_extents(cr, title.c_str(), &extents);
    if (extents.width <= width - 20 || title_size <= 8) break;
  }
  text_at(cr, title, width / 2, 26, Align::kCentre, title_size, true);
}

// A legend's entry at (x, y): its line (colour and style) and its text beside it.
void draw_legend_entry(cairo_t* cr, const LegendEntry& entry, double x, double y) {
  set_colour(cr, entry.color);
  set_style(cr, entry.dashed);
  cairo_set_line_width(cr, 2.5);
  cairo_move_to(cr, x, y + 6);
  cairo_line_to(cr, x + 28, y + 6);
  cairo_stroke(cr);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  text_at(cr, entry.text, x + 36, y + 10, Align::kLeft, 12);
}

}  // namespace

void render_figure(const std::string& title, const std::vector<Panel>& panels, const std::vector<LegendEntry>& legend,
                   const std::filesystem::path& file) {
  const double width = kPanelWidth * static_cast<double>(std::max<std::size_t>(1, panels.size()));
  std::size_t longest = 0;
  for (const auto& entry : legend) longest = std::max(longest, entry.text.size());
  const double column = std::max(kLegendColumn, 48.0 + 7.0 * static_cast<double>(longest));
  const int per_row = std::max(1, static_cast<int>(width / column));
  const int legend_rows = (static_cast<int>(legend.size()) + per_row - 1) / per_row;
  const double height = kTitleHeight + kPanelHeight + legend_rows * kLegendRow + (legend_rows ? 16 : 0);

  Canvas canvas(file, width, height);
  cairo_t* cr = canvas.cr();
  draw_title(cr, title, width);
  for (std::size_t i = 0; i < panels.size(); ++i) {
    draw_panel(cr, panels[i], kPanelWidth * static_cast<double>(i), kTitleHeight);
  }
  for (std::size_t i = 0; i < legend.size(); ++i) {
    const double x = 24 + column * static_cast<double>(static_cast<int>(i) % per_row);
    const double y = kTitleHeight + kPanelHeight + 8 + kLegendRow * static_cast<double>(static_cast<int>(i) / per_row);
    draw_legend_entry(cr, legend[i], x, y);
  }
  canvas.finish();
}

void render_heatmap(const Heatmap& map, const std::filesystem::path& file) {
  const double cell = std::clamp(480.0 / static_cast<double>(std::max<std::size_t>(1, map.columns.size())), 28.0, 72.0);
  std::size_t longest = 4;
  for (const auto& label : map.rows) longest = std::max(longest, label.size());
  for (const auto& label : map.columns) longest = std::max(longest, label.size());
  const double label_space = 24 + 6.5 * static_cast<double>(std::min<std::size_t>(longest, 28));
  const double left = 30 + label_space, top = kTitleHeight + 20;
  const double width = left + cell * static_cast<double>(map.columns.size()) + 30;
  const double height = top + cell * static_cast<double>(map.rows.size()) + label_space + 30;

  Canvas canvas(file, std::max(width, 360.0), height);
  cairo_t* cr = canvas.cr();
  draw_title(cr, map.title, std::max(width, 360.0));
  const double font = std::min(12.0, cell / 3);
  for (std::size_t r = 0; r < map.rows.size(); ++r) {
    for (std::size_t c = 0; c < map.columns.size(); ++c) {
      // matplotlib's Blues, from white to its darkest, as scikit-learn's ConfusionMatrixDisplay draws.
      const double s = std::clamp(map.shade[r][c], 0.0, 1.0);
      const double x = left + cell * static_cast<double>(c), y = top + cell * static_cast<double>(r);
      cairo_set_source_rgb(cr, 0.97 - 0.94 * s, 0.98 - 0.79 * s, 1.0 - 0.58 * s);
      cairo_rectangle(cr, x, y, cell, cell);
      cairo_fill(cr);
      if (s > 0.5) {
        cairo_set_source_rgb(cr, 1, 1, 1);
      } else {
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
      }
      text_at(cr, map.text[r][c], x + cell / 2, y + cell / 2 + font / 3, Align::kCentre, font);
    }
  }
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  for (std::size_t r = 0; r < map.rows.size(); ++r) {
    text_at(cr, map.rows[r], left - 6, top + cell * (static_cast<double>(r) + 0.5) + 4, Align::kRight, 11);
  }
  const double bottom = top + cell * static_cast<double>(map.rows.size());
  for (std::size_t c = 0; c < map.columns.size(); ++c) {
    cairo_save(cr);
    cairo_move_to(cr, 0, 0);
    cairo_translate(cr, left + cell * (static_cast<double>(c) + 0.5) + 4, bottom + 6);
    cairo_rotate(cr, M_PI / 2);
    text_at(cr, map.columns[c], 0, 0, Align::kLeft, 11);
    cairo_restore(cr);
  }
  text_at(cr, map.column_title, left + cell * static_cast<double>(map.columns.size()) / 2, height - 10, Align::kCentre,
          12, true);
  cairo_save(cr);
  cairo_translate(cr, 18, top + cell * static_cast<double>(map.rows.size()) / 2);
  cairo_rotate(cr, -M_PI / 2);
  text_at(cr, map.row_title, 0, 0, Align::kCentre, 12, true);
  cairo_restore(cr);
  canvas.finish();
}

namespace {

// Where `value` sits on an axis from 0 (its bottom) to 1 (its top).
struct AxisScale {
  double low = 0, high = 1;
  bool log = false;
  double at(double value) const {
    const double v = log ? std::log10(value) : value;
    return high > low ? (v - low) / (high - low) : 0.5;
  }
};

AxisScale scale_of(const ParallelAxis& axis) {
  Range range;
  for (const double v : axis.values) {
    if (!axis.log || v > 0) range.add(axis.log ? std::log10(v) : v);
  }
  if (!axis.categories.empty()) range = Range{0, static_cast<double>(axis.categories.size()) - 1};
  if (range.empty()) range = Range{0, 1};
  return {range.low, range.high, axis.log};
}

// The labels along an axis: its categories, its decades on a log scale, or 1-2-5 ticks.
std::vector<std::pair<double, std::string>> axis_labels(const ParallelAxis& axis, const AxisScale& scale) {
  std::vector<std::pair<double, std::string>> out;
  if (!axis.categories.empty()) {
    for (std::size_t i = 0; i < axis.categories.size(); ++i)
      out.emplace_back(static_cast<double>(i), axis.categories[i]);
    return out;
  }
  // A grid's few values: each labelled, as the sweep gave them.
  std::vector<double> distinct;
  for (const double v : axis.values) {
    if (std::isfinite(v) && std::find(distinct.begin(), distinct.end(), v) == distinct.end()) distinct.push_back(v);
  }
  if (!axis.percent && distinct.size() <= 8) {
    for (const double v : distinct) {
      char text[32];
      std::snprintf(text, sizeof text, "%.3g", v);
      out.emplace_back(v, text);
    }
    return out;
  }
  if (axis.log) {
    for (double e = std::ceil(scale.low - 1e-9); e <= scale.high + 1e-9; e += 1) {
      char text[32];
      std::snprintf(text, sizeof text, "%g", std::pow(10.0, e));
      out.emplace_back(std::pow(10.0, e), text);
    }
    if (out.empty()) {  // within one decade: its ends
      for (const double v : {std::pow(10.0, scale.low), std::pow(10.0, scale.high)}) {
        char text[32];
        std::snprintf(text, sizeof text, "%.3g", v);
        out.emplace_back(v, text);
      }
    }
    return out;
  }
  const auto ticks = nice_ticks(scale.low, scale.high, 5);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  for (const double t : ticks) {
    if (t >= scale.low - 1e-12 && t <= scale.high + 1e-12) out.emplace_back(t, tick_label(t, step, axis.percent));
  }
  return out;
}

}  // namespace

void render_parallel(const ParallelFigure& figure, const std::filesystem::path& file) {
  // Room for each axis's name above it (centred) and its labels left of it.
  const double spacing = 200, left = 100, right = 110, top = kTitleHeight + 36, plot_height = 320;
  const double width = std::max(560.0, left + right + spacing * static_cast<double>(figure.axes.size() - 1));
  const double height = top + plot_height + 40 + kLegendRow * static_cast<double>(figure.legend.size()) + 16;
  std::vector<AxisScale> scales;
  for (const auto& axis : figure.axes) scales.push_back(scale_of(axis));
  auto x_of = [&](std::size_t a) { return left + spacing * static_cast<double>(a); };
  auto y_of = [&](std::size_t a, double v) { return top + plot_height * (1 - scales[a].at(v)); };

  Canvas canvas(file, width, height);
  cairo_t* cr = canvas.cr();
  draw_title(cr, figure.title, width);
  // Grey lines first, so the coloured ones (the best) are drawn over them.
  const std::size_t lines = figure.colors.size();
  for (const bool coloured : {false, true}) {
    for (std::size_t l = 0; l < lines; ++l) {
      if ((figure.colors[l] >= 0) != coloured) continue;
      set_colour(cr, figure.colors[l]);
      cairo_set_line_width(cr, coloured ? 1.8 : 1.2);
      bool drawing = false;
      for (std::size_t a = 0; a < figure.axes.size(); ++a) {
        const double v = figure.axes[a].values[l];
        if (!std::isfinite(v) || (figure.axes[a].log && v <= 0)) {
          drawing = false;
          continue;
        }
        (drawing ? cairo_line_to : cairo_move_to)(cr, x_of(a), y_of(a, v));
        drawing = true;
      }
      cairo_stroke(cr);
    }
  }
  for (std::size_t a = 0; a < figure.axes.size(); ++a) {
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_line_width(cr, 1.2);
    cairo_move_to(cr, x_of(a), top);
    cairo_line_to(cr, x_of(a), top + plot_height);
    cairo_stroke(cr);
    text_at(cr, figure.axes[a].name, x_of(a), top - 14, Align::kCentre, 12, true);
    for (const auto& [value, label] : axis_labels(figure.axes[a], scales[a])) {
      const double y = y_of(a, value);
      cairo_move_to(cr, x_of(a) - 4, y);
      cairo_line_to(cr, x_of(a), y);
      cairo_stroke(cr);
      text_at(cr, label, x_of(a) - 7, y + 4, Align::kRight, 11);
    }
  }
  for (std::size_t i = 0; i < figure.legend.size(); ++i) {
    const double y = top + plot_height + 36 + kLegendRow * static_cast<double>(i);
    draw_legend_entry(cr, figure.legend[i], 24, y);
  }
  canvas.finish();
}

}  // namespace trainyard::results
