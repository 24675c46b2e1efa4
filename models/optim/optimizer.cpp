// Optimizer base: parameter validation, state bookkeeping, and exact state_dict round trips.
#include "models/optim/optimizer.h"

#include <cmath>
#include <map>
#include <tuple>

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/binary.h"
#include "ops/creation.h"
#include "ops/shape_ops.h"

namespace unravel::optim {

Optimizer::Optimizer(TensorList params, double lr) : params_(std::move(params)), lr_(lr) {
  UNRAVEL_CHECK(!params_.empty(), "Optimizer: empty parameter list");
  UNRAVEL_CHECK(std::isfinite(lr) && lr >= 0, "Optimizer: learning rate must be >= 0, got {}", lr);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    UNRAVEL_CHECK(p.defined() && is_floating(p.dtype()) && p.is_leaf() && p.requires_grad(),
                  "Optimizer: parameter {} must be a floating-point leaf that requires grad, got {}",
                  i, p.desc());
    for (size_t j = 0; j < i; ++j)
      UNRAVEL_CHECK(!params_[j].is_same(p), "Optimizer: parameter {} appears twice (also at {})",
                    i, j);
  }
  state_.resize(params_.size());
  param_steps_.assign(params_.size(), 0);
  bool one_device = true;
  for (const Tensor& p : params_) one_device = one_device && p.device() == params_[0].device();
  if (one_device) {
    NoGradGuard guard;
    const Device dev = params_[0].device();
    lr_device_ = Tensor::full(Shape{}, lr, DType::f64, dev);
    steps_device_ = Tensor::zeros(Shape{static_cast<int64_t>(params_.size())}, DType::f64, dev);
  }
}

void Optimizer::set_counters(const Counters& c) {
  UNRAVEL_CHECK(c.param_steps.size() == params_.size(), "{}::set_counters: {} counts for {} "
                "parameters", type_name(), c.param_steps.size(), params_.size());
  step_ = c.step;
  param_steps_ = c.param_steps;
}

void Optimizer::count_replayed_step() {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].grad().defined()) ++param_steps_[i];
  ++step_;
}

void Optimizer::set_lr(double lr) {
  UNRAVEL_CHECK(std::isfinite(lr) && lr >= 0, "{}::set_lr: learning rate must be >= 0, got {}",
                type_name(), lr);
  if (lr != lr_ && lr_device_.defined()) {
    NoGradGuard guard;
    fill_(lr_device_, lr);
  }
  lr_ = lr;
}

void Optimizer::add_state(const std::string& name) {
  UNRAVEL_CHECK(state_names_.size() < 3, "{}: at most three states per parameter", type_name());
  state_names_.push_back(name);
  for (size_t i = 0; i < params_.size(); ++i) state_[i][name] = Tensor::zeros_like(params_[i]);
}

const Tensor& Optimizer::state(size_t i, const std::string& name) const {
  auto it = state_[i].find(name);
  UNRAVEL_CHECK(it != state_[i].end(), "{}: parameter {} has no state '{}'", type_name(), i, name);
  return it->second;
}

void Optimizer::step() {
  NoGradGuard guard;
  // One multi-tensor launch per (device, step count): normally a single one.
  std::map<std::tuple<uint8_t, int, int64_t>, std::vector<OptimSlot>> groups;
  TensorList keep;  // contiguous copies of strided gradients live until the launches
  std::vector<std::pair<Tensor, Tensor>> write_back;  // (dense copy, strided parameter)
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    UNRAVEL_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(),
                  "{}::step: gradient {} of parameter {} does not match it ({})", type_name(),
                  g.desc(), i, p.desc());
    Tensor dense = p;
    if (!p.is_contiguous()) {  // a strided view: update a dense copy, written back below
      dense = contiguous(p.detach());
      write_back.emplace_back(dense, p);
    }
    OptimSlot slot{dense.view(), TensorView{}, TensorView{}, TensorView{}, TensorView{}};
    if (!g.is_contiguous()) keep.push_back(g = contiguous(g));
    slot.g = g.view();
    TensorView* states[3] = {&slot.s0, &slot.s1, &slot.s2};
    for (size_t k = 0; k < state_names_.size(); ++k) {
      const Tensor& s = state_[i].at(state_names_[k]);
      UNRAVEL_CHECK(s.device() == p.device() && s.dtype() == p.dtype(),
                    "{}::step: state '{}' of parameter {} is {} but the parameter is {}; create "
                    "the optimiser after moving the model", type_name(), state_names_[k], i,
                    s.desc(), p.desc());
      *states[k] = s.view();
      s.bump_version();
    }
    const int64_t t = ++param_steps_[i];
    if (steps_device_.defined()) slot.steps = static_cast<double*>(steps_device_.view().data) + i;
    // With device counts the kernel derives each slot's step scalars: one group per device.
    groups[{static_cast<uint8_t>(p.device().kind), p.device().index,
            steps_device_.defined() ? 0 : t}].push_back(slot);
    p.bump_version();
  }
  for (const auto& [key, slots] : groups) {
    const Device dev{static_cast<DeviceKind>(std::get<0>(key)), std::get<1>(key)};
    OptimStep h = rule(std::max<int64_t>(1, std::get<2>(key)));
    if (lr_device_.defined()) h.lr_device = static_cast<const double*>(lr_device_.view().data);
    backend(dev).optimizer_step(h, slots);
  }
  for (const auto& [dense, p] : write_back) backend(p.device()).copy(dense.view(), p.view());
  ++step_;
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

OptimizerState Optimizer::state_dict() const {
  NoGradGuard guard;
  OptimizerState s;
  s.step = step_;
  s.lr = lr_;
  for (size_t i = 0; i < params_.size(); ++i)
    for (const auto& [name, t] : state_[i])
      s.tensors[std::to_string(i) + "." + name] = clone(t);
  s.tensors["param_steps"] =
      Tensor::from_vector(param_steps_, Shape{static_cast<int64_t>(param_steps_.size())});
  return s;
}

void Optimizer::load_state_dict(const OptimizerState& s) {
  NoGradGuard guard;
  size_t expected = 1;
  for (const auto& m : state_) expected += m.size();
  for (const auto& [name, t] : s.tensors) {
    bool known = name == "param_steps";
    size_t dot = name.find('.');
    if (!known && dot != std::string::npos && dot > 0) {
      size_t i = std::strtoull(name.substr(0, dot).c_str(), nullptr, 10);
      known = std::to_string(i) == name.substr(0, dot) && i < params_.size() &&
              state_[i].count(name.substr(dot + 1));
    }
    UNRAVEL_CHECK(known, "{}::load_state_dict: unexpected state '{}' (this {} has {} parameters)",
                  type_name(), name, type_name(), params_.size());
  }
  UNRAVEL_CHECK(s.tensors.size() == expected,
                "{}::load_state_dict: expected {} state tensors, got {} (missing entries)",
                type_name(), expected, s.tensors.size());
  const Tensor& steps = s.tensors.at("param_steps");
  UNRAVEL_CHECK(steps.dtype() == DType::i64 && steps.dim() == 1 &&
                    steps.size(0) == static_cast<int64_t>(params_.size()),
                "{}::load_state_dict: 'param_steps' must be i64[{}], got {}", type_name(),
                params_.size(), steps.desc());
  for (size_t i = 0; i < params_.size(); ++i)
    for (const auto& [name, t] : state_[i]) {
      std::string key = std::to_string(i) + "." + name;
      const Tensor& src = s.tensors.at(key);
      UNRAVEL_CHECK(src.shape() == t.shape() && src.dtype() == t.dtype(),
                    "{}::load_state_dict: state '{}' is {} but parameter {} needs {}", type_name(),
                    key, src.desc(), i, t.desc());
    }
  UNRAVEL_CHECK(std::isfinite(s.lr) && s.lr >= 0 && s.step >= 0,
                "{}::load_state_dict: invalid lr {} or step {}", type_name(), s.lr, s.step);
  // Everything validated: now write.
  for (size_t i = 0; i < params_.size(); ++i)
    for (auto& [name, t] : state_[i])
      copy_(t, unravel::to(s.tensors.at(std::to_string(i) + "." + name), t.device()));
  param_steps_ = steps.to_vector<int64_t>();
  step_ = s.step;
  lr_ = s.lr;
  if (steps_device_.defined()) {
    std::vector<double> v(param_steps_.begin(), param_steps_.end());
    copy_(steps_device_, unravel::to(Tensor::from_vector(v, steps_device_.shape()), steps_device_.device()));
    fill_(lr_device_, lr_);
  }
}

}  // namespace unravel::optim
