// Objectives: the ELBO below the exact log-likelihood of a linear-Gaussian model and the IWAE
// bound tightening with K towards it; each objective's terms against their definitions; every
// registered objective lowering its loss over 20 gradient steps of a tiny linear VAE; FactorVAE's
// permute_dims and discriminator; DIP regulariser gradients; registry errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "objectives/divergences.h"
#include "objectives/losses/elbo_objectives.h"
#include "objectives/losses/factor_vae.h"
#include "objectives/losses/iwae.h"
#include "objectives/priors/gaussian_priors.h"
#include "objectives/registry.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::rand64;

namespace {
// log N(x; 0, C) for a small SPD matrix by Cholesky.
double mvn_logpdf(const std::vector<double>& x, std::vector<double> c, int n) {
  for (int j = 0; j < n; ++j) {
    for (int k = 0; k < j; ++k) c[j * n + j] -= c[j * n + k] * c[j * n + k];
    c[j * n + j] = std::sqrt(c[j * n + j]);
    for (int i = j + 1; i < n; ++i) {
      for (int k = 0; k < j; ++k) c[i * n + j] -= c[i * n + k] * c[j * n + k];
      c[i * n + j] /= c[j * n + j];
    }
  }
  std::vector<double> y(n);
  double logdet = 0, quad = 0;
  for (int i = 0; i < n; ++i) {
    double s = x[i];
    for (int k = 0; k < i; ++k) s -= c[i * n + k] * y[k];
    y[i] = s / c[i * n + i];
    quad += y[i] * y[i];
    logdet += 2 * std::log(c[i * n + i]);
  }
  return -0.5 * (n * std::log(2 * std::numbers::pi) + logdet + quad);
}

// Decoder of the linear model: z (..., 2) → W z (..., 4).
Tensor linear_decode(const Tensor& z, const Tensor& w) {
  return sum(unsqueeze(z, -2) * w, {-1});
}
}  // namespace

TEST_CASE("linear-Gaussian model: ELBO <= log p(x), IWAE tightens with K towards log p(x)") {
  // z ~ N(0, I_2), x = W z + ε, ε ~ N(0, σ² I_4): p(x) = N(0, W Wᵀ + σ² I).
  const double sx = 0.5;
  std::vector<double> wv = {1.0, 0.5, -0.3, 0.8, 0.6, -1.0, 0.2, 0.4};
  Tensor w = Tensor::from_vector(wv, Shape{4, 2});
  std::vector<double> cov(16, 0.0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      cov[i * 4 + j] = wv[i * 2] * wv[j * 2] + wv[i * 2 + 1] * wv[j * 2 + 1] + (i == j ? sx * sx : 0);
  Generator g(7);
  const int64_t b = 6;
  Tensor x = normal(Shape{b, 4}, g, 0, 1.2, DType::f64);
  auto xv = x.to_vector<double>();
  // Exact posterior N(m, S), S = (I + WᵀW/σ²)⁻¹, m = S Wᵀ x/σ²; q uses its mean and a widened
  // diagonal, so the ELBO has a real gap.
  double a[4] = {1, 0, 0, 1};
  for (int i = 0; i < 4; ++i) {
    a[0] += wv[i * 2] * wv[i * 2] / (sx * sx);
    a[1] += wv[i * 2] * wv[i * 2 + 1] / (sx * sx);
    a[3] += wv[i * 2 + 1] * wv[i * 2 + 1] / (sx * sx);
  }
  a[2] = a[1];
  double det = a[0] * a[3] - a[1] * a[2];
  double s[4] = {a[3] / det, -a[1] / det, -a[2] / det, a[0] / det};
  std::vector<double> mu, lv;
  for (int n = 0; n < b; ++n) {
    double r0 = 0, r1 = 0;
    for (int i = 0; i < 4; ++i) {
      r0 += wv[i * 2] * xv[n * 4 + i] / (sx * sx);
      r1 += wv[i * 2 + 1] * xv[n * 4 + i] / (sx * sx);
    }
    mu.push_back(s[0] * r0 + s[1] * r1);
    mu.push_back(s[2] * r0 + s[3] * r1);
    lv.push_back(std::log(s[0]) + 0.4);
    lv.push_back(std::log(s[3]) + 0.4);
  }
  auto q = DiagonalGaussian::from_logvar(Tensor::from_vector(mu, Shape{b, 2}),
                                         Tensor::from_vector(lv, Shape{b, 2}));
  IsotropicGaussianPrior prior(2, 1.0, DType::f64);
  auto lik = Likelihood::from_name("gaussian", sx);
  auto decode = [&](const Tensor& z) { return linear_decode(z, w); };
  // ELBO with analytic KL, expectation over 4000 samples.
  VaeOutputs out;
  out.x = x;
  out.z = q.rsample(g, 4000);
  out.recon = decode(out.z);
  out.likelihood = lik;
  out.posterior = q;
  Tensor elbo = reconstruction_log_lik(out) - posterior_kl(out, prior);
  auto ev = elbo.to_vector<double>();
  // E[L_K] from 40000 log-weights split into 40000/K independent groups of K (the same noise
  // level for every K, so the small steps between large K are resolvable).
  const int64_t total = 40000;
  out.z = q.rsample(g, total);
  out.recon = decode(out.z);
  Tensor lw = iwae_log_weights(out, prior);  // (total, B)
  const int64_t ks[4] = {1, 10, 100, 1000};
  double lk[4] = {0, 0, 0, 0}, logp_mean = 0;
  for (int i = 0; i < 4; ++i) {
    Tensor grp = reshape(lw, Shape{total / ks[i], ks[i], b});
    lk[i] = mean(logsumexp(grp, {1}) - std::log(static_cast<double>(ks[i]))).item();
  }
  for (int n = 0; n < b; ++n) {
    CAPTURE(n);
    double logp = mvn_logpdf({xv[n * 4], xv[n * 4 + 1], xv[n * 4 + 2], xv[n * 4 + 3]}, cov, 4);
    CHECK(ev[n] < logp - 0.02);
    logp_mean += logp / b;
  }
  CHECK(lk[0] == doctest::Approx(mean(elbo).item()).epsilon(0.01));  // L_1 = ELBO
  CHECK(lk[1] > lk[0] + 0.05);
  CHECK(lk[2] > lk[1] + 0.003);
  CHECK(lk[3] > lk[2] - 0.003);
  CHECK(lk[3] < logp_mean + 0.005);
  CHECK(std::fabs(lk[3] - logp_mean) < 0.01);
  // iwae_bound draws and decodes in chunks; chunking does not change the value.
  Generator g1(42), g2(42);
  Tensor whole = iwae_bound(x, q, prior, lik, decode, 300, g1, 300);
  Tensor chunked = iwae_bound(x, q, prior, lik, decode, 300, g2, 64);
  CHECK(testing::max_abs_diff(whole, chunked) < 1e-10);
  CHECK(mean(whole).item() < logp_mean + 0.05);
}

namespace {
// A tiny linear VAE on 8-pixel binary data: μ = x·Aᵀ, logvar = x·Bᵀ + c, logits = z·Wᵀ + d.
struct TinyVae {
  Tensor a, bm, c, w, d;
  TinyVae() {
    Generator g(3);
    a = normal(Shape{2, 8}, g, 0, 0.3).set_requires_grad(true);
    bm = normal(Shape{2, 8}, g, 0, 0.1).set_requires_grad(true);
    c = Tensor::full(Shape{2}, -1.0).set_requires_grad(true);
    w = normal(Shape{8, 2}, g, 0, 0.3).set_requires_grad(true);
    d = Tensor::zeros(Shape{8}).set_requires_grad(true);
  }
  TensorList params() const { return {a, bm, c, w, d}; }
  VaeOutputs forward(const Tensor& x, Generator& gen) const {
    VaeOutputs o;
    o.x = x;
    o.posterior = DiagonalGaussian::from_logvar(linear(x, a), linear(x, bm, c));
    o.z = o.posterior.rsample(gen, 1);
    o.recon = linear(o.z, w, d);
    o.likelihood = Likelihood::from_name("bernoulli");
    return o;
  }
};
}  // namespace

TEST_CASE("every registered objective lowers its loss over 20 steps of a tiny VAE") {
  Generator dg(1);
  Tensor proto = bernoulli(Shape{4, 8}, 0.5, dg);
  Tensor x = index_select(proto, 0, to(floor(uniform(Shape{64}, dg, 0, 4)), DType::i64));
  auto prior = make_prior("iso", {{"dim", 2}});
  for (const std::string& name : objective_names()) {
    // InfoGAN generates its own batch (outputs()): its own tests (test_baselines.cpp).
    if (name == "infogan") continue;
    CAPTURE(name);
    Generator og(5);
    Params params;
    if (name == "dcign") params = {{"latent", 2}, {"factors", 2}};
    if (name == "beta-tcvae") params = {{"dataset_size", 64}};
    if (name == "factor-vae") params = {{"latent", 2}, {"disc_hidden", 16}, {"disc_layers", 2}};
    if (name == "mathieu") params = {{"alpha", 1.0}, {"sum_over_batch", 0}};
    if (name == "capacity") params = {{"gamma", 5.0}};
    if (name.rfind("dip-vae", 0) == 0) params = {{"lambda_od", 0.5}};
    auto obj = make_objective(name, params, "mmd_dim", &og);
    CHECK(obj->name() == name);
    TinyVae vae;
    Schedule sch = Schedule::constant(name == "beta-vae" ? 4.0 : 1.0, 1.0);
    auto eval = [&]() {
      NoGradGuard ng;
      Generator eg(99);
      return obj->compute(objective_input(vae.forward(x, eg), *prior), sch, eg).total.item();
    };
    double before = eval();
    Generator tg(17);
    for (int step = 0; step < 20; ++step) {
      LossTerms t = obj->compute(objective_input(vae.forward(x, tg), *prior), sch, tg);
      for (const auto& [n, v] : t.values()) REQUIRE_MESSAGE(std::isfinite(v), n);
      t.total.backward();
      NoGradGuard ng;
      for (const Tensor& p : vae.params()) {
        REQUIRE(p.grad().defined());
        add_(p, p.grad(), -0.02);
        Tensor(p).zero_grad();
      }
      for (Tensor p : obj->parameters()) p.zero_grad();
    }
    CHECK(eval() < before);
  }
}

TEST_CASE("objective terms follow their definitions") {
  Generator g(2);
  TinyVae vae;
  Tensor x = bernoulli(Shape{16, 8}, 0.4, g);
  IsotropicGaussianPrior prior(2);
  NoGradGuard ng;
  Generator g1(4);
  VaeOutputs o = vae.forward(x, g1);
  ObjectiveInput in = objective_input(o, prior);
  Tensor rec = reconstruction_log_lik(o), kl = in.kl;
  const double r = -mean(rec).item(), k = mean(kl).item();
  // β-VAE and capacity.
  CHECK(VaeObjective(true).compute(in, Schedule::constant(3.0, 0), g).total.item() == doctest::Approx(r + 3 * k));
  CHECK(VaeObjective(false).compute(in, Schedule::constant(3.0, 0), g).total.item() == doctest::Approx(r + k));
  auto cap = CapacityObjective(100).compute(in, Schedule::constant(1.0, 0.5), g);
  CHECK(cap.total.item() == doctest::Approx(r + 100 * std::fabs(k - 0.5)));
  CHECK(cap.get("capacity").item() == 0.5);
  // |KL − C| on both sides of C: a capacity above the KL costs what it lacks, not a bonus.
  auto above = CapacityObjective(100).compute(in, Schedule::constant(1.0, k + 2.0), g);
  CHECK(above.total.item() == doctest::Approx(r + 100 * 2.0));
  CHECK_THROWS_WITH_AS(cap.get("tc"), doctest::Contains("have: recon, kl, capacity"), Error);
  // Mathieu with the batch-sum convention: Σ_b(−rec + β·kl) + B·α·D.
  MathieuObjective m(2.0, make_aggregate_divergence("kld_inc"));
  Generator ga(8), gb(8);
  auto mt = m.compute(in, Schedule::constant(1.5, 0), ga);
  double dval = kld_inc(o.posterior, prior, prior.sample(Shape{16}, gb)).item();
  CHECK(mt.get("kld_inc").item() == doctest::Approx(dval));
  CHECK(mt.total.item() == doctest::Approx(16 * (r + 1.5 * k) + 16 * 2.0 * dval));
  // ... but what logs show is per datapoint, on the scale of recon and kl.
  auto logged = [](const LossTerms& t, const std::string& n) {
    for (const auto& [name, v] : t.values())
      if (name == n) return v;
    FAIL("no logged term " << n);
    return 0.0;
  };
  CHECK(mt.total_items == 16);
  CHECK(logged(mt, "total") == doctest::Approx(r + 1.5 * k + 2.0 * dval));
  CHECK(logged(mt, "recon") == doctest::Approx(r));
  MathieuObjective mean_reduced(2.0, make_aggregate_divergence("kld_inc"),
                                {.sum_over_batch = false});
  Generator gc(8);
  auto mm = mean_reduced.compute(in, Schedule::constant(1.5, 0), gc);
  CHECK(mm.total_items == 1);
  CHECK(mm.total.item() == doctest::Approx(r + 1.5 * k + 2.0 * dval));
  CHECK(logged(mm, "total") == doctest::Approx(logged(mt, "total")));
  // β-TCVAE with α = β = γ = 1 is −rec + the MC KL on the same sample.
  auto tc = BetaTcvaeObjective(1000, TcSampling::mss).compute(in, Schedule::constant(1.0, 0), g);
  double mc = mean(kl_monte_carlo(o.posterior, prior, o.z)).item();
  CHECK(tc.total.item() == doctest::Approx(r + mc));
  CHECK(tc.get("mi").item() + tc.get("tc").item() + tc.get("dwkl").item() == doctest::Approx(mc));
  // DIP: identity covariance costs nothing; a known covariance costs its formula.
  Tensor eye = Tensor::from_vector<double>({1, 0, 0, 1}, Shape{2, 2});
  CHECK(dip_regulariser(eye, 3, 7)[0].item() == 0.0);
  Tensor cv = Tensor::from_vector<double>({2, 0.5, 0.5, 0.25}, Shape{2, 2});
  CHECK(dip_regulariser(cv, 3, 7)[0].item() == doctest::Approx(3 * 0.5 + 7 * (1 + 0.5625)));
}

TEST_CASE("DIP covariance and regulariser: values and f64 gradients") {
  Tensor mu = rand64(Shape{6, 3}, 1, -1, 1), lv = rand64(Shape{6, 3}, 2, -1, 0.5);
  auto q = DiagonalGaussian::from_logvar(mu, lv);
  Tensor c1 = dip_covariance(q, false), c2 = dip_covariance(q, true);
  auto mv = mu.to_vector<double>();
  double m0 = 0, m1 = 0, c01 = 0;
  for (int i = 0; i < 6; ++i) m0 += mv[i * 3] / 6, m1 += mv[i * 3 + 1] / 6;
  for (int i = 0; i < 6; ++i) c01 += (mv[i * 3] - m0) * (mv[i * 3 + 1] - m1) / 6;
  CHECK(c1.to_vector<double>()[1] == doctest::Approx(c01));
  CHECK(c2.to_vector<double>()[0] ==
        doctest::Approx(c1.to_vector<double>()[0] + mean(exp(slice(lv, 1, 0, 1))).item()));
  for (bool second : {false, true}) {
    gradcheck([&](const TensorList& in) {
      return dip_regulariser(dip_covariance(DiagonalGaussian::from_logvar(in[0], in[1]), second),
                             2.0, 5.0)[0];
    }, {mu, lv}, second ? "dip-ii" : "dip-i");
  }
}

TEST_CASE("FactorVAE: permute_dims, discriminator loss, TC term") {
  Generator g(3);
  Tensor z = rand64(Shape{10, 3}, 4);
  Tensor zp = permute_dims(z, g);
  CHECK(zp.shape() == z.shape());
  auto zv = z.to_vector<double>(), pv = zp.to_vector<double>();
  int moved = 0;
  for (int d = 0; d < 3; ++d) {
    std::vector<double> a, b;
    for (int i = 0; i < 10; ++i) a.push_back(zv[i * 3 + d]), b.push_back(pv[i * 3 + d]);
    moved += a != b;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    CHECK(a == b);  // each column is a permutation of itself
  }
  CHECK(moved >= 2);
  gradcheck([&](const TensorList& in) {
    Generator gg(5);
    return permute_dims(in[0], gg);
  }, {z}, "permute_dims");
  FactorVaeObjective f(3, 10.0, 8, 2, g, DType::f64);
  CHECK(f.parameters().size() == 6);
  LossTerms d = f.discriminator_loss(z, z, g);
  CHECK(std::isfinite(d.total.item()));
  CHECK(d.get("d_accuracy").item() >= 0.0);
  d.total.backward();
  for (const Tensor& p : f.parameters()) CHECK(p.grad().defined());
  // Training the discriminator on strongly correlated z (z_1 = z_0) lowers its loss.
  Tensor u = rand64(Shape{64, 1}, 6, -2, 2);
  Tensor zc = concat({u, u, rand64(Shape{64, 1}, 7, -2, 2)}, 1);
  FactorVaeObjective f2(3, 10.0, 16, 2, g, DType::f64);
  Generator e1(1);
  double before = f2.discriminator_loss(zc, zc, e1).total.item();
  for (int s = 0; s < 100; ++s) {
    LossTerms t = f2.discriminator_loss(zc, zc, g);
    t.total.backward();
    NoGradGuard ng;
    for (const Tensor& p : f2.parameters()) {
      add_(p, p.grad(), -0.1);
      Tensor(p).zero_grad();
    }
  }
  Generator e2(1);
  CHECK(f2.discriminator_loss(zc, zc, e2).total.item() < before - 0.05);
  // ... and its density-ratio estimate of the total correlation, the VAE's penalty, is then
  // positive on those codes: the discriminator's class 0 is "drawn from q(z)", class 1
  // "permuted", and the TC term is mean(l_0 − l_1) (Kim & Mnih, eq. 3).
  VaeOutputs o;
  o.x = zc;
  o.recon = zc;
  o.posterior = DiagonalGaussian::from_logvar(zc, Tensor::zeros_like(zc));
  o.z = zc;
  IsotropicGaussianPrior prior3(3, 1.0, DType::f64);
  LossTerms vt = f2.compute(objective_input(o, prior3), Schedule::constant(1.0, 0), g);
  CHECK(vt.get("tc").item() > 0.05);
}

TEST_CASE("registry: objectives and divergences by name, errors list the valid names") {
  CHECK(objective_names().size() == 10);
  CHECK(divergence_names().size() == 4);
  CHECK_THROWS_WITH_AS(make_objective("elbo", {}),
                       doctest::Contains("vae, beta-vae, capacity, mathieu, beta-tcvae"), Error);
  CHECK_THROWS_WITH_AS(make_objective("beta-tcvae", {}),
                       doctest::Contains("missing required parameter 'dataset_size'"), Error);
  CHECK_THROWS_WITH_AS(make_objective("factor-vae", {{"latent", 2}}),
                       doctest::Contains("needs a Generator"), Error);
  CHECK_THROWS_WITH_AS(make_objective("capacity", {{"gama", 3}}),
                       doctest::Contains("unknown parameter 'gama'"), Error);
  CHECK(make_objective("mathieu", {{"alpha", 1}}, "mmd_full")->options().sum_over_batch);
  CHECK_FALSE(make_objective("beta-vae", {})->options().sum_over_batch);
}
