// The models the checkpoint fuzz target loads into, shared with make_corpus.cpp (which writes
// their checkpoints as seeds):
//   - a tiny Sequential (Linear 2→3, BatchNorm2d(3) for buffers, Linear 3→2) with an Adam and a
//     further SGD named "disc": small files, so mutations reach the optimiser-state checks;
//   - the run state `unravel train` builds, for the smallest architecture (pinwheel-mlp) with a
//     learnable prior and FactorVAE (whose discriminator brings the "disc" optimiser), loaded
//     as `train --resume` and `eval RUN` do, through the version-1 name map.
#pragma once
#include <memory>

#include "models/nn/nn.h"
#include "models/optim/optim.h"
#include "models/optim/registry.h"
#include "models/vae.h"
#include "objectives/registry.h"
#include "objectives/training/train_step.h"

namespace unravel::fuzz {

struct TinyModel {
  std::shared_ptr<nn::Sequential> net;
  std::unique_ptr<optim::Adam> adam;
  std::unique_ptr<optim::SGD> disc;
};

inline TinyModel make_tiny_model() {
  Generator g(1);
  TinyModel m;
  m.net = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(2, 3, g), std::make_shared<nn::BatchNorm2d>(3),
      std::make_shared<nn::Linear>(3, 2, g)});
  m.adam = std::make_unique<optim::Adam>(m.net->parameters(), optim::AdamOptions{.lr = 1e-3});
  m.disc = std::make_unique<optim::SGD>(m.net->parameters(),
                                        optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  return m;
}

struct RunModel {
  std::shared_ptr<TrainState> state;
  std::unique_ptr<TrainStep> step;
};

inline RunModel make_run_model() {
  Generator init(7);
  auto vae = models::make_vae("pinwheel-mlp", 2, init, 1, "", 0.0);
  std::shared_ptr<Prior> prior = make_prior("aniso", {{"dim", 2}, {"learnable", 1}});
  std::shared_ptr<Objective> obj =
      make_objective("factor-vae", {{"latent", 2}, {"disc_hidden", 4}, {"disc_layers", 1}},
                     "kld_inc", &init);
  RunModel r;
  r.state = std::make_shared<TrainState>(vae, prior, obj);
  auto adam = [](TensorList p) { return optim::make_optimizer("adam", std::move(p), {.lr = 1e-3}); };
  r.step = std::make_unique<TrainStep>(r.state, make_controller("constant", {{"beta", 1}}), adam,
                                       adam);
  return r;
}

}  // namespace unravel::fuzz
