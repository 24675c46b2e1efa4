// Open-loop schedules: constant β, Burgess et al.'s linear capacity C(t), and Fu et al.'s
// (2019) monotonic and cyclical KL annealing. Written with tensor ops on the device step counter
// (controller.h).
//
//  * linear capacity: C(t) = clamp(C_start + (C_max − C_start)·t / C_stop, C_start, C_max) (1Konny's
//    clamp(C_max/C_stop·t, C_start, C_max) for C_start = 0); β is 1 (the capacity objective
//    carries its own γ).
//  * cyclical annealing: the run of `total_steps` is split into `cycles` periods of length
//    P = total/cycles; with τ = ((t−1) mod P)/P, β(t) = β_min + (β_max − β_min)·min(1, τ/R), i.e.
//    a linear ramp over the first fraction R of each cycle, then flat (frange_cycle_linear).
//  * monotonic annealing: one ramp over the first R·total steps, then β_max for ever.
#pragma once
#include "objectives/controllers/controller.h"

namespace unravel {

/// β fixed.
class ConstantController : public Controller {
 public:
  explicit ConstantController(double beta = 1.0);
  std::string name() const override { return "constant"; }
  Schedule update(const Tensor& observed_kl) override;

 private:
  Tensor beta_;
  Tensor zero_;  ///< C = 0, made once per device
};

/// Burgess et al.'s linear capacity increase.
class LinearCapacityController : public Controller {
 public:
  LinearCapacityController(double c_max = 25.0, double c_stop_steps = 100000.0,
                           double c_start = 0.0);
  std::string name() const override { return "linear-capacity"; }
  Schedule update(const Tensor& observed_kl) override;

 private:
  double c_max_, c_stop_, c_start_;
  Tensor c_;
};

/// Fu et al.'s KL annealing; cycles = 1 with `monotonic` never restarts.
class KlAnnealController : public Controller {
 public:
  KlAnnealController(bool monotonic, double total_steps, double cycles = 4, double ratio = 0.5,
                     double beta_min = 0.0, double beta_max = 1.0);
  std::string name() const override {
    return monotonic_ ? "kl-anneal-monotonic" : "kl-anneal-cyclical";
  }
  Schedule update(const Tensor& observed_kl) override;
  /// β at a step, on the host, without changing state (the same formula in doubles).
  double beta_at(int64_t step) const;

 private:
  bool monotonic_;
  double total_, cycles_, ratio_, beta_min_, beta_max_;
  Tensor beta_;
};

}  // namespace unravel
