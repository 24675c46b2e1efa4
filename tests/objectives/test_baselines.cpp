// Higgins et al.'s two other baselines: DC-IGN (Kulkarni et al. 2015) and InfoGAN (Chen et al.
// 2016). batch_mean_clamp's forward, its differentiable (active) path by float64 finite
// differences and its replaced gradient against the finite-difference gradient of the energy it
// stands for; the DC-IGN objective's outputs against a hand-clamped decode; the varying-factor
// batches; InfoGAN's generator and discriminator losses by float64 finite differences and
// against their definitions; the discriminator's parameters kept out of the main optimiser; a
// short training run of each whose β-VAE score beats the same network untrained.
#include <doctest/doctest.h>

#include <algorithm>

#include <cmath>
#include <set>

#include "datasets/dsprites.h"
#include "datasets/factor_batches.h"
#include "models/gan.h"
#include "models/optim/registry.h"
#include "objectives/losses/dcign.h"
#include "objectives/losses/infogan.h"
#include "objectives/metrics/metrics.h"
#include "objectives/registry.h"
#include "objectives/training/train_step.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::rand64;

namespace {

// Mask (D) with 1 at the active latent k, in f64.
Tensor mask_for(int64_t d, int64_t k) {
  std::vector<double> m(static_cast<size_t>(d), 0.0);
  m[static_cast<size_t>(k)] = 1.0;
  return Tensor::from_vector(m, Shape{d});
}

}  // namespace

TEST_CASE("batch_mean_clamp: forward replaces the clamped latents by their batch mean") {
  Tensor z = rand64(Shape{5, 4}, 1);
  Tensor y = batch_mean_clamp(z, mask_for(4, 2), 1.0);
  auto zv = z.to_vector<double>(), yv = y.to_vector<double>();
  for (int j = 0; j < 4; ++j) {
    double m = 0;
    for (int b = 0; b < 5; ++b) m += zv[b * 4 + j] / 5;
    for (int b = 0; b < 5; ++b) CHECK(yv[b * 4 + j] == doctest::Approx(j == 2 ? zv[b * 4 + j] : m));
  }
  // (K, B, D): the mean is over the batch axis of each sample set.
  Tensor z3 = rand64(Shape{2, 3, 4}, 2);
  Tensor y3 = batch_mean_clamp(z3, mask_for(4, 0), 1.0);
  for (int k = 0; k < 2; ++k) {
    Tensor zk = squeeze(slice(z3, 0, k, k + 1), 0), yk = squeeze(slice(y3, 0, k, k + 1), 0);
    CHECK(max_abs_diff(yk, batch_mean_clamp(zk, mask_for(4, 0), 1.0)) < 1e-12);
  }
  CHECK_THROWS_WITH_AS(batch_mean_clamp(z, mask_for(3, 0), 1.0),
                       doctest::Contains("mask must be (4)"), Error);
  CHECK_THROWS_WITH_AS(batch_mean_clamp(rand64(Shape{4}, 3), mask_for(4, 0), 1.0),
                       doctest::Contains("z must be (..., B, D)"), Error);
}

TEST_CASE("batch_mean_clamp gradient: the active path by finite differences (float64)") {
  // With grad_scale 0 the clamped latents get no gradient, and the active outputs are z itself:
  // the masked output's derivative is exactly the op's backward.
  for (const Shape& s : {Shape{5, 4}, Shape{3, 5, 4}}) {
    Tensor m = mask_for(4, 1);
    gradcheck([&](const TensorList& in) { return batch_mean_clamp(in[0], m, 0.0) * m; },
              {rand64(s, 4)}, "batch_mean_clamp active " + s.str());
  }
  // Every latent active: the identity.
  Tensor ones = Tensor::ones(Shape{4}, DType::f64);
  gradcheck([&](const TensorList& in) { return batch_mean_clamp(in[0], ones, 2.0); },
            {rand64(Shape{6, 4}, 5)}, "batch_mean_clamp all active");
}

TEST_CASE("batch_mean_clamp gradient: clamped latents get grad_scale (z - mean), the gradient of "
          "grad_scale/2 sum (z - mean)^2 (float64 finite differences)") {
  for (const Shape& s : {Shape{5, 3}, Shape{2, 4, 3}}) {
    CAPTURE(s.str());
    const double scale = 0.7;
    const int64_t D = 3, B = s[s.size() - 2];
    Tensor m = mask_for(D, 0);
    Tensor z0 = rand64(s, 6), w = rand64(s, 7);
    Tensor z = z0.detach();
    z.set_requires_grad(true);
    sum(batch_mean_clamp(z, m, scale) * w).backward();
    auto grad = z.grad().to_vector<double>();
    // The energy the replaced gradient descends, by central differences on the host.
    auto energy = [&](const std::vector<double>& v) {
      double e = 0;
      const int64_t sets = static_cast<int64_t>(v.size()) / (B * D);
      for (int64_t k = 0; k < sets; ++k)
        for (int64_t j = 1; j < D; ++j) {
          double mean = 0;
          for (int64_t b = 0; b < B; ++b) mean += v[(k * B + b) * D + j] / B;
          for (int64_t b = 0; b < B; ++b) e += 0.5 * scale * std::pow(v[(k * B + b) * D + j] - mean, 2);
        }
      return e;
    };
    auto zv = z0.to_vector<double>(), wv = w.to_vector<double>();
    for (size_t i = 0; i < zv.size(); ++i) {
      CAPTURE(i);
      const bool active = i % D == 0;
      double expect = wv[i];
      if (!active) {
        auto p = zv, q = zv;
        p[i] += 1e-6;
        q[i] -= 1e-6;
        expect = (energy(p) - energy(q)) / 2e-6;
      }
      CHECK(grad[i] == doctest::Approx(expect).epsilon(1e-6));
    }
  }
}

TEST_CASE("dcign: outputs decode the codes with all latents but the varying factor's clamped") {
  Generator init(3);
  auto vae = models::make_vae("burgess", 5, init);
  auto obj = make_objective("dcign", {{"latent", 5}, {"factors", 5}, {"grad_scale", 2}});
  auto& dc = dynamic_cast<DcignObjective&>(*obj);
  Generator dg(4);
  Tensor x = bernoulli(Shape{6, 1, 64, 64}, 0.3, dg);
  dc.set_batch_factor(3);
  CHECK(dc.mask() == std::vector<float>{0, 0, 0, 1, 0});
  NoGradGuard ng;
  vae->eval();
  Generator g1(9), g2(9);
  VaeOutputs out = dc.outputs(*vae, x, g1, 1);
  Tensor z = vae->encode(x).rsample(g2);
  CHECK(max_abs_diff(out.z, z) == 0.0);  // z: the posterior's samples, unclamped
  Tensor m = to(mask_for(5, 3), DType::f32);
  Tensor clamped = z * m + (1.0 - m) * mean(z, {0}, true);
  CHECK(max_abs_diff(out.recon, vae->decode(clamped)) < 1e-5);
  // Without a factor nothing is clamped: the plain forward.
  dc.set_batch_factor(-1);
  Generator g3(9), g4(9);
  CHECK(max_abs_diff(dc.outputs(*vae, x, g3, 1).recon, vae->forward(x, g4).recon) < 1e-6);
  CHECK_THROWS_WITH_AS(dc.set_batch_factor(5), doctest::Contains("factor 5 out of range [0, 5)"), Error);
  CHECK_THROWS_WITH_AS(make_objective("dcign", {{"latent", 3}, {"factors", 5}}),
                       doctest::Contains("latents >= factors"), Error);
}

TEST_CASE("varying-factor batches: one factor varies, the others hold; resume continues them") {
  DSprites data(DSpritesOptions{false});
  VaryingFactorBatcher a(data, 16, Generator(5));
  std::set<int> seen;
  for (int i = 0; i < 12; ++i) {
    a.next();
    const int k = a.factor();
    seen.insert(k);
    const auto& c = a.classes();
    for (int64_t r = 1; r < 16; ++r)
      for (int j = 0; j < 5; ++j)
        if (j != k) CHECK(c[r * 5 + j] == c[j]);
  }
  CHECK(seen.size() >= 4);  // 12 draws over 5 factors
  BatcherState st = a.state();
  Tensor next_a = clone(a.next());
  VaryingFactorBatcher b(data, 16, Generator(5));
  b.restore(st);
  CHECK(max_abs_diff(b.next(), next_a) == 0.0);
  CHECK(b.factor() == a.factor());
}

namespace {

// D/Q outputs from three f64 tensors.
models::DiscriminatorOutputs dq(const Tensor& d, const Tensor& cat, const Tensor& cont) {
  return models::DiscriminatorOutputs{d, cat, cont};
}

// Codes (B, K + L): one-hot classes then continuous codes in (-1, 1).
Tensor codes(int64_t b, int64_t k, int64_t l, uint64_t seed) {
  Generator g(seed);
  Tensor cls = to(floor(uniform(Shape{b}, g, 0.0, static_cast<double>(k), DType::f64)), DType::i64);
  return concat({one_hot(cls, k, DType::f64), uniform(Shape{b, l}, g, -1.0, 1.0, DType::f64)}, 1);
}

}  // namespace

TEST_CASE("infogan: generator and discriminator losses match their definitions and their "
          "gradients (float64 finite differences)") {
  InfoGanObjective o(0.8, 1.5);
  const int64_t B = 5, K = 3, L = 2;
  Tensor z = codes(B, K, L, 1);
  Tensor d = rand64(Shape{B}, 2, -2, 2), cat = rand64(Shape{B, K}, 3, -2, 2),
         cont = rand64(Shape{B, L}, 4);
  // Values by hand.
  auto dv = d.to_vector<double>(), cv = cat.to_vector<double>(), mv = cont.to_vector<double>(),
       zv = z.to_vector<double>();
  double g = 0, ce = 0, gauss = 0;
  for (int64_t b = 0; b < B; ++b) {
    g += std::log1p(std::exp(-dv[b])) / B;
    double lse = 0;
    for (int64_t k = 0; k < K; ++k) lse += std::exp(cv[b * K + k]);
    for (int64_t k = 0; k < K; ++k)
      if (zv[b * (K + L) + k] == 1.0) ce += (std::log(lse) - cv[b * K + k]) / B;
    for (int64_t l = 0; l < L; ++l) gauss += 0.5 * std::pow(zv[b * (K + L) + K + l] - mv[b * L + l], 2) / B;
  }
  LossTerms t = o.generator_loss(dq(d, cat, cont), z);
  CHECK(t.get("g_loss").item() == doctest::Approx(g));
  CHECK(t.get("mi_cat").item() == doctest::Approx(ce));
  CHECK(t.get("mi_cont").item() == doctest::Approx(gauss));
  CHECK(t.total.item() == doctest::Approx(g + 0.8 * ce + 1.5 * gauss));
  gradcheck([&](const TensorList& in) { return o.generator_loss(dq(in[0], in[1], in[2]), z).total; },
            {d, cat, cont}, "infogan generator loss");
  Tensor dr = rand64(Shape{B}, 5, -2, 2);
  LossTerms td = o.discriminator_loss(dq(dr, cat, cont), dq(d, cat, cont), z);
  double dl = 0;
  for (int64_t b = 0; b < B; ++b)
    dl += (std::log1p(std::exp(-dr.to_vector<double>()[b])) + std::log1p(std::exp(dv[b]))) / B;
  CHECK(td.get("d_loss").item() == doctest::Approx(dl));
  CHECK(td.total.item() == doctest::Approx(dl + 0.8 * ce + 1.5 * gauss));
  gradcheck([&](const TensorList& in) {
              return o.discriminator_loss(dq(in[0], cat, cont), dq(in[1], in[2], in[3]), z).total;
            },
            {dr, d, cat, cont}, "infogan discriminator loss");
  CHECK_THROWS_WITH_AS(o.generator_loss(dq(d, cat, cont), codes(B, K, L + 1, 1)),
                       doctest::Contains("do not match Q's 3 categories and 2 continuous"), Error);
}

TEST_CASE("infogan: refuses other networks; the main optimiser trains G only, D/Q their own") {
  Generator init(2);
  auto prior = std::shared_ptr<Prior>(make_prior("iso", {{"dim", 5}}));
  CHECK_THROWS_WITH_AS(std::make_shared<TrainState>(models::make_vae("burgess", 5, init), prior,
                                                    make_objective("infogan", {})),
                       doctest::Contains("needs an InfoGAN architecture"), Error);
  auto vae = models::make_vae("infogan-dsprites", 5, init);
  auto state = std::make_shared<TrainState>(vae, prior, make_objective("infogan", {}));
  std::shared_ptr<Controller> ctl = make_controller("constant", {});
  auto opt = [](TensorList p) { return optim::make_optimizer("adam", std::move(p), {.lr = 1e-3}); };
  TrainStep step(state, ctl, opt, opt);
  CHECK(step.optimizer().params().size() == vae->decoder().parameters().size());
  REQUIRE(step.auxiliary_optimizers().size() == 1);
  CHECK(step.auxiliary_optimizers()[0].opt->params().size() == vae->encoder().parameters().size());
  // One step moves both networks; the logged terms are the two updates'.
  Tensor d0 = clone(vae->encoder().parameters()[0]), g0 = clone(vae->decoder().parameters()[0]);
  Generator dg(1), gen(3);
  StepResult r = step.step(bernoulli(Shape{4, 1, 64, 64}, 0.2, dg), gen);
  StepLog log = step.read_log(r);
  std::set<std::string> names;
  for (const auto& [n, v] : log.terms) {
    CHECK(std::isfinite(v));
    names.insert(n);
  }
  for (const char* n : {"g_loss", "mi_cat", "mi_cont", "d_loss", "d_real", "d_fake", "mi_d", "total"})
    CHECK(names.count(n) == 1);
  CHECK(max_abs_diff(vae->encoder().parameters()[0], d0) > 0);
  CHECK(max_abs_diff(vae->decoder().parameters()[0], g0) > 0);
}

namespace {

// Higgins et al.'s β-VAE score (held-out accuracy) of the model's encoder on dSprites at a small
// budget, as `unravel eval --budget smoke` computes it: the posterior means of 3 000 random grid
// items, from which the score's pairs are drawn (L = 16 pairs, 300 training and 150 evaluation
// points).
double small_beta_vae_score(models::Vae& vae, const Dataset& data) {
  Generator g(11);
  const int64_t n = 3000;
  std::vector<int64_t> rows = slice(permutation(data.size(), g), 0, 0, n).to_vector<int64_t>();
  Tensor items = data.make_batch_tensor(n);
  data.get_batch(rows, items);
  Tensor codes;
  {
    NoGradGuard ng;
    vae.eval();
    std::vector<Tensor> parts;
    for (int64_t i = 0; i < n; i += 500) parts.push_back(vae.encode(slice(items, 0, i, i + 500)).mean());
    codes = concat(parts, 0);
  }
  std::vector<int64_t> classes;
  for (int64_t r : rows)
    for (int64_t c : data.factor_classes(r)) classes.push_back(c);
  const HostMatrix table = to_host_matrix(to(codes, DType::f64), "test");
  const FactorGrid grid(classes, n, data.num_factors(), data.factor_sizes());
  TableSampler sampler(table, grid);
  BetaVaeScoreOptions o;
  o.batch = 16;
  o.num_train = 300;
  o.num_eval = 150;
  o.classifier.max_iter = 100;
  return beta_vae_score(sampler, g, o).eval_accuracy;
}

struct ShortRun {
  double untrained = 0, trained = 0;
};

// Scores the model untrained, trains it `steps` steps of batch `batch` with `objective` (DC-IGN on
// varying-factor batches, anything else on uniform random items), scores it again.
ShortRun short_run(const std::string& arch, int64_t latents, const std::string& objective,
                   const Params& op, int64_t steps, int64_t batch, double lr, double disc_lr,
                   uint64_t seed = 0) {
  DSprites data(DSpritesOptions{false});
  Generator init(1 + seed);
  auto vae = models::make_vae(arch, latents, init);
  ShortRun r;
  r.untrained = small_beta_vae_score(*vae, data);
  auto prior = std::shared_ptr<Prior>(make_prior("iso", {{"dim", static_cast<double>(latents)}}));
  auto state = std::make_shared<TrainState>(vae, prior, make_objective(objective, op));
  std::shared_ptr<Controller> ctl = make_controller("constant", {});
  auto main = [lr](TensorList p) { return optim::make_optimizer("adam", std::move(p), {lr, 0.5, 0.999}); };
  auto aux = [disc_lr](TensorList p) {
    return optim::make_optimizer("adam", std::move(p), {disc_lr, 0.5, 0.999});
  };
  TrainStep step(state, ctl, main, aux);
  VaryingFactorBatcher factor_batches(data, batch, Generator(2));
  FactorSampler uniform_items(data);
  Tensor x = data.make_batch_tensor(batch);
  std::vector<int64_t> idx(static_cast<size_t>(batch));
  Generator gen(3 + seed), bg(4 + seed);
  for (int64_t i = 0; i < steps; ++i) {
    if (state->objective().wants_factor_batches()) {
      x = factor_batches.next();
      state->objective().set_batch_factor(factor_batches.factor());
    } else {
      uniform_items.sample(idx, bg);
      data.get_batch(idx, x);
    }
    StepLog log = step.read_log(step.step(x, gen));
    REQUIRE(log.nonfinite_step == 0);
  }
  r.trained = small_beta_vae_score(*vae, data);
  return r;
}

}  // namespace

// The untrained networks' codes are too small for the (L2-regularised) linear classifier at this
// budget, which then predicts one factor (about chance); training must lift that by 10 points.
TEST_CASE("dcign: a short training run beats the same network untrained on the beta-VAE score") {
  ShortRun r = short_run("burgess", 5, "dcign", {{"latent", 5}, {"factors", 5}}, 150, 16, 1e-3, 1e-3);
  MESSAGE("DC-IGN beta-VAE score: untrained " << r.untrained << ", after 150 steps " << r.trained);
  CHECK(r.untrained > 0.1);  // chance is 1 of 5 factors
  CHECK(r.trained > r.untrained + 0.1);
}

// A 300-step GAN run is chaotic: a change in the last bits of one product (which library runs a
// small GEMM) sent seed 0 to a run whose codes stayed at chance while seeds 1-3 reached
// 0.39-0.53 (and, before that change, seed 0 reached 0.34 and seed 1 0.32). So the claim is made
// of the median of three seeds: training lifts the typical run by 10 points.
TEST_CASE("infogan: short training runs beat the same network untrained on the beta-VAE score") {
  std::vector<double> gains;
  for (uint64_t seed : {0, 1, 2}) {
    ShortRun r = short_run("infogan-dsprites", 8, "infogan", {}, 300, 16, 1e-3, 1e-3, seed);
    MESSAGE("InfoGAN beta-VAE score, seed " << seed << ": untrained " << r.untrained
                                            << ", after 300 steps " << r.trained);
    gains.push_back(r.trained - r.untrained);
  }
  std::sort(gains.begin(), gains.end());
  CHECK(gains[1] > 0.1);
}
