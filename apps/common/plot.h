// Figures drawn by the program itself (PLplot, pngcairo device): multi-panel line plots with
// legends (training traces, metric-vs-β curves), heat maps (aggregate posterior densities,
// per-class latent magnitudes) with an optional colour bar and category names on the y axis,
// and bar charts with category names, printed values and an optional reference line.
#pragma once
#include <limits>
#include <string>
#include <vector>

namespace unravel::plot {

/// One curve of a line plot.
struct Series {
  std::string label;
  std::vector<double> x, y;
  bool points = false;  ///< draw markers instead of a line
  bool dots = false;    ///< draw a marker at each point as well as the line (few points)
  /// Optional vertical error bars from lo[k] to hi[k] at x[k] (empty: none; else as long as y).
  std::vector<double> lo, hi;
};

/// One panel: title, axis labels and curves.
struct Panel {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  bool log_y = false;
  /// Logarithmic x axis (x > 0). Ticks fall on powers of 2 when the range spans under three
  /// decades (β = 0.5, 1, 2, 4 …), else on powers of 10, and are labelled with plain numbers.
  bool log_x = false;
};

/// Writes `panels` laid out in `cols` columns as a PNG of width × height pixels. Throws when the
/// pngcairo device is unavailable (package plplot-driver-cairo) instead of prompting.
void line_plots_png(const std::string& path, const std::vector<Panel>& panels, int cols = 2,
                    int width = 1200, int height = 800);

/// A density on a regular grid (values[iy * nx + ix]) over [x0,x1]×[y0,y1], drawn as a heat map.
struct Density {
  std::string title;
  int nx = 0, ny = 0;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  std::vector<double> values;
  std::string xlabel = "z#d1#u", ylabel = "z#d2#u";  ///< axis labels
  bool equal_axes = true;  ///< same scale on both axes (false: fill the panel)
  /// Names of the ny rows, drawn at the row centres instead of numeric y ticks (empty: numbers).
  std::vector<std::string> ytick_labels;
  /// Names of the nx columns, drawn under the column centres instead of numeric x ticks (empty:
  /// numbers); a '\n' starts a second line.
  std::vector<std::string> xtick_labels;
  bool colorbar = false;       ///< a colour bar (0 .. max) on the right of the panel
  std::string colorbar_label;  ///< the colour bar's label, e.g. "mean |z|"
  double vmax = 0;             ///< the value drawn darkest (0: the panel's own maximum)
};

/// Writes density panels in `cols` columns as one PNG. Each panel's colours run from white at 0
/// to dark blue at its `vmax`, or at that panel's maximum where vmax is 0; a NaN cell is grey.
void density_png(const std::string& path, const std::vector<Density>& panels, int cols,
                 int width, int height);

/// Options of bar_chart_png.
struct BarOptions {
  double reference = std::numeric_limits<double>::quiet_NaN();  ///< y of a dashed line (NaN: none)
  std::string reference_label;  ///< text drawn just above the reference line, at its right end
  int decimals = 1;             ///< digits after the point of the value printed at each bar
  std::string value_suffix;     ///< appended to each printed value (e.g. "%")
  double y_max = std::numeric_limits<double>::quiet_NaN();  ///< top of the y axis at least this
};

/// Writes a bar chart: one filled bar per category (values[i], NaN: no bar, "n/a"), its name
/// under it (wrapped onto several lines when long) and its value printed above it.
void bar_chart_png(const std::string& path, const std::string& title, const std::string& ylabel,
                   const std::vector<std::string>& categories, const std::vector<double>& values,
                   const BarOptions& opts = {}, int width = 900, int height = 600);

/// True when PLplot has the pngcairo device.
bool png_available();

}  // namespace unravel::plot
