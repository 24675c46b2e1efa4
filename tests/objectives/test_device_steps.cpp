// The training step on other devices and in recorded form: on CUDA (where a GPU is present) it
// follows the CPU step by step within float tolerance for every objective, every prior and the
// conv architectures; a recorded (graph) step replays exactly as eager steps run on sim, makes
// no host reads, runs other batch shapes eagerly, and is refused on the CPU.
#include <doctest/doctest.h>

#include <cmath>

#include "tests/objectives/train_step_harness.h"

using namespace unravel;
using namespace unravel::train_step_test;

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
