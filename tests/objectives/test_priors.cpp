// Priors and the diagonal Gaussian: log-densities against independent formulas (std::lgamma,
// explicit sums), samplers against their densities (moments, KS statistics), closed-form KLs
// against Monte-Carlo estimates (CLT tolerances), and f64 gradient checks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "ops/distributions.h"
#include "objectives/divergences.h"
#include "objectives/priors/gaussian_priors.h"
#include "objectives/priors/gen_normal.h"
#include "objectives/priors/mixture.h"
#include "objectives/priors/spike_slab.h"
#include "objectives/priors/student_t.h"
#include "objectives/registry.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::rand64;

namespace {
constexpr double kPi = std::numbers::pi;
double normal_pdf(double x, double m, double s) {
  return std::exp(-0.5 * (x - m) * (x - m) / (s * s)) / (s * std::sqrt(2 * kPi));
}
double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Kolmogorov–Smirnov statistic of samples against a CDF.
double ks_stat(std::vector<double> v, const std::function<double(double)>& cdf) {
  std::sort(v.begin(), v.end());
  double n = static_cast<double>(v.size()), d = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    double f = cdf(v[i]);
    d = std::max({d, std::fabs(f - i / n), std::fabs((i + 1) / n - f)});
  }
  return d;
}
// Student-t CDF: with t = √ν·tan θ, CDF(x) = ½ + c·√ν·∫_0^{atan(x/√ν)} cos^{ν−1}θ dθ,
// c = Γ((ν+1)/2)/(Γ(ν/2)·√(νπ)), a smooth integrand (ν >= 1) for Simpson's rule.
double student_cdf(double x, double nu) {
  const double c = std::exp(std::lgamma((nu + 1) / 2) - std::lgamma(nu / 2)) / std::sqrt(nu * kPi);
  const double top = std::atan(x / std::sqrt(nu));
  auto f = [nu](double th) { return std::pow(std::cos(th), nu - 1); };
  const int n = 400;
  double h = top / n, s = f(0) + f(top);
  for (int i = 1; i < n; ++i) s += (i % 2 ? 4 : 2) * f(i * h);
  return 0.5 + c * std::sqrt(nu) * s * h / 3;
}
// Regularised lower incomplete gamma P(a, t) by its series t^a e^−t / Γ(a+1) · Σ_k t^k / Π(a+j).
double gamma_p(double a, double t) {
  if (t <= 0) return 0.0;
  double term = 1.0, sum = 1.0;
  for (int k = 1; k < 100000 && term > 1e-17 * sum; ++k) {
    term *= t / (a + k);
    sum += term;
  }
  return std::exp(a * std::log(t) - t - std::lgamma(a + 1.0)) * sum;
}
}  // namespace

TEST_CASE("DiagonalGaussian: log_prob, entropy, rsample moments") {
  Tensor mu = Tensor::from_vector<double>({0.5, -1.0, 2.0, 0.0}, Shape{2, 2});
  Tensor lv = Tensor::from_vector<double>({0.0, -1.0, 0.7, 0.2}, Shape{2, 2});
  auto q = DiagonalGaussian::from_logvar(mu, lv);
  Tensor z = Tensor::from_vector<double>({0.1, 0.3, -0.4, 1.0}, Shape{2, 2});
  auto lp = q.log_prob(z).to_vector<double>();
  auto mv = mu.to_vector<double>(), lvv = lv.to_vector<double>(), zv = z.to_vector<double>();
  for (int i = 0; i < 4; ++i)
    CHECK(lp[i] == doctest::Approx(std::log(normal_pdf(zv[i], mv[i], std::exp(0.5 * lvv[i])))));
  auto ent = q.entropy().to_vector<double>();
  for (int i = 0; i < 4; ++i)
    CHECK(ent[i] == doctest::Approx(0.5 * (1 + std::log(2 * kPi) + lvv[i])));
  CHECK(q.log_prob_sum(z).shape() == Shape{2});
  // from_scale agrees with from_logvar.
  auto q2 = DiagonalGaussian::from_scale(mu, exp(lv * 0.5));
  CHECK(testing::max_abs_diff(q2.log_prob(z), q.log_prob(z)) < 1e-12);
  // K = 4000 draws: sample mean and variance per element within CLT bounds.
  Generator g(3);
  Tensor s = q.rsample(g, 4000);
  CHECK(s.shape() == Shape{4000, 2, 2});
  auto m = mean(s, {0}).to_vector<double>(), v = var(s, {0}).to_vector<double>();
  for (int i = 0; i < 4; ++i) {
    double var_i = std::exp(lvv[i]);
    CHECK(std::fabs(m[i] - mv[i]) < 5 * std::sqrt(var_i / 4000));
    CHECK(std::fabs(v[i] - var_i) < 5 * var_i * std::sqrt(2.0 / 4000));
  }
  // rsample(g), the training step's single draw, has the same moments: 4000 rows of the same q.
  auto rows = DiagonalGaussian::from_logvar(contiguous(expand(reshape(mu, Shape{1, 4}), Shape{4000, 4})),
                                            contiguous(expand(reshape(lv, Shape{1, 4}), Shape{4000, 4})));
  Tensor s1 = rows.rsample(g);
  auto m1 = mean(s1, {0}).to_vector<double>(), v1 = var(s1, {0}).to_vector<double>();
  for (int i = 0; i < 4; ++i) {
    double var_i = std::exp(lvv[i]);
    CHECK(std::fabs(m1[i] - mv[i]) < 5 * std::sqrt(var_i / 4000));
    CHECK(std::fabs(v1[i] - var_i) < 5 * var_i * std::sqrt(2.0 / 4000));
  }
  gradcheck([&](const TensorList& in) {
    return DiagonalGaussian::from_logvar(in[0], in[1]).log_prob(in[2]);
  }, {mu, lv, z}, "DiagonalGaussian::log_prob");
  // Pairwise table entries equal the broadcast density.
  Tensor t = pairwise_log_density(z, mu, lv);
  CHECK(t.shape() == Shape{2, 2, 2});
  auto tv = t.to_vector<double>();
  CHECK(tv[1 * 4 + 0 * 2 + 1] ==
        doctest::Approx(std::log(normal_pdf(zv[3], mv[1], std::exp(0.5 * lvv[1])))));
}

TEST_CASE("Gaussian priors: log_prob, samplers, closed-form KL vs Monte Carlo") {
  IsotropicGaussianPrior iso(3, 1.0, DType::f64);
  auto aniso_ptr = AnisotropicGaussianPrior::fixed_scales({0.5, 1.0, 2.0}, DType::f64);
  auto& aniso = *aniso_ptr;
  Tensor z = rand64(Shape{5, 3}, 1, -2, 2);
  auto zv = z.to_vector<double>();
  auto li = iso.log_prob(z).to_vector<double>(), la = aniso.log_prob(z).to_vector<double>();
  const double sc[3] = {0.5, 1.0, 2.0};
  for (int i = 0; i < 15; ++i) {
    CHECK(li[i] == doctest::Approx(std::log(normal_pdf(zv[i], 0, 1))));
    CHECK(la[i] == doctest::Approx(std::log(normal_pdf(zv[i], 0, sc[i % 3]))));
  }
  // Softmax parameterisation: total variance s·D, relative variances ∝ sv².
  auto sv_ptr = AnisotropicGaussianPrior::from_singular_values({1.0, 3.0, 2.0, 0.5}, 3, 1.0, true,
                                                           DType::f64);
  auto& sv = *sv_ptr;
  auto s = sv.scales().to_vector<double>();
  CHECK(s[0] * s[0] == doctest::Approx(3.0 * 9 / 14));  // sorted: 3, 2, 1
  CHECK(s[1] * s[1] == doctest::Approx(3.0 * 4 / 14));
  CHECK(s[2] * s[2] == doctest::Approx(3.0 * 1 / 14));
  CHECK(sv.parameters().size() == 1);

  // Closed-form KL vs MC on 20000 reparameterised draws.
  Tensor mu = Tensor::from_vector<double>({0.3, -0.8, 1.2}, Shape{1, 3});
  Tensor lv = Tensor::from_vector<double>({-0.5, 0.4, -1.5}, Shape{1, 3});
  auto q = DiagonalGaussian::from_logvar(mu, lv);
  for (const Prior* p : {static_cast<const Prior*>(&iso), static_cast<const Prior*>(&aniso),
                         static_cast<const Prior*>(&sv)}) {
    CAPTURE(p->name());
    Generator g(11);
    Tensor zs = q.rsample(g, 20000);
    Tensor d = q.log_prob_sum(zs) - p->log_prob_sum(zs);  // (K, 1)
    double mc = mean(d).item(), sd = std::sqrt(var(d).item() / 20000);
    double exact = sum(p->analytic_kl(q)).item();
    CHECK(std::fabs(mc - exact) < 4 * sd);
    CHECK(kl_divergence(q, *p, zs).item() == doctest::Approx(exact));
  }
  // Sampler moments.
  Generator g(5);
  Tensor xs = aniso.sample(Shape{20000}, g);
  auto v = var(xs, {0}).to_vector<double>();
  for (int d = 0; d < 3; ++d) CHECK(v[d] == doctest::Approx(sc[d] * sc[d]).epsilon(0.05));
  gradcheck([&](const TensorList& in) {
    return sum(aniso.analytic_kl(DiagonalGaussian::from_logvar(in[0], in[1])), {-1});
  }, {mu, lv}, "aniso analytic KL");
  gradcheck([&](const TensorList& in) {
    // KL as a function of the posterior and of the prior logits through scale = sqrt(sDsoftmax).
    Tensor sm = exp(in[2] - logsumexp(in[2], {0}, true));
    Tensor scale = sqrt(sm * 6.0);
    return kl_gaussian_zero_mean(DiagonalGaussian::from_logvar(in[0], in[1]), scale);
  }, {mu, lv, Tensor::from_vector<double>({0.1, -0.3, 0.5}, Shape{3})}, "KL vs learnable scales");
  // The learnable prior's own graph: d log p / d logits.
  gradcheck([&](const TensorList& in) {
    Tensor sm = exp(in[0] - logsumexp(in[0], {0}, true));
    return gaussian_log_density_scale(z, scalar_like(0.0, z), sqrt(sm * 3.0));
  }, {Tensor::from_vector<double>({0.2, 0.0, -0.4}, Shape{3})}, "aniso log_prob wrt logits");
  sum(sv.log_prob_sum(z)).backward();
  REQUIRE(sv.parameters()[0].grad().defined());
  CHECK(max(abs(sv.parameters()[0].grad())).item() > 0);
}

TEST_CASE("Student-t prior: log_prob vs lgamma formula, sampler KS, chi2 and Gamma samplers") {
  for (double nu : {1.0, 2.0, 3.5, 9.0}) {
    CAPTURE(nu);
    StudentTPrior p(2, nu, 1.5, DType::f64);
    Tensor z = rand64(Shape{4, 2}, 7, -4, 4);
    auto zv = z.to_vector<double>(), lp = p.log_prob(z).to_vector<double>();
    for (size_t i = 0; i < zv.size(); ++i) {
      double u = zv[i] / 1.5;
      double ref = std::lgamma((nu + 1) / 2) - std::lgamma(nu / 2) - 0.5 * std::log(nu * kPi) -
                   std::log(1.5) - (nu + 1) / 2 * std::log(1 + u * u / nu);
      CHECK(lp[i] == doctest::Approx(ref).epsilon(1e-12));
    }
    // Sampler vs the t CDF: KS statistic of 4000 draws below the 0.1% critical value 1.95/√n.
    Generator g(100 + static_cast<uint64_t>(nu * 10));
    auto draws = (p.sample(Shape{2000}, g) * (1.0 / 1.5)).to_vector<double>();
    double ks = ks_stat(draws, [nu](double x) { return student_cdf(x, nu); });
    CHECK(ks < 1.95 / std::sqrt(4000.0));
    gradcheck([&](const TensorList& in) { return p.log_prob(in[0]); }, {z}, "student-t log_prob");
  }
  // Gamma(a) mean a and variance a, including a < 1 (boost) and general ν χ².
  for (double a : {0.4, 1.0, 2.75}) {
    CAPTURE(a);
    Generator g(9);
    std::vector<double> v = sample_gamma(Shape{20000}, a, g, DType::f64).to_vector<double>();
    double m = 0, s2 = 0;
    for (double x : v) m += x;
    m /= v.size();
    for (double x : v) s2 += (x - m) * (x - m);
    s2 /= v.size() - 1;
    CHECK(std::fabs(m - a) < 5 * std::sqrt(a / v.size()));
    CHECK(s2 == doctest::Approx(a).epsilon(0.08));
  }
  Generator g(21);
  for (double nu : {3.0, 4.5}) {
    Tensor c = sample_chi2(Shape{20000}, nu, g, DType::f64);
    CHECK(mean(c).item() == doctest::Approx(nu).epsilon(0.03));
    CHECK(var(c).item() == doctest::Approx(2 * nu).epsilon(0.08));
  }
}

TEST_CASE("generalised normal prior: log_prob vs formula, normalised with the asked variance, "
          "sampler KS, gradients, power 2 is the Gaussian, refusals") {
  const double sd = 1.5;
  for (double pw : {1.0, 2.0, 4.0, 8.0}) {
    CAPTURE(pw);
    GeneralisedNormalPrior p(2, pw, sd, DType::f64);
    const double alpha = sd * std::sqrt(std::tgamma(1 / pw) / std::tgamma(3 / pw));
    CHECK(p.alpha() == doctest::Approx(alpha).epsilon(1e-12));
    Tensor z = rand64(Shape{4, 2}, 11, -4, 4);
    auto zv = z.to_vector<double>(), lp = p.log_prob(z).to_vector<double>();
    for (size_t i = 0; i < zv.size(); ++i) {
      const double ref = std::log(pw / (2 * alpha * std::tgamma(1 / pw))) -
                         std::pow(std::fabs(zv[i]) / alpha, pw);
      CHECK(lp[i] == doctest::Approx(ref).epsilon(1e-12));
      if (pw == 2.0) CHECK(lp[i] == doctest::Approx(std::log(normal_pdf(zv[i], 0, sd))).epsilon(1e-12));
    }
    // The density integrates to 1 with variance sd^2 (Simpson's rule on [-20 sd, 20 sd], a grid
    // point at the p = 1 kink).
    const int n = 40000;
    const double h = 40 * sd / n;
    std::vector<double> grid(n + 1), pairs;
    for (int i = 0; i <= n; ++i) {
      grid[i] = -20 * sd + i * h;
      pairs.insert(pairs.end(), {grid[i], grid[i]});
    }
    auto dens = exp(p.log_prob(Tensor::from_vector<double>(pairs, Shape{n + 1, 2}))).to_vector<double>();
    double mass = 0, second = 0;
    for (int i = 0; i <= n; ++i) {
      const double w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
      mass += w * dens[2 * i];
      second += w * dens[2 * i] * grid[i] * grid[i];
    }
    CHECK(mass * h / 3 == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(second * h / 3 == doctest::Approx(sd * sd).epsilon(1e-6));
    // Sampler vs the CDF ½ + sign(x)·½·P(1/p, |x/α|^p): 4000 draws below the 0.1% KS value.
    Generator g(300 + static_cast<uint64_t>(pw));
    auto draws = p.sample(Shape{2000}, g).to_vector<double>();
    const double ks = ks_stat(draws, [&](double x) {
      const double half = 0.5 * gamma_p(1 / pw, std::pow(std::fabs(x) / alpha, pw));
      return x < 0 ? 0.5 - half : 0.5 + half;
    });
    CHECK(ks < 1.95 / std::sqrt(4000.0));
    // And the draws' variance (20 000 draws: its standard error is at most 1.6% of sd², at p = 1).
    Tensor many = p.sample(Shape{10000}, g);
    CHECK(var(reshape(many, Shape{20000})).item() == doctest::Approx(sd * sd).epsilon(0.06));
    gradcheck([&](const TensorList& in) { return p.log_prob(in[0]); }, {z}, "gen-normal log_prob");
  }
  // Lighter tails than the Gaussian above power 2: at 3 sd, power 4's density is below N(0, sd²)'s.
  Tensor three = Tensor::full(Shape{1, 2}, 3 * sd, DType::f64);
  CHECK(GeneralisedNormalPrior(2, 4.0, sd, DType::f64).log_prob(three).to_vector<double>()[0] <
        std::log(normal_pdf(3 * sd, 0, sd)));
  CHECK_THROWS_WITH_AS(GeneralisedNormalPrior(2, 0.5), doctest::Contains("power must be in [1, 64], got 0.5"), Error);
  CHECK_THROWS_WITH_AS(GeneralisedNormalPrior(2, 4.0, 0.0), doctest::Contains("stddev must be positive"), Error);
  auto r = make_prior("gen-normal", {{"dim", 3}});
  CHECK(r->name() == "gen-normal");
  CHECK(dynamic_cast<GeneralisedNormalPrior&>(*r).power() == 4.0);
}

TEST_CASE("Mixture prior: log_prob vs explicit sums, sampler moments, gradients") {
  auto p_ptr = MixtureOfGaussiansPrior::pinwheel(0.03, true, DType::f64);
  auto& p = *p_ptr;
  CHECK(p.components() == 4);
  CHECK_FALSE(p.factorised());
  CHECK_THROWS_AS(p.log_prob(Tensor::zeros(Shape{1, 2}, DType::f64)), Error);
  Tensor z = rand64(Shape{6, 2}, 3, -1.5, 1.5);
  auto zv = z.to_vector<double>(), lp = p.log_prob_sum(z).to_vector<double>();
  const double mus[4][2] = {{0, -1}, {0, 1}, {1, 0}, {-1, 0}};
  const double s = std::sqrt(0.03);
  for (int i = 0; i < 6; ++i) {
    double acc = 0;
    for (auto& m : mus) acc += 0.25 * normal_pdf(zv[2 * i], m[0], s) * normal_pdf(zv[2 * i + 1], m[1], s);
    CHECK(lp[i] == doctest::Approx(std::log(acc)).epsilon(1e-10));
  }
  // Unequal weights: component frequencies and within-component spread.
  MixtureOfGaussiansPrior q({1, 3}, {-2, 0, 2, 0}, {0.5, 0.5, 0.5, 0.5}, 2, false, DType::f64);
  Generator g(4);
  auto xs = q.sample(Shape{10000}, g).to_vector<double>();
  int right = 0;
  for (int i = 0; i < 10000; ++i) right += xs[2 * i] > 0;
  CHECK(std::fabs(right / 10000.0 - 0.75) < 5 * std::sqrt(0.75 * 0.25 / 10000));
  double m0 = 0, v1 = 0;
  for (int i = 0; i < 10000; ++i) {
    m0 += xs[2 * i];
    v1 += xs[2 * i + 1] * xs[2 * i + 1];
  }
  CHECK(m0 / 10000 == doctest::Approx(1.0).epsilon(0.05));
  CHECK(v1 / 10000 == doctest::Approx(0.25).epsilon(0.06));
  gradcheck([&](const TensorList& in) { return p.log_prob_sum(in[0]); }, {z}, "mog log_prob z");
  sum(p.log_prob_sum(z)).backward();
  for (const Tensor& t : p.parameters()) CHECK(t.grad().defined());
}

TEST_CASE("Spike-and-slab prior: log_prob vs explicit sum, sampler, gradients") {
  SpikeSlabPrior p(3, 0.8, 0.05, 1.0, DType::f64);
  Tensor z = rand64(Shape{4, 3}, 5, -0.3, 0.3);
  auto zv = z.to_vector<double>(), lp = p.log_prob(z).to_vector<double>();
  for (size_t i = 0; i < zv.size(); ++i)
    CHECK(lp[i] == doctest::Approx(std::log(0.8 * normal_pdf(zv[i], 0, 0.05) +
                                            0.2 * normal_pdf(zv[i], 0, 1.0))));
  SpikeSlabPrior slab(3, 0.0, 0.05, 1.0, DType::f64);
  CHECK(slab.log_prob(z).to_vector<double>()[0] == doctest::Approx(std::log(normal_pdf(zv[0], 0, 1))));
  CHECK_FALSE(p.has_rsample());
  // Sampler: E z² = γ·σ_s² + (1−γ); the fraction with |z| < 0.15 ≈ γ·P(|N|<3) + (1−γ)·P(|N|<0.15).
  Generator g(8);
  auto xs = p.sample(Shape{20000}, g).to_vector<double>();
  double m2 = 0, small = 0;
  for (double x : xs) {
    m2 += x * x;
    small += std::fabs(x) < 0.15;
  }
  m2 /= xs.size();
  small /= xs.size();
  CHECK(m2 == doctest::Approx(0.8 * 0.0025 + 0.2).epsilon(0.05));
  double pf = 0.8 * (2 * normal_cdf(3.0) - 1) + 0.2 * (2 * normal_cdf(0.15) - 1);
  CHECK(std::fabs(small - pf) < 5 * std::sqrt(pf * (1 - pf) / xs.size()));
  gradcheck([&](const TensorList& in) { return p.log_prob(in[0]); }, {z}, "sparse log_prob");
  // No closed-form KL: kl_divergence falls back to Monte Carlo on the given samples.
  auto q = DiagonalGaussian::from_logvar(Tensor::zeros(Shape{2, 3}, DType::f64),
                                         Tensor::full(Shape{2, 3}, -2.0, DType::f64));
  CHECK_FALSE(p.analytic_kl(q).defined());
  Tensor zs = q.rsample(g, 3);
  Tensor mc = kl_divergence(q, p, zs);
  CHECK(testing::max_abs_diff(mc, mean(q.log_prob_sum(zs) - p.log_prob_sum(zs), {0})) < 1e-12);
}

TEST_CASE("registry: priors by name, errors list the valid names and keys") {
  auto p = make_prior("student-t", {{"dim", 4}, {"df", 9}});
  CHECK(p->name() == "student-t");
  CHECK(p->dim() == 4);
  CHECK(make_prior("aniso", {{"dim", 2}, {"scale_0", 0.5}, {"scale_1", 2}})->analytic_kl(
            DiagonalGaussian::from_logvar(Tensor::zeros(Shape{1, 2}), Tensor::zeros(Shape{1, 2})))
            .defined());
  CHECK(make_prior("mog", {})->dim() == 2);
  CHECK(make_prior("sparse", {{"dim", 3}, {"gamma", 0.5}})->name() == "sparse");
  try {
    make_prior("gauss", {{"dim", 2}});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("iso, aniso, student-t, mog, sparse") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(make_prior("iso", {{"dim", 2}, {"scael", 1}}),
                       doctest::Contains("unknown parameter 'scael'"), Error);
  CHECK_THROWS_WITH_AS(make_prior("iso", {}), doctest::Contains("missing required parameter 'dim'"),
                       Error);
}
