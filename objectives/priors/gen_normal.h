// Generalised normal (exponential power) prior: a product of D univariate densities
//
//   p(z_d) = p / (2α·Γ(1/p)) · exp(−|z_d/α|^p),   α = σ·sqrt(Γ(1/p) / Γ(3/p)),
//
// with power p ≥ 1 and standard deviation σ (α is chosen so that Var z_d = σ²). p = 2 is the
// Gaussian N(0, σ²), p = 1 the Laplace; p > 2 is lighter-tailed than the Gaussian (flatter top,
// kurtosis Γ(5/p)Γ(1/p)/Γ(3/p)² < 3; a uniform in the limit p → ∞). Not one of Mathieu et al.'s
// priors: it is here because a factorised prior breaks the rotation symmetry of the isotropic
// Gaussian, and for factors that are uniform (dSprites' positions) only a light-tailed one
// breaks it towards the axes — a heavy-tailed one (Student-t) favours the sparser, turned code
// (docs/main-job-research.md).
//
// Sampling: |z/α|^p ~ Gamma(1/p, 1), so z = α·s·G^{1/p} with a random sign s (sample_gamma of
// student_t.h and a uniform, all Philox draws through the passed Generator); reparameterised in
// α, which is fixed.
#pragma once
#include "objectives/priors/prior.h"

namespace unravel {

class GeneralisedNormalPrior : public Prior {
 public:
  /// D latents, power p ≥ 1, standard deviation σ > 0.
  GeneralisedNormalPrior(int64_t dim, double power, double stddev = 1.0, DType dtype = DType::f32);
  std::string name() const override { return "gen-normal"; }
  int64_t dim() const override { return dim_; }
  Tensor log_prob(const Tensor& z) const override;
  Tensor sample(const Shape& batch, Generator& gen) const override;
  bool has_rsample() const override { return true; }
  double power() const { return power_; }
  /// α of the density above.
  double alpha() const { return alpha_; }

 private:
  int64_t dim_;
  double power_;
  double alpha_;
};

}  // namespace unravel
