// conv2d_relu / conv_transpose2d_relu (the activation fused into the convolution): float64
// finite-difference gradient checks (ReLU and leaky ReLU, with and without bias, non-contiguous
// inputs), and fused == unfused (conv then relu / leaky_relu) in float32 for values and every
// gradient, under both oneDNN layouts and at a β-VAE layer size; the fused bias + activation
// elementwise op; errors.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::rand64;

namespace {

double max_abs(const Tensor& t) { return max(abs(to(t.detach(), DType::f64))).item(); }

Conv2dOptions s2p1() {
  Conv2dOptions o;
  o.stride = {2, 2};
  o.padding = {1, 1};
  return o;
}

// Fused vs unfused f32 forward and backward of one layer; `slope` < 0 means plain ReLU
// through relu(), otherwise leaky_relu(·, slope) (slope 0 included).
void compare_fused(bool transpose, const Shape& xs, const Shape& ws, bool bias,
                   const Conv2dOptions& opt, double slope, uint64_t seed) {
  Generator gen(seed);
  Tensor x = normal(xs, gen), w = normal(ws, gen) * 0.2;
  Tensor b = bias ? normal({transpose ? ws[1] : ws[0]}, gen) * 0.5 : Tensor();
  const double s = slope < 0 ? 0.0 : slope;
  auto unfused = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb) {
    Tensor v = transpose ? conv_transpose2d(xx, ww, bb, opt) : conv2d(xx, ww, bb, opt);
    return slope < 0 ? relu(v) : leaky_relu(v, slope);
  };
  auto fused = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb) {
    return transpose ? conv_transpose2d_relu(xx, ww, bb, opt, s) : conv2d_relu(xx, ww, bb, opt, s);
  };
  const std::string what = std::string(transpose ? "conv_transpose2d_relu" : "conv2d_relu") +
                           " x" + xs.str() + " slope " + std::to_string(slope) +
                           (bias ? " bias" : "");
  CAPTURE(what);
  TensorList results[2];
  Tensor ys[2];
  for (int k = 0; k < 2; ++k) {
    Tensor xl = x.detach().set_requires_grad(), wl = w.detach().set_requires_grad();
    Tensor bl = bias ? b.detach().set_requires_grad() : Tensor();
    Tensor y = k == 0 ? unfused(xl, wl, bl) : fused(xl, wl, bl);
    Generator sg(seed + 1);
    Tensor dy = normal(y.shape(), sg);
    results[k] = grad({y}, bias ? TensorList{xl, wl, bl} : TensorList{xl, wl}, {dy});
    ys[k] = y.detach();
  }
  REQUIRE(ys[0].shape() == ys[1].shape());
  const double scale = 1.0 + max_abs(ys[0]);
  CHECK(max_abs_diff(ys[0], ys[1]) <= 1e-6 * scale);
  // The activation really acted: some outputs are clipped (or scaled) and some pass.
  CHECK(min(ys[1]).item() <= 0.0);
  CHECK(max(ys[1]).item() > 0.0);
  if (slope > 0) CHECK(min(ys[1]).item() < 0.0);
  for (size_t i = 0; i < results[0].size(); ++i) {
    CAPTURE(i);
    const double gs = 1.0 + max_abs(results[0][i]);
    CHECK(max_abs(results[0][i]) > 0.0);
    CHECK(max_abs_diff(results[0][i], results[1][i]) <= 2e-5 * gs);
  }
}

}  // namespace

TEST_CASE("conv2d_relu: f64 gradient checks, ReLU and leaky, bias, non-contiguous") {
  Conv2dOptions opt;
  opt.stride = {2, 1};
  opt.padding = {1, 2};
  opt.dilation = {1, 2};
  Tensor x = rand64({2, 2, 5, 6}, 21), w = rand64({3, 2, 3, 2}, 22), b = rand64({3}, 23);
  for (double slope : {0.0, 0.2}) {
    CAPTURE(slope);
    gradcheck([&](const TensorList& in) { return conv2d_relu(in[0], in[1], in[2], opt, slope); },
              {x, w, b}, "conv2d_relu bias");
    gradcheck([&](const TensorList& in) {
      return conv2d_relu(in[0], in[1], Tensor(), Conv2dOptions{}, slope);
    }, {x, w}, "conv2d_relu no bias");
  }
  Tensor xt = rand64({2, 2, 6, 5}, 24);
  gradcheck([&](const TensorList& in) {
    Tensor xv = transpose(in[0], 2, 3);
    CHECK(!xv.is_contiguous());
    return conv2d_relu(xv, in[1], in[2], opt);
  }, {xt, w, b}, "conv2d_relu non-contiguous");
  // Values: exactly relu of the unfused op in f64 (the reference path).
  Tensor y = conv2d_relu(x, w, b, opt), ref = relu(conv2d(x, w, b, opt));
  CHECK(max_abs_diff(y, ref) == 0.0);
  CHECK(min(y).item() == 0.0);
}

TEST_CASE("conv_transpose2d_relu: f64 gradient checks, ReLU and leaky, bias, non-contiguous") {
  Conv2dOptions opt;
  opt.stride = {2, 2};
  opt.padding = {1, 0};
  opt.output_padding = {1, 1};
  Tensor x = rand64({2, 3, 3, 4}, 25), w = rand64({3, 2, 3, 3}, 26), b = rand64({2}, 27);
  for (double slope : {0.0, 0.2}) {
    CAPTURE(slope);
    gradcheck([&](const TensorList& in) {
      return conv_transpose2d_relu(in[0], in[1], in[2], opt, slope);
    }, {x, w, b}, "conv_transpose2d_relu bias");
    gradcheck([&](const TensorList& in) {
      return conv_transpose2d_relu(in[0], in[1], Tensor(), opt, slope);
    }, {x, w}, "conv_transpose2d_relu no bias");
  }
  gradcheck([&](const TensorList& in) {
    return conv_transpose2d_relu(transpose(in[0], 2, 3), in[1], in[2], opt, 0.1);
  }, {rand64({2, 3, 4, 3}, 28), w, b}, "conv_transpose2d_relu non-contiguous");
  Tensor y = conv_transpose2d_relu(x, w, b, opt, 0.3);
  CHECK(max_abs_diff(y, leaky_relu(conv_transpose2d(x, w, b, opt), 0.3)) == 0.0);
}

TEST_CASE("conv2d_relu / conv_transpose2d_relu: f32 fused == unfused, both oneDNN layouts") {
  const char* modes[] = {"plain", "blocked", "auto"};
  uint64_t seed = 100;
  for (const char* mode : modes) {
    ::setenv("UNRAVEL_CONV_LAYOUT", mode, 1);
    CAPTURE(mode);
    for (double slope : {-1.0, 0.0, 0.2}) {
      for (bool bias : {true, false}) {
        compare_fused(false, {2, 8, 10, 9}, {16, 8, 4, 4}, bias, s2p1(), slope, ++seed);
        compare_fused(true, {2, 16, 5, 5}, {16, 8, 4, 4}, bias, s2p1(), slope, ++seed);
      }
    }
  }
  ::unsetenv("UNRAVEL_CONV_LAYOUT");
  // β-VAE layer sizes (blocked JIT kernels with the post-op under the default rule).
  compare_fused(false, {8, 32, 32, 32}, {32, 32, 4, 4}, true, s2p1(), -1.0, 200);
  compare_fused(true, {8, 64, 8, 8}, {64, 32, 4, 4}, true, s2p1(), -1.0, 201);
  compare_fused(false, {8, 32, 32, 32}, {64, 32, 4, 4}, false, s2p1(), 0.2, 202);
}

TEST_CASE("add_relu: fused bias + activation elementwise op") {
  Tensor a = Tensor::from_vector<float>({-2, -0.5, 0, 0.5, 3, -1}, {2, 3});
  Tensor b = Tensor::from_vector<float>({1, 1, -1}, {3});
  TensorView bv = b.view();
  bv.shape = a.shape();
  bv.strides = Strides{0, 1};
  Tensor y = Tensor::empty(a.shape());
  backend(kCPU).binary(BinaryOp::add_relu, a.view(), bv, y.view(), 0.0);
  CHECK(y.to_vector<float>() == std::vector<float>{0, 0.5f, 0, 1.5f, 4, 0});
  backend(kCPU).binary(BinaryOp::add_relu, a.view(), bv, y.view(), 0.5);
  CHECK(y.to_vector<float>() == std::vector<float>{-0.5f, 0.5f, -0.5f, 1.5f, 4, -1});
}

TEST_CASE("conv2d_relu: errors name the op") {
  Tensor x = Tensor::zeros({2, 3, 8, 8}), w = Tensor::zeros({4, 3, 3, 3});
  CHECK_THROWS_WITH(conv2d_relu(x, w, Tensor(), Conv2dOptions{}, -0.1),
                    doctest::Contains("conv2d_relu: negative_slope must be finite and >= 0"));
  CHECK_THROWS_WITH(conv_transpose2d_relu(x, Tensor::zeros({3, 4, 3, 3}), Tensor(),
                                          Conv2dOptions{}, -1.0),
                    doctest::Contains("conv_transpose2d_relu: negative_slope"));
  CHECK_THROWS_WITH(conv2d_relu(x, Tensor::zeros({4, 2, 3, 3})),
                    doctest::Contains("conv2d_relu: input f32[2, 3, 8, 8] has 3 channels"));
}
