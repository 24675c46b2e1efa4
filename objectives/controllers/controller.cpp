// The Controller base: running values as device buffers, state maps for logs and checkpoints.
#include "objectives/controllers/controller.h"

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/binary.h"
#include "ops/creation.h"

namespace unravel {

Schedule Schedule::constant(double beta, double capacity, Device device) {
  return {Tensor::scalar(beta, DType::f64, device), Tensor::scalar(capacity, DType::f64, device)};
}

double state_get(const ControllerState& s, const std::string& key, const std::string& who) {
  auto it = s.find(key);
  UNRAVEL_CHECK(it != s.end(), "{} load_state: state has no '{}'", who, key);
  return it->second;
}

Controller::Controller() { step_ = running("step", 0.0); }

Tensor Controller::running(const std::string& key, double init) {
  return register_buffer(key, Tensor::scalar(init, DType::f64, device()));
}

const Tensor& Controller::set(const Tensor& buf, const Tensor& value) {
  NoGradGuard ng;
  copy_(buf, value);
  return value;
}

Tensor Controller::advance() {
  NoGradGuard ng;
  add_(step_, 1.0);
  return step_;
}

ControllerState Controller::state() const {
  ControllerState s = fixed_;
  auto bufs = named_buffers();
  TensorList ts;
  for (const auto& [n, t] : bufs) ts.push_back(t);
  std::vector<double> v = read_scalars(ts);
  for (size_t i = 0; i < bufs.size(); ++i) s[bufs[i].first] = v[i];
  return s;
}

void Controller::load_state(const ControllerState& s) {
  NoGradGuard ng;
  auto bufs = named_buffers();
  for (const auto& [n, t] : bufs) state_get(s, n, name());  // all present before any write
  for (const auto& [n, t] : bufs) fill_(t, s.at(n));
}

}  // namespace unravel
