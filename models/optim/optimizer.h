// Optimizer: the base of SGD / Adam / AdamW. It holds the parameter list, per-parameter state
// tensors (created eagerly, zeros like the parameter, on its device, so a state dict always has
// the same names), a per-parameter step count (a parameter without a gradient is skipped and
// does not advance, as in PyTorch) and the learning rate. step() makes one multi-tensor
// Backend::optimizer_step call per device (and per step count, normally one), so every rule has
// one update path on every device; subclasses only say which rule and scalars apply. No value is
// read back from the device.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/tensor.h"

namespace unravel::optim {

/// Everything needed to resume an optimiser exactly.
struct OptimizerState {
  /// "<param index>.<state name>" → tensor, plus "param_steps" (i64 [num params]).
  std::map<std::string, Tensor> tensors;
  /// Number of step() calls so far.
  int64_t step = 0;
  /// Learning rate in effect.
  double lr = 0.0;
};

class Optimizer {
 public:
  /// `params` must be floating-point leaves that require grad (e.g. Module::parameters()).
  Optimizer(TensorList params, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Updates every parameter that has a gradient.
  void step();
  /// Drops every parameter's gradient.
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);
  /// Number of step() calls so far.
  int64_t step_count() const { return step_; }
  const TensorList& params() const { return params_; }
  /// "SGD", "Adam", "AdamW".
  virtual std::string type_name() const = 0;

  /// Copies of the state tensors, the step count and the learning rate.
  OptimizerState state_dict() const;
  /// The host's step counts (state_dict's "step" and "param_steps").
  struct Counters {
    int64_t step = 0;
    std::vector<int64_t> param_steps;
  };
  Counters counters() const { return {step_, param_steps_}; }
  /// Sets the host's counts (not the device's): for a recorded step, whose recording ran step()
  /// once without updating anything.
  void set_counters(const Counters& c);
  /// Counts one step on the host as step() would (each parameter with a gradient), for a step
  /// that ran as replayed work: the device advanced its own counts.
  void count_replayed_step();
  /// Restores a state dict; names, shapes and dtypes must match this optimiser exactly.
  void load_state_dict(const OptimizerState& s);

 protected:
  /// The rule and its scalars for a parameter at step count `t` (1 on its first update).
  virtual OptimStep rule(int64_t t) const = 0;
  /// Creates state `name` for every parameter (zeros like it). Call from the constructor, in
  /// the order of the rule's state slots (OptimSlot s0, s1, s2).
  void add_state(const std::string& name);
  /// State `name` of parameter i.
  const Tensor& state(size_t i, const std::string& name) const;

 private:
  TensorList params_;
  std::vector<std::string> state_names_;  ///< in slot order
  std::vector<std::map<std::string, Tensor>> state_;
  std::vector<int64_t> param_steps_;
  int64_t step_ = 0;
  double lr_;
  // On the parameters' device when they share one: the lr and each parameter's step count as
  // f64, which the update kernel reads and advances, so a recorded step replays correctly.
  Tensor lr_device_, steps_device_;
};

}  // namespace unravel::optim
