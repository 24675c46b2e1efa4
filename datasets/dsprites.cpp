// Procedural dSprites: the renderer and the grid (datasets/dsprites.h).
//
// Geometry (the published images were drawn with the LÖVE framework; their exact pixel geometry
// is not documented, so this is our own, faithful-in-kind reconstruction):
//   * Pixel (row r, column c) covers [c, c+1) × [r, r+1) in canvas units; its centre is
//     (c + ½, r + ½). Rows grow downwards.
//   * Size: s = 19.2·scale pixels (0.3 of the 64-pixel frame at scale 1, 9.6 px at scale 0.5).
//   * Position: the shape's centre is at x = 14 + 36·posX, y = 14 + 36·posY (pixels), so the
//     centres span [14, 50] and posY = 0 is at the top. Every shape at every scale and angle lies
//     within a disc of radius 0.7072·s ≤ 13.58 px about its centre (the square's half-diagonal
//     is the largest, see below), so no shape ever touches the frame's edge.
//   * Rotation: counter-clockwise on screen by `orientation` radians about the shape's centre.
//     A canvas point is taken to shape coordinates (u, v), v pointing up on screen, by
//       dx = x − cx,  dy = cy − y,  u = cos θ·dx + sin θ·dy,  v = −sin θ·dx + cos θ·dy.
//     θ is first reduced modulo 2π, so orientation 2π gives exactly the image of 0.
//   * Shapes in (u, v), all centred at the origin (the bounding box centre for the heart):
//       square   |u| ≤ s/2 and |v| ≤ s/2                       (radius s/√2)
//       ellipse  (u/a)² + (v/b)² ≤ 1, a = 0.6·s, b = 0.3·s      (long axis horizontal at θ = 0)
//       heart    the classic parametric heart x(t) = 16 sin³t, y(t) = 13 cos t − 5 cos 2t
//                − 2 cos 3t − cos 4t, t ∈ [0, 2π) (lobes up, tip down at θ = 0), a closed curve
//                32 units wide and 28.92 tall (y ∈ [−17, 11.923]); it is scaled to s pixels
//                wide (32 units = s) and centred on its bounding box (y₀ = −2.5384); area
//                0.5522·s², farthest point 0.5696·s from the centre. Point-in-heart is decided
//                by a 1024×1024 bit mask of the curve's interior over its bounding square, made
//                once by an even-odd scanline fill of the curve sampled at 4096 points: a
//                pixel centre is looked up in the mask cell it falls in (cells are 1/1024 of
//                the heart's width, under 0.02 px at scale 1, so only centres within 0.02 px
//                of the outline can differ from the exact curve).
//   * A pixel is on (1) when its centre lies inside the shape (closed set): a point-in-shape
//     test at the pixel centre, no anti-aliasing, so images are exactly binary.
// Only pixels within the shape's bounding disc (plus one pixel) are tested, rows are built as
// 64-bit masks, and the full grid renders with OpenMP over images.
#include "datasets/dsprites.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numbers>

#include "engine/check.h"

namespace unravel {

namespace {

constexpr double kBaseSize = 19.2;  // square side at scale 1, pixels
constexpr double kMargin = 14.0;    // shape centre range [kMargin, 64 − kMargin]
constexpr double kEllipseA = 0.6, kEllipseB = 0.3;
constexpr double kHeartWidth = 32.0;   // heart units across (x ∈ [−16, 16])
constexpr double kHeartRadius = 0.5696 * 1.001;  // farthest outline point / width (+ slack)

/// The parametric heart's interior as a bit mask over its bounding square (see above).
struct HeartMask {
  static constexpr int kN = 1024;
  double lo = 0, cell = 0;               // square [lo, lo + kN·cell]² in centred heart units
  std::vector<uint64_t> bits;            // kN rows × kN/64 words
  HeartMask() {
    constexpr int kVerts = 4096;
    std::vector<double> px(kVerts), py(kVerts);
    double ymin = 1e9, ymax = -1e9;
    for (int i = 0; i < kVerts; ++i) {
      const double t = 2 * std::numbers::pi * i / kVerts;
      const double st = std::sin(t);
      px[i] = 16 * st * st * st;
      py[i] = 13 * std::cos(t) - 5 * std::cos(2 * t) - 2 * std::cos(3 * t) - std::cos(4 * t);
      ymin = std::min(ymin, py[i]);
      ymax = std::max(ymax, py[i]);
    }
    const double y0 = (ymin + ymax) / 2;  // bounding-box centre (x is symmetric about 0)
    for (double& y : py) y -= y0;
    const double half = 0.5 * std::max(kHeartWidth, ymax - ymin) * 1.01;
    lo = -half;
    cell = 2 * half / kN;
    bits.assign(static_cast<size_t>(kN) * (kN / 64), 0);
    std::vector<double> xs;
    for (int j = 0; j < kN; ++j) {
      const double y = lo + (j + 0.5) * cell;
      xs.clear();
      for (int i = 0; i < kVerts; ++i) {
        const int k = (i + 1) % kVerts;
        if ((py[i] > y) != (py[k] > y))
          xs.push_back(px[i] + (y - py[i]) * (px[k] - px[i]) / (py[k] - py[i]));
      }
      std::sort(xs.begin(), xs.end());
      for (size_t m = 0; m + 1 < xs.size(); m += 2)
        for (int c = 0; c < kN; ++c) {
          const double x = lo + (c + 0.5) * cell;
          if (x >= xs[m] && x <= xs[m + 1]) bits[j * (kN / 64) + c / 64] |= 1ull << (c % 64);
        }
    }
  }
  bool inside(double x, double y) const {  // centred heart units, y up
    const double fi = (x - lo) / cell, fj = (y - lo) / cell;
    if (!(fi >= 0 && fj >= 0 && fi < kN && fj < kN)) return false;
    const int c = static_cast<int>(fi), j = static_cast<int>(fj);
    return (bits[j * (kN / 64) + c / 64] >> (c % 64)) & 1u;
  }
};

const HeartMask& heart_mask() {
  static const HeartMask m;
  return m;
}

/// Bounding radius of each shape per unit size s.
double shape_radius(SpriteShape sh) {
  switch (sh) {
    case SpriteShape::square: return std::numbers::sqrt2 / 2;
    case SpriteShape::ellipse: return kEllipseA;
    case SpriteShape::heart: return kHeartRadius;
  }
  return 1.0;
}

template <class Inside>
void raster(double cx, double cy, double radius, double ct, double st, Inside inside,
            SpriteBits& out) {
  out.fill(0);
  const double rb = radius + 1.0;
  const int r0 = std::max(0, static_cast<int>(std::floor(cy - rb)));
  const int r1 = std::min(63, static_cast<int>(std::ceil(cy + rb)));
  const int c0 = std::max(0, static_cast<int>(std::floor(cx - rb)));
  const int c1 = std::min(63, static_cast<int>(std::ceil(cx + rb)));
  for (int r = r0; r <= r1; ++r) {
    const double dy = cy - (r + 0.5);
    uint64_t row = 0;
    for (int c = c0; c <= c1; ++c) {
      const double dx = (c + 0.5) - cx;
      const double u = ct * dx + st * dy;
      const double v = -st * dx + ct * dy;
      row |= static_cast<uint64_t>(inside(u, v)) << c;
    }
    out[r] = row;
  }
}

}  // namespace

void render_sprite(SpriteShape shape, double scale, double angle, double pos_x, double pos_y,
                   SpriteBits& out) {
  UNRAVEL_CHECK(scale > 0 && scale <= 1.0 + 1e-9,
                "render_sprite: scale {} outside (0, 1] would leave the frame", scale);
  UNRAVEL_CHECK(pos_x >= 0 && pos_x <= 1 && pos_y >= 0 && pos_y <= 1,
                "render_sprite: positions ({}, {}) outside [0, 1]", pos_x, pos_y);
  const double s = kBaseSize * scale;
  const double cx = kMargin + pos_x * (64.0 - 2 * kMargin);
  const double cy = kMargin + pos_y * (64.0 - 2 * kMargin);
  const double th = std::fmod(angle, 2 * std::numbers::pi);
  const double ct = std::cos(th), st = std::sin(th);
  const double radius = shape_radius(shape) * s;
  switch (shape) {
    case SpriteShape::square: {
      const double h = s / 2;
      raster(cx, cy, radius, ct, st,
             [h](double u, double v) { return std::abs(u) <= h && std::abs(v) <= h; }, out);
      break;
    }
    case SpriteShape::ellipse: {
      const double ia = 1.0 / (kEllipseA * s * kEllipseA * s);
      const double ib = 1.0 / (kEllipseB * s * kEllipseB * s);
      raster(cx, cy, radius, ct, st,
             [ia, ib](double u, double v) { return u * u * ia + v * v * ib <= 1.0; }, out);
      break;
    }
    case SpriteShape::heart: {
      const double ik = kHeartWidth / s;
      const HeartMask& m = heart_mask();
      raster(cx, cy, radius, ct, st, [ik, &m](double u, double v) { return m.inside(u * ik, v * ik); },
             out);
      break;
    }
    default: UNRAVEL_CHECK(false, "render_sprite: unknown shape {}", static_cast<int>(shape));
  }
}

void unpack_sprite(const SpriteBits& bits, uint8_t* out) {
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < 64; ++c) out[r * 64 + c] = static_cast<uint8_t>((bits[r] >> c) & 1u);
}

int sprite_area(const SpriteBits& bits) {
  int a = 0;
  for (uint64_t w : bits) a += std::popcount(w);
  return a;
}

// ---------------------------------------------------------------------------------------------

const std::vector<double>& DSprites::factor_grid_values(int j) {
  static const std::vector<double> v[5] = {
      {1.0, 2.0, 3.0},
      linspace(0.5, 1.0, 6),
      linspace(0.0, 2 * std::numbers::pi, 40),
      linspace(0.0, 1.0, 32),
      linspace(0.0, 1.0, 32),
  };
  UNRAVEL_CHECK(j >= 0 && j < 5, "DSprites::factor_grid_values: factor {} out of range [0, 5)", j);
  return v[j];
}

DSprites::DSprites(DSpritesOptions opts) {
  if (opts.precompute) render_grid();
}

void DSprites::render_index(int64_t i, SpriteBits& out) const {
  int64_t cls[5];
  grid_classes(i, kFactorSizes, cls);
  render_sprite(static_cast<SpriteShape>(cls[0]), factor_grid_values(1)[cls[1]],
                factor_grid_values(2)[cls[2]], factor_grid_values(3)[cls[3]],
                factor_grid_values(4)[cls[4]], out);
}

void DSprites::render_grid() {
  bits_.assign(static_cast<size_t>(kGridSize) * 64, 0);
  for (int j = 0; j < 5; ++j) factor_grid_values(j);  // initialise the statics before threads
  heart_mask();
#pragma omp parallel for schedule(dynamic, 1024)
  for (int64_t i = 0; i < kGridSize; ++i) {
    SpriteBits b;
    render_index(i, b);
    std::copy(b.begin(), b.end(), bits_.begin() + i * 64);
  }
}

std::vector<std::string> DSprites::factor_names() const {
  return {"shape", "scale", "orientation", "posX", "posY"};
}

SpriteBits DSprites::image_bits(int64_t i) const {
  UNRAVEL_CHECK(i >= 0 && i < n_, "{}: image {} out of range [0, {})", name_, i, n_);
  SpriteBits b;
  if (!bits_.empty())
    std::copy_n(bits_.begin() + i * 64, 64, b.begin());
  else
    render_index(i, b);
  return b;
}

void DSprites::image_u8(int64_t i, uint8_t* out) const { unpack_sprite(image_bits(i), out); }

void DSprites::get_batch(std::span<const int64_t> indices, Tensor& out) const {
  check_batch_args(indices, out);
  float* dst = out.data<float>();
  const auto n = static_cast<int64_t>(indices.size());
  const uint64_t* all = bits_.empty() ? nullptr : bits_.data();
#pragma omp parallel for schedule(static) if (n >= 32)
  for (int64_t b = 0; b < n; ++b) {
    SpriteBits local;
    const uint64_t* rows;
    if (all) {
      rows = all + indices[b] * 64;
    } else {
      render_index(indices[b], local);
      rows = local.data();
    }
    float* o = dst + b * 4096;
    for (int r = 0; r < 64; ++r) {
      const uint64_t w = rows[r];
      for (int c = 0; c < 64; ++c) o[r * 64 + c] = static_cast<float>((w >> c) & 1u);
    }
  }
  out.bump_version();
}

const uint8_t* DSprites::packed_binary_items() const {
  // Row word bit c = column c, so byte j of the word holds columns 8j..8j+7 from its least
  // significant bit only when the host stores words little-endian.
  static_assert(std::endian::native == std::endian::little, "dSprites bit packing assumes little-endian");
  return bits_.empty() ? nullptr : reinterpret_cast<const uint8_t*>(bits_.data());
}

void DSprites::factor_classes(int64_t i, std::span<int64_t> out) const {
  UNRAVEL_CHECK(i >= 0 && i < n_, "{}: factor_classes: item {} out of range [0, {})", name_, i, n_);
  UNRAVEL_CHECK(out.size() == 5, "{}: factor_classes: output has {} slots, need 5", name_,
                out.size());
  if (procedural_) {
    grid_classes(i, kFactorSizes, out);
  } else {
    std::copy_n(classes_.begin() + i * 5, 5, out.begin());
  }
}

void DSprites::factor_values(int64_t i, std::span<double> out) const {
  UNRAVEL_CHECK(i >= 0 && i < n_, "{}: factor_values: item {} out of range [0, {})", name_, i, n_);
  UNRAVEL_CHECK(out.size() == 5, "{}: factor_values: output has {} slots, need 5", name_,
                out.size());
  if (procedural_) {
    int64_t cls[5];
    grid_classes(i, kFactorSizes, cls);
    for (int j = 0; j < 5; ++j) out[j] = factor_grid_values(j)[cls[j]];
  } else {
    std::copy_n(values_.begin() + i * 5, 5, out.begin());
  }
}

int64_t DSprites::index_of_factors(std::span<const int64_t> classes) const {
  const int64_t key = grid_index(classes, sizes_, "DSprites::index_of_factors");
  if (grid_order_) return key;
  auto it = lookup_.find(key);
  UNRAVEL_CHECK(it != lookup_.end(), "{}: no image has factor classes [{}, {}, {}, {}, {}]", name_,
                classes[0], classes[1], classes[2], classes[3], classes[4]);
  return it->second;
}

}  // namespace unravel
