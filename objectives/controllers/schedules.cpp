// Open-loop β / capacity schedules (see schedules.h).
#include "objectives/controllers/schedules.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"

namespace unravel {

double state_get(const ControllerState& s, const std::string& key, const std::string& who) {
  auto it = s.find(key);
  UNRAVEL_CHECK(it != s.end(), "{} load_state: state has no '{}'", who, key);
  return it->second;
}

Schedule ConstantController::update(int64_t step, double) {
  step_ = step;
  return {beta_, 0.0};
}
ControllerState ConstantController::state() const {
  return {{"beta", beta_}, {"step", static_cast<double>(step_)}};
}
void ConstantController::load_state(const ControllerState& s) {
  beta_ = state_get(s, "beta", name());
  step_ = static_cast<int64_t>(state_get(s, "step", name()));
}

LinearCapacityController::LinearCapacityController(double c_max, double c_stop_steps,
                                                   double c_start)
    : c_max_(c_max), c_stop_(c_stop_steps), c_start_(c_start), c_(c_start) {
  UNRAVEL_CHECK(c_stop_steps > 0, "linear-capacity: C_stop must be positive, got {}", c_stop_steps);
  UNRAVEL_CHECK(c_max >= c_start, "linear-capacity: C_max {} below C_start {}", c_max, c_start);
}
Schedule LinearCapacityController::update(int64_t step, double) {
  step_ = step;
  double c = c_start_ + (c_max_ - c_start_) * static_cast<double>(step) / c_stop_;
  c_ = std::clamp(c, c_start_, c_max_);
  return {1.0, c_};
}
ControllerState LinearCapacityController::state() const {
  return {{"C", c_}, {"C_max", c_max_}, {"C_stop", c_stop_}, {"C_start", c_start_},
          {"step", static_cast<double>(step_)}};
}
void LinearCapacityController::load_state(const ControllerState& s) {
  c_ = state_get(s, "C", name());
  step_ = static_cast<int64_t>(state_get(s, "step", name()));
}

KlAnnealController::KlAnnealController(bool monotonic, double total_steps, double cycles,
                                       double ratio, double beta_min, double beta_max)
    : monotonic_(monotonic), total_(total_steps), cycles_(monotonic ? 1.0 : cycles),
      ratio_(ratio), beta_min_(beta_min), beta_max_(beta_max), beta_(beta_min) {
  UNRAVEL_CHECK(total_steps >= 1, "kl-anneal: total steps must be >= 1, got {}", total_steps);
  UNRAVEL_CHECK(cycles_ >= 1, "kl-anneal: cycles must be >= 1, got {}", cycles);
  UNRAVEL_CHECK(ratio > 0 && ratio <= 1, "kl-anneal: ratio R must be in (0, 1], got {}", ratio);
}
double KlAnnealController::beta_at(int64_t step) const {
  const double period = total_ / cycles_;
  double k = static_cast<double>(std::max<int64_t>(step, 1) - 1);
  double tau;
  if (monotonic_) tau = k / period;  // no restart after the first period
  else tau = std::fmod(k, period) / period;
  return beta_min_ + (beta_max_ - beta_min_) * std::min(1.0, tau / ratio_);
}
Schedule KlAnnealController::update(int64_t step, double) {
  step_ = step;
  beta_ = beta_at(step);
  return {beta_, 0.0};
}
ControllerState KlAnnealController::state() const {
  return {{"beta", beta_},        {"total_steps", total_}, {"cycles", cycles_},
          {"ratio", ratio_},      {"beta_min", beta_min_}, {"beta_max", beta_max_},
          {"step", static_cast<double>(step_)}};
}
void KlAnnealController::load_state(const ControllerState& s) {
  beta_ = state_get(s, "beta", name());
  step_ = static_cast<int64_t>(state_get(s, "step", name()));
}

}  // namespace unravel
