// The library training step on the stand-in device: a covering set of small configurations
// (every architecture, objective, prior, divergence, likelihood, controller and optimiser at least
// once; every objective × prior pair) trains 20 steps on `sim` and on the CPU with equal losses,
// parameters and controller state, bit for bit. A step reads nothing back from the device (per
// objective and controller: adding a synchronisation fails this), a log read is one transfer, and
// invalid combinations are refused with a message on every device. CUDA and recorded (graph) steps:
// test_device_steps.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/io/safetensors.h"
#include "tests/objectives/train_step_harness.h"

using namespace unravel;
using namespace unravel::train_step_test;

TEST_CASE("every objective x every prior trains on sim exactly as on the CPU") {
  for (const std::string& objective : objective_names())
    for (const std::string& prior : prior_names()) {
      // InfoGAN's prior enters only its logged KL; the 2-D pinwheel mixture cannot hold its codes.
      if (objective == "infogan" && prior == "mog") continue;
      Config c;
      c.objective = objective;
      c.prior = prior;
      if (prior == "aniso") c.pp = {{"learnable", 1}};
      if (prior == "mog") c.pp = {{"learnable", 1}};
      check_equal_runs(c);
    }
}

TEST_CASE("every architecture, likelihood, divergence, controller and optimiser: sim equals CPU") {
  std::vector<Config> cs;
  for (const auto& info : models::architectures()) {
    if (info.name == "pinwheel-mlp") continue;  // every pair above
    Config c;
    c.arch = info.name;
    c.latents = 3;
    c.batch = 2;
    cs.push_back(c);
  }
  for (const char* lik : {"gaussian", "laplace"}) {
    Config c;
    c.arch = "dcgan32";
    c.latents = 3;
    c.batch = 2;
    c.likelihood = lik;
    c.lscale = 0.5;
    cs.push_back(c);
  }
  for (const std::string& d : divergence_names()) {
    Config c;
    c.objective = "mathieu";
    c.divergence = d;
    c.prior = "student-t";
    c.pp = {{"df", 2.5}};  // the non-integer df: Gamma draws on the device
    cs.push_back(c);
  }
  const std::pair<std::string, Params> controllers[] = {
      {"linear-capacity", {{"C_max", 5}, {"C_stop", 10}}},
      {"controlvae-pi", {{"period", 5}}},
      {"adaptive-capacity", {{"C_max", 5}, {"t_max", 15}}},
      {"kl-anneal-monotonic", {{"total_steps", 20}}},
      {"kl-anneal-cyclical", {{"total_steps", 20}, {"cycles", 3}}},
  };
  for (const auto& [name, params] : controllers) {
    Config c;
    c.controller = name;
    c.cp = params;
    if (name == "linear-capacity") c.objective = "capacity";
    cs.push_back(c);
  }
  for (const std::string& o : names_of(optim::optimizer_entries())) {
    Config c;
    c.optimizer = o;
    cs.push_back(c);
  }
  Config k;
  k.samples = 3;  // K posterior samples (MC KL against the student-t prior)
  k.prior = "student-t";
  cs.push_back(k);
  Config iw = k;
  iw.objective = "mathieu";
  iw.divergence = "mmd_full";
  cs.push_back(iw);
  for (const Config& c : cs) check_equal_runs(c);
}

TEST_CASE("a training step reads nothing back from the device; a log read is one transfer") {
  std::vector<Config> cs;
  for (const std::string& objective : objective_names()) {
    Config c;
    c.objective = objective;
    cs.push_back(c);
  }
  const std::pair<std::string, Params> controllers[] = {
      {"constant", {{"beta", 2}}},
      {"linear-capacity", {{"C_max", 5}, {"C_stop", 10}}},
      {"controlvae-pi", {{"period", 2}}},
      {"adaptive-capacity", {{"C_max", 5}, {"t_max", 6}}},
      {"kl-anneal-monotonic", {{"total_steps", 5}}},
      {"kl-anneal-cyclical", {{"total_steps", 5}, {"cycles", 2}}},
  };
  for (const auto& [name, params] : controllers) {
    Config c;
    c.controller = name;
    c.cp = params;
    cs.push_back(c);
  }
  for (const std::string& prior : prior_names()) {
    Config c;
    c.objective = "mathieu";
    c.prior = prior;
    cs.push_back(c);
  }
  for (const Config& c : cs) {
    CAPTURE(c.label());
    Built b = build(c, kSim);
    Generator gen(5);
    backend(kSim).synchronize();
    sim_reset_stats();
    StepResult r;
    for (int i = 0; i < 6; ++i) r = b.step->step(b.x, gen);  // the first step included
    SimStats s = sim_stats();
    CHECK(s.host_reads == 0);
    CHECK(s.syncs == 0);
    CHECK(s.kernels > 0);
    CHECK(s.uploads >= 6);  // the host batch, every step
    StepLog log = b.step->read_log(r);
    CHECK(sim_stats().host_reads == 1);
    CHECK(log.nonfinite_step == 0);
    CHECK(log.controller.at("step") == 6);
    CHECK(std::isfinite(log.terms.back().second));
    CHECK(log.kl_per_latent.size() == static_cast<size_t>(b.state->vae().latents()));
  }
}

TEST_CASE("read_log: KL per latent, the logged KL split or KL to N(0, 1) without a closed form") {
  for (const std::string prior : {"iso", "aniso", "student-t"}) {
    CAPTURE(prior);
    Config c;
    c.arch = "burgess";
    c.latents = 4;
    c.batch = 4;
    c.prior = prior;
    Built b = build(c, kCPU);
    Generator gen(5);
    StepResult r = b.step->step(b.x, gen);
    StepLog log = b.step->read_log(r);
    REQUIRE(log.kl_per_latent.size() == 4);
    double sum = 0;
    for (double v : log.kl_per_latent) {
      CHECK(v >= 0);
      sum += v;
    }
    // By hand from the step's posterior: KL(N(mu, s^2) || N(0, 1)) per dimension, batch mean.
    std::vector<double> mu = r.posterior.mean().to_vector<double>();
    std::vector<double> lv = r.posterior.logvar().to_vector<double>();
    double standard = 0;
    for (size_t i = 0; i < mu.size(); ++i)
      standard += 0.5 * (mu[i] * mu[i] + std::exp(lv[i]) - lv[i] - 1.0) / c.batch;
    double kl_term = 0;
    for (const auto& [n, v] : log.terms)
      if (n == "kl") kl_term = v;
    if (prior == "student-t") CHECK(sum == doctest::Approx(standard).epsilon(1e-5));
    else CHECK(sum == doctest::Approx(kl_term).epsilon(1e-5));
    if (prior == "iso") CHECK(sum == doctest::Approx(standard).epsilon(1e-5));
  }
}

TEST_CASE("a non-finite loss is flagged on the device with the step it happened at") {
  for (Device dev : {kCPU, kSim}) {
    CAPTURE(dev.str());
    Config c;
    Built b = build(c, dev);
    Generator gen(5);
    StepResult r;
    for (int i = 0; i < 3; ++i) r = b.step->step(b.x, gen);
    CHECK(b.step->read_log(r).nonfinite_step == 0);
    Tensor bad = to(b.x, dev) * std::numeric_limits<double>::quiet_NaN();
    for (int i = 0; i < 2; ++i) r = b.step->step(i == 0 ? b.x : bad, gen);
    CHECK(b.step->read_log(r).nonfinite_step == 5);  // the 5th step since the last clear
    r = b.step->step(b.x, gen);  // the weights are NaN now: this step is not finite either
    CHECK(b.step->read_log(r).nonfinite_step == 5);  // the first, not the latest
    b.step->clear_nonfinite();
    r = b.step->step(bad, gen);
    CHECK(b.step->read_log(r).nonfinite_step == 1);
  }
}

TEST_CASE("invalid combinations are refused with a message on every device") {
  for (Device dev : {kCPU, kSim}) {
    CAPTURE(dev.str());
    Generator g(1);
    // Prior of another size than the latents.
    Config c;
    Built b = build(c, dev);
    auto vae = models::make_vae("pinwheel-mlp", 2, g);
    std::shared_ptr<Prior> p3 = make_prior("iso", {{"dim", 3}});
    auto state = std::make_shared<TrainState>(vae, p3, b.state->objective_ptr());
    state->to(dev);
    auto adam = [](TensorList p) { return optim::make_optimizer("adam", std::move(p)); };
    TrainStep bad(state, b.controller, adam, adam);
    CHECK_THROWS_WITH_AS(bad.step(b.x, g), doctest::Contains("vs latent size 3"), Error);
    // FactorVAE's discriminator for another latent size.
    Config f;
    f.objective = "factor-vae";
    f.op = {{"latent", 3}};
    Built fb = build(f, dev);
    CHECK_THROWS_WITH_AS(fb.step->step(fb.x, g), doctest::Contains("must end in 3 features"), Error);
    // β-TCVAE's dataset smaller than the batch.
    Config t;
    t.objective = "beta-tcvae";
    t.op = {{"dataset_size", 4}};
    Built tb = build(t, dev);
    CHECK_THROWS_WITH_AS(tb.step->step(tb.x, g), doctest::Contains("smaller than the batch"), Error);
    // The controller left on another device than the model.
    if (!dev.is_cpu()) {
      std::shared_ptr<Controller> host_ctl = make_controller("constant", {});
      CHECK_THROWS_WITH_AS(TrainStep(b.state, host_ctl, adam, adam),
                           doctest::Contains("the controller is on cpu but the model on sim:0"), Error);
    }
  }
  CHECK_THROWS_WITH_AS(make_prior("mog", {{"dim", 3}}), doctest::Contains("2-D pinwheel prior"), Error);
}

TEST_CASE("a version-1 checkpoint (positional prior.N / disc.N names) loads into today's names") {
  Config c;
  c.objective = "factor-vae";
  c.prior = "aniso";
  c.pp = {{"learnable", 1}};
  Built b = build(c, kCPU);
  Generator gen(3);
  b.step->step(b.x, gen);
  // Write the file as version 1 did: "model.vae.*", "model.prior.0", "model.disc.N", no prior
  // buffers, version "1".
  std::map<std::string, Tensor> tensors;
  for (const auto& [n, t] : b.state->vae().named_parameters()) tensors["model.vae." + n] = t;
  for (const auto& [n, t] : b.state->vae().named_buffers()) tensors["model.vae." + n] = t;
  TensorList pp = b.state->prior().parameters(), dp = b.state->objective().parameters();
  for (size_t i = 0; i < pp.size(); ++i) tensors["model.prior." + std::to_string(i)] = pp[i];
  for (size_t i = 0; i < dp.size(); ++i) tensors["model.disc." + std::to_string(i)] = dp[i];
  const std::string path = "/tmp/unravel_v1_checkpoint.safetensors";
  save_safetensors(path, tensors, {{"format", "unravel-checkpoint"}, {"version", "1"}, {"metadata", "{}"}});
  Built fresh = build(c, kSim);
  const CheckpointCompat compat = fresh.state->v1_compat();
  load_checkpoint(path, *fresh.state, nullptr, {}, &compat);
  auto a = b.state->named_parameters(), l = fresh.state->named_parameters();
  REQUIRE(a.size() == l.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    CHECK(a[i].second.to_vector<double>() == l[i].second.to_vector<double>());
  }
  // Without the map the old names are refused by name.
  Built other = build(c, kCPU);
  CHECK_THROWS_WITH_AS(load_checkpoint(path, *other.state), doctest::Contains("prior"), Error);
  std::remove(path.c_str());
}

TEST_CASE("--precision bf16: trains on sim exactly as on the CPU, close to fp32; refused where unsupported") {
  Config c;
  c.arch = "burgess";  // convolutions (8+ channels run in bf16) and linear layers
  c.latents = 4;
  c.batch = 8;
  c.precision = Precision::bf16;
  if (!backend(kCPU).supports(Kernel::conv2d_bf16)) {
    MESSAGE("bf16 parts skipped: this CPU has neither AVX512-BF16 nor AMX; checking the refusal");
    CHECK_THROWS_WITH_AS(build(c, kCPU), doctest::Contains("cannot compute in bf16"), Error);
    return;
  }
  check_equal_runs(c);  // bit for bit on sim, and training moves the loss
  Config f = c;
  f.precision = Precision::fp32;
  Trace bf = run(c, kCPU), fp = run(f, kCPU);
  // The same model and data: the first losses agree to bf16 rounding, and both runs learn.
  const double l0 = bf.totals.front(), f0 = fp.totals.front();
  CHECK(std::fabs(l0 - f0) < 0.01 * std::fabs(f0));
  CHECK(l0 != f0);  // the bf16 kernels did run
  CHECK(bf.totals.back() < l0);
  // A device that declines the bf16 kernels refuses the option with a message.
  sim_decline(Kernel::conv2d_bf16, true);
  CHECK_THROWS_WITH_AS(build(c, kSim), doctest::Contains("--precision bf16: the sim:0 device cannot compute in bf16"), Error);
  sim_decline(Kernel::conv2d_bf16, false);
}
