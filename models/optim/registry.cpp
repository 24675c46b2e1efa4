// Name → optimiser (see registry.h). Each optimiser is listed once, in kinds(), with its factory.
#include "models/optim/registry.h"

#include <fmt/ranges.h>

#include <cmath>

#include "engine/check.h"
#include "engine/param_reader.h"
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

namespace {

// A whole number of steps >= 0 from parameter `key` (default `def`).
int64_t steps_param(ParamReader& r, const std::string& key, double def) {
  const double v = r.get(key, def);
  UNRAVEL_CHECK(std::isfinite(v) && v >= 0 && v == std::floor(v) && v < 9.0e15,
                "{}: '{}' must be a whole number of steps >= 0, got {}", r.who(), key, v);
  return static_cast<int64_t>(v);
}

}  // namespace

const std::vector<RegistryEntry>& lr_schedule_entries() {
  static const std::vector<RegistryEntry> e = {
      {"constant", "the --lr throughout (default)"},
      {"cosine", "cosine decay from --lr to min (default 0) over total steps (default: the run's), then min"},
      {"step", "--lr times gamma (default 0.1) every step_size steps"},
      {"exponential", "--lr times gamma every step"},
  };
  return e;
}

std::shared_ptr<const LrSchedule> make_lr_schedule(const std::string& name, double base_lr,
                                                   const std::map<std::string, double>& params) {
  ParamReader r(params, fmt::format("lr schedule '{}'", name));
  const int64_t warmup = steps_param(r, "warmup", 0);
  std::shared_ptr<const LrSchedule> s;
  if (name == "constant") {
    s = std::make_shared<ConstantLr>(base_lr);
  } else if (name == "cosine") {
    const int64_t total = steps_param(r, "total", 0);
    UNRAVEL_CHECK(total > 0, "lr schedule 'cosine': needs total > 0 (the steps over which it "
                  "decays), got {}", total);
    s = std::make_shared<CosineLr>(base_lr, total, r.get("min", 0.0));
  } else if (name == "step") {
    const int64_t size = steps_param(r, "step_size", 0);
    UNRAVEL_CHECK(size > 0, "lr schedule 'step': needs step_size > 0, got {}", size);
    s = std::make_shared<StepLr>(base_lr, size, r.get("gamma", 0.1));
  } else if (name == "exponential") {
    s = std::make_shared<ExponentialLr>(base_lr, r.required("gamma"));
  } else {
    UNRAVEL_CHECK(false, "unknown lr schedule '{}' (valid: {})", name,
                  fmt::join(names_of(lr_schedule_entries()), ", "));
  }
  r.finish();
  if (warmup > 0) s = std::make_shared<WarmupLr>(s, warmup);
  return s;
}

}  // namespace unravel::optim
