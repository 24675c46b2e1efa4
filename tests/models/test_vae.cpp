// The VAE architectures: output shapes, and every architecture × objective trains 20 steps on a
// small fixed batch without NaN and lowers its loss.
#include <doctest/doctest.h>

#include <cmath>

#include "models/optim/adam.h"
#include "models/vae.h"
#include "objectives/registry.h"
#include "objectives/training/train_step.h"
#include "ops/ops.h"

using namespace unravel;

namespace {

Tensor make_batch(const Shape& data_shape, int64_t b, const std::string& likelihood, Generator& g) {
  Shape s{b};
  for (int64_t d : data_shape) s.push_back(d);
  if (likelihood == "bernoulli") return bernoulli(s, 0.3, g);
  return normal(s, g, 0.0, 1.0);
}

/// Trains `steps` steps of the library's TrainStep (Adam) on one batch; returns (first loss,
/// last loss), each the total before that step's update.
std::pair<double, double> train(std::shared_ptr<models::Vae> vae, std::shared_ptr<Objective> obj,
                                std::shared_ptr<Controller> ctl, std::shared_ptr<Prior> prior,
                                const Tensor& x, Generator& g, int steps, double lr) {
  auto state = std::make_shared<TrainState>(vae, prior, obj);
  auto adam = [lr](TensorList p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = lr});
  };
  TrainStep step(state, ctl, adam, adam);
  double first = 0, last = 0;
  for (int s = 1; s <= steps; ++s) {
    StepResult r = step.step(x, g);
    double v = r.terms.total.item();
    REQUIRE_MESSAGE(std::isfinite(v), "loss is not finite at step " << s);
    if (s == 1) first = v;
    last = v;
  }
  return {first, last};
}

}  // namespace

TEST_CASE("every architecture: shapes of q(z|x), samples and decoder output") {
  for (const auto& info : models::architectures()) {
    CAPTURE(info.name);
    Generator g(1);
    int64_t latents = info.data_shape.size() == 1 ? 2 : 6;
    auto vae = models::make_vae(info.name, latents, g);
    Tensor x = make_batch(info.data_shape, 3, info.likelihood, g);
    VaeOutputs out = vae->forward(x, g);
    CHECK(out.posterior.mean().shape() == Shape{3, latents});
    CHECK(out.z.shape() == Shape{3, latents});
    CHECK(out.recon.shape() == x.shape());
    VaeOutputs out3 = vae->forward(x, g, 4);
    CHECK(out3.z.shape() == Shape{4, 3, latents});
    Shape rs{4};
    for (int64_t d : x.shape()) rs.push_back(d);
    CHECK(out3.recon.shape() == rs);
    CHECK(vae->num_parameters() > 0);
  }
  Generator g(1);
  CHECK_THROWS_WITH_AS(models::make_vae("resnet", 10, g), doctest::Contains("valid: burgess"), Error);
  auto vae = models::make_vae("burgess", 10, g);
  CHECK_THROWS_WITH_AS(vae->encode(Tensor::zeros(Shape{2, 1, 32, 32})),
                       doctest::Contains("does not match the architecture's datapoint shape [1, 64, 64]"),
                       Error);
}

TEST_CASE("every architecture x every objective trains 20 steps without NaN and lowers its loss") {
  for (const auto& info : models::architectures()) {
    for (const std::string& objective : objective_names()) {
      if (objective == "infogan") continue;  // generates its own batch: test_baselines.cpp
      std::string arch = info.name;
      CAPTURE(arch);
      CAPTURE(objective);
      Generator g(2);
      int64_t latents = info.data_shape.size() == 1 ? 2 : 4;
      auto vae = models::make_vae(info.name, latents, g);
      Tensor x = make_batch(info.data_shape, 6, info.likelihood, g);
      auto prior = make_prior("iso", {{"dim", static_cast<double>(latents)}});
      Params op;
      if (objective == "mathieu") op = {{"alpha", 1.0}};
      if (objective == "beta-tcvae") op = {{"dataset_size", 1000}};
      if (objective == "factor-vae") op = {{"gamma", 6.4}, {"latent", static_cast<double>(latents)}};
      if (objective == "dip-vae-i" || objective == "dip-vae-ii") op = {{"lambda_od", 1}, {"lambda_d", 1}};
      if (objective == "dcign") op = {{"latent", static_cast<double>(latents)}, {"factors", 2}};
      auto obj = make_objective(objective, op, "kld_inc", &g);
      auto ctl = make_controller("constant", {{"beta", 4.0}});
      auto [first, last] = train(vae, std::move(obj), std::move(ctl), std::move(prior), x, g, 20, 1e-3);
      CHECK(last < first);
    }
  }
}

TEST_CASE("every objective and controller trains a conv VAE for 20 steps") {
  struct Combo {
    std::string objective, controller;
    Params op, cp;
    std::string prior = "iso";
  };
  const Combo combos[] = {
      {"vae", "constant", {}, {}},
      {"beta-vae", "controlvae-pi", {}, {}},
      {"capacity", "linear-capacity", {{"gamma", 100}}, {{"C_max", 5}, {"C_stop", 20}}},
      {"beta-vae", "adaptive-capacity", {}, {{"C_max", 5}, {"t_max", 20}}},
      {"beta-vae", "kl-anneal-cyclical", {}, {{"total_steps", 20}}},
      {"mathieu", "constant", {{"alpha", 1.0}}, {}, "student-t"},
      {"beta-tcvae", "constant", {{"dataset_size", 1000}}, {{"beta", 6}}},
      {"factor-vae", "constant", {{"gamma", 6.4}, {"latent", 4}}, {}},
      {"dip-vae-i", "constant", {{"lambda_od", 1}, {"lambda_d", 10}}, {}},
      {"dip-vae-ii", "constant", {{"lambda_od", 1}, {"lambda_d", 1}}, {}},
  };
  for (const Combo& c : combos) {
    CAPTURE(c.objective);
    CAPTURE(c.controller);
    Generator g(3);
    auto vae = models::make_vae("burgess", 4, g);
    Tensor x = make_batch(vae->data_shape(), 8, "bernoulli", g);
    auto prior = make_prior(c.prior, {{"dim", 4.0}});
    auto obj = make_objective(c.objective, c.op, "kld_inc", &g);
    auto ctl = make_controller(c.controller, c.cp);
    auto [first, last] = train(vae, std::move(obj), std::move(ctl), std::move(prior), x, g, 20, 1e-3);
    CHECK(last < first);
  }
}
