// The optimisers by name: one table of name, one-line meaning and factory
// (models/optim/registry.cpp), read by `unravel train --optimizer`, `unravel list` and every
// message that lists valid names.
//
//   adam     Adam(lr, beta1, beta2), eps 1e-8
//   amsgrad  the same with AMSGrad's running max of second moments
//   adamw    AdamW(lr, beta1, beta2) with decoupled weight decay 0.01 (PyTorch's default)
//   sgd      SGD(lr) with momentum 0.9 (beta1, beta2 unused)
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/registry_entry.h"
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

}  // namespace unravel::optim
