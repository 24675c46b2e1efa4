// Likelihoods (and their by-name registry), aggregate divergences and the TC decomposition:
// values against explicit formulas, each D estimator ≈ 0 when q(z) = p(z) and growing with a
// known shift, MWS/MSS consistency, MSS against the exact full-dataset aggregate, and f64
// gradient checks.
#include <doctest/doctest.h>
#include <fmt/ranges.h>

#include <cmath>
#include <numbers>
#include <set>

#include "objectives/divergences.h"
#include "ops/likelihoods.h"
#include "objectives/priors/gaussian_priors.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::rand64;

namespace {
// B posteriors whose aggregate is exactly N(shift, I): μ ~ N(shift, 1 − σ²), σ² = 0.5.
DiagonalGaussian aggregate_normal(int64_t b, int64_t d, double shift, uint64_t seed) {
  Generator g(seed);
  Tensor mu = normal(Shape{b, d}, g, shift, std::sqrt(0.5), DType::f64);
  return DiagonalGaussian::from_logvar(mu, Tensor::full(Shape{b, d}, std::log(0.5), DType::f64));
}
}  // namespace

TEST_CASE("likelihoods: per-datapoint sums against explicit formulas, K axes, gradients") {
  Tensor x = rand64(Shape{2, 3, 2}, 1, 0, 1);
  Tensor l = rand64(Shape{2, 3, 2}, 2, -30, 30);  // large logits: stability
  auto xv = x.to_vector<double>(), lv = l.to_vector<double>();
  auto bl = bernoulli_log_prob(x, l).to_vector<double>();
  REQUIRE(bl.size() == 2);
  for (int b = 0; b < 2; ++b) {
    double ref = 0;
    for (int i = 0; i < 6; ++i) {
      double t = lv[b * 6 + i], y = xv[b * 6 + i];
      ref += y * t - (std::max(t, 0.0) + std::log1p(std::exp(-std::fabs(t))));
    }
    CHECK(bl[b] == doctest::Approx(ref).epsilon(1e-12));
  }
  Tensor m = rand64(Shape{2, 3, 2}, 3, 0, 1);
  auto mv = m.to_vector<double>();
  auto gl = gaussian_log_prob(x, m, 0.3).to_vector<double>();
  auto ll = laplace_log_prob(x, m, 0.1).to_vector<double>();
  for (int b = 0; b < 2; ++b) {
    double rg = 0, rl = 0;
    for (int i = 0; i < 6; ++i) {
      double d = xv[b * 6 + i] - mv[b * 6 + i];
      rg += -0.5 * d * d / 0.09 - std::log(0.3) - 0.5 * std::log(2 * std::numbers::pi);
      rl += -std::fabs(d) / 0.1 - std::log(0.2);
    }
    CHECK(gl[b] == doctest::Approx(rg));
    CHECK(ll[b] == doctest::Approx(rl));
  }
  // Learned per-channel log-scale equals the fixed scale when it is constant.
  Tensor ls = Tensor::full(Shape{3, 1}, std::log(0.3), DType::f64);
  CHECK(max_abs_diff(gaussian_log_prob(x, m, ls), gaussian_log_prob(x, m, 0.3)) < 1e-10);
  // K leading samples are kept: (4, 2, 3, 2) → (4, 2).
  Tensor lk = rand64(Shape{4, 2, 3, 2}, 4, -3, 3);
  CHECK(Likelihood::from_name("bernoulli").log_prob(x, lk).shape() == Shape{4, 2});
  CHECK_THROWS_WITH_AS(Likelihood::from_name("poisson"), doctest::Contains("bernoulli, gaussian"),
                       Error);
  // Every registered name round-trips through from_name / name(), each to its own kind; an
  // unknown name lists them all.
  std::set<LikelihoodKind> kinds;
  for (const auto& e : likelihood_entries()) {
    INFO("likelihood: ", e.name);
    CHECK(e.meaning.size() > 12);
    Likelihood l = Likelihood::from_name(e.name, 0.5);
    CHECK(l.name() == e.name);
    CHECK(l.scale == 0.5);
    CHECK(l.log_prob(x, m).shape() == Shape{2});
    kinds.insert(l.kind);
  }
  CHECK(kinds.size() == likelihood_entries().size());
  CHECK(kinds.size() == 3);
  const std::string msg = fmt::format("unknown name 'poisson' (valid: {})",
                                      fmt::join(names_of(likelihood_entries()), ", "));
  CHECK_THROWS_WITH_AS(Likelihood::from_name("poisson"), doctest::Contains(msg.c_str()), Error);
  CHECK_THROWS_AS(bernoulli_log_prob(x, rand64(Shape{2, 6}, 1)), Error);
  Tensor l_small = rand64(Shape{2, 3, 2}, 5, -3, 3);
  gradcheck([&](const TensorList& in) { return bernoulli_log_prob(x, in[0]); }, {l_small},
            "bernoulli_log_prob");
  gradcheck([&](const TensorList& in) { return gaussian_log_prob(x, in[0], in[1]); },
            {m, rand64(Shape{3, 1}, 6, -1, 0)}, "gaussian_log_prob learned scale");
  gradcheck([&](const TensorList& in) { return laplace_log_prob(x, in[0], 0.5); }, {m},
            "laplace_log_prob");
}

TEST_CASE("aggregate divergences: ~0 when q(z) = p(z), growing with a shift") {
  IsotropicGaussianPrior p(2, 1.0, DType::f64);
  for (const char* name : {"kld_inc", "mmd_dim", "mmd_full", "kl_mws"}) {
    CAPTURE(name);
    auto div = make_aggregate_divergence(name);
    CHECK(div->name() == name);
    double prev = -1;
    for (double shift : {0.0, 1.0, 2.0}) {
      auto q = aggregate_normal(400, 2, shift, 7);
      Generator g(13);
      Tensor z = q.rsample(g);
      double d = (*div)(q, z, p, g).item();
      CAPTURE(shift);
      if (shift == 0.0) CHECK(std::fabs(d) < 0.08);
      else CHECK(d > prev + 0.05);
      prev = d;
    }
  }
  // Inclusive KL tracks the true KL(p ‖ q) = D·shift²/2 for a shifted aggregate.
  auto q = aggregate_normal(1000, 2, 1.0, 3);
  Generator g(2);
  double inc = kld_inc(q, p, p.sample(Shape{1000}, g)).item();
  CHECK(inc == doctest::Approx(1.0).epsilon(0.2));
  CHECK_THROWS_WITH_AS(make_aggregate_divergence("mmd"), doctest::Contains("kld_inc, mmd_dim"),
                       Error);
}

TEST_CASE("mmd_full is the unbiased estimate: off-diagonal pairs over B(B−1), cross pairs over B²") {
  // x = {0, 1}, y = {0, 2} in one dimension; the IMQ kernel k(d²) = Σ_s C_s / (C_s + d²) with
  // C_s = 2·D·s over the six scales s.
  auto k = [](double d2) {
    double v = 0;
    for (double s : {0.1, 0.2, 0.5, 1.0, 2.0, 5.0}) v += 2 * s / (2 * s + d2);
    return v;
  };
  Tensor x = Tensor::from_vector<double>({0, 1}, Shape{2, 1});
  Tensor y = Tensor::from_vector<double>({0, 2}, Shape{2, 1});
  const double within = (2 * k(1) + 2 * k(4)) / (2 * 1);
  const double cross = k(0) + k(4) + k(1) + k(1);
  CHECK(mmd_full(x, y).item() == doctest::Approx(within - 2 * cross / 4));
  CHECK(mmd_dim(x, y).item() == doctest::Approx(within - 2 * cross / 4));
}

TEST_CASE("aggregate divergences: f64 gradient checks") {
  Tensor x = rand64(Shape{5, 3}, 1, -1, 1), y = rand64(Shape{5, 3}, 2, -1, 2);
  gradcheck([](const TensorList& in) { return mmd_dim(in[0], in[1]); }, {x, y}, "mmd_dim");
  gradcheck([](const TensorList& in) { return mmd_full(in[0], in[1]); }, {x, y}, "mmd_full");
  // mmd_dim with D = 1 equals mmd_full (same kernel).
  CHECK(mmd_dim(slice(x, 1, 0, 1), slice(y, 1, 0, 1)).item() ==
        doctest::Approx(mmd_full(slice(x, 1, 0, 1), slice(y, 1, 0, 1)).item()));
  IsotropicGaussianPrior p(3, 1.0, DType::f64);
  Tensor mu = rand64(Shape{4, 3}, 3, -1, 1), lv = rand64(Shape{4, 3}, 4, -1, 0.5);
  Tensor zp = rand64(Shape{6, 3}, 5, -2, 2), z = rand64(Shape{4, 3}, 6, -1, 1);
  gradcheck([&](const TensorList& in) {
    return kld_inc(DiagonalGaussian::from_logvar(in[0], in[1]), p, zp);
  }, {mu, lv}, "kld_inc");
  gradcheck([&](const TensorList& in) {
    return kl_mws(DiagonalGaussian::from_logvar(in[0], in[1]), in[2], p);
  }, {mu, lv, z}, "kl_mws");
  for (TcSampling s : {TcSampling::mws, TcSampling::mss}) {
    gradcheck([&](const TensorList& in) {
      auto d = tc_decomposition(DiagonalGaussian::from_logvar(in[0], in[1]), in[2], p, 50, s);
      return stack({d.mi, d.tc, d.dwkl}, 0);
    }, {mu, lv, z}, "tc_decomposition");
  }
}

TEST_CASE("TC decomposition: terms sum to the KL estimate; MSS weights; MWS vs MSS vs exact") {
  IsotropicGaussianPrior p(3, 1.0, DType::f64);
  Generator g(1);
  // A correlated dataset of posteriors: μ = A·u, so the aggregate has real total correlation.
  const int64_t n = 1200, d = 3;
  Tensor u = normal(Shape{n, d}, g, 0, 1, DType::f64);
  Tensor a = Tensor::from_vector<double>({1, 0, 0, 0.8, 0.6, 0, 0.5, 0.5, 0.7}, Shape{d, d});
  Tensor mu = sum(unsqueeze(u, 1) * unsqueeze(a, 0), {2});  // (n, d): rows A·u
  Tensor lv = Tensor::full(Shape{n, d}, std::log(0.2), DType::f64);
  auto q = DiagonalGaussian::from_logvar(mu, lv);
  Tensor z = q.rsample(g);
  for (TcSampling s : {TcSampling::mws, TcSampling::mss}) {
    auto t = tc_decomposition(q, z, p, n, s);
    double kl_mc = mean(q.log_prob_sum(z) - p.log_prob_sum(z)).item();
    CHECK(t.mi.item() + t.tc.item() + t.dwkl.item() == doctest::Approx(kl_mc).epsilon(1e-10));
  }
  // Weight matrix: rows sum to 1, own datapoint 1/N, (i, i+1) = S.
  Tensor w = exp(log_importance_weight_matrix(5, 100, DType::f64));
  auto wv = w.to_vector<double>();
  for (int i = 0; i < 5; ++i) {
    double r = 0;
    for (int j = 0; j < 5; ++j) r += wv[i * 5 + j];
    CHECK(r == doctest::Approx(1.0));
    CHECK(wv[i * 5 + i] == doctest::Approx(0.01));
    CHECK(wv[i * 5 + (i + 1) % 5] == doctest::Approx((100.0 - 4) / (100.0 * 4)));
  }
  // Batch = dataset (M = N): MWS plus its documented constant offsets agrees with MSS.
  auto mws = tc_decomposition(q, z, p, n, TcSampling::mws);
  auto mss = tc_decomposition(q, z, p, n, TcSampling::mss);
  const double ln = std::log(static_cast<double>(n));
  CHECK(mws.mi.item() - ln == doctest::Approx(mss.mi.item()).epsilon(0.02));
  CHECK(mws.tc.item() - (d - 1) * ln == doctest::Approx(mss.tc.item()).epsilon(0.02));
  CHECK(mws.dwkl.item() + d * ln == doctest::Approx(mss.dwkl.item()).epsilon(0.02));
  CHECK(mss.tc.item() > 0.1);
  // MSS on a random minibatch of M = 200 out of N tracks the exact full-dataset aggregate.
  Tensor table = sum(pairwise_log_density(z, mu, lv), {2});  // (n, n)
  Tensor exact_log_qz = logsumexp(table, {1}) - ln;
  const int64_t m = 200;
  double est = 0, exact = 0;
  const int reps = 5;
  for (int r = 0; r < reps; ++r) {
    Tensor idx = slice(permutation(n, g), 0, 0, m);
    auto qb = DiagonalGaussian::from_logvar(index_select(mu, 0, idx), index_select(lv, 0, idx));
    auto tb = tc_decomposition(qb, index_select(z, 0, idx), p, n, TcSampling::mss);
    est += mean(tb.log_qz).item() / reps;
    exact += mean(index_select(exact_log_qz, 0, idx)).item() / reps;
  }
  CHECK(est == doctest::Approx(exact).epsilon(0.03));
}
