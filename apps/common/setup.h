// Builds what a run needs from its TrainConfig: the dataset, the VAE, prior, objective,
// controller, the TrainState module that checkpoints all trainable state, and the library's
// TrainStep (objectives/training/train_step.h) with the run's optimisers, all on the run's
// device.
#pragma once
#include <memory>

#include "apps/common/config.h"
#include "datasets/dataset.h"
#include "models/optim/optimizer.h"
#include "models/vae.h"
#include "objectives/controllers/controller.h"
#include "objectives/losses/objective.h"
#include "objectives/priors/prior.h"
#include "objectives/training/train_step.h"

namespace unravel::apps {

/// The dataset a config names (train split); `test` picks the held-out split where one exists.
std::unique_ptr<Dataset> make_dataset(const TrainConfig& c, bool test = false);

struct Run {
  TrainConfig config;
  Device device;
  std::unique_ptr<Dataset> data;
  std::shared_ptr<models::Vae> vae;
  std::shared_ptr<Prior> prior;
  std::shared_ptr<Controller> controller;
  std::shared_ptr<TrainState> state;  ///< vae, prior and objective under checkpoint names
  std::unique_ptr<TrainStep> trainer;   ///< the step with its optimisers (train only)
};

/// Builds a run's components on the config's device (config must be resolved and validated).
/// `with_data` = false skips loading the dataset (for commands that only need the model);
/// `for_training` builds the TrainStep and its optimisers.
Run build_run(const TrainConfig& c, bool with_data = true, bool for_training = false);

/// The objective parameters build_run fills in from the dataset when the configuration leaves
/// them unset (β-TCVAE's dataset_size, DC-IGN's factors), so a run's config.json records them.
/// Removes from `recorded` (a run's config.json) those that `asked` leaves unset: the two then
/// compare equal when they describe the same run (the dataset is compared with the rest).
void forget_data_resolved_params(TrainConfig& recorded, const TrainConfig& asked);

}  // namespace unravel::apps
