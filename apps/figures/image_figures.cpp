// Image-grid figures of a trained run: latent traversals, reconstructions and prior samples,
// and the tile-grid compositor they share (thin separators, group gaps, integer upscaling).
//
// Traversals follow Higgins et al. / Burgess et al.: the seed image's posterior mean μ is kept
// and latent d is SET to each of `steps` values linspace(-range, range) (not added to μ_d), then
// decoded; rows are the latents in decreasing order of their mean KL(q(z_d|x) ‖ N(0,1)) over 256
// random items, so informative latents come first and collapsed ones (KL ≈ 0) last; each row is
// labelled on the left with its latent and that KL (a 5 × 7 bitmap font of the few characters
// the labels use).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "apps/common/encoding.h"
#include "apps/figures/figures.h"
#include "engine/check.h"
#include "ops/ops.h"

namespace unravel::apps {

namespace fs = std::filesystem;

std::string default_figure_path(const std::string& run, const std::string& kind) {
  return (fs::path(run) / "figures" / (kind + ".png")).string();
}

namespace {

/// A 5 × 7 bitmap font for the row labels (rows top to bottom, bit 4 = leftmost pixel), with an
/// eighth row for descenders (drawn into the 2-row gap between lines).
const uint8_t* glyph(char ch) {
  static const struct {
    char c;
    uint8_t rows[8];
  } font[] = {
      {'0', {14, 17, 19, 21, 25, 17, 14}}, {'1', {4, 12, 4, 4, 4, 4, 14}},
      {'2', {14, 17, 1, 2, 4, 8, 31}},     {'3', {30, 1, 1, 14, 1, 1, 30}},
      {'4', {2, 6, 10, 18, 31, 2, 2}},     {'5', {31, 16, 30, 1, 1, 17, 14}},
      {'6', {6, 8, 16, 30, 17, 17, 14}},   {'7', {31, 1, 2, 4, 8, 8, 8}},
      {'8', {14, 17, 17, 14, 17, 17, 14}}, {'9', {14, 17, 17, 15, 1, 2, 12}},
      {'z', {0, 0, 31, 2, 4, 8, 31}},      {'.', {0, 0, 0, 0, 0, 12, 12}},
      {'-', {0, 0, 0, 31, 0, 0, 0}},       {'+', {0, 4, 4, 31, 4, 4, 0}},
      {'K', {17, 18, 20, 24, 20, 18, 17}}, {'L', {16, 16, 16, 16, 16, 16, 31}},
      {'X', {17, 17, 10, 4, 10, 17, 17}},  {'Y', {17, 17, 10, 4, 4, 4, 4}},
      {'a', {0, 0, 14, 1, 15, 17, 15}},    {'c', {0, 0, 14, 16, 16, 17, 14}},
      {'d', {1, 1, 13, 19, 17, 17, 15}},   {'u', {0, 0, 17, 17, 17, 19, 13}},
      {'e', {0, 0, 14, 17, 31, 16, 14}},   {'h', {16, 16, 22, 25, 17, 17, 17}},
      {'i', {4, 0, 12, 4, 4, 4, 14}},      {'l', {12, 4, 4, 4, 4, 4, 14}},
      {'n', {0, 0, 22, 25, 17, 17, 17}},   {'o', {0, 0, 14, 17, 17, 17, 14}},
      {'p', {0, 0, 30, 17, 17, 17, 30, 16}},   {'r', {0, 0, 22, 25, 16, 16, 16}},
      {'s', {0, 0, 14, 16, 14, 1, 30}},    {'t', {8, 8, 28, 8, 8, 9, 6}},
      {' ', {0, 0, 0, 0, 0, 0, 0}},
  };
  for (const auto& f : font)
    if (f.c == ch) return f.rows;
  return nullptr;
}

std::vector<std::string> label_lines(const std::string& label) {
  std::vector<std::string> lines(1);
  for (char ch : label) {
    if (ch == '\n') lines.emplace_back();
    else lines.back() += ch;
  }
  return lines;
}

/// Draws `text` in black at (x, y) with pixels `gs` wide.
void draw_text(Image8& img, int x, int y, int gs, const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t* rows = glyph(text[i]);
    for (int r = 0; r < 8; ++r)
      for (int b = 0; b < 5; ++b) {
        if (!(rows[r] & (16 >> b))) continue;
        for (int dy = 0; dy < gs; ++dy)
          for (int dx = 0; dx < gs; ++dx) {
            const int px = x + (static_cast<int>(i) * 6 + b) * gs + dx, py = y + r * gs + dy;
            for (int ch = 0; ch < img.channels; ++ch)
              img.data[(static_cast<size_t>(py) * img.width + px) * img.channels + ch] = 0;
          }
      }
  }
}

}  // namespace

Image8 compose_tile_grid(const TileGrid& g, int scale, const std::string& what) {
  UNRAVEL_CHECK(g.rows > 0 && g.cols > 0 && g.h > 0 && g.w > 0 && (g.c == 1 || g.c == 3),
                "figure {}: bad tile grid {}x{} of {}x{}x{}", what, g.rows, g.cols, g.c, g.h, g.w);
  UNRAVEL_CHECK(g.pixels.size() == static_cast<size_t>(g.rows) * g.cols * g.c * g.h * g.w,
                "figure {}: tile grid holds {} values, expected {}", what, g.pixels.size(),
                static_cast<size_t>(g.rows) * g.cols * g.c * g.h * g.w);
  UNRAVEL_CHECK(g.row_labels.empty() || g.row_labels.size() == static_cast<size_t>(g.rows),
                "figure {}: {} row labels for {} rows", what, g.row_labels.size(), g.rows);
  if (scale <= 0) scale = std::max(1, (96 + g.h - 1) / g.h);
  const int sep = 2, gap = 8, th = g.h * scale, tw = g.w * scale;
  // Row labels: glyphs 2 px per font pixel where two lines fit a row (1 px otherwise), in a
  // column as wide as kRowLabelChars characters, so a figure's size does not depend on its text.
  const int gs = th >= 40 ? 2 : 1, pad = 4 * gs;
  const int label_w = g.row_labels.empty() ? 0 : kRowLabelChars * 6 * gs + 2 * pad;
  for (const std::string& label : g.row_labels) {
    for (const std::string& line : label_lines(label)) {
      UNRAVEL_CHECK(static_cast<int>(line.size()) <= kRowLabelChars,
                    "figure {}: row label line '{}' is longer than {} characters", what, line,
                    kRowLabelChars);
      for (char ch : line)
        UNRAVEL_CHECK(glyph(ch) != nullptr, "figure {}: row label '{}' has a character ('{}') "
                      "the label font lacks", what, label, ch);
    }
  }
  auto offsets = [&](int n, const std::vector<int>& gaps, int t, std::vector<int>& off) {
    off.resize(n);
    int pos = sep;
    for (int i = 0; i < n; ++i) {
      off[i] = pos;
      pos += t + (std::find(gaps.begin(), gaps.end(), i) != gaps.end() ? gap : sep);
    }
    return pos;
  };
  std::vector<int> ry, cx;
  const int H = offsets(g.rows, g.row_gap_after, th, ry);
  const int W = label_w + offsets(g.cols, g.col_gap_after, tw, cx);
  for (int& x : cx) x += label_w;
  Image8 img;
  img.width = W;
  img.height = H;
  img.channels = g.c;
  img.data.assign(static_cast<size_t>(W) * H * g.c, 200);  // separators: light grey
  for (int r = 0; r < g.rows && label_w > 0; ++r) {
    for (int y = ry[r]; y < ry[r] + th; ++y)  // a white label cell beside the row
      std::fill_n(img.data.begin() + static_cast<size_t>(y) * W * g.c + sep * g.c,
                  static_cast<size_t>(label_w - sep) * g.c, uint8_t{255});
    std::vector<std::string> lines = label_lines(g.row_labels[r]);
    // As many lines as the row holds (tiles of 96 px and more hold 3 at 2 px a font pixel).
    lines.resize(std::min<size_t>(lines.size(), static_cast<size_t>((th + 2 * gs) / (9 * gs))));
    const int block = static_cast<int>(lines.size()) * 9 * gs - 2 * gs;  // 7 rows + 2 between
    int y = ry[r] + std::max(0, (th - block) / 2);
    for (const std::string& line : lines) {
      draw_text(img, sep + pad, y, gs, line);
      y += 9 * gs;
    }
  }
  for (int r = 0; r < g.rows; ++r)
    for (int c = 0; c < g.cols; ++c) {
      const float* tile = g.pixels.data() + (static_cast<size_t>(r) * g.cols + c) * g.c * g.h * g.w;
      for (int y = 0; y < th; ++y)
        for (int x = 0; x < tw; ++x)
          for (int ch = 0; ch < g.c; ++ch) {
            float v = tile[(static_cast<size_t>(ch) * g.h + y / scale) * g.w + x / scale];
            v = std::isfinite(v) ? std::clamp(v, 0.0f, 1.0f) : 0.0f;
            img.data[(static_cast<size_t>(ry[r] + y) * W + cx[c] + x) * g.c + ch] =
                static_cast<uint8_t>(std::lround(v * 255.0f));
          }
    }
  return img;
}

Image8 write_tile_grid(const TileGrid& g, const std::string& png, int scale) {
  Image8 img = compose_tile_grid(g, scale, png);
  const int W = img.width, H = img.height;
  fs::path p(png);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  if (g.c == 1) write_png_gray(png, W, H, img.data.data());
  else write_png_rgb(png, W, H, img.data.data());
  return img;
}

namespace {

/// Checks that the run's data are images and returns (C, H, W).
std::array<int, 3> image_dims(const Run& run, const char* kind) {
  const Shape& s = run.vae->data_shape();
  UNRAVEL_CHECK(s.size() == 3, "figure {}: run's dataset '{}' has items of shape {}, not images "
                "(for 2-D data use `unravel figure density`)", kind, run.config.dataset, s.str());
  // The decoder's channel count follows the data (Vae built with the dataset's channels).
  int c = run.data ? static_cast<int>(run.data->item_shape()[0]) : static_cast<int>(s[0]);
  return {c, static_cast<int>(s[1]), static_cast<int>(s[2])};
}

void append(std::vector<float>& dst, const Tensor& images) {
  std::vector<float> v = contiguous(to(images, DType::f32)).to_vector<float>();
  dst.insert(dst.end(), v.begin(), v.end());
}

/// The seed items of a figure: fixed dSprites tuples (seed 0) or random items.
std::vector<int64_t> seed_items(const Run& run, int64_t count, uint64_t seed) {
  const Dataset& d = *run.data;
  std::vector<int64_t> items;
  if (seed == 0 && run.config.dataset == "dsprites" && d.num_factors() == 5) {
    // shape square/ellipse/heart, scale index 4 of 6, orientation 0, centred; more seeds move
    // the position so every seed differs.
    for (int64_t i = 0; i < count; ++i) {
      std::vector<int64_t> c = {i % 3, 4, 0, 16 + 6 * ((i / 3) % 3) - 6, 16};
      items.push_back(d.index_of_factors(c));
    }
    return items;
  }
  Generator g(seed == 0 ? 12345 : seed);
  for (int64_t i = 0; i < count; ++i) items.push_back(static_cast<int64_t>(g.randint(d.size())));
  return items;
}

}  // namespace

bool row_label_font_has(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char ch) { return ch == '\n' || glyph(ch); });
}

std::string traversal_row_label(int64_t latent, double kl, const std::string& note) {
  // "KL " and at most 5 characters: 3.21, 12.3, 123, 99999 (nats).
  const double k = std::max(0.0, kl);
  const std::string v = k < 9.995 ? fmt::format("{:.2f}", k)
                        : k < 99.95 ? fmt::format("{:.1f}", k)
                                    : fmt::format("{:.0f}", std::min(k, 99999.0));
  std::string label = fmt::format("z{}\nKL {}", latent, v);
  if (note.empty() || !row_label_font_has(note)) return label;
  return label + "\n" + (note.size() <= kRowLabelChars ? note : note.substr(0, kRowLabelChars - 2) + ".");
}

std::string draw_traversals(Run& run, const std::string& png, const ImageFigureOptions& o) {
  auto [c, h, w] = image_dims(run, "traversals");
  UNRAVEL_CHECK(o.steps >= 2 && o.steps <= 64, "figure traversals: --steps must be in [2, 64], got {}",
                o.steps);
  UNRAVEL_CHECK(o.range > 0, "figure traversals: --range must be positive, got {}", o.range);
  const bool fixed = o.seed == 0 && run.config.dataset == "dsprites";
  const int64_t seeds = o.count > 0 ? o.count : (fixed ? 3 : 1);
  UNRAVEL_CHECK(seeds <= 16, "figure traversals: at most 16 seed images, got --count {}", seeds);
  const int64_t D = run.vae->latents();
  // Latent order: decreasing mean KL.
  const std::vector<double> kl = latent_kl(*run.vae, *run.data);
  std::vector<int64_t> order(D);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return kl[a] > kl[b]; });

  std::vector<int64_t> items = seed_items(run, seeds, o.seed);
  Encoded e = encode_items(*run.vae, *run.data, items, 64, "");
  std::vector<float> mu = e.mu.to_vector<float>();
  std::vector<double> values = linspace(-o.range, o.range, o.steps);
  // z for every (row = latent, seed block, column): [D * seeds * steps, D] in display order.
  std::vector<float> z;
  for (int64_t r = 0; r < D; ++r)
    for (int64_t s = 0; s < seeds; ++s)
      for (int64_t j = 0; j < o.steps; ++j) {
        for (int64_t d = 0; d < D; ++d) z.push_back(mu[s * D + d]);
        z[z.size() - D + order[r]] = static_cast<float>(values[j]);
      }
  const int64_t n = D * seeds * o.steps;
  Tensor imgs = decode_to_images(*run.vae, Tensor::from_vector(z, Shape{n, D}));
  TileGrid grid{static_cast<int>(D), static_cast<int>(seeds * o.steps), h, w, c, {}, {}, {}, {}};
  append(grid.pixels, imgs);
  for (int64_t r = 0; r < D; ++r) {
    auto note = o.latent_notes.find(order[r]);
    grid.row_labels.push_back(traversal_row_label(
        order[r], kl[order[r]], note == o.latent_notes.end() ? "" : note->second));
  }
  for (int64_t s = 0; s + 1 < seeds; ++s) grid.col_gap_after.push_back(static_cast<int>((s + 1) * o.steps - 1));
  write_tile_grid(grid, png, seeds > 1 && h >= 48 ? 1 : 0);  // several blocks: no upscale
  std::string cap = fmt::format("Latent traversals ({} seed image{}{}; columns: z_d = {:.3g} … {:.3g} "
                                "in {} steps). Rows, top to bottom, labelled with the latent and its "
                                "mean KL in nats:",
                                seeds, seeds > 1 ? "s side by side" : "",
                                fixed ? ", fixed dSprites seeds square/ellipse/heart" : "",
                                -o.range, o.range, o.steps);
  for (int64_t r = 0; r < D; ++r)
    cap += fmt::format(" z{} (KL {:.2f})", order[r], kl[order[r]]) + (r + 1 < D ? "," : ".");
  if (!o.latent_notes.empty()) {
    std::vector<std::string> named;
    for (const auto& [d, note] : o.latent_notes) named.push_back(fmt::format("z{} {}", d, note));
    cap += fmt::format(" A third label line names the factor the figure's table finds in that "
                       "latent alone: {}.", fmt::join(named, ", "));
  }
  return cap;
}

std::string draw_reconstructions(Run& run, const std::string& png, const ImageFigureOptions& o) {
  auto [c, h, w] = image_dims(run, "reconstructions");
  const int64_t n = o.count > 0 ? o.count : 8;
  UNRAVEL_CHECK(n <= 256, "figure reconstructions: at most 256 images, got --count {}", n);
  const int64_t cols = std::min<int64_t>(n, 12);
  const int64_t pairs = (n + cols - 1) / cols;
  Generator g(o.seed + 4242);
  std::vector<int64_t> items;
  for (int64_t i = 0; i < n; ++i) items.push_back(static_cast<int64_t>(g.randint(run.data->size())));
  Tensor x = gather_items(*run.data, items);
  Encoded e = encode_items(*run.vae, *run.data, items, 256, "");
  Tensor y = decode_to_images(*run.vae, e.mu);
  std::vector<float> xs = x.to_vector<float>(), ys = y.to_vector<float>();
  const size_t per = static_cast<size_t>(c) * h * w;
  TileGrid grid{static_cast<int>(2 * pairs), static_cast<int>(cols), h, w, c, {}, {}, {}, {}};
  grid.pixels.assign(static_cast<size_t>(grid.rows) * grid.cols * per, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    int64_t p = i / cols, col = i % cols;
    std::copy(xs.begin() + i * per, xs.begin() + (i + 1) * per,
              grid.pixels.begin() + ((2 * p) * cols + col) * per);
    std::copy(ys.begin() + i * per, ys.begin() + (i + 1) * per,
              grid.pixels.begin() + ((2 * p + 1) * cols + col) * per);
  }
  for (int64_t p = 0; p + 1 < pairs; ++p) grid.row_gap_after.push_back(static_cast<int>(2 * p + 1));
  for (int64_t p = 0; p < pairs; ++p) {
    grid.row_labels.push_back("input");
    grid.row_labels.push_back("decoded");
  }
  write_tile_grid(grid, png);
  return fmt::format("Reconstructions of {} random items (seed {}): inputs above (rows labelled "
                     "input), decoded posterior means below (labelled decoded){}.", n, o.seed,
                     run.vae->likelihood().kind == LikelihoodKind::bernoulli ? " (sigmoid of the logits)" : "");
}

std::string draw_samples(Run& run, const std::string& png, const ImageFigureOptions& o) {
  auto [c, h, w] = image_dims(run, "samples");
  const int64_t n = o.count > 0 ? o.count : 16;
  UNRAVEL_CHECK(n <= 1024, "figure samples: at most 1024 images, got --count {}", n);
  const int64_t cols = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::sqrt(double(n)))));
  const int64_t rows = (n + cols - 1) / cols;
  Generator g(o.seed + 999);
  Tensor z;
  {
    NoGradGuard ng;
    z = run.prior->sample(Shape{n}, g);
  }
  Tensor imgs = decode_to_images(*run.vae, z);
  TileGrid grid{static_cast<int>(rows), static_cast<int>(cols), h, w, c, {}, {}, {}, {}};
  append(grid.pixels, imgs);
  grid.pixels.resize(static_cast<size_t>(rows) * cols * c * h * w, 1.0f);
  write_tile_grid(grid, png);
  return fmt::format("{} samples z ~ p(z) (prior '{}') decoded{}.", n, run.config.prior,
                     run.vae->likelihood().kind == LikelihoodKind::bernoulli ? " (sigmoid of the logits)" : "");
}

}  // namespace unravel::apps
