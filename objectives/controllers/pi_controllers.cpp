// ControlVAE's PI controller and the adaptive capacity rule (see pi_controllers.h).
#include "objectives/controllers/pi_controllers.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"

namespace unravel {

double PiBetaController::step(double set_point, double observed_kl) {
  const double e = set_point - observed_kl;
  const double p = kp_ / (1.0 + std::exp(e)) + beta_min_;
  double i = i_ + ki_ * e;
  if (prev_beta_ < beta_min_) i = i_;  // anti-windup: freeze while the last output saturated
  const double beta = p + i;
  prev_beta_ = beta;  // stored unclamped
  i_ = i;
  return std::max(beta, beta_min_);
}

void PiBetaController::write_state(ControllerState& s) const {
  s["I"] = i_;
  s["beta_unclamped"] = prev_beta_;
  s["Kp"] = kp_;
  s["Ki"] = ki_;
  s["beta_min"] = beta_min_;
}

void PiBetaController::read_state(const ControllerState& s, const std::string& who) {
  i_ = state_get(s, "I", who);
  prev_beta_ = state_get(s, "beta_unclamped", who);
}

ControlVaePiController::ControlVaePiController(double c_start, double c_max, double step_val,
                                               int64_t period, double kp, double ki,
                                               double beta_min)
    : pi_(kp, ki, beta_min), c_(c_start), c_max_(c_max), step_val_(step_val), period_(period),
      beta_(beta_min) {
  UNRAVEL_CHECK(period >= 1, "controlvae-pi: period must be >= 1, got {}", period);
}

Schedule ControlVaePiController::update(int64_t step, double observed_kl) {
  step_ = step;
  if (step % period_ == 0) c_ += step_val_;
  if (c_ > c_max_) c_ = c_max_;
  beta_ = pi_.step(c_, observed_kl);
  return {beta_, c_};
}

ControllerState ControlVaePiController::state() const {
  ControllerState s{{"C", c_},           {"C_max", c_max_}, {"step_val", step_val_},
                    {"period", static_cast<double>(period_)}, {"beta", beta_},
                    {"step", static_cast<double>(step_)}};
  pi_.write_state(s);
  return s;
}

void ControlVaePiController::load_state(const ControllerState& s) {
  c_ = state_get(s, "C", name());
  beta_ = state_get(s, "beta", name());
  step_ = static_cast<int64_t>(state_get(s, "step", name()));
  pi_.read_state(s, name());
}

AdaptiveCapacityController::AdaptiveCapacityController(double c_start, double c_max,
                                                       double t_max, double kp, double ki,
                                                       double beta_min)
    : pi_(kp, ki, beta_min), c_(c_start), c_max_(c_max), t_max_(t_max), beta_(beta_min) {
  UNRAVEL_CHECK(t_max >= 1, "adaptive-capacity: t_max must be >= 1, got {}", t_max);
}

Schedule AdaptiveCapacityController::update(int64_t step, double observed_kl) {
  step_ = step;
  const double set_point = c_;
  const double prev_beta = beta_;
  beta_ = pi_.step(set_point, observed_kl);
  if (!(beta_ > prev_beta)) {
    const double remaining = t_max_ - static_cast<double>(step - 1);
    c_ = remaining <= 1.0 ? c_max_ : c_ + (c_max_ - c_) / remaining;
  }
  return {beta_, set_point};
}

ControllerState AdaptiveCapacityController::state() const {
  ControllerState s{{"C", c_}, {"C_max", c_max_}, {"t_max", t_max_}, {"beta", beta_},
                    {"step", static_cast<double>(step_)}};
  pi_.write_state(s);
  return s;
}

void AdaptiveCapacityController::load_state(const ControllerState& s) {
  c_ = state_get(s, "C", name());
  beta_ = state_get(s, "beta", name());
  step_ = static_cast<int64_t>(state_get(s, "step", name()));
  pi_.read_state(s, name());
}

}  // namespace unravel
