// The library training step on the stand-in device: a covering set of small configurations
// (every architecture, objective, prior, divergence, likelihood, controller and optimiser at least
// once; every objective × prior pair) trains 20 steps on `sim` and on the CPU with equal losses,
// parameters and controller state, bit for bit. A step reads nothing back from the device (per
// objective and controller: adding a synchronisation fails this), a log read is one transfer, and
// invalid combinations are refused with a message on every device.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/io/safetensors.h"
#include "engine/sim/sim_backend.h"
#include "models/optim/registry.h"
#include "objectives/registry.h"
#include "objectives/training/train_step.h"
#include "ops/ops.h"

using namespace unravel;

namespace {

const Device kSim = sim_device(0);

struct Config {
  std::string arch = "pinwheel-mlp";
  int64_t latents = 2;
  std::string objective = "beta-vae";
  Params op;
  std::string prior = "iso";
  Params pp;
  std::string divergence = "kld_inc";
  std::string controller = "constant";
  Params cp = {{"beta", 4.0}};
  std::string likelihood;  // "" = the architecture's
  double lscale = 0.0;
  std::string optimizer = "adam";
  int64_t samples = 1;
  int64_t batch = 8;
  Precision precision = Precision::fp32;
  bool graph = false;

  std::string label() const {
    return fmt::format("{} {} prior {} {} controller {} likelihood {} {} K={} {}", arch, objective,
                       prior, objective == "mathieu" ? divergence : "", controller,
                       likelihood.empty() ? "default" : likelihood, optimizer, samples,
                       precision_name(precision));
  }
};

/// A run's pieces built from fixed seeds on `dev`.
struct Built {
  std::shared_ptr<TrainState> state;
  std::shared_ptr<Controller> controller;
  std::unique_ptr<TrainStep> step;
  Tensor x;
};

Params objective_params(const Config& c) {
  Params p = c.op;
  if (c.objective == "beta-tcvae" && !p.count("dataset_size")) p["dataset_size"] = 1000;
  if (c.objective == "factor-vae") {
    if (!p.count("latent")) p["latent"] = static_cast<double>(c.latents);
    p["disc_hidden"] = 16;
    p["disc_layers"] = 2;
  }
  if (c.objective == "mathieu" && !p.count("alpha")) p["alpha"] = 1.0;
  if (c.objective == "capacity") p["gamma"] = 10.0;
  if (c.objective.rfind("dip-vae", 0) == 0) p["lambda_od"] = 1.0;
  if (c.objective == "dcign") {
    p["latent"] = static_cast<double>(c.latents);
    p["factors"] = static_cast<double>(std::min<int64_t>(c.latents, 2));
  }
  return p;
}

Built build(const Config& c0, Device dev) {
  // InfoGAN trains its own networks only: every loop over objectives gets them for it.
  Config c = c0;
  if (c.objective == "infogan" && c.arch.rfind("infogan", 0) != 0) {
    c.arch = "infogan-dsprites";
    c.latents = 5;
    c.batch = 4;
  }
  Generator init(7);
  Built b;
  auto vae = models::make_vae(c.arch, c.latents, init, 1, c.likelihood, c.lscale);
  Params pp = c.pp;
  if (c.prior != "mog") pp["dim"] = static_cast<double>(c.latents);
  std::shared_ptr<Prior> prior = make_prior(c.prior, pp);
  std::shared_ptr<Objective> obj = make_objective(c.objective, objective_params(c), c.divergence, &init);
  b.controller = make_controller(c.controller, c.cp);
  b.state = std::make_shared<TrainState>(vae, prior, obj);
  b.state->to(dev);
  b.controller->to(dev);
  auto opt = [&c](TensorList p) {
    return optim::make_optimizer(c.optimizer, std::move(p), {.lr = 1e-3});
  };
  b.step = std::make_unique<TrainStep>(b.state, b.controller, opt, opt,
                                       TrainStepOptions{c.samples, c.precision, c.graph});
  if (obj->wants_factor_batches()) obj->set_batch_factor(0);  // DC-IGN: clamp all but latent 0
  Shape s{c.batch};
  for (int64_t d : vae->data_shape()) s.push_back(d);
  Generator dg(11);
  const std::string lik = vae->likelihood().name();
  if (c.arch == "pinwheel-mlp") b.x = normal(s, dg, 0.0, 1.0);
  else if (lik == "bernoulli") b.x = bernoulli(s, 0.5, dg);
  else b.x = uniform(s, dg, 0.0, 1.0);
  return b;  // x stays on the host: the step moves it, as the batcher's batches are
}

/// Trains `steps` steps; returns every step's logged values (read after the run) and the final
/// parameters, buffers and controller state as doubles.
struct Trace {
  std::vector<std::vector<double>> losses;
  std::vector<double> totals;  ///< each step's total (per datapoint)
  std::vector<std::pair<std::string, std::vector<double>>> tensors;
  ControllerState controller;
  uint64_t gen_offset = 0;
  int64_t opt_steps = 0;
};

Trace run(const Config& c, Device dev, int steps = 20) {
  Built b = build(c, dev);
  Generator gen(5);
  // Recorded steps hand out the recording's tensors: read each log before the next step.
  std::vector<StepLog> logs;
  for (int i = 0; i < steps; ++i) logs.push_back(b.step->read_log(b.step->step(b.x, gen)));
  if (c.graph) CHECK(b.step->recorded() == (steps > TrainStep::kGraphWarmup));
  Trace t;
  for (const StepLog& log : logs) {
    std::vector<double> v;
    for (const auto& [n, x] : log.terms) v.push_back(x);
    v.push_back(log.beta);
    v.push_back(log.capacity);
    v.push_back(static_cast<double>(log.nonfinite_step));
    v.insert(v.end(), log.kl_per_latent.begin(), log.kl_per_latent.end());
    t.losses.push_back(v);
    t.totals.push_back(log.terms.back().second);
  }
  for (const auto& [n, x] : b.state->named_parameters()) t.tensors.emplace_back(n, x.to_vector<double>());
  for (const auto& [n, x] : b.state->named_buffers()) t.tensors.emplace_back(n, x.to_vector<double>());
  t.controller = b.controller->state();
  t.gen_offset = gen.offset();
  t.opt_steps = b.step->optimizer().step_count();
  return t;
}

void check_equal_runs(const Config& c) {
  CAPTURE(c.label());
  Trace cpu = run(c, kCPU), sim = run(c, kSim);
  REQUIRE(cpu.losses.size() == sim.losses.size());
  for (size_t i = 0; i < cpu.losses.size(); ++i) {
    CAPTURE(i);
    for (double v : cpu.losses[i]) REQUIRE(std::isfinite(v));
    CHECK(cpu.losses[i] == sim.losses[i]);
  }
  REQUIRE(cpu.tensors.size() == sim.tensors.size());
  for (size_t i = 0; i < cpu.tensors.size(); ++i) {
    CAPTURE(cpu.tensors[i].first);
    CHECK(cpu.tensors[i].first == sim.tensors[i].first);
    CHECK(cpu.tensors[i].second == sim.tensors[i].second);
  }
  CHECK(cpu.controller == sim.controller);
  // Training moved something: the last loss differs from the first.
  CHECK(cpu.losses.front() != cpu.losses.back());
}

}  // namespace

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

namespace {

/// Why CUDA cannot run here ("" when it can).
std::string cuda_unavailable() {
  if (!backend_compiled(DeviceKind::cuda)) return "this build has no CUDA backend";
  try {
    backend(cuda_device(0));
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("cuda: the training step follows the CPU step by step (every objective, every prior, the conv architectures)") {
  const std::string why = cuda_unavailable();
  if (!why.empty()) {
    MESSAGE("skipped: no usable CUDA device: " << why);
    return;
  }
  std::vector<Config> cs;
  for (const std::string& objective : objective_names()) {
    Config c;
    c.objective = objective;
    cs.push_back(c);
  }
  for (const std::string& prior : prior_names()) {
    Config c;
    c.prior = prior;
    c.objective = "mathieu";
    cs.push_back(c);
  }
  for (const auto& info : models::architectures()) {
    if (info.name == "pinwheel-mlp") continue;
    Config c;
    c.arch = info.name;
    c.latents = 6;
    c.batch = 4;
    cs.push_back(c);
  }
  const Device gpu = cuda_device(0);
  for (const Config& c : cs) {
    CAPTURE(c.label());
    const int steps = 5;
    Trace cpu = run(c, kCPU, steps), dev = run(c, gpu, steps);
    REQUIRE(cpu.losses.size() == dev.losses.size());
    // Float arithmetic in another order (cuBLAS, cuDNN, parallel reductions): the first step
    // agrees to float precision, later steps drift slowly through the optimiser.
    for (size_t i = 0; i < cpu.losses.size(); ++i) {
      CAPTURE(i);
      const double tol = (i == 0 ? 1e-4 : 2e-3) * (std::fabs(cpu.totals[i]) + 1.0);
      CHECK(std::fabs(cpu.totals[i] - dev.totals[i]) < tol);
    }
    REQUIRE(cpu.tensors.size() == dev.tensors.size());
    for (size_t i = 0; i < cpu.tensors.size(); ++i) {
      CAPTURE(cpu.tensors[i].first);
      double worst = 0;
      for (size_t j = 0; j < cpu.tensors[i].second.size(); ++j)
        worst = std::max(worst, std::fabs(cpu.tensors[i].second[j] - dev.tensors[i].second[j]));
      CHECK(worst < 1e-2);
    }
  }
  // Deterministic: two CUDA runs are bitwise equal.
  Config c;
  c.arch = "conv64";
  c.latents = 6;
  c.batch = 4;
  Trace a = run(c, gpu, 3), b = run(c, gpu, 3);
  CHECK(a.losses == b.losses);
  for (size_t i = 0; i < a.tensors.size(); ++i) CHECK(a.tensors[i].second == b.tensors[i].second);
  // A CUDA graph replays exactly the eager steps (conv net; FactorVAE with its permutations and
  // discriminator; a controller with state).
  Config f;
  f.objective = "factor-vae";
  Config p = c;
  p.controller = "controlvae-pi";
  p.cp = {};
  for (Config g : {c, f, p}) {
    CAPTURE(g.label());
    Trace eager = run(g, gpu, 6);
    g.graph = true;
    Trace graph = run(g, gpu, 6);
    for (size_t i = 0; i < eager.losses.size(); ++i) {
      CAPTURE(i);
      CHECK(eager.losses[i] == graph.losses[i]);
    }
    for (size_t i = 0; i < eager.tensors.size(); ++i) {
      CAPTURE(eager.tensors[i].first);
      CHECK(eager.tensors[i].second == graph.tensors[i].second);
    }
    CHECK(eager.gen_offset == graph.gen_offset);
  }
}

TEST_CASE("graph steps: a recorded step replays exactly as eager steps run (sim)") {
  std::vector<Config> cs;
  for (const std::string& objective : objective_names()) {
    Config c;
    c.objective = objective;
    cs.push_back(c);
  }
  {
    Config c;  // random prior samples and a learnable prior
    c.objective = "mathieu";
    c.divergence = "mmd_dim";
    c.prior = "mog";
    c.pp = {{"learnable", 1}};
    cs.push_back(c);
  }
  {
    Config c;  // a controller with state, SGD with momentum, the conv path
    c.arch = "burgess";
    c.latents = 6;
    c.batch = 4;
    c.objective = "capacity";
    c.controller = "controlvae-pi";
    c.cp = {};
    cs.push_back(c);
  }
  {
    Config c;  // SGD with momentum (its first-step rule comes from the device step count)
    c.optimizer = "sgd";
    cs.push_back(c);
  }
  for (Config c : cs) {
    CAPTURE(c.label());
    const int steps = 6;  // 2 eager warm-up steps, the recording, 3 more replays
    Trace eager = run(c, kSim, steps);
    c.graph = true;
    Trace graph = run(c, kSim, steps);
    REQUIRE(eager.losses.size() == graph.losses.size());
    for (size_t i = 0; i < eager.losses.size(); ++i) {
      CAPTURE(i);
      for (double v : eager.losses[i]) REQUIRE(std::isfinite(v));
      CHECK(eager.losses[i] == graph.losses[i]);
    }
    for (size_t i = 0; i < eager.tensors.size(); ++i) {
      CAPTURE(eager.tensors[i].first);
      CHECK(eager.tensors[i].second == graph.tensors[i].second);
    }
    CHECK(eager.controller == graph.controller);
    CHECK(eager.gen_offset == graph.gen_offset);
    CHECK(eager.opt_steps == graph.opt_steps);
    CHECK(eager.losses.front() != eager.losses.back());
  }
}

TEST_CASE("graph steps: a replay makes no host reads; other batch shapes run eagerly; the CPU refuses") {
  Config c;
  c.graph = true;
  Built b = build(c, kSim);
  Generator gen(5);
  for (int i = 0; i < TrainStep::kGraphWarmup + 1; ++i) b.step->step(b.x, gen);
  REQUIRE(b.step->recorded());
  CHECK(b.step->recorded_kernels() > 20);
  Tensor xd = to(b.x, kSim);
  sim_reset_stats();
  const uint64_t before = gen.offset();
  StepResult r = b.step->step(xd, gen);
  SimStats st = sim_stats();
  CHECK(st.host_reads == 0);
  CHECK(st.uploads == 0);
  CHECK(gen.offset() > before);
  CHECK(std::isfinite(b.step->read_log(r).terms.back().second));
  // A short batch (an epoch's last) runs eagerly, and replays continue after it.
  Tensor small = slice(xd, 0, 0, 3);
  StepResult rs = b.step->step(small, gen);
  CHECK(std::isfinite(b.step->read_log(rs).terms.back().second));
  StepResult r2 = b.step->step(xd, gen);
  CHECK(std::isfinite(b.step->read_log(r2).terms.back().second));
  // The CPU runs work as it is issued: recording is refused with a message.
  Built cpu = build(c, kCPU);
  Generator g2(5);
  for (int i = 0; i < TrainStep::kGraphWarmup; ++i) cpu.step->step(cpu.x, g2);
  CHECK_THROWS_WITH_AS(cpu.step->step(cpu.x, g2), doctest::Contains("cannot record work"), Error);
}
