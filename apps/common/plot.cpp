#include "apps/common/plot.h"

#include <plplot/plstream.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "engine/check.h"

namespace unravel::plot {

namespace {

// A colour-blind-safe palette (Okabe–Ito) for up to 8 series, in cmap0 slots 1..8.
const int kPalette[8][3] = {{0, 114, 178}, {213, 94, 0},  {0, 158, 115}, {204, 121, 167},
                            {230, 159, 0}, {86, 180, 233}, {0, 0, 0},     {240, 228, 66}};

std::unique_ptr<plstream> open_png(const std::string& path, int width, int height, int cols,
                                   int rows) {
  UNRAVEL_CHECK(png_available(),
                "plot {}: PLplot's pngcairo device is missing (install plplot-driver-cairo)", path);
  auto pls = std::make_unique<plstream>();
  pls->sdev("pngcairo");
  pls->sfnam(path.c_str());
  pls->spage(0, 0, width, height, 0, 0);
  pls->scolbg(255, 255, 255);
  pls->scol0(15, 0, 0, 0);  // axes / text
  for (int i = 0; i < 8; ++i) pls->scol0(i + 1, kPalette[i][0], kPalette[i][1], kPalette[i][2]);
  pls->ssub(cols, rows);
  pls->init();
  pls->schr(0, 0.9);
  return pls;
}

void finite_range(const std::vector<double>& v, double& lo, double& hi) {
  for (double x : v)
    if (std::isfinite(x)) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
}

}  // namespace

bool png_available() {
  const char* menu_buf[128];
  const char* dev_buf[128];
  const char** menu = menu_buf;
  const char** devs = dev_buf;
  int n = 128;
  plgDevs(&menu, &devs, &n);
  for (int i = 0; i < n; ++i)
    if (std::strcmp(devs[i], "pngcairo") == 0) return true;
  return false;
}

void line_plots_png(const std::string& path, const std::vector<Panel>& panels, int cols, int width,
                    int height) {
  UNRAVEL_CHECK(!panels.empty(), "plot {}: no panels", path);
  cols = std::max(1, std::min<int>(cols, panels.size()));
  int rows = (static_cast<int>(panels.size()) + cols - 1) / cols;
  auto pls = open_png(path, width, height, cols, rows);
  for (const Panel& p : panels) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (const Series& s : p.series) {
      finite_range(s.x, x0, x1);
      std::vector<double> ys = s.y;
      if (p.log_y)
        for (double& y : ys) y = y > 0 ? std::log10(y) : NAN;
      finite_range(ys, y0, y1);
    }
    if (!(x0 < x1)) { x0 = std::isfinite(x0) ? x0 - 1 : 0; x1 = x0 + 2; }
    if (!(y0 < y1)) { y0 = std::isfinite(y0) ? y0 - 1 : 0; y1 = y0 + 2; }
    double pad = 0.05 * (y1 - y0);
    pls->col0(15);
    bool labelled = std::any_of(p.series.begin(), p.series.end(),
                                [](const Series& s) { return !s.label.empty(); });
    // The plot area leaves room on the right for the legend, which sits outside the axes so it
    // never hides a curve.
    pls->adv(0);
    pls->vpor(0.16, labelled ? 0.70 : 0.95, 0.14, 0.88);
    pls->wind(x0, x1, y0 - pad, y1 + pad);
    pls->col0(15);
    pls->box("bcnst", 0, 0, p.log_y ? "bcnstvl" : "bcnstv", 0, 0);
    pls->lab(p.xlabel.c_str(), p.ylabel.c_str(), p.title.c_str());
    std::vector<const char*> texts;
    std::vector<PLINT> opts, colors, styles, sym_colors, sym_numbers;
    std::vector<PLFLT> widths, sym_scales;
    std::vector<const char*> symbols;
    for (size_t i = 0; i < p.series.size(); ++i) {
      const Series& s = p.series[i];
      std::vector<PLFLT> xs, ys;
      for (size_t k = 0; k < std::min(s.x.size(), s.y.size()); ++k) {
        double y = p.log_y ? (s.y[k] > 0 ? std::log10(s.y[k]) : NAN) : s.y[k];
        if (std::isfinite(s.x[k]) && std::isfinite(y)) {
          xs.push_back(s.x[k]);
          ys.push_back(y);
        }
      }
      int color = static_cast<int>(i % 8) + 1;
      pls->col0(color);
      pls->width(2.0);
      if (!xs.empty()) {
        if (s.points) pls->string(xs.size(), xs.data(), ys.data(), "•");
        else pls->line(xs.size(), xs.data(), ys.data());
      }
      pls->width(1.0);
      texts.push_back(s.label.c_str());
      opts.push_back(s.points ? PL_LEGEND_SYMBOL : PL_LEGEND_LINE);
      colors.push_back(color);
      styles.push_back(1);
      widths.push_back(2.0);
      sym_colors.push_back(color);
      sym_scales.push_back(1.0);
      sym_numbers.push_back(1);
      symbols.push_back("•");
    }
    if (labelled) {
      PLFLT lw, lh;
      pls->col0(15);
      pls->legend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
                  PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.03, 0.0, 0.05, 0, 15,
                  1, 0, 0, static_cast<PLINT>(texts.size()), opts.data(), 1.0, 0.8, 1.8, 0.0,
                  colors.data(), texts.data(), nullptr, nullptr, nullptr, nullptr, colors.data(),
                  styles.data(), widths.data(), sym_colors.data(), sym_scales.data(),
                  sym_numbers.data(), symbols.data());
    }
  }
}

void density_png(const std::string& path, const std::vector<Density>& panels, int cols, int width,
                 int height) {
  UNRAVEL_CHECK(!panels.empty(), "plot {}: no panels", path);
  cols = std::max(1, std::min<int>(cols, panels.size()));
  int rows = (static_cast<int>(panels.size()) + cols - 1) / cols;
  auto pls = open_png(path, width, height, cols, rows);
  // cmap1: white → dark blue ("Blues").
  PLFLT pos[3] = {0.0, 0.5, 1.0}, r[3] = {1.0, 0.42, 0.03}, g[3] = {1.0, 0.68, 0.19},
        b[3] = {1.0, 0.84, 0.42};
  pls->scmap1n(256);
  pls->scmap1l(true, 3, pos, r, g, b);
  for (const Density& d : panels) {
    UNRAVEL_CHECK(d.nx > 0 && d.ny > 0 && static_cast<int>(d.values.size()) == d.nx * d.ny,
                  "plot {}: density '{}' has {} values for a {}x{} grid", path, d.title,
                  d.values.size(), d.nx, d.ny);
    pls->col0(15);
    pls->env(d.x0, d.x1, d.y0, d.y1, d.equal_axes ? 1 : 0, 0);
    pls->lab(d.xlabel.c_str(), d.ylabel.c_str(), d.title.c_str());
    std::vector<std::vector<PLFLT>> cols_data(d.nx, std::vector<PLFLT>(d.ny));
    std::vector<const PLFLT*> ptrs(d.nx);
    double vmax = 0;
    for (int ix = 0; ix < d.nx; ++ix) {
      for (int iy = 0; iy < d.ny; ++iy) {
        double v = d.values[static_cast<size_t>(iy) * d.nx + ix];
        cols_data[ix][iy] = std::isfinite(v) ? v : 0.0;
        vmax = std::max(vmax, cols_data[ix][iy]);
      }
      ptrs[ix] = cols_data[ix].data();
    }
    if (vmax <= 0) vmax = 1;
    pls->image(ptrs.data(), d.nx, d.ny, d.x0, d.x1, d.y0, d.y1, 0.0, vmax, d.x0, d.x1, d.y0, d.y1);
    pls->col0(15);
    pls->box("bcnst", 0, 0, "bcnstv", 0, 0);
  }
}

}  // namespace unravel::plot
