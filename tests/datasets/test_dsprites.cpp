// dSprites: the factor grid (size, order, values), the renderer (binary images, area grows with
// scale, rotation symmetries, monotone centroids, nothing leaves the frame, upright heart), the
// .npz loader (stored / deflated / Fortran-order members, grid and non-grid order, corrupt,
// truncated and incomplete archives) and the factor sampler; the coloured variants of
// disentanglement_lib (an item read twice is the same, another seed changes it, the sprite is
// where dSprites' own item has it, every pixel recomputed from the draws and the background).
#include <doctest/doctest.h>

#include <zip.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>

#include "datasets/batcher.h"
#include "datasets/dsprites.h"
#include "datasets/dsprites_variants.h"
#include "datasets/npz.h"
#include "datasets/png.h"
#include "engine/check.h"
#include "engine/io/npy.h"
#include "tests/gradcheck.h"

using namespace unravel;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("unravel_test_" + tag + "_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

SpriteBits render(SpriteShape s, double scale, double angle, double px = 0.5, double py = 0.5) {
  SpriteBits b;
  render_sprite(s, scale, angle, px, py, b);
  return b;
}

int hamming(const SpriteBits& a, const SpriteBits& b) {
  int d = 0;
  for (int r = 0; r < 64; ++r) d += std::popcount(a[r] ^ b[r]);
  return d;
}

std::pair<double, double> centroid(const SpriteBits& b) {
  double sx = 0, sy = 0;
  int n = 0;
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < 64; ++c)
      if ((b[r] >> c) & 1) sx += c, sy += r, ++n;
  return {sx / n, sy / n};
}

/// .npy bytes of a 2-D f64 tensor in Fortran (column-major) order, written by hand.
std::vector<uint8_t> npy_fortran_f64(const Tensor& t) {
  const int64_t r = t.size(0), c = t.size(1);
  std::string hdr = fmt::format("{{'descr': '<f8', 'fortran_order': True, 'shape': ({}, {}), }}", r, c);
  while ((10 + hdr.size() + 1) % 64 != 0) hdr += ' ';
  hdr += '\n';
  std::string head = "\x93NUMPY\x01";
  head += '\0';
  head += static_cast<char>(hdr.size() & 0xff);
  head += static_cast<char>(hdr.size() >> 8);
  head += hdr;
  std::vector<uint8_t> out(head.begin(), head.end());
  const double* p = t.data<double>();
  for (int64_t j = 0; j < c; ++j)
    for (int64_t i = 0; i < r; ++i) {
      const auto* b = reinterpret_cast<const uint8_t*>(&p[i * c + j]);
      out.insert(out.end(), b, b + 8);
    }
  return out;
}

/// imgs / latents_classes / latents_values tensors for the given grid indices (rendered).
void make_members(const DSprites& d, const std::vector<int64_t>& idx, Tensor& imgs, Tensor& cls,
                  Tensor& val) {
  const auto n = static_cast<int64_t>(idx.size());
  imgs = Tensor::empty(Shape{n, 64, 64}, DType::u8);
  cls = Tensor::empty(Shape{n, 6}, DType::i64);
  val = Tensor::empty(Shape{n, 6}, DType::f64);
  for (int64_t i = 0; i < n; ++i) {
    d.image_u8(idx[i], imgs.data<uint8_t>() + i * 4096);
    auto c = d.factor_classes(idx[i]);
    auto v = d.factor_values(idx[i]);
    cls.data<int64_t>()[i * 6] = 0;
    val.data<double>()[i * 6] = 1.0;
    for (int j = 0; j < 5; ++j) {
      cls.data<int64_t>()[i * 6 + 1 + j] = c[j];
      val.data<double>()[i * 6 + 1 + j] = v[j];
    }
  }
}

}  // namespace

TEST_CASE("dsprites: factor grid size, order and official values") {
  DSprites d(DSpritesOptions{.precompute = false});
  CHECK(d.size() == 737280);
  CHECK(d.item_shape() == Shape{1, 64, 64});
  CHECK(d.factor_sizes() == std::vector<int64_t>{3, 6, 40, 32, 32});
  CHECK(d.factor_names() == std::vector<std::string>{"shape", "scale", "orientation", "posX", "posY"});
  // ControlVAE's traversal indices: square / ellipse / heart at scale 2, orientation 5, pos 0.
  CHECK(d.factor_classes(87040) == std::vector<int64_t>{0, 2, 5, 0, 0});
  CHECK(d.factor_classes(332800) == std::vector<int64_t>{1, 2, 5, 0, 0});
  CHECK(d.factor_classes(578560) == std::vector<int64_t>{2, 2, 5, 0, 0});
  CHECK(d.factor_classes(1) == std::vector<int64_t>{0, 0, 0, 0, 1});   // posY fastest
  CHECK(d.factor_classes(32) == std::vector<int64_t>{0, 0, 0, 1, 0});
  CHECK(d.factor_classes(737279) == std::vector<int64_t>{2, 5, 39, 31, 31});
  auto v = d.factor_values(737279);
  CHECK(v[0] == 3.0);
  CHECK(v[1] == 1.0);
  CHECK(v[2] == 2 * std::numbers::pi);
  CHECK(v[3] == 1.0);
  const auto& sc = DSprites::factor_grid_values(1);
  REQUIRE(sc.size() == 6);
  for (int i = 0; i < 6; ++i) CHECK(sc[i] == doctest::Approx(0.5 + 0.1 * i).epsilon(1e-15));
  const auto& ori = DSprites::factor_grid_values(2);
  REQUIRE(ori.size() == 40);
  CHECK(ori[1] == doctest::Approx(2 * std::numbers::pi / 39).epsilon(1e-15));
  const auto& pos = DSprites::factor_grid_values(3);
  CHECK(pos[1] == doctest::Approx(1.0 / 31).epsilon(1e-15));
  for (int64_t i : {0L, 12345L, 400000L, 737279L}) CHECK(d.index_of_factors(d.factor_classes(i)) == i);
  Tensor tab = d.factor_class_table();
  CHECK(tab.shape() == Shape{737280, 5});
  CHECK(tab.data<int64_t>()[87040 * 5 + 2] == 5);
  CHECK_THROWS_WITH_AS(d.index_of_factors(std::vector<int64_t>{3, 0, 0, 0, 0}),
                       doctest::Contains("class 3 out of range"), Error);
}

TEST_CASE("dsprites: images are binary and match the renderer") {
  DSprites d(DSpritesOptions{.precompute = false});
  std::vector<int64_t> idx = {0, 87040, 332800, 578560, 737279, 500000};
  Tensor batch = d.make_batch_tensor(static_cast<int64_t>(idx.size()));
  d.get_batch(idx, batch);
  const float* p = batch.data<float>();
  int64_t ones = 0;
  for (int64_t k = 0; k < batch.numel(); ++k) {
    REQUIRE((p[k] == 0.f || p[k] == 1.f));
    ones += p[k] == 1.f;
  }
  CHECK(ones > 6 * 50);
  for (size_t b = 0; b < idx.size(); ++b) {
    auto v = d.factor_values(idx[b]);
    SpriteBits ref = render(static_cast<SpriteShape>(static_cast<int>(v[0]) - 1), v[1], v[2], v[3], v[4]);
    uint8_t u[4096];
    unpack_sprite(ref, u);
    int diff = 0;
    for (int k = 0; k < 4096; ++k) diff += u[k] != p[b * 4096 + k];
    CHECK(diff == 0);
  }
  // Orientation 0 and 39 are the same angle: identical images.
  for (int s = 0; s < 3; ++s) {
    const int64_t a = d.index_of_factors(std::vector<int64_t>{s, 3, 0, 7, 20});
    const int64_t b = d.index_of_factors(std::vector<int64_t>{s, 3, 39, 7, 20});
    CHECK(hamming(d.image_bits(a), d.image_bits(b)) == 0);
  }
}

TEST_CASE("dsprites: area grows with scale for each shape") {
  const auto& sc = DSprites::factor_grid_values(1);
  for (int s = 0; s < 3; ++s)
    for (double angle : {0.0, 0.7, 2.0}) {
      int prev = 0;
      for (double scale : sc) {
        const int a = sprite_area(render(static_cast<SpriteShape>(s), scale, angle, 0.3, 0.6));
        CHECK_MESSAGE(a > prev, "shape ", s, " angle ", angle, " scale ", scale);
        prev = a;
      }
    }
  // Areas are close to the continuous shapes' areas (s = 19.2·scale): s², 0.18π·s², 0.5522·s².
  const double s = 19.2;
  CHECK(sprite_area(render(SpriteShape::square, 1.0, 0.3)) == doctest::Approx(s * s).epsilon(0.05));
  CHECK(sprite_area(render(SpriteShape::ellipse, 1.0, 0.3)) ==
        doctest::Approx(0.18 * std::numbers::pi * s * s).epsilon(0.05));
  CHECK(sprite_area(render(SpriteShape::heart, 1.0, 0.3)) ==
        doctest::Approx(0.5522 * s * s).epsilon(0.05));
}

TEST_CASE("dsprites: rotation symmetries and an upright heart") {
  const double pi = std::numbers::pi;
  for (double scale : {0.5, 0.8, 1.0})
    for (double px : {0.5, 0.23}) {
      const auto sq0 = render(SpriteShape::square, scale, 0.3, px, 0.5);
      CHECK(hamming(sq0, render(SpriteShape::square, scale, 0.3 + pi / 2, px, 0.5)) <= 4);
      CHECK(hamming(render(SpriteShape::square, scale, 0.0, px, 0.5),
                    render(SpriteShape::square, scale, pi / 2, px, 0.5)) <= 4);
      CHECK(hamming(render(SpriteShape::ellipse, scale, 0.4, px, 0.5),
                    render(SpriteShape::ellipse, scale, 0.4 + pi, px, 0.5)) <= 4);
      // Not symmetric: a square at 45°, an ellipse at 90°, a heart at 180° differ clearly.
      CHECK(hamming(render(SpriteShape::square, scale, 0.0, px, 0.5),
                    render(SpriteShape::square, scale, pi / 4, px, 0.5)) > 10);
      CHECK(hamming(render(SpriteShape::ellipse, scale, 0.0, px, 0.5),
                    render(SpriteShape::ellipse, scale, pi / 2, px, 0.5)) > 20);
      CHECK(hamming(render(SpriteShape::heart, scale, 0.0, px, 0.5),
                    render(SpriteShape::heart, scale, pi, px, 0.5)) > 20);
    }
  // Heart at orientation 0: lobes up, tip down, so the upper half holds more pixels, the top
  // rows have two separate runs (the lobes) and the bottom row a narrow tip.
  const auto h = render(SpriteShape::heart, 1.0, 0.0);
  int top = -1, bottom = -1;
  for (int r = 0; r < 64; ++r)
    if (h[r]) {
      if (top < 0) top = r;
      bottom = r;
    }
  const auto [cx, cy] = centroid(h);
  CHECK(cy < (top + bottom) / 2.0);
  auto runs = [](uint64_t w) { return std::popcount(w & ~(w << 1)); };
  CHECK(runs(h[top + 1]) == 2);
  CHECK(std::popcount(h[bottom]) <= 3);
  CHECK(std::popcount(h[bottom - 4]) < std::popcount(h[top + 4]));
  CHECK(cx == doctest::Approx(31.5).epsilon(0.02));

  // The ellipse's long axis is horizontal at orientation 0 and vertical at π/2; rotation is
  // counter-clockwise on screen, so the heart at π/2 has its lobes on the left, its tip right.
  auto extent = [](const SpriteBits& b) {  // (width, height) of the sprite's bounding box
    uint64_t cols = 0;
    int rows = 0;
    for (uint64_t w : b) {
      cols |= w;
      rows += w != 0;
    }
    return std::pair<int, int>{64 - std::countl_zero(cols) - std::countr_zero(cols), rows};
  };
  const auto [ew0, eh0] = extent(render(SpriteShape::ellipse, 1.0, 0.0));
  CHECK(ew0 > eh0 + 8);
  const auto [ew1, eh1] = extent(render(SpriteShape::ellipse, 1.0, pi / 2));
  CHECK(eh1 > ew1 + 8);
  const auto hq = render(SpriteShape::heart, 1.0, pi / 2);
  uint64_t cols = 0;
  for (uint64_t w : hq) cols |= w;
  const int left = std::countr_zero(cols), right = 63 - std::countl_zero(cols);
  CHECK(centroid(hq).first < (left + right) / 2.0);
}

TEST_CASE("dsprites: positions move the centroid monotonically, shapes stay in the frame") {
  const auto& pos = DSprites::factor_grid_values(3);
  for (int s = 0; s < 3; ++s) {
    double prev_x = -1, prev_y = -1;
    for (double p : pos) {
      const auto [x, y0] = centroid(render(static_cast<SpriteShape>(s), 0.7, 1.0, p, 0.4));
      const auto [x0, y] = centroid(render(static_cast<SpriteShape>(s), 0.7, 1.0, 0.4, p));
      CHECK(x > prev_x);
      CHECK(y > prev_y);
      prev_x = x;
      prev_y = y;
    }
  }
  const uint64_t edge_cols = 1ull | (1ull << 63);
  for (int s = 0; s < 3; ++s)
    for (double a : DSprites::factor_grid_values(2))
      for (double px : {0.0, 1.0})
        for (double py : {0.0, 1.0}) {
          const auto b = render(static_cast<SpriteShape>(s), 1.0, a, px, py);
          bool touches = b[0] != 0 || b[63] != 0;
          for (int r = 0; r < 64; ++r) touches |= (b[r] & edge_cols) != 0;
          CHECK_FALSE(touches);
        }
}

TEST_CASE("dsprites npz: stored, deflated and Fortran-order members round trip") {
  const fs::path dir = temp_dir("npz");
  DSprites d(DSpritesOptions{.precompute = false});
  // A non-grid subset (lookup table) and a complete little grid in order (formula).
  std::vector<int64_t> subset = {578560, 0, 87040, 332800, 737279, 123457};
  Tensor imgs, cls, val;
  make_members(d, subset, imgs, cls, val);
  for (bool compress : {false, true}) {
    const std::string path = (dir / (compress ? "deflated.npz" : "stored.npz")).string();
    save_npz(path, {{"imgs", imgs}, {"latents_classes", cls}, {"latents_values", val}}, compress);
    DSprites f = DSprites::from_npz(path);
    REQUIRE(f.size() == 6);
    for (int64_t i = 0; i < 6; ++i) {
      CHECK(hamming(f.image_bits(i), d.image_bits(subset[i])) == 0);
      CHECK(f.factor_classes(i) == d.factor_classes(subset[i]));
      CHECK(f.factor_values(i) == d.factor_values(subset[i]));
      CHECK(f.index_of_factors(d.factor_classes(subset[i])) == i);
    }
    CHECK(f.factor_sizes() == std::vector<int64_t>{3, 6, 40, 32, 32});
    CHECK_THROWS_WITH_AS(f.index_of_factors(std::vector<int64_t>{1, 1, 1, 1, 1}),
                         doctest::Contains("no image has factor classes"), Error);
  }
  // Grid order: shape 0..1 × posY 0..3 at scale/orientation/posX 0; latents_values in Fortran
  // order inside a deflated archive.
  std::vector<int64_t> grid;
  for (int64_t s = 0; s < 2; ++s)
    for (int64_t y = 0; y < 4; ++y) grid.push_back(d.index_of_factors(std::vector<int64_t>{s, 0, 0, 0, y}));
  make_members(d, grid, imgs, cls, val);
  const std::string gpath = (dir / "grid.npz").string();
  save_zip_members(gpath,
                   {{"imgs.npy", npy_bytes(imgs)},
                    {"latents_classes.npy", npy_bytes(cls)},
                    {"latents_values.npy", npy_fortran_f64(val)}},
                   true);
  {
    NpzReader r(gpath);
    CHECK(r.members() == std::vector<std::string>{"imgs", "latents_classes", "latents_values"});
    Tensor back = r.read("latents_values");
    CHECK(testing::max_abs_diff(back, val) == 0.0);
  }
  DSprites g = DSprites::from_npz(gpath);
  CHECK(g.factor_sizes() == std::vector<int64_t>{2, 1, 1, 1, 4});
  CHECK(g.index_of_factors(std::vector<int64_t>{1, 0, 0, 0, 2}) == 6);
  CHECK(g.factor_values(6) == d.factor_values(grid[6]));
  CHECK(hamming(g.image_bits(5), d.image_bits(grid[5])) == 0);
  fs::remove_all(dir);
}

TEST_CASE("dsprites npz: corrupt, truncated and incomplete archives are refused clearly") {
  const fs::path dir = temp_dir("npzbad");
  DSprites d(DSpritesOptions{.precompute = false});
  Tensor imgs, cls, val;
  make_members(d, {0, 1, 2, 3}, imgs, cls, val);
  const std::string good = (dir / "good.npz").string();
  save_npz(good, {{"imgs", imgs}, {"latents_classes", cls}, {"latents_values", val}}, true);
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& name, const std::string& content) {
    const std::string p = (dir / name).string();
    std::ofstream(p, std::ios::binary) << content;
    return p;
  };
  // Truncated: half the file (the central directory is lost).
  const std::string trunc = write("trunc.npz", bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_WITH_AS(DSprites::from_npz(trunc), doctest::Contains("trunc.npz"), Error);
  // Not a zip at all.
  const std::string junk = write("junk.npz", "this is not a zip archive at all, just text");
  CHECK_THROWS_WITH_AS(DSprites::from_npz(junk), doctest::Contains("junk.npz"), Error);
  CHECK_THROWS_WITH_AS(DSprites::from_npz((dir / "missing.npz").string()),
                       doctest::Contains("missing.npz"), Error);
  // Corrupt data inside the imgs member (a deflated stream with flipped bytes): the CRC or
  // inflate check fails and the message names the member.
  {
    const size_t at = bytes.find("imgs.npy");
    REQUIRE(at != std::string::npos);
    std::string bad = bytes;
    for (size_t k = at + 40; k < at + 60; ++k) bad[k] = static_cast<char>(bad[k] ^ 0x5a);
    const std::string p = write("corrupt.npz", bad);
    CHECK_THROWS_WITH_AS(DSprites::from_npz(p), doctest::Contains("imgs.npy"), Error);
  }
  // A stored member whose bytes change keeps its size: only the CRC catches it.
  {
    const std::string stored = (dir / "stored.npz").string();
    save_npz(stored, {{"imgs", imgs}, {"latents_classes", cls}, {"latents_values", val}}, false);
    std::ifstream in(stored, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), {});
    const size_t at = s.find("imgs.npy");
    s[at + 8 + 200] ^= 1;  // inside the image data
    const std::string p = write("crc.npz", s);
    CHECK_THROWS_WITH_AS(NpzReader(p).read("imgs"), doctest::Contains("imgs.npy"), Error);
  }
  // Missing member, wrong shapes.
  const std::string nomember = (dir / "nomember.npz").string();
  save_npz(nomember, {{"imgs", imgs}, {"latents_values", val}}, false);
  CHECK_THROWS_WITH_AS(DSprites::from_npz(nomember), doctest::Contains("latents_classes.npy"), Error);
  const std::string wrong = (dir / "wrong.npz").string();
  save_npz(wrong, {{"imgs", imgs}, {"latents_classes", val}, {"latents_values", val}}, false);
  CHECK_THROWS_WITH_AS(DSprites::from_npz(wrong), doctest::Contains("must be int64"), Error);
  fs::remove_all(dir);
}

TEST_CASE("factor sampler: fixed factor, uniform others, reproducible") {
  DSprites d(DSpritesOptions{.precompute = false});
  FactorSampler fs(d);
  CHECK(fs.num_factors() == 5);
  std::vector<int64_t> idx(2000), cls(2000 * 5);
  Generator g(42);
  fs.sample_fixed(2, 17, idx, g, cls);
  std::vector<int> seen_scale(6, 0);
  for (size_t i = 0; i < idx.size(); ++i) {
    const auto c = d.factor_classes(idx[i]);
    REQUIRE(c[2] == 17);
    for (int j = 0; j < 5; ++j) REQUIRE(c[j] == cls[i * 5 + j]);
    ++seen_scale[c[1]];
  }
  for (int s : seen_scale) CHECK(s > 2000 / 6 - 80);  // roughly uniform (expected 333)
  std::vector<int64_t> again(2000);
  Generator g2(42);
  fs.sample_fixed(2, 17, again, g2);
  CHECK(again == idx);
  Generator g3(43);
  fs.sample(again, g3);
  CHECK(again != idx);
  CHECK_THROWS_WITH_AS(fs.sample_fixed(1, 6, idx, g), doctest::Contains("out of range"), Error);
}

// --- dSprites variants --------------------------------------------------------------------------

namespace {

std::vector<float> variant_items(const Dataset& d, const std::vector<int64_t>& idx) {
  Tensor t = d.make_batch_tensor(static_cast<int64_t>(idx.size()));
  d.get_batch(idx, t);
  return t.to_vector<float>();
}

}  // namespace

TEST_CASE("dsprites variants: reproducible per item and seed, the sprite where dSprites has it") {
  const fs::path dir = temp_dir("variants");
  // A 90×70 background (fits 350×274, so used as is): channel c of pixel (y, x) is
  // (y·3 + x + 40c) mod 256.
  constexpr int kW = 90, kH = 70;
  std::vector<uint8_t> bg(kW * kH * 3);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x)
      for (int c = 0; c < 3; ++c)
        bg[(y * kW + x) * 3 + c] = static_cast<uint8_t>((y * 3 + x + 40 * c) % 256);
  const std::string bg_path = (dir / "scream.png").string();
  write_png_rgb(bg_path, kW, kH, bg.data());

  const std::vector<int64_t> idx{5, 400000, 5, 737279};
  for (const SpriteVariant v : {SpriteVariant::color, SpriteVariant::noisy, SpriteVariant::scream}) {
    INFO("variant ", DSpritesVariant::variant_name(v));
    const DSpritesVariantOptions o{.variant = v, .seed = 11, .background = bg_path};
    const DSpritesVariant a(DSprites(DSpritesOptions{.precompute = false}), o);
    const DSpritesVariant b(DSprites(DSpritesOptions{.precompute = false}), o);
    DSpritesVariantOptions o2 = o;
    o2.seed = 12;
    const DSpritesVariant c(DSprites(DSpritesOptions{.precompute = false}), o2);
    CHECK(a.size() == DSprites::kGridSize);
    CHECK(a.item_shape() == Shape{3, 64, 64});
    CHECK(a.factor_sizes() == std::vector<int64_t>{3, 6, 40, 32, 32});
    CHECK(a.index_of_factors(a.factor_classes(400000)) == 400000);
    const auto x = variant_items(a, idx), y = variant_items(b, idx), z = variant_items(c, idx);
    constexpr size_t kItem = 3 * 4096;
    CHECK(x == y);                                                       // same item, same pixels
    CHECK(std::equal(x.begin(), x.begin() + kItem, x.begin() + 2 * kItem));  // item 5 twice
    CHECK(x != z);                                                       // another seed
    CHECK_FALSE(std::equal(x.begin(), x.begin() + kItem, x.begin() + kItem));  // items differ
    for (size_t b_ = 0; b_ < idx.size(); ++b_) {
      const int64_t i = idx[b_];
      uint8_t mask[4096];
      a.base().image_u8(i, mask);
      const float* p = x.data() + b_ * kItem;
      int bad = 0, on = 0;
      for (int k = 0; k < 4096; ++k) {
        on += mask[k];
        for (int ch = 0; ch < 3; ++ch) {
          const float px = p[ch * 4096 + k];
          bad += !(px >= 0.f && px <= 1.f);
          if (v == SpriteVariant::color) {
            const auto col = static_cast<float>(0.5 + 0.5 * a.draw(i, ch));
            bad += px != (mask[k] ? col : 0.f);
            bad += col < 0.5f;
          } else if (v == SpriteVariant::noisy) {
            bad += px != (mask[k] ? 1.f : static_cast<float>(a.draw(i, ch * 4096 + k)));
          } else {
            const int y0 = static_cast<int>(a.draw(i, 0) * (kH - 63));
            const int x0 = static_cast<int>(a.draw(i, 1) * (kW - 63));
            const int r = k / 64, q = k % 64;
            const float back = bg[((y0 + r) * kW + x0 + q) * 3 + ch] * (1.f / 255.f);
            const auto w = static_cast<float>((back + a.draw(i, 2 + ch)) / 2);
            bad += std::abs(px - (mask[k] ? 1.f - w : w)) > 1e-6f;
          }
        }
      }
      CHECK(on > 0);
      CHECK(bad == 0);
    }
  }
  // Noise differs between pixels and items (not one colour repeated).
  const DSpritesVariant noisy(DSprites(DSpritesOptions{.precompute = false}),
                              {.variant = SpriteVariant::noisy, .seed = 1});
  const auto n = variant_items(noisy, {0, 1});
  CHECK(n[0] != n[1]);
  CHECK(n[0] != n[3 * 4096]);
  FactorSampler fs(noisy);  // the metrics' sampler: dSprites' grid indexing
  std::vector<int64_t> idx2(20);
  Generator g(2);
  fs.sample_fixed(0, 2, idx2, g);
  for (int64_t i : idx2) CHECK(noisy.factor_classes(i)[0] == 2);

  // scream refuses a missing or too small background, naming it.
  CHECK_THROWS_WITH_AS(DSpritesVariant(DSprites(DSpritesOptions{.precompute = false}),
                                       {.variant = SpriteVariant::scream}),
                       doctest::Contains("background image"), Error);
  const std::string small = (dir / "small.png").string();
  write_png_rgb(small, 40, 40, bg.data());
  CHECK_THROWS_WITH_AS(DSpritesVariant(DSprites(DSpritesOptions{.precompute = false}),
                                       {.variant = SpriteVariant::scream, .background = small}),
                       doctest::Contains(small.c_str()), Error);
  fs::remove_all(dir);
}

TEST_CASE("dsprites on a device: batches stay bit-packed there and equal the host's") {
  const fs::path dir = temp_dir("packed");
  DSprites d(DSpritesOptions{.precompute = false});
  // 300 items of varied shape, scale, orientation and position (rows with bits in every byte).
  std::vector<int64_t> subset;
  for (int64_t i = 0; i < 300; ++i) subset.push_back((i * 2459 + 17) % DSprites::kGridSize);
  Tensor imgs, cls, val;
  make_members(d, subset, imgs, cls, val);
  const std::string path = (dir / "subset.npz").string();
  save_npz(path, {{"imgs", imgs}, {"latents_classes", cls}, {"latents_values", val}}, false);
  DSprites f = DSprites::from_npz(path);
  REQUIRE(f.packed_binary_items() != nullptr);
  CHECK(d.packed_binary_items() == nullptr);  // rendered on the fly: nothing to keep resident
  // The packing convention: pixel p of an item is bit p % 8 of byte p / 8.
  for (int64_t i : {int64_t{0}, int64_t{151}, int64_t{299}}) {
    const uint8_t* item = f.packed_binary_items() + i * 512;
    for (int64_t p = 0; p < 4096; ++p) {
      CAPTURE(p);
      REQUIRE(((item[p / 8] >> (p % 8)) & 1) == imgs.data<uint8_t>()[i * 4096 + p]);
    }
  }
  BatcherOptions host_opts;
  host_opts.batch_size = 64;  // 300 = 4 · 64 + 44: epochs roll over, drop_last skips the rest
  BatcherOptions dev_opts = host_opts;
  dev_opts.device = sim_device(0);
  dev_opts.resident_limit_bytes = 300 * 512;  // the packed bytes fit, the f32 items would not
  Batcher a(f, host_opts, Generator(5)), b(f, dev_opts, Generator(5));
  for (int64_t i = 0; i < 2 * a.batches_per_epoch() + 1; ++i) {
    const Tensor& xa = a.next();
    const Tensor& xb = b.next();
    CAPTURE(i);
    REQUIRE(xb.device() == sim_device(0));
    REQUIRE(xb.shape() == xa.shape());
    CHECK(xa.to_vector<float>() == xb.to_vector<float>());
  }
  Batcher c(f, dev_opts, Generator(5));
  c.restore(b.state());
  CHECK(c.next().to_vector<float>() == a.next().to_vector<float>());
  // Data-parallel shards gather their rows on the device too.
  BatcherOptions shard_opts = dev_opts;
  shard_opts.shard_begin = 16;
  shard_opts.shard_size = 32;
  Batcher s(f, shard_opts, Generator(5)), whole(f, host_opts, Generator(5));
  const std::vector<float> all = whole.next().to_vector<float>();
  const std::vector<float> part = s.next().to_vector<float>();
  CHECK(std::equal(part.begin(), part.end(), all.begin() + 16 * 4096));
  // Over the limit: assembled on the host.
  dev_opts.resident_limit_bytes = 300 * 512 - 1;
  Batcher h(f, dev_opts, Generator(5));
  CHECK(h.next().device() == kCPU);
  fs::remove_all(dir);
}
