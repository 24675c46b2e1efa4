// The optimisers by name: one table of name, one-line meaning and factory
// (models/optim/registry.cpp), read by `unravel train --optimizer`, `unravel list` and every
// message that lists valid names.
//
//   adam     Adam(lr, beta1, beta2), eps 1e-8
//   amsgrad  the same with AMSGrad's running max of second moments
//   adamw    AdamW(lr, beta1, beta2) with decoupled weight decay 0.01 (PyTorch's default)
//   sgd      SGD(lr) with momentum 0.9 (beta1, beta2 unused)
//
// The learning-rate schedules by name, the same way (`unravel train --lr-schedule`), each with
// its parameters (`--lr-param key=value`; an unknown key is refused naming the valid ones) and an
// optional linear warm-up in front (`warmup` steps, every schedule):
//
//   constant     lr
//   cosine       lr → min over `total` steps (cosine), then min       total (required), min = 0
//   step         lr · gamma^floor(step / step_size)                   step_size (required), gamma = 0.1
//   exponential  lr · gamma^step                                      gamma (required)
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/registry_entry.h"
#include "models/optim/lr_schedule.h"
#include "models/optim/optimizer.h"

namespace unravel::optim {

/// What the registry's optimisers take (each uses the fields it needs).
struct OptimizerOptions {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
};

/// Every optimiser name with its meaning, in listing order.
const std::vector<RegistryEntry>& optimizer_entries();

/// The optimiser called `name` over `params`; throws listing the valid names for an unknown one.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, TensorList params,
                                          const OptimizerOptions& options = {});

/// Every learning-rate schedule name with its meaning, in listing order.
const std::vector<RegistryEntry>& lr_schedule_entries();

/// The schedule called `name` starting from `base_lr`, with its parameters (see above); throws
/// naming the valid names or parameters for an unknown one, and the schedule's own message for a
/// bad value. "constant" with no parameters gives ConstantLr(base_lr).
std::shared_ptr<const LrSchedule> make_lr_schedule(const std::string& name, double base_lr,
                                                   const std::map<std::string, double>& params = {});

}  // namespace unravel::optim
