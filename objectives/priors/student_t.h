// Student-t prior: a product of D univariate t distributions with ν degrees of freedom, location
// 0 and scale σ (Mathieu et al.'s torch StudentT(df, 0, scale), log-density summed over dims):
//
//   log p(z_d) = lgamma((ν+1)/2) − lgamma(ν/2) − ½·log(νπ) − log σ − (ν+1)/2 · log1p((z_d/σ)²/ν)
//
// Sampling: z = σ·n / sqrt(χ²_ν/ν) with n ~ N(0, 1). χ²_ν is a sum of ν squared normals when ν
// is a small integer (≤ 64), else 2·Gamma(ν/2, 1) from Marsaglia–Tsang's rejection sampler
// (with the u^{1/a} boost for shape a < 1), all from Philox draws of the passed Generator. The
// draw is reparameterised in σ (the χ² factor does not depend on a learnable parameter).
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

/// One Gamma(shape, 1) draw by Marsaglia & Tsang (2000), from gen's normals and uniforms.
double sample_gamma(double shape, Generator& gen);
/// χ²_ν draws of `shape` (dtype): sums of ν squared normals for integer ν ≤ 64, else 2·Gamma(ν/2).
Tensor sample_chi2(const Shape& shape, double df, Generator& gen, DType dtype = DType::f32);

}  // namespace unravel
