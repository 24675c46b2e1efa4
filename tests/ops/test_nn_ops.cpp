// batch_norm, dropout and the losses: forward values against hand formulas, running-statistic
// updates, dropout statistics and reproducibility, stability at extreme logits, and float64
// finite-difference gradient checks (2-D and 4-D, non-contiguous inputs where they apply).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::rand64;

namespace {

// Per-channel biased mean / variance of an (N, C, H, W) or (N, C) f64 tensor, by hand.
void channel_stats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  auto v = contiguous(x).to_vector<double>();
  mean.assign(C, 0.0);
  var.assign(C, 0.0);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) mean[c] += v[(n * C + c) * S + s];
    mean[c] /= static_cast<double>(N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const double d = v[(n * C + c) * S + s] - mean[c];
        var[c] += d * d;
      }
    var[c] /= static_cast<double>(N * S);
  }
}

// y = (x − m)/√(v + eps)·g + b per channel, by hand.
std::vector<double> bn_ref(const Tensor& x, const std::vector<double>& m, const std::vector<double>& v,
                           const std::vector<double>& g, const std::vector<double>& b, double eps) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  auto xv = contiguous(x).to_vector<double>();
  std::vector<double> y(xv.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) {
        const size_t i = static_cast<size_t>((n * C + c) * S + s);
        y[i] = (xv[i] - m[c]) / std::sqrt(v[c] + eps) * g[c] + b[c];
      }
  return y;
}

void check_vec(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(tol));
}

}  // namespace

TEST_CASE("batch_norm: training values, running-stat update, eval values") {
  for (Shape shape : {Shape{4, 3, 3, 2}, Shape{7, 3}}) {
    CAPTURE(shape.str());
    Tensor x = rand64(shape, 1, -2, 3);
    Tensor g = rand64({3}, 2, 0.5, 1.5), b = rand64({3}, 3);
    Tensor rm = Tensor::zeros({3}, DType::f64), rv = Tensor::ones({3}, DType::f64);
    std::vector<double> m, v;
    channel_stats(x, m, v);
    const double eps = 1e-5, mom = 0.1;
    Tensor y = batch_norm(x, g, b, rm, rv, true, mom, eps);
    check_vec(y.to_vector<double>(), bn_ref(x, m, v, g.to_vector<double>(), b.to_vector<double>(), eps),
              1e-10);
    // Running stats: (1 − m)·old + m·batch, with the unbiased batch variance.
    const double M = static_cast<double>(x.numel() / 3);
    auto rmv = rm.to_vector<double>(), rvv = rv.to_vector<double>();
    for (int c = 0; c < 3; ++c) {
      CHECK(rmv[c] == doctest::Approx(mom * m[c]).epsilon(1e-10));
      CHECK(rvv[c] == doctest::Approx((1 - mom) + mom * v[c] * M / (M - 1)).epsilon(1e-9));
    }
    // Eval uses the running statistics.
    Tensor ye = batch_norm(x, g, b, rm, rv, false, mom, eps);
    check_vec(ye.to_vector<double>(), bn_ref(x, rmv, rvv, g.to_vector<double>(), b.to_vector<double>(), eps),
              1e-10);
    // f32 agrees with f64; without gamma/beta it is plain standardisation.
    Tensor y32 = batch_norm(to(x, DType::f32), to(g, DType::f32), to(b, DType::f32), Tensor(),
                            Tensor(), true);
    CHECK(max_abs_diff(y32, y) < 1e-5);
    Tensor yn = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true);
    check_vec(yn.to_vector<double>(), bn_ref(x, m, v, {1, 1, 1}, {0, 0, 0}, 1e-5), 1e-10);
  }
}

TEST_CASE("batch_norm: f64 gradient checks (x, gamma, beta), train and eval, 2-D and 4-D") {
  Tensor g = rand64({3}, 5, 0.5, 1.5), b = rand64({3}, 6);
  for (Shape shape : {Shape{5, 3}, Shape{2, 3, 3, 2}}) {
    CAPTURE(shape.str());
    Tensor x = rand64(shape, 4, -2, 2);
    Tensor rm = rand64({3}, 7), rv = rand64({3}, 8, 0.5, 2.0);
    gradcheck([&](const TensorList& in) {
      return batch_norm(in[0], in[1], in[2], rm, rv, true);
    }, {x, g, b}, "batch_norm train");
    gradcheck([&](const TensorList& in) {
      return batch_norm(in[0], in[1], in[2], rm, rv, false);
    }, {x, g, b}, "batch_norm eval");
    gradcheck([&](const TensorList& in) {
      return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
    }, {x}, "batch_norm train no affine");
  }
  // Non-contiguous 4-D input (H and W swapped).
  gradcheck([&](const TensorList& in) {
    Tensor xv = transpose(in[0], 2, 3);
    CHECK(!xv.is_contiguous());
    return batch_norm(xv, in[1], in[2], Tensor(), Tensor(), true);
  }, {rand64({2, 3, 2, 4}, 9), g, b}, "batch_norm non-contiguous");
}

TEST_CASE("batch_norm: errors") {
  Tensor x = Tensor::zeros({4, 3});
  CHECK_THROWS_WITH(batch_norm(x, Tensor::ones({2}), Tensor(), Tensor(), Tensor(), true),
                    doctest::Contains("weight (gamma) must be [3]"));
  CHECK_THROWS_WITH(batch_norm(Tensor::zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                    doctest::Contains("more than one value per channel"));
  CHECK_THROWS_WITH(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false),
                    doctest::Contains("eval mode needs"));
  CHECK_THROWS_WITH(batch_norm(Tensor::zeros({4, 3, 2}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                    doctest::Contains("(N, C) or (N, C, H, W)"));
}

TEST_CASE("dropout: statistics, scaling, reproducibility, gradient") {
  const double p = 0.3;
  Tensor x = Tensor::ones({200000});
  Generator gen(42);
  Tensor y = dropout(x, p, true, gen);
  auto v = y.to_vector<float>();
  int64_t zeros = 0, badly_scaled = 0;
  for (float e : v) {
    if (e == 0.0f) ++zeros;
    else if (std::fabs(e - 1.0 / 0.7) > 1e-5) ++badly_scaled;  // kept values are x/(1-p)
  }
  CHECK(badly_scaled == 0);
  const double frac = static_cast<double>(zeros) / static_cast<double>(v.size());
  CHECK(frac == doctest::Approx(p).epsilon(0.02));  // σ ≈ 0.001
  CHECK(mean(y).item() == doctest::Approx(1.0).epsilon(0.01));
  // Same seed and offset: same mask; the generator advanced, so the next draw differs.
  Generator g2(42);
  CHECK(max_abs_diff(dropout(x, p, true, g2), y) == 0.0);
  CHECK(max_abs_diff(dropout(x, p, true, g2), y) > 0.0);
  // Eval and p = 0 are the identity; p = 1 zeroes.
  CHECK(dropout(x, p, false, gen).is_same(x));
  CHECK(dropout(x, 0.0, true, gen).is_same(x));
  CHECK(max(abs(dropout(x, 1.0, true, gen))).item() == 0.0);
  CHECK_THROWS_WITH(dropout(x, 1.5, true, gen), doctest::Contains("dropout: p = 1.5"));
  // Gradient: the same mask (fixed seed) for every evaluation.
  gradcheck([&](const TensorList& in) {
    Generator g(7);
    return dropout(in[0], 0.4, true, g);
  }, {rand64({4, 5}, 10)}, "dropout");
  Tensor xl = rand64({50}, 11, 0.5, 1.5).set_requires_grad();
  Generator g3(3);
  Tensor yd = dropout(xl, 0.5, true, g3);
  Tensor gx = grad({sum(yd)}, {xl})[0];
  CHECK(max_abs_diff(gx * xl.detach(), yd.detach()) < 1e-12);  // dy/dx = mask / (1 - p)
}

TEST_CASE("bce_with_logits: values, stability at +-1000, reductions, gradients") {
  Tensor x = Tensor::from_vector<double>({1000, 1000, -1000, -1000, 0.3, -2.0}, {6});
  Tensor t = Tensor::from_vector<double>({1, 0, 0, 1, 0.25, 1.0}, {6});
  auto l = bce_with_logits(x, t, Reduction::none).to_vector<double>();
  CHECK(l[0] == doctest::Approx(0.0));
  CHECK(l[1] == doctest::Approx(1000.0));
  CHECK(l[2] == doctest::Approx(0.0));
  CHECK(l[3] == doctest::Approx(1000.0));
  auto ref = [](double xx, double tt) {
    const double s = 1 / (1 + std::exp(-xx));
    return -(tt * std::log(s) + (1 - tt) * std::log(1 - s));
  };
  CHECK(l[4] == doctest::Approx(ref(0.3, 0.25)).epsilon(1e-12));
  CHECK(l[5] == doctest::Approx(ref(-2.0, 1.0)).epsilon(1e-12));
  double total = 0;
  for (double e : l) total += e;
  CHECK(bce_with_logits(x, t, Reduction::sum).item() == doctest::Approx(total));
  CHECK(bce_with_logits(x, t).item() == doctest::Approx(total / 6));
  // f32 at ±1000: finite values and gradients σ(x) − t.
  Tensor x32 = to(x, DType::f32).set_requires_grad();
  Tensor l32 = bce_with_logits(x32, to(t, DType::f32), Reduction::sum);
  CHECK(std::isfinite(l32.item()));
  auto gx = grad({l32}, {x32})[0].to_vector<float>();
  const double want[] = {0, 1, 0, -1};
  for (int i = 0; i < 4; ++i) CHECK(gx[i] == doctest::Approx(want[i]));
  // Gradient checks w.r.t. logits and target, every reduction.
  Tensor xs = rand64({3, 4}, 12, -4, 4), ts = rand64({3, 4}, 13, 0, 1);
  for (Reduction r : {Reduction::none, Reduction::sum, Reduction::mean})
    gradcheck([&](const TensorList& in) { return bce_with_logits(in[0], in[1], r); }, {xs, ts},
              "bce_with_logits");
  CHECK_THROWS_WITH(bce_with_logits(xs, rand64({4, 3}, 1)), doctest::Contains("differ in shape"));
}

TEST_CASE("log_softmax / softmax: values, stability, axes, gradients") {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 1000, 1001, 1002}, {2, 3});
  auto ls = log_softmax(x).to_vector<double>();
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  for (int i = 0; i < 3; ++i) {
    CHECK(ls[i] == doctest::Approx(i + 1 - lse).epsilon(1e-12));
    CHECK(ls[3 + i] == doctest::Approx(i + 1 - lse).epsilon(1e-12));  // shift invariant, no overflow
  }
  auto sm = softmax(x, 0).to_vector<double>();  // columns: (1, 1000) -> (~0, ~1)
  CHECK(sm[0] == doctest::Approx(0.0));
  CHECK(sm[3] == doctest::Approx(1.0));
  Tensor r = rand64({2, 3, 4}, 14, -3, 3);
  for (int64_t ax : {0, 1, -1}) {
    CAPTURE(ax);
    Tensor s = softmax(r, ax);
    Tensor sums = sum(s, {ax});
    CHECK(max_abs_diff(sums, Tensor::ones(sums.shape(), DType::f64)) < 1e-12);
    CHECK(max_abs_diff(log(s), log_softmax(r, ax)) < 1e-12);
    gradcheck([&](const TensorList& in) { return log_softmax(in[0], ax); }, {r}, "log_softmax");
    gradcheck([&](const TensorList& in) { return softmax(in[0], ax); }, {r}, "softmax");
  }
  gradcheck([&](const TensorList& in) { return softmax(transpose(in[0], 0, 2), 1); }, {r},
            "softmax non-contiguous");
  CHECK_THROWS_WITH(softmax(r, 3), doctest::Contains("softmax"));
}

TEST_CASE("cross_entropy and mse_loss: values, bounds, reductions, gradients") {
  Tensor logits = rand64({4, 5}, 15, -2, 2);
  Tensor target = Tensor::from_vector<int64_t>({0, 4, 2, 2}, {4});
  auto ls = log_softmax(logits, 1).to_vector<double>();
  auto ce = cross_entropy(logits, target, Reduction::none).to_vector<double>();
  const int64_t cls[] = {0, 4, 2, 2};
  double total = 0;
  for (int i = 0; i < 4; ++i) {
    CHECK(ce[i] == doctest::Approx(-ls[i * 5 + cls[i]]).epsilon(1e-12));
    total += ce[i];
  }
  CHECK(cross_entropy(logits, target).item() == doctest::Approx(total / 4));
  CHECK(cross_entropy(logits, target, Reduction::sum).item() == doctest::Approx(total));
  gradcheck([&](const TensorList& in) { return cross_entropy(in[0], target); }, {logits},
            "cross_entropy");
  CHECK_THROWS_WITH(cross_entropy(logits, Tensor::from_vector<int64_t>({0, 5, 1, 1}, {4})),
                    doctest::Contains("target[1] = 5 is out of range [0, 5)"));
  CHECK_THROWS_WITH(cross_entropy(logits, Tensor::from_vector<int64_t>({0, -1, 1, 1}, {4})),
                    doctest::Contains("out of range"));
  CHECK_THROWS_WITH(cross_entropy(logits, Tensor::zeros({4})), doctest::Contains("i64"));

  Tensor a = rand64({3, 4}, 16), b = rand64({3, 4}, 17);
  auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  double se = 0;
  for (size_t i = 0; i < av.size(); ++i) se += (av[i] - bv[i]) * (av[i] - bv[i]);
  CHECK(mse_loss(a, b).item() == doctest::Approx(se / 12));
  CHECK(mse_loss(a, b, Reduction::sum).item() == doctest::Approx(se));
  CHECK(mse_loss(a, b, Reduction::none).shape() == Shape{3, 4});
  gradcheck([&](const TensorList& in) { return mse_loss(in[0], in[1]); }, {a, b}, "mse_loss");
  CHECK_THROWS_WITH(mse_loss(a, rand64({4, 3}, 1)), doctest::Contains("differ in shape"));
}
