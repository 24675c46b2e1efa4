// Closed-loop controllers: ControlVAE's non-linear PI controller on β with its stepped KL
// set-point (Shao et al. 2020, Disentangling/P_PID.py + solver_light.py), and the adaptive
// capacity rule of papers.md §11 on top of the same PI controller.
//
// PI step with error e_t = C − KL_t (KL_t the batch KL, a device scalar; the branches below are
// `where`s on device tensors):
//   P_t = Kp / (1 + exp(e_t)) + β_min
//   I_t = I_{t−1} + Ki·e_t, frozen (I_t = I_{t−1}) when the previous UNCLAMPED β_{t−1} < β_min
//   β_t = P_t + I_t, stored unclamped for the anti-windup test, returned clamped below at β_min.
// Kp = 0.01, Ki = −0.001 (the code's sign: equal to the paper's "−Ki Σ e" with Ki = +0.001),
// β_min = 1, initial I = 0 and previous β = 1.
//
// Stepped set-point (ControlVAE, dSprites): C starts at 0.5; at every step t with t % period == 0
// C += step_val (0.15, period 5000), capped at C_max (18); the update happens before the PI step.
//
// Adaptive capacity (§11): the PI step runs against the current set-point C(t−1); then
//   C(t) = C(t−1)                                          if β_t > β_{t−1} (returned values)
//   C(t) = C(t−1) + (C_max − C(t−1)) / (t_max − (t−1))     otherwise,
// which reaches C_max at t = t_max if it keeps rising; C stays at C_max for t ≥ t_max. The
// returned Schedule carries β_t and the set-point C(t−1) that produced it; C(t) is used next.
#pragma once
#include "objectives/controllers/controller.h"

namespace unravel {

/// ControlVAE's non-linear PI rule on running values I and the previous unclamped β, which the
/// owning controller registers (so they are saved with its state).
class PiBetaRule {
 public:
  PiBetaRule(double kp, double ki, double beta_min) : kp_(kp), ki_(ki), beta_min_(beta_min) {}
  /// Binds the running values (0-d f64 buffers of the controller).
  void bind(Tensor integral, Tensor prev_unclamped) {
    i_ = std::move(integral);
    prev_ = std::move(prev_unclamped);
  }
  /// One PI step against set-point c; updates I and the previous β; returns the clamped β.
  Tensor step(const Tensor& set_point, const Tensor& observed_kl);
  /// The running values (0-d f64 tensors).
  const Tensor& integral() const { return i_; }
  const Tensor& prev_unclamped() const { return prev_; }
  double kp() const { return kp_; }
  double ki() const { return ki_; }
  double beta_min() const { return beta_min_; }

 private:
  double kp_, ki_, beta_min_;
  Tensor i_, prev_;
};

/// What both PI controllers hold: the rule, its running values (I, the previous unclamped β),
/// the set-point C and the returned β, and the rule's parameters reported by state().
class PiController : public Controller {
 protected:
  PiController(double c_start, double kp, double ki, double beta_min);
  PiBetaRule pi_;
  Tensor c_, beta_;
};

/// ControlVAE: stepped set-point + PI controller.
class ControlVaePiController : public PiController {
 public:
  ControlVaePiController(double c_start = 0.5, double c_max = 18.0, double step_val = 0.15,
                         int64_t period = 5000, double kp = 0.01, double ki = -0.001,
                         double beta_min = 1.0);
  std::string name() const override { return "controlvae-pi"; }
  Schedule update(const Tensor& observed_kl) override;

 private:
  double c_max_, step_val_;
  int64_t period_;
};

/// §11's adaptive capacity: C held while β rises, else stepped towards C_max at t_max.
class AdaptiveCapacityController : public PiController {
 public:
  AdaptiveCapacityController(double c_start = 0.5, double c_max = 16.0,
                             double t_max = 1500000.0, double kp = 0.01, double ki = -0.001,
                             double beta_min = 1.0);
  std::string name() const override { return "adaptive-capacity"; }
  Schedule update(const Tensor& observed_kl) override;

 private:
  double c_max_, t_max_;
};

}  // namespace unravel
