// Micro-shards in one process (the single-process half of data-parallel training; the MPI half
// is tests/apps/test_mpi.cpp): a draw through a BatchWindow is the slice of the whole batch's
// draw, a sharded batcher hands out its rows of the unsharded batches, a sharded step runs on
// sim exactly as on the CPU (the device path of the exchange), close to one micro-shard and
// with the random stream where one batch leaves it; what couples the batch is refused.
#include <doctest/doctest.h>

#include <cmath>

#include "datasets/batcher.h"
#include "datasets/registry.h"
#include "engine/sim/sim_backend.h"
#include "models/optim/registry.h"
#include "objectives/registry.h"
#include "objectives/training/train_step.h"
#include "ops/ops.h"

using namespace unravel;

namespace {

struct Setup {
  std::string arch = "pinwheel-mlp";
  int64_t latents = 2;
  std::string objective = "beta-vae";
  Params op;
  std::string divergence = "kld_inc";
  std::string controller = "constant";
  int64_t samples = 1;
  int64_t batch = 8;
  int64_t shards = 4;
  bool graph = false;
  int64_t bucket_bytes = int64_t{1} << 20;
  std::string optimizer = "adam";  // sgd: an update that scales with the gradient (Adam's does not)
};

struct Built {
  std::shared_ptr<TrainState> state;
  std::unique_ptr<TrainStep> step;
  Tensor x;
};

Built build(const Setup& c, Device dev) {
  Generator init(7);
  auto vae = models::make_vae(c.arch, c.latents, init);
  std::shared_ptr<Prior> prior = make_prior("iso", {{"dim", static_cast<double>(c.latents)}});
  Params op = c.op;
  if (c.objective == "factor-vae")
    op = {{"latent", static_cast<double>(c.latents)}, {"disc_hidden", 16}, {"disc_layers", 2}};
  if (c.objective == "beta-tcvae") op["dataset_size"] = 1000;
  std::shared_ptr<Objective> obj = make_objective(c.objective, op, c.divergence, &init);
  std::shared_ptr<Controller> ctl =
      make_controller(c.controller, c.controller == "constant" ? Params{{"beta", 4.0}} : Params{});
  Built b;
  b.state = std::make_shared<TrainState>(vae, prior, obj);
  b.state->to(dev);
  ctl->to(dev);
  auto opt = [&](TensorList p) {
    return optim::make_optimizer(c.optimizer, std::move(p), {.lr = c.optimizer == "sgd" ? 1e-2 : 1e-3});
  };
  TrainStepOptions o{c.samples, Precision::fp32, c.graph, c.shards};
  o.bucket_bytes = c.bucket_bytes;
  b.step = std::make_unique<TrainStep>(b.state, ctl, opt, opt, o);
  Shape s{c.batch};
  for (int64_t d : vae->data_shape()) s.push_back(d);
  Generator dg(11);
  b.x = c.arch == "pinwheel-mlp" ? normal(s, dg, 0.0, 1.0) : bernoulli(s, 0.5, dg);
  return b;
}

struct Trace {
  std::vector<std::vector<double>> logs;  ///< terms, β, KL per latent of every step
  std::vector<std::vector<double>> params;
  uint64_t offset = 0;
};

Trace train(const Setup& c, Device dev, int steps = 5) {
  Built b = build(c, dev);
  Generator gen(5);
  Trace t;
  for (int i = 0; i < steps; ++i) {
    StepLog log = b.step->read_log(b.step->step(b.x, gen));
    std::vector<double> v;
    for (const auto& [n, x] : log.terms) v.push_back(x);
    v.push_back(log.beta);
    v.insert(v.end(), log.kl_per_latent.begin(), log.kl_per_latent.end());
    t.logs.push_back(v);
  }
  for (const auto& [n, p] : b.state->named_parameters()) t.params.push_back(p.to_vector<double>());
  t.offset = gen.offset();
  return t;
}

std::string refusal(const Setup& c) {
  try {
    build(c, kCPU);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a draw through a BatchWindow equals those rows of the whole batch's draw") {
  Generator g0(3);
  Tensor mu = normal(Shape{8, 3}, g0), logvar = normal(Shape{8, 3}, g0) * 0.1;
  DiagonalGaussian q = DiagonalGaussian::from_logvar(mu, logvar);
  for (int64_t k : {0, 3}) {
    CAPTURE(k);
    Generator whole(9, 100), part(9, 100);
    Tensor z = k == 0 ? q.rsample(whole) : q.rsample(whole, k);
    DiagonalGaussian rows = DiagonalGaussian::from_logvar(slice(mu, 0, 2, 6), slice(logvar, 0, 2, 6));
    Tensor zr = rows.rsample(part, k, BatchWindow{8, 2});
    Tensor expect = k == 0 ? slice(z, 0, 2, 6) : slice(z, 1, 2, 6);
    CHECK(zr.shape() == expect.shape());
    CHECK(zr.to_vector<float>() == contiguous(expect).to_vector<float>());
    CHECK(part.offset() == whole.offset());
  }
  Generator g(1);
  CHECK_THROWS_WITH_AS(q.rsample(g, 0, BatchWindow{8, 4}), doctest::Contains("do not fit"), Error);
}

TEST_CASE("a sharded batcher hands out its rows of the unsharded batches, epochs included") {
  DatasetOptions o;
  o.seed = 2;
  auto data = make_dataset("pinwheel", o);
  BatcherOptions whole_opts;
  whole_opts.batch_size = 16;
  BatcherOptions shard_opts = whole_opts;
  shard_opts.shard_begin = 4;
  shard_opts.shard_size = 8;
  Batcher whole(*data, whole_opts, Generator(4)), shard(*data, shard_opts, Generator(4));
  const int64_t batches = whole.batches_per_epoch() + 3;  // into the second epoch
  for (int64_t i = 0; i < batches; ++i) {
    const Tensor w = contiguous(slice(whole.next(), 0, 4, 12));
    const Tensor& s = shard.next();
    REQUIRE(s.size(0) == 8);
    CHECK(s.to_vector<float>() == w.to_vector<float>());
  }
  CHECK(shard.state().position == whole.state().position);
  CHECK(shard.epoch() == 1);
  BatcherOptions bad = whole_opts;
  bad.shard_begin = 12;
  bad.shard_size = 8;
  CHECK_THROWS_WITH_AS(Batcher(*data, bad, Generator(4)), doctest::Contains("shard [12, 20)"),
                       Error);
}

TEST_CASE("micro-shards in one process: sim equals the CPU, close to one micro-shard") {
  std::vector<Setup> setups(5);
  setups[1].objective = "factor-vae";
  setups[4].optimizer = "sgd";  // the shards' gradients must average to the batch's, not sum
  setups[2].samples = 3;  // K posterior samples: the window's planes
  setups[2].controller = "controlvae-pi";  // the controller reads the whole batch's mean KL
  setups[3].arch = "burgess";
  setups[3].latents = 3;
  setups[3].batch = 4;
  setups[3].shards = 2;
  for (const Setup& c : setups) {
    CAPTURE(c.arch);
    CAPTURE(c.objective);
    CAPTURE(c.samples);
    const Trace cpu = train(c, kCPU), sim = train(c, sim_device(0));
    CHECK(cpu.logs == sim.logs);
    CHECK(cpu.params == sim.params);
    Setup one = c;
    one.shards = 1;
    const Trace ref = train(one, kCPU);
    CHECK(cpu.offset == ref.offset);  // the stream advanced as by whole batches
    REQUIRE(cpu.logs.size() == ref.logs.size());
    REQUIRE(cpu.logs.back().size() == ref.logs.back().size());
    for (size_t i = 0; i < cpu.logs.size(); ++i)
      for (size_t j = 0; j < cpu.logs[i].size(); ++j)
        CHECK(cpu.logs[i][j] == doctest::Approx(ref.logs[i][j]).epsilon(1e-3));
    double worst = 0;
    for (size_t i = 0; i < cpu.params.size(); ++i)
      for (size_t j = 0; j < cpu.params[i].size(); ++j)
        worst = std::max(worst, std::abs(cpu.params[i][j] - ref.params[i][j]));
    CHECK(worst < 1e-4);
  }
}

TEST_CASE("micro-shards: the gradient buckets' size does not change a bit") {
  // Buckets started inside backward (the tape's GradReady): a few bytes (one parameter per
  // bucket, started one by one as backward finishes them), the default, and one bucket.
  for (const char* arch : {"pinwheel-mlp", "burgess"}) {
    CAPTURE(arch);
    Setup c;
    c.arch = arch;
    c.objective = "factor-vae";  // an auxiliary update (the discriminator) exchanges its own
    c.latents = 3;
    c.batch = 4;
    c.shards = 2;
    std::vector<Trace> traces;
    for (int64_t bytes : {int64_t{64}, int64_t{1} << 20, int64_t{1} << 30}) {
      c.bucket_bytes = bytes;
      traces.push_back(train(c, kCPU, 3));
    }
    for (size_t k = 1; k < traces.size(); ++k) {
      CHECK(traces[k].logs == traces[0].logs);
      CHECK(traces[k].params == traces[0].params);
    }
  }
}

TEST_CASE("micro-shards refuse what couples the batch, naming it") {
  auto refused = [](Setup c, const std::string& what) {
    CAPTURE(what);
    const std::string e = refusal(c);
    CHECK_MESSAGE(e.find(what) != std::string::npos, e);
    CHECK(e.find("cannot be split into 4 micro-shards") != std::string::npos);
  };
  Setup c;
  c.objective = "beta-tcvae";
  refused(c, "objective 'beta-tcvae' couples the samples of a batch (its MWS/MSS");
  c.objective = "capacity";
  refused(c, "objective 'capacity' couples");
  c.objective = "dip-vae-i";
  refused(c, "covariance of the batch's posterior means");
  c.objective = "mathieu";
  c.op = {{"alpha", 1.0}};
  c.divergence = "mmd_dim";
  refused(c, "its divergence 'mmd_dim' estimates D(q(z), p(z)) from the whole batch");
  c.op = {{"alpha", 0.0}};
  CHECK(refusal(c).empty());  // no divergence term: per datapoint
  Setup bn;
  bn.arch = "dcgan32";
  bn.latents = 3;
  refused(bn, "(BatchNorm2d) normalises with the statistics of the whole batch");
  Setup zero;
  zero.shards = 0;
  CHECK(refusal(zero).find("--micro-shards must be at least 1") != std::string::npos);
  Setup graph;
  graph.graph = true;
  CHECK(refusal(graph).find("--graph cannot record a step split") != std::string::npos);
  // A batch the micro-shards do not divide.
  Built b = build(Setup{}, kCPU);
  Generator g(1);
  CHECK_THROWS_WITH_AS(b.step->step(slice(b.x, 0, 0, 6), g), doctest::Contains("multiple of 4"),
                       Error);
}
