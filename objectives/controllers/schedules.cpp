// Open-loop β / capacity schedules (see schedules.h), as tensor ops on the device step counter.
#include "objectives/controllers/schedules.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/binary.h"
#include "ops/shape_ops.h"
#include "ops/unary.h"

namespace unravel {

ConstantController::ConstantController(double beta) {
  UNRAVEL_CHECK(beta >= 0, "constant: beta must be >= 0 (a negative weight rewards the KL), got {}",
                beta);
  beta_ = running("beta", beta);
}

Schedule ConstantController::update(const Tensor&) {
  NoGradGuard ng;
  advance();
  if (!zero_.defined() || zero_.device() != beta_.device()) zero_ = scalar_like(0.0, beta_);
  // β never changes, so the buffer itself is handed out; neither tensor is written again.
  return {beta_, zero_};
}

LinearCapacityController::LinearCapacityController(double c_max, double c_stop_steps,
                                                   double c_start)
    : c_max_(c_max), c_stop_(c_stop_steps), c_start_(c_start) {
  UNRAVEL_CHECK(c_stop_steps > 0, "linear-capacity: C_stop must be positive, got {}", c_stop_steps);
  UNRAVEL_CHECK(c_max >= c_start, "linear-capacity: C_max {} below C_start {}", c_max, c_start);
  c_ = running("C", c_start);
  fixed("C_max", c_max);
  fixed("C_stop", c_stop_steps);
  fixed("C_start", c_start);
}

Schedule LinearCapacityController::update(const Tensor&) {
  NoGradGuard ng;
  Tensor t = advance();
  // C_start + (C_max − C_start)·t / C_stop, in that operation order, then clamped.
  Tensor c = t * (c_max_ - c_start_) / scalar_like(c_stop_, t) + c_start_;
  return {scalar_like(1.0, t), set(c_, clamp(c, c_start_, c_max_))};
}

KlAnnealController::KlAnnealController(bool monotonic, double total_steps, double cycles,
                                       double ratio, double beta_min, double beta_max)
    : monotonic_(monotonic), total_(total_steps), cycles_(monotonic ? 1.0 : cycles),
      ratio_(ratio), beta_min_(beta_min), beta_max_(beta_max) {
  UNRAVEL_CHECK(total_steps >= 1, "kl-anneal: total steps must be >= 1, got {}", total_steps);
  UNRAVEL_CHECK(cycles_ >= 1, "kl-anneal: cycles must be >= 1, got {}", cycles);
  UNRAVEL_CHECK(ratio > 0 && ratio <= 1, "kl-anneal: ratio R must be in (0, 1], got {}", ratio);
  UNRAVEL_CHECK(beta_min >= 0 && beta_max >= 0,
                "kl-anneal: beta_min and beta_max must be >= 0, got {} and {}", beta_min, beta_max);
  beta_ = running("beta", beta_min);
  fixed("total_steps", total_);
  fixed("cycles", cycles_);
  fixed("ratio", ratio_);
  fixed("beta_min", beta_min_);
  fixed("beta_max", beta_max_);
}

double KlAnnealController::beta_at(int64_t step) const {
  const double period = total_ / cycles_;
  double k = static_cast<double>(std::max<int64_t>(step, 1) - 1);
  double tau;
  if (monotonic_) tau = k / period;  // no restart after the first period
  else tau = std::fmod(k, period) / period;
  return beta_min_ + (beta_max_ - beta_min_) * std::min(1.0, tau / ratio_);
}

Schedule KlAnnealController::update(const Tensor&) {
  NoGradGuard ng;
  Tensor t = advance();
  const double period = total_ / cycles_;
  Tensor k = maximum(t, scalar_like(1.0, t)) - 1.0;
  Tensor p = scalar_like(period, t);
  Tensor tau = monotonic_ ? k / p : fmod(k, p) / p;
  Tensor ramp = minimum(scalar_like(1.0, t), tau / scalar_like(ratio_, t));
  return {set(beta_, ramp * (beta_max_ - beta_min_) + beta_min_), scalar_like(0.0, t)};
}

}  // namespace unravel
