// Student-t prior: a product of D univariate t distributions with ν degrees of freedom, location
// 0 and scale σ (Mathieu et al.'s torch StudentT(df, 0, scale), log-density summed over dims):
//
//   log p(z_d) = lgamma((ν+1)/2) − lgamma(ν/2) − ½·log(νπ) − log σ − (ν+1)/2 · log1p((z_d/σ)²/ν)
//
// Sampling: z = σ·n / sqrt(χ²_ν/ν) with n ~ N(0, 1). χ²_ν is a sum of ν squared normals when ν
// is a small integer (≤ 64), else 2·Gamma(ν/2, 1) from Marsaglia–Tsang's rejection sampler
// (with the u^{1/a} boost for shape a < 1) run as tensor ops: every element gets kGammaRounds
// candidates at once and keeps the first accepted one, so it runs on the prior's device with no
// host loop. All draws come from Philox through the passed Generator. The draw is
// reparameterised in σ (the χ² factor does not depend on a learnable parameter).
#pragma once
#include "objectives/priors/prior.h"

namespace unravel {

class StudentTPrior : public Prior {
 public:
  /// D latents, ν > 0 degrees of freedom, scale σ > 0.
  StudentTPrior(int64_t dim, double df, double scale = 1.0, DType dtype = DType::f32);
  std::string name() const override { return "student-t"; }
  int64_t dim() const override { return dim_; }
  Tensor log_prob(const Tensor& z) const override;
  Tensor sample(const Shape& batch, Generator& gen) const override;
  bool has_rsample() const override { return true; }
  double df() const { return df_; }
  double scale() const { return scale_; }

 private:
  int64_t dim_;
  double df_;
  double scale_;
};

/// Candidate rounds per Gamma draw: every round accepts with probability > 0.95 (shape ≥ 1),
/// so all 12 reject with probability < 1e-15; the element then takes the mode-like value
/// shape − 1/3.
inline constexpr int kGammaRounds = 12;
/// Gamma(a, 1) draws of `shape` on `device` by Marsaglia & Tsang (2000), vectorised as above.
Tensor sample_gamma(const Shape& shape, double a, Generator& gen, DType dtype = DType::f32,
                    Device device = kCPU);
/// χ²_ν draws of `shape` on `device`: sums of ν squared normals for integer ν ≤ 64, else
/// 2·Gamma(ν/2).
Tensor sample_chi2(const Shape& shape, double df, Generator& gen, DType dtype = DType::f32,
                   Device device = kCPU);

}  // namespace unravel
