// The harness of the training-step suites (test_train_step.cpp, test_device_steps.cpp): small
// configurations built from fixed seeds, a run's trace (every step's logged values, the final
// parameters, buffers and controller state) and the check that two devices' runs are equal.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/sim/sim_backend.h"
#include "models/optim/registry.h"
#include "objectives/registry.h"
#include "objectives/training/train_step.h"
#include "ops/ops.h"

namespace unravel::train_step_test {

inline const Device kSim = sim_device(0);

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

inline Params objective_params(const Config& c) {
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

inline Built build(const Config& c0, Device dev) {
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

inline Trace run(const Config& c, Device dev, int steps = 20) {
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

inline void check_equal_runs(const Config& c) {
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


}  // namespace unravel::train_step_test
