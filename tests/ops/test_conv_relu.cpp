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

TEST_CASE("fused activation backward: written into the incoming gradient only when nothing else holds it") {
  // x -> a = conv(_relu)(x, w1) -> y = conv(a, w2) (and a second branch): the gradient reaching
  // a's node comes fresh from y's backward-data, so the mask is written into it; asking grad()
  // for a's own gradient too keeps a handle on it, so the same graph then masks into a new
  // buffer. Both give the same bits, the captured gradient of a is the unmasked one, and a
  // gradient the caller holds (the seed) or that feeds two nodes is never written.
  for (bool transpose : {false, true}) {
    for (double slope : {0.0, 0.2}) {
      CAPTURE(transpose);
      CAPTURE(slope);
      Generator gen(300 + (transpose ? 1 : 0));
      const Conv2dOptions opt = s2p1();
      Tensor x = normal(transpose ? Shape{2, 16, 5, 5} : Shape{2, 8, 10, 10}, gen);
      Tensor w1 = (normal(transpose ? Shape{16, 16, 4, 4} : Shape{16, 8, 4, 4}, gen) * 0.2)
                      .detach().set_requires_grad();
      Tensor w2 = (normal({16, 16, 3, 3}, gen) * 0.2).detach().set_requires_grad();
      Tensor w3 = (normal({16, 16, 3, 3}, gen) * 0.2).detach().set_requires_grad();
      Tensor b1 = (normal({16}, gen) * 0.5).detach().set_requires_grad();
      x = x.detach().set_requires_grad();
      Conv2dOptions same;
      same.padding = {1, 1};
      auto first = [&] {
        return transpose ? conv_transpose2d_relu(x, w1, b1, opt, slope)
                         : conv2d_relu(x, w1, b1, opt, slope);
      };
      // One branch: the mask runs in place (the default) or not (a's gradient captured).
      Tensor a = first();
      Tensor y = conv2d(a, w2, Tensor(), same);
      Generator sg(400);
      const Tensor dy = normal(y.shape(), sg);
      const std::vector<float> dy_before = dy.to_vector<float>();
      TensorList in_place = grad({y}, {x, w1, b1, w2}, {dy});
      CHECK(dy.to_vector<float>() == dy_before);  // the caller's seed is not written
      // The seed reaching the activation's node directly.
      Tensor a0 = first();
      const Tensor da0 = normal(a0.shape(), sg);
      const std::vector<float> da0_before = da0.to_vector<float>();
      CHECK(max_abs(grad({a0}, {w1}, {da0})[0]) > 0.0);
      CHECK(da0.to_vector<float>() == da0_before);
      a = first();
      y = conv2d(a, w2, Tensor(), same);
      TensorList kept = grad({y}, {x, w1, b1, w2, a}, {dy});
      for (size_t i = 0; i < 4; ++i) {
        CAPTURE(i);
        CHECK(max_abs(in_place[i]) > 0.0);
        CHECK(max_abs_diff(in_place[i], kept[i]) == 0.0);
      }
      // a's captured gradient is the one that reached the node, not the masked one: where the
      // activation clipped (a <= 0 for ReLU), it is still nonzero.
      const Tensor da = kept[4];
      const Tensor clipped = le(a.detach(), scalar_like(0.0, a));
      CHECK(max(abs(where(clipped, da, scalar_like(0.0, da)))).item() > 0.0);
      // Two conv nodes fed by one gradient (s = a1 + a2): each masks with its own output, so
      // neither may write into the gradient they share.
      Tensor a1 = first();
      Tensor a2 = transpose ? conv_transpose2d_relu(x, w1 * -1.0, b1, opt, slope)
                            : conv2d_relu(x, w1 * -1.0, b1, opt, slope);
      Tensor s = conv2d(add(a1, a2), w3, Tensor(), same);
      TensorList shared = grad({s}, {x, w1, b1}, {dy});
      a1 = first();
      a2 = transpose ? conv_transpose2d_relu(x, w1 * -1.0, b1, opt, slope)
                     : conv2d_relu(x, w1 * -1.0, b1, opt, slope);
      Tensor sum = add(a1, a2);
      s = conv2d(sum, w3, Tensor(), same);
      TensorList shared_kept = grad({s}, {x, w1, b1, sum}, {dy});
      for (size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(max_abs_diff(shared[i], shared_kept[i]) == 0.0);
      }
      // And the reference from the unfused ops, to float tolerance.
      Tensor u1 = transpose ? conv_transpose2d(x, w1, b1, opt) : conv2d(x, w1, b1, opt);
      Tensor u2 = transpose ? conv_transpose2d(x, w1 * -1.0, b1, opt)
                            : conv2d(x, w1 * -1.0, b1, opt);
      u1 = leaky_relu(u1, slope);
      u2 = leaky_relu(u2, slope);
      s = conv2d(add(u1, u2), w3, Tensor(), same);
      TensorList ref = grad({s}, {x, w1, b1}, {dy});
      for (size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(max_abs_diff(shared[i], ref[i]) <= 2e-5 * (1.0 + max_abs(ref[i])));
      }
    }
  }
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
