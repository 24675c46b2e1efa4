// Name → optimiser (see registry.h). Each optimiser is listed once, in kinds(), with its factory.
#include "models/optim/registry.h"

#include <fmt/ranges.h>

#include "engine/check.h"
#include "models/optim/adam.h"
#include "models/optim/sgd.h"

namespace unravel::optim {

namespace {

using Factory = std::unique_ptr<Optimizer> (*)(TensorList params, const OptimizerOptions& o);

struct OptimizerKind {
  RegistryEntry entry;
  Factory make;
};

AdamOptions adam_options(const OptimizerOptions& o) {
  AdamOptions a;
  a.lr = o.lr;
  a.beta1 = o.beta1;
  a.beta2 = o.beta2;
  return a;
}

std::unique_ptr<Optimizer> make_adam(TensorList params, const OptimizerOptions& o) {
  return std::make_unique<Adam>(std::move(params), adam_options(o));
}

std::unique_ptr<Optimizer> make_amsgrad(TensorList params, const OptimizerOptions& o) {
  AdamOptions a = adam_options(o);
  a.amsgrad = true;
  return std::make_unique<Adam>(std::move(params), a);
}

std::unique_ptr<Optimizer> make_adamw(TensorList params, const OptimizerOptions& o) {
  AdamOptions a = adam_options(o);
  a.weight_decay = 0.01;  // PyTorch's AdamW default; with 0 it would be plain Adam
  return std::make_unique<AdamW>(std::move(params), a);
}

std::unique_ptr<Optimizer> make_sgd(TensorList params, const OptimizerOptions& o) {
  SGDOptions s;
  s.lr = o.lr;
  s.momentum = 0.9;
  return std::make_unique<SGD>(std::move(params), s);
}

const std::vector<OptimizerKind>& kinds() {
  static const std::vector<OptimizerKind> k = {
      {{"adam", "Adam (Kingma & Ba), betas (0.9, 0.999), eps 1e-8"}, make_adam},
      {{"amsgrad", "Adam with the AMSGrad max of second moments (Reddi et al.)"}, make_amsgrad},
      {{"adamw", "Adam with decoupled weight decay 0.01 (Loshchilov & Hutter; PyTorch default)"},
       make_adamw},
      {{"sgd", "stochastic gradient descent with momentum 0.9"}, make_sgd},
  };
  return k;
}

}  // namespace

const std::vector<RegistryEntry>& optimizer_entries() {
  static const std::vector<RegistryEntry> e = [] {
    std::vector<RegistryEntry> v;
    for (const auto& k : kinds()) v.push_back(k.entry);
    return v;
  }();
  return e;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, TensorList params,
                                          const OptimizerOptions& options) {
  for (const auto& k : kinds())
    if (k.entry.name == name) return k.make(std::move(params), options);
  UNRAVEL_CHECK(false, "unknown optimizer '{}' (valid: {})", name,
                fmt::join(names_of(optimizer_entries()), ", "));
  return nullptr;
}

}  // namespace unravel::optim
