// conv2d / conv_transpose2d: float32 (oneDNN) forward and gradients against the float64 direct
// reference over a grid of shapes, strides, paddings and dilations; float64 finite-difference
// gradient checks (including non-contiguous inputs); the β-VAE layer shapes; error messages.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::rand64;

namespace {

Tensor f32(const Tensor& t) { return to(t, DType::f32); }
double max_abs(const Tensor& t) { return max(abs(to(t.detach(), DType::f64))).item(); }

// Relative closeness of an f32 result to its f64 reference.
void check_close(const Tensor& got32, const Tensor& ref64, double rtol, const std::string& what) {
  REQUIRE(got32.shape() == ref64.shape());
  const double err = max_abs_diff(got32.detach(), ref64.detach()), scale = 1.0 + max_abs(ref64);
  CHECK_MESSAGE(err <= rtol * scale, what << ": max |f32 - f64| = " << err << " (scale " << scale
                                          << ")");
}

struct ConvCase {
  int64_t n, c, o, h, w, k, s, p, d, op;
  bool bias;
  std::string str() const {
    return fmt::format("N{} C{} O{} {}x{} k{} s{} p{} d{} op{}{}", n, c, o, h, w, k, s, p, d, op,
                       bias ? " bias" : "");
  }
};

// Runs op forward and backward in f64 and f32 (same data) and compares y, dx, dw, db.
void compare_f32_f64(const ConvCase& c, bool transpose, double rtol) {
  Conv2dOptions opt;
  opt.stride = {c.s, c.s};
  opt.padding = {c.p, c.p};
  opt.dilation = {c.d, c.d};
  opt.output_padding = {c.op, c.op};
  const uint64_t seed = static_cast<uint64_t>(c.n * 7 + c.c * 11 + c.o * 13 + c.h * 17 + c.k);
  Tensor x = rand64({c.n, c.c, c.h, c.w}, seed);
  Tensor w = transpose ? rand64({c.c, c.o, c.k, c.k}, seed + 1) : rand64({c.o, c.c, c.k, c.k}, seed + 1);
  Tensor b = c.bias ? rand64({c.o}, seed + 2) : Tensor();
  auto run = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb) {
    return transpose ? conv_transpose2d(xx, ww, bb, opt) : conv2d(xx, ww, bb, opt);
  };
  Tensor x64 = x.detach().set_requires_grad(), w64 = w.detach().set_requires_grad();
  Tensor x32 = f32(x).set_requires_grad(), w32 = f32(w).set_requires_grad();
  Tensor b64, b32;
  if (c.bias) {
    b64 = b.detach().set_requires_grad();
    b32 = f32(b).set_requires_grad();
  }
  // One graph at a time: grad() clears the thread's tape.
  Tensor y64 = run(x64, w64, b64);
  Tensor seed64 = rand64(y64.shape(), seed + 3);
  TensorList in64 = c.bias ? TensorList{x64, w64, b64} : TensorList{x64, w64};
  TensorList g64 = grad({y64}, in64, {seed64});
  Tensor y32 = run(x32, w32, b32);
  const std::string what = std::string(transpose ? "conv_transpose2d " : "conv2d ") + c.str();
  check_close(y32, y64, rtol, what + " forward");
  TensorList in32 = c.bias ? TensorList{x32, w32, b32} : TensorList{x32, w32};
  TensorList g32 = grad({y32}, in32, {f32(seed64)});
  check_close(g32[0], g64[0], rtol, what + " d/dx (backward-data)");
  check_close(g32[1], g64[1], rtol, what + " d/dw (backward-weights)");
  if (c.bias) check_close(g32[2], g64[2], rtol, what + " d/db");
}

// A deterministic spread of the grid (every value of every axis appears many times).
std::vector<ConvCase> grid(bool transpose, int count) {
  std::vector<ConvCase> out;
  uint64_t st = transpose ? 99 : 7;
  auto pick = [&](int64_t lo, int64_t hi) {
    st = st * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + static_cast<int64_t>((st >> 33) % static_cast<uint64_t>(hi - lo + 1));
  };
  while (static_cast<int>(out.size()) < count) {
    ConvCase c{pick(1, 3), pick(1, 5), pick(1, 5), pick(5, 9), pick(5, 9), pick(1, 4),
               pick(1, 2), pick(0, 2), pick(1, 2), 0, pick(0, 1) == 1};
    if (transpose) {
      c.op = pick(0, std::max(c.s, c.d) - 1);
      if ((c.h - 1) * c.s - 2 * c.p + c.d * (c.k - 1) + c.op + 1 < 1) continue;
    } else if (c.d * (c.k - 1) + 1 > std::min(c.h, c.w) + 2 * c.p) {
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// Runs each case under a layout forced through UNRAVEL_CONV_LAYOUT (plain, blocked, auto in
// turn) so both oneDNN paths — with and without reorders at the edges — are exercised.
void run_grid(const std::vector<ConvCase>& cases, bool transpose) {
  const char* modes[] = {"plain", "blocked", "auto"};
  for (size_t i = 0; i < cases.size(); ++i) {
    ::setenv("UNRAVEL_CONV_LAYOUT", modes[i % 3], 1);
    CAPTURE(modes[i % 3]);
    compare_f32_f64(cases[i], transpose, 2e-5);
  }
  ::unsetenv("UNRAVEL_CONV_LAYOUT");
}

}  // namespace

TEST_CASE("conv2d: f32 oneDNN forward, backward-data, backward-weights vs f64 reference") {
  run_grid(grid(false, 60), false);
  // Geometries where the last window leaves input rows unused (asymmetric right padding).
  compare_f32_f64({2, 3, 4, 8, 7, 3, 2, 0, 1, 0, true}, false, 2e-5);
  compare_f32_f64({1, 2, 3, 9, 9, 2, 2, 0, 2, 0, false}, false, 2e-5);
}

TEST_CASE("conv_transpose2d: f32 vs f64 reference including output_padding") {
  run_grid(grid(true, 45), true);
  // output_padding >= stride, allowed because dilation is larger.
  compare_f32_f64({2, 3, 2, 5, 6, 3, 1, 1, 2, 1, true}, true, 2e-5);
  Tensor x = Tensor::ones({1, 1, 3, 3}), w = Tensor::ones({1, 1, 2, 2});
  Conv2dOptions opt;
  opt.stride = {2, 2};
  opt.output_padding = {1, 0};
  CHECK(conv_transpose2d(x, w, Tensor(), opt).shape() == Shape{1, 1, 7, 6});
}

TEST_CASE("conv2d: hand-computed values") {
  // 1x1x3x3 input 1..9, 2x2 kernel of ones, stride 1: window sums; bias 0.5.
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = Tensor::ones({1, 1, 2, 2});
  Tensor b = Tensor::full({1}, 0.5);
  auto y = conv2d(x, w, b).to_vector<float>();
  REQUIRE(y.size() == 4);
  CHECK(y[0] == doctest::Approx(12.5));
  CHECK(y[1] == doctest::Approx(16.5));
  CHECK(y[2] == doctest::Approx(24.5));
  CHECK(y[3] == doctest::Approx(28.5));
  // Transposed conv of a single 1 with stride 2 places the kernel: y = w at offset 0.
  Tensor one = Tensor::ones({1, 1, 1, 1});
  Tensor k = Tensor::from_vector<float>({1, 2, 3, 4}, {1, 1, 2, 2});
  auto t = conv_transpose2d(one, k).to_vector<float>();
  CHECK(t == std::vector<float>{1, 2, 3, 4});
}

TEST_CASE("conv2d: f64 gradient checks (x, w, b), strides, padding, dilation, non-contiguous") {
  Conv2dOptions opt;
  opt.stride = {2, 1};
  opt.padding = {1, 2};
  opt.dilation = {1, 2};
  Tensor x = rand64({2, 2, 5, 6}, 1), w = rand64({3, 2, 3, 2}, 2), b = rand64({3}, 3);
  gradcheck([&](const TensorList& in) { return conv2d(in[0], in[1], in[2], opt); }, {x, w, b},
            "conv2d s(2,1) p(1,2) d(1,2)");
  gradcheck([&](const TensorList& in) { return conv2d(in[0], in[1]); }, {x, w}, "conv2d plain");
  // Non-contiguous input and weight: transposed views of the leaves.
  Tensor xt = rand64({2, 2, 6, 5}, 4);
  gradcheck([&](const TensorList& in) {
    Tensor xv = transpose(in[0], 2, 3), wv = permute(in[1], {1, 0, 2, 3});
    CHECK(!xv.is_contiguous());
    return conv2d(xv, wv, in[2], opt);
  }, {xt, rand64({2, 3, 3, 2}, 5), b}, "conv2d non-contiguous");
}

TEST_CASE("conv_transpose2d: f64 gradient checks with output_padding and bias") {
  Conv2dOptions opt;
  opt.stride = {2, 2};
  opt.padding = {1, 0};
  opt.output_padding = {1, 1};
  Tensor x = rand64({2, 3, 3, 4}, 6), w = rand64({3, 2, 3, 3}, 7), b = rand64({2}, 8);
  gradcheck([&](const TensorList& in) { return conv_transpose2d(in[0], in[1], in[2], opt); },
            {x, w, b}, "conv_transpose2d s2 op1");
  Conv2dOptions dil;
  dil.dilation = {2, 1};
  gradcheck([&](const TensorList& in) {
    return conv_transpose2d(transpose(in[0], 2, 3), in[1], Tensor(), dil);
  }, {rand64({1, 3, 4, 3}, 9), w}, "conv_transpose2d dilation non-contiguous");
}

TEST_CASE("conv2d: f32 non-contiguous inputs and gradients match contiguous copies") {
  Generator g(11);
  Tensor xt = normal({2, 4, 9, 8}, g), w = normal({5, 4, 3, 3}, g);
  Tensor xv = transpose(xt, 2, 3);  // (2, 4, 8, 9), non-contiguous
  Conv2dOptions opt;
  opt.stride = {2, 2};
  opt.padding = {1, 1};
  Tensor y1 = conv2d(xv, w, Tensor(), opt), y2 = conv2d(contiguous(xv), w, Tensor(), opt);
  CHECK(max_abs_diff(y1, y2) < 1e-5);
  // A broadcast (stride-0) output gradient goes through the staging copy.
  Tensor xl = contiguous(xv).set_requires_grad(), wl = w.detach().set_requires_grad();
  Tensor seed_b = expand(Tensor::full({1, 1, 1, 1}, 0.5), y1.shape());
  TensorList gb = grad({conv2d(xl, wl, Tensor(), opt)}, {xl, wl}, {seed_b});
  TensorList gc = grad({conv2d(xl, wl, Tensor(), opt)}, {xl, wl}, {contiguous(seed_b)});
  CHECK(max_abs_diff(gb[0], gc[0]) < 1e-5);
  CHECK(max_abs_diff(gb[1], gc[1]) < 1e-4);
  CHECK(max_abs(gb[1]) > 0.1);
}

TEST_CASE("conv: the 64x64 beta-VAE layer shapes, f32 vs f64 reference") {
  // Encoder: 4x4 kernels, stride 2, padding 1; decoder: the transposed mirror images.
  const int64_t enc[4][3] = {{1, 32, 64}, {32, 32, 32}, {32, 64, 16}, {64, 64, 8}};
  for (const auto& l : enc) {
    compare_f32_f64({2, l[0], l[1], l[2], l[2], 4, 2, 1, 1, 0, true}, false, 1e-4);
    compare_f32_f64({2, l[1], l[0], l[2] / 2, l[2] / 2, 4, 2, 1, 1, 0, true}, true, 1e-4);
  }
}

TEST_CASE("conv: errors name the op and the shapes") {
  Tensor x = Tensor::zeros({2, 3, 8, 8}), w = Tensor::zeros({4, 3, 3, 3});
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 2, 3, 3})),
                    doctest::Contains("conv2d: input f32[2, 3, 8, 8] has 3 channels but weight "
                                      "f32[4, 2, 3, 3] expects 2"));
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({3, 8, 8}), w), doctest::Contains("(N, C, H, W)"));
  CHECK_THROWS_WITH(conv2d(x, w, Tensor::zeros({3})), doctest::Contains("bias must be [4]"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 3, 11, 3})), doctest::Contains("does not fit"));
  CHECK_THROWS_WITH(conv2d(x, to(w, DType::f64)), doctest::Contains("dtypes differ"));
  Conv2dOptions bad;
  bad.stride = {0, 1};
  CHECK_THROWS_WITH(conv2d(x, w, Tensor(), bad), doctest::Contains("stride (0, 1)"));
  Conv2dOptions op;
  op.stride = {2, 2};
  op.output_padding = {2, 0};
  CHECK_THROWS_WITH(conv_transpose2d(x, Tensor::zeros({3, 4, 3, 3}), Tensor(), op),
                    doctest::Contains("output_padding (2, 0)"));
  CHECK_THROWS_WITH(conv_transpose2d(x, w), doctest::Contains("conv_transpose2d: input"));
  // groups != 1 reaches the backend, which declines it by name.
  Conv2dParams p;
  p.groups = 2;
  Tensor y = Tensor::zeros({2, 4, 6, 6});
  CHECK_THROWS_WITH(backend(kCPU).conv2d_forward(x.view(), w.view(), TensorView{}, y.view(), p),
                    doctest::Contains("groups = 2"));
}
