// ControlVAE's PI controller and the adaptive capacity rule (see pi_controllers.h), as tensor
// ops on device state: the anti-windup and the capacity rule's branches are `where`s, in the
// same floating-point operation order as the scalar formulas in the header.
#include "objectives/controllers/pi_controllers.h"

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/binary.h"
#include "ops/shape_ops.h"
#include "ops/unary.h"

namespace unravel {

Tensor PiBetaRule::step(const Tensor& set_point, const Tensor& observed_kl) {
  NoGradGuard ng;
  Tensor kl = unravel::to(observed_kl.detach(), DType::f64);
  Tensor e = set_point - kl;
  Tensor p = kp_ / (exp(e) + 1.0) + beta_min_;
  // Anti-windup: I frozen while the previous unclamped β was below β_min.
  Tensor i = where(lt(prev_, scalar_like(beta_min_, prev_)), i_, i_ + e * ki_);
  Tensor beta = p + i;
  copy_(prev_, beta);  // stored unclamped
  copy_(i_, i);
  return maximum(beta, scalar_like(beta_min_, beta));
}

PiController::PiController(double c_start, double kp, double ki, double beta_min)
    : pi_(kp, ki, beta_min) {
  c_ = running("C", c_start);
  beta_ = running("beta", beta_min);
  pi_.bind(running("I", 0.0), running("beta_unclamped", beta_min));
  fixed("Kp", kp);
  fixed("Ki", ki);
  fixed("beta_min", beta_min);
}

ControlVaePiController::ControlVaePiController(double c_start, double c_max, double step_val,
                                               int64_t period, double kp, double ki,
                                               double beta_min)
    : PiController(c_start, kp, ki, beta_min), c_max_(c_max), step_val_(step_val),
      period_(period) {
  UNRAVEL_CHECK(period >= 1, "controlvae-pi: period must be >= 1, got {}", period);
  fixed("C_max", c_max);
  fixed("step_val", step_val);
  fixed("period", static_cast<double>(period));
}

Schedule ControlVaePiController::update(const Tensor& observed_kl) {
  NoGradGuard ng;
  Tensor t = advance();
  // C += step_val on every step t with t % period == 0, capped at C_max; before the PI step.
  Tensor due = eq(fmod(t, scalar_like(static_cast<double>(period_), t)), scalar_like(0.0, t));
  Tensor c = set(c_, minimum(where(due, c_ + step_val_, c_), scalar_like(c_max_, t)));
  return {set(beta_, pi_.step(c, observed_kl)), c};
}

AdaptiveCapacityController::AdaptiveCapacityController(double c_start, double c_max,
                                                       double t_max, double kp, double ki,
                                                       double beta_min)
    : PiController(c_start, kp, ki, beta_min), c_max_(c_max), t_max_(t_max) {
  UNRAVEL_CHECK(t_max >= 1, "adaptive-capacity: t_max must be >= 1, got {}", t_max);
  fixed("C_max", c_max);
  fixed("t_max", t_max);
}

Schedule AdaptiveCapacityController::update(const Tensor& observed_kl) {
  NoGradGuard ng;
  Tensor t = advance();
  Tensor set_point = clone(c_);
  Tensor prev_beta = clone(beta_);
  Tensor beta = pi_.step(set_point, observed_kl);
  // C held while β rises; else one step towards C_max, reaching it at t_max.
  Tensor remaining = t_max_ - (t - 1.0);
  Tensor stepped = where(le(remaining, scalar_like(1.0, t)), scalar_like(c_max_, t),
                         c_ + (c_max_ - c_) / remaining);
  set(c_, where(gt(beta, prev_beta), c_, stepped));
  set(beta_, beta);
  return {beta, set_point};
}

}  // namespace unravel
