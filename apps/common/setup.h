// Builds what a run needs from its TrainConfig: the dataset, the VAE, prior, objective,
// controller and optimisers, and the TrainState module that checkpoints all trainable state.
#pragma once
#include <memory>

#include "apps/common/config.h"
#include "datasets/dataset.h"
#include "models/optim/optimizer.h"
#include "models/vae.h"
#include "objectives/controllers/controller.h"
#include "objectives/losses/objective.h"
#include "objectives/priors/prior.h"

namespace unravel::apps {

/// The dataset a config names (train split); `test` picks the held-out split where one exists.
std::unique_ptr<Dataset> make_dataset(const TrainConfig& c, bool test = false);

/// Every trainable tensor of a run under one module: "vae.*", "prior.N", "disc.N".
class TrainState : public nn::Module {
 public:
  TrainState(std::shared_ptr<models::Vae> vae, const TensorList& prior_params,
             const TensorList& disc_params);
  std::string type_name() const override { return "TrainState"; }
  TensorList model_parameters() const;  ///< VAE and prior (the main optimiser's)
  TensorList disc_parameters() const { return disc_; }

 private:
  TensorList prior_, disc_;
};

struct Run {
  TrainConfig config;
  std::unique_ptr<Dataset> data;
  std::shared_ptr<models::Vae> vae;
  std::unique_ptr<Prior> prior;
  std::unique_ptr<Objective> objective;
  std::unique_ptr<Controller> controller;
  std::shared_ptr<TrainState> state;
  std::unique_ptr<optim::Optimizer> opt;       ///< VAE + prior
  std::unique_ptr<optim::Optimizer> disc_opt;  ///< FactorVAE discriminator, or null
};

/// Builds a run's components (config must be resolved and validated). `with_data` = false skips
/// loading the dataset (for commands that only need the model).
Run build_run(const TrainConfig& c, bool with_data = true);

}  // namespace unravel::apps
