#include "apps/common/plot.h"

#include <fmt/format.h>
#include <plplot/plstream.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>

#include "engine/check.h"

namespace unravel::plot {

namespace {

// A colour-blind-safe palette (Okabe–Ito) for up to 8 series, in cmap0 slots 1..8.
const int kPalette[8][3] = {{0, 114, 178}, {213, 94, 0},  {0, 158, 115}, {204, 121, 167},
                            {230, 159, 0}, {86, 180, 233}, {0, 0, 0},     {240, 228, 66}};

constexpr double kCharScale = 0.9;  // text size relative to PLplot's default
constexpr double kDotScale = 1.5;   // markers drawn as "•" at this text size, to read at a glance

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
  pls->scol0(14, 190, 190, 190);  // heat-map cells without a value (NaN)
  for (int i = 0; i < 8; ++i) pls->scol0(i + 1, kPalette[i][0], kPalette[i][1], kPalette[i][2]);
  pls->ssub(cols, rows);
  pls->init();
  pls->schr(0, kCharScale);
  return pls;
}

// Tick labels of a log axis drawn as plain numbers (10^v printed with {:g}: 0.5, 1, 2, 4).
void plain_log_label(PLINT, PLFLT value, char* out, PLINT length, PLPointer) {
  auto r = fmt::format_to_n(out, static_cast<size_t>(length - 1), "{:g}",
                            std::pow(10.0, value));
  *r.out = '\0';
}

void draw_dots(plstream& pls, const std::vector<PLFLT>& xs, const std::vector<PLFLT>& ys) {
  pls.schr(0, kDotScale);
  pls.string(static_cast<PLINT>(xs.size()), xs.data(), ys.data(), "•");
  pls.schr(0, kCharScale);
}

void finite_range(const std::vector<double>& v, double& lo, double& hi) {
  for (double x : v)
    if (std::isfinite(x)) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
}

// Approximate advance of one character of the cairo sans font, in PLplot character heights
// (the C++ API has no string-length query), used to size margins for labels.
constexpr double kCharWidth = 0.78;

/// Width of a label in character heights (UTF-8 code points × kCharWidth; PLplot escapes such
/// as "#gb" count as their three characters, an overestimate).
double text_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return kCharWidth * static_cast<double>(n);
}

/// Splits `s` at spaces into lines no wider than `max_width` character heights (a word longer
/// than that gets a line of its own). A parenthesised part ("PCA (10 components)") starts a line
/// of its own when the whole does not fit.
std::vector<std::string> wrap_words(const std::string& s, double max_width) {
  if (text_width(s) > max_width) {
    const size_t paren = s.find(" (");
    if (paren != std::string::npos) {
      std::vector<std::string> lines = wrap_words(s.substr(0, paren), max_width);
      for (std::string& l : wrap_words(s.substr(paren + 1), max_width)) lines.push_back(std::move(l));
      return lines;
    }
  }
  std::vector<std::string> lines;
  std::string line, word;
  std::stringstream ss(s);
  while (ss >> word) {
    std::string joined = line.empty() ? word : line + " " + word;
    if (!line.empty() && text_width(joined) > max_width) {
      lines.push_back(line);
      line = word;
    } else {
      line = joined;
    }
  }
  if (!line.empty() || lines.empty()) lines.push_back(line);
  return lines;
}

/// The current subpage's size and the character height, in millimetres.
struct Subpage {
  double w, h, ch;
};

Subpage subpage(plstream& pls) {
  PLFLT xmin, xmax, ymin, ymax, def, ht;
  pls.gspa(xmin, xmax, ymin, ymax);
  pls.gchr(def, ht);
  return {xmax - xmin, ymax - ymin, ht};
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
    auto ty = [&](double y) { return p.log_y ? (y > 0 ? std::log10(y) : NAN) : y; };
    auto tx = [&](double x) { return p.log_x ? (x > 0 ? std::log10(x) : NAN) : x; };
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (const Series& s : p.series) {
      UNRAVEL_CHECK((s.lo.empty() && s.hi.empty()) ||
                        (s.lo.size() == s.y.size() && s.hi.size() == s.y.size()),
                    "plot {}: series '{}' has {} values but {} / {} error-bar ends", path,
                    s.label, s.y.size(), s.lo.size(), s.hi.size());
      std::vector<double> xs = s.x;
      for (double& x : xs) x = tx(x);
      finite_range(xs, x0, x1);
      std::vector<double> ys = s.y;
      ys.insert(ys.end(), s.lo.begin(), s.lo.end());
      ys.insert(ys.end(), s.hi.begin(), s.hi.end());
      for (double& y : ys) y = ty(y);
      finite_range(ys, y0, y1);
    }
    if (!(x0 < x1)) { x0 = std::isfinite(x0) ? x0 - 1 : 0; x1 = x0 + 2; }
    // With error bars or dots, pad x so marks at the ends clear the frame; dodge the series
    // sideways so bars at the same x do not hide each other.
    const bool bars = std::any_of(p.series.begin(), p.series.end(),
                                  [](const Series& s) { return !s.lo.empty(); });
    const double dodge = bars ? 0.012 * (x1 - x0) : 0.0;
    const bool dotted = std::any_of(p.series.begin(), p.series.end(),
                                    [](const Series& s) { return s.dots; });
    const double xpad = bars || dotted ? 0.05 * (x1 - x0) : 0.0;
    if (!(y0 < y1)) { y0 = std::isfinite(y0) ? y0 - 1 : 0; y1 = y0 + 2; }
    double pad = 0.05 * (y1 - y0);
    pls->col0(15);
    bool labelled = std::any_of(p.series.begin(), p.series.end(),
                                [](const Series& s) { return !s.label.empty(); });
    // The plot area leaves room on the right for the legend, which sits outside the axes so it
    // never hides a curve.
    pls->adv(0);
    pls->vpor(0.16, labelled ? 0.70 : 0.95, 0.14, 0.88);
    pls->wind(x0 - xpad, x1 + xpad, y0 - pad, y1 + pad);
    pls->col0(15);
    if (p.log_x) {
      pls->slabelfunc(plain_log_label, nullptr);
      const double xtick = x1 - x0 < 3.0 ? std::log10(2.0) : 1.0;
      pls->box("bcnsto", xtick, 0, p.log_y ? "bcnstvl" : "bcnstv", 0, 0);
      pls->slabelfunc(nullptr, nullptr);
    } else {
      pls->box("bcnst", 0, 0, p.log_y ? "bcnstvl" : "bcnstv", 0, 0);
    }
    pls->lab(p.xlabel.c_str(), p.ylabel.c_str(), p.title.c_str());
    std::vector<const char*> texts;
    std::vector<PLINT> opts, colors, styles, sym_colors, sym_numbers;
    std::vector<PLFLT> widths, sym_scales;
    std::vector<const char*> symbols;
    for (size_t i = 0; i < p.series.size(); ++i) {
      const Series& s = p.series[i];
      std::vector<PLFLT> xs, ys, ex, elo, ehi;
      const double shift = dodge * (static_cast<double>(i) - 0.5 * (p.series.size() - 1.0));
      for (size_t k = 0; k < std::min(s.x.size(), s.y.size()); ++k) {
        const double x = tx(s.x[k]), y = ty(s.y[k]);
        if (std::isfinite(x) && std::isfinite(y)) {
          xs.push_back(x + shift);
          ys.push_back(y);
        }
        if (s.lo.empty()) continue;
        const double lo = ty(s.lo[k]), hi = ty(s.hi[k]);
        if (std::isfinite(x) && std::isfinite(lo) && std::isfinite(hi)) {
          ex.push_back(x + shift);
          elo.push_back(lo);
          ehi.push_back(hi);
        }
      }
      int color = static_cast<int>(i % 8) + 1;
      pls->col0(color);
      pls->width(2.0);
      if (!s.points && !xs.empty()) pls->line(xs.size(), xs.data(), ys.data());
      if (!ex.empty()) {
        pls->width(1.5);
        pls->smaj(0.0, 1.5);  // the serif length of error bars is the major tick length
        pls->erry(ex.size(), ex.data(), elo.data(), ehi.data());
        pls->smaj(0.0, 1.0);
      }
      // Markers go on top; a series with error bars always gets them (the mean it plots).
      if ((s.points || s.dots || !ex.empty()) && !xs.empty()) draw_dots(*pls, xs, ys);
      pls->width(1.0);
      texts.push_back(s.label.c_str());
      opts.push_back(s.points ? PL_LEGEND_SYMBOL
                     : s.dots ? PL_LEGEND_LINE | PL_LEGEND_SYMBOL : PL_LEGEND_LINE);
      colors.push_back(color);
      styles.push_back(1);
      widths.push_back(2.0);
      sym_colors.push_back(color);
      sym_scales.push_back(1.2);
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
    UNRAVEL_CHECK(d.ytick_labels.empty() || static_cast<int>(d.ytick_labels.size()) == d.ny,
                  "plot {}: density '{}' has {} y tick labels for {} rows", path, d.title,
                  d.ytick_labels.size(), d.ny);
    UNRAVEL_CHECK(d.xtick_labels.empty() || static_cast<int>(d.xtick_labels.size()) == d.nx,
                  "plot {}: density '{}' has {} x tick labels for {} columns", path, d.title,
                  d.xtick_labels.size(), d.nx);
    // Column labels: one or two lines each.
    std::vector<std::vector<std::string>> xlines;
    size_t xline_count = 0;
    for (const std::string& l : d.xtick_labels) {
      std::vector<std::string> lines;
      size_t at = 0;
      for (size_t nl; (nl = l.find('\n', at)) != std::string::npos; at = nl + 1)
        lines.push_back(l.substr(at, nl - at));
      lines.push_back(l.substr(at));
      xline_count = std::max(xline_count, lines.size());
      xlines.push_back(std::move(lines));
    }
    const double xlab_disp = xline_count > 0 ? 1.2 * static_cast<double>(xline_count) + 2.0 : 3.2;
    pls->adv(0);
    const Subpage sp = subpage(*pls);
    // Margins in character heights: the y-axis title sits outside the widest tick label, the
    // colour bar (offset, body, numbers, label) to the right of the plot area.
    double widest = 0;
    for (const std::string& l : d.ytick_labels) widest = std::max(widest, text_width(l));
    const bool named = !d.ytick_labels.empty();
    const double ylab_disp = named ? 0.8 + widest + 1.4 : 5.0;
    const double left = (ylab_disp + 1.0) * sp.ch / sp.w;
    const double right = d.colorbar ? 1.0 - (0.035 * sp.w + 7.5 * sp.ch) / sp.w : 1.0 - 1.5 * sp.ch / sp.w;
    const double bottom = (xlab_disp + 1.4) * sp.ch / sp.h, top = 1.0 - 3.2 * sp.ch / sp.h;
    if (d.equal_axes) pls->vpas(left, right, bottom, top, (d.y1 - d.y0) / (d.x1 - d.x0));
    else pls->vpor(left, right, bottom, top);
    pls->wind(d.x0, d.x1, d.y0, d.y1);
    // plimage treats its nx × ny values as grid nodes and paints the cell between node i and
    // node i + 1 with value i, so n values cover only n − 1 cells. Pass one padding node per axis
    // (a copy of the last column / row) so value (ix, iy) fills exactly
    // [x0 + ix·w, x0 + (ix + 1)·w] × [y0 + iy·h, y0 + (iy + 1)·h].
    std::vector<std::vector<PLFLT>> cols_data(d.nx + 1, std::vector<PLFLT>(d.ny + 1));
    std::vector<const PLFLT*> ptrs(d.nx + 1);
    double vmax = 0;
    for (int ix = 0; ix <= d.nx; ++ix) {
      for (int iy = 0; iy <= d.ny; ++iy) {
        const int sx = std::min(ix, d.nx - 1), sy = std::min(iy, d.ny - 1);
        double v = d.values[static_cast<size_t>(sy) * d.nx + sx];
        cols_data[ix][iy] = std::isfinite(v) ? v : 0.0;
        vmax = std::max(vmax, cols_data[ix][iy]);
      }
      ptrs[ix] = cols_data[ix].data();
    }
    if (d.vmax > 0) vmax = d.vmax;
    if (vmax <= 0) vmax = 1;
    // Colours from 0 (white) to vmax (darkest), as the colour bar says. (plimage would map its
    // data's own minimum and maximum instead, ignoring vmax: with a fixed vmax of 1 a matrix
    // whose largest value is 0.26 was drawn with that cell darkest.) Values outside are clamped.
    pls->imagefr(ptrs.data(), d.nx + 1, d.ny + 1, d.x0, d.x1, d.y0, d.y1, 0.0, 0.0, 0.0, vmax,
                 nullptr, nullptr);
    // Cells without a value (NaN, drawn as 0 above) painted grey over the image.
    const double cw = (d.x1 - d.x0) / d.nx, chh = (d.y1 - d.y0) / d.ny;
    pls->col0(14);
    for (int iy = 0; iy < d.ny; ++iy)
      for (int ix = 0; ix < d.nx; ++ix)
        if (std::isnan(d.values[static_cast<size_t>(iy) * d.nx + ix])) {
          PLFLT xs[4] = {d.x0 + ix * cw, d.x0 + (ix + 1) * cw, d.x0 + (ix + 1) * cw, d.x0 + ix * cw};
          PLFLT ys[4] = {d.y0 + iy * chh, d.y0 + iy * chh, d.y0 + (iy + 1) * chh,
                         d.y0 + (iy + 1) * chh};
          pls->fill(4, xs, ys);
        }
    pls->col0(15);
    pls->box(xlines.empty() ? "bcnst" : "bc", 0, 0, named ? "bc" : "bcnstv", 0, 0);
    for (int ix = 0; ix < static_cast<int>(xlines.size()); ++ix)
      for (size_t k = 0; k < xlines[ix].size(); ++k)
        pls->mtex("b", 1.4 + 1.2 * static_cast<double>(k), (ix + 0.5) / d.nx, 0.5,
                  xlines[ix][k].c_str());
    pls->mtex("b", xlab_disp, 0.5, 0.5, d.xlabel.c_str());
    pls->mtex("t", 1.6, 0.5, 0.5, d.title.c_str());
    pls->mtex("l", ylab_disp, 0.5, 0.5, d.ylabel.c_str());
    for (int iy = 0; iy < d.ny && named; ++iy)
      pls->mtex("lv", 0.8, (iy + 0.5) / d.ny, 1.0, d.ytick_labels[iy].c_str());
    if (d.colorbar) {
      PLFLT bar_w, bar_h;
      PLINT label_opts[1] = {PL_COLORBAR_LABEL_RIGHT};
      const char* labels[1] = {d.colorbar_label.c_str()};
      const char* axis_opts[1] = {"bcvtm"};
      PLFLT ticks[1] = {0.0};
      PLINT sub_ticks[1] = {0};
      PLINT n_values[1] = {2};
      PLFLT range[2] = {0.0, vmax};
      const PLFLT* values[1] = {range};
      pls->colorbar(&bar_w, &bar_h, PL_COLORBAR_GRADIENT,
                    PL_POSITION_RIGHT | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT, 0.015, 0.0,
                    0.035 * sp.w / ((right - left) * sp.w), 1.0, 0, 15, 1, 0.0, 0.0, 0, 0.0,
                    d.colorbar_label.empty() ? 0 : 1, label_opts, labels, 1, axis_opts, ticks,
                    sub_ticks, n_values, values);
    }
  }
}

void bar_chart_png(const std::string& path, const std::string& title, const std::string& ylabel,
                   const std::vector<std::string>& categories, const std::vector<double>& values,
                   const BarOptions& opts, int width, int height) {
  UNRAVEL_CHECK(!categories.empty() && categories.size() == values.size(),
                "plot {}: bar chart '{}' has {} categories and {} values", path, title,
                categories.size(), values.size());
  const int n = static_cast<int>(categories.size());
  auto pls = open_png(path, width, height, 1, 1);
  pls->adv(0);
  const Subpage sp = subpage(*pls);
  // y range: 0, the values, the reference line and y_max, with headroom for the printed values.
  double lo = 0, hi = 0;
  finite_range(values, lo, hi);
  if (std::isfinite(opts.reference)) {
    lo = std::min(lo, opts.reference);
    hi = std::max(hi, opts.reference);
  }
  if (std::isfinite(opts.y_max)) hi = std::max(hi, opts.y_max);
  if (!(hi > lo)) hi = lo + 1;
  const double span = hi - lo;
  const double y0 = lo < 0 ? lo - 0.1 * span : 0.0, y1 = hi > 0 ? hi + 0.1 * span : 0.0;
  // Margins: numeric y ticks and the y title on the left, the reference label on the right,
  // the (wrapped) category names below.
  const bool has_ref = std::isfinite(opts.reference);
  const double ref_w = has_ref ? text_width(opts.reference_label) + 1.0 : 0.0;
  const double left = 6.2 * sp.ch / sp.w;
  const double right = 1.0 - std::max(1.5, ref_w + 1.0) * sp.ch / sp.w;
  const double slot = (right - left) * sp.w / n / sp.ch;  // one bar's width, in character heights
  std::vector<std::vector<std::string>> names;
  size_t lines = 1;
  for (const std::string& c : categories) {
    names.push_back(wrap_words(c, slot - 0.8));  // a gap of about one character between names
    lines = std::max(lines, names.back().size());
  }
  const double bottom = (1.6 + 1.3 * static_cast<double>(lines)) * sp.ch / sp.h;
  const double top = 1.0 - 3.2 * sp.ch / sp.h;
  pls->vpor(left, right, bottom, top);
  pls->wind(-0.5, n - 0.5, y0, y1);
  // One character height in world y units (offset of the printed values from the bar ends).
  const double ch_y = sp.ch / ((top - bottom) * sp.h) * (y1 - y0);
  for (int i = 0; i < n; ++i) {
    const double v = values[i];
    std::string text = "n/a";
    if (std::isfinite(v)) {
      PLFLT xs[5] = {i - 0.35, i - 0.35, i + 0.35, i + 0.35, i - 0.35}, ys[5] = {0, v, v, 0, 0};
      pls->col0(i % 8 + 1);
      pls->fill(4, xs, ys);
      pls->col0(15);
      pls->line(5, xs, ys);
      text = fmt::format("{:.{}f}{}", v, std::max(0, opts.decimals), opts.value_suffix);
    }
    pls->col0(15);
    const double vy = std::isfinite(v) ? v : 0.0;
    pls->ptex(i, vy >= 0 ? vy + 0.9 * ch_y : vy - 0.9 * ch_y, 1.0, 0.0, 0.5, text.c_str());
    for (size_t k = 0; k < names[i].size(); ++k)
      pls->mtex("b", 1.6 + 1.3 * static_cast<double>(k), (i + 0.5) / n, 0.5, names[i][k].c_str());
  }
  pls->col0(15);
  if (y0 < 0) pls->join(-0.5, 0.0, n - 0.5, 0.0);
  if (has_ref) {
    pls->lsty(2);
    pls->width(1.5);
    pls->join(-0.5, opts.reference, n - 0.5, opts.reference);
    pls->lsty(1);
    pls->width(1.0);
    pls->mtex("rv", 0.5, (opts.reference - y0) / (y1 - y0), 0.0, opts.reference_label.c_str());
  }
  pls->box("bc", 0, 0, "bcnstv", 0, 0);
  pls->mtex("t", 1.6, 0.5, 0.5, title.c_str());
  pls->mtex("l", 5.0, 0.5, 0.5, ylabel.c_str());
}

}  // namespace unravel::plot
