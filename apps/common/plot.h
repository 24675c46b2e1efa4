// Figures drawn by the program itself (PLplot, pngcairo device): multi-panel line plots with
// legends (training traces, metric-vs-β curves) and density heat maps (aggregate posteriors).
#pragma once
#include <string>
#include <vector>

namespace unravel::plot {

/// One curve of a line plot.
struct Series {
  std::string label;
  std::vector<double> x, y;
  bool points = false;  ///< draw markers instead of a line
};

/// One panel: title, axis labels and curves.
struct Panel {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  bool log_y = false;
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
};

/// Writes density panels in `cols` columns as one PNG.
void density_png(const std::string& path, const std::vector<Density>& panels, int cols,
                 int width, int height);

/// True when PLplot has the pngcairo device.
bool png_available();

}  // namespace unravel::plot
