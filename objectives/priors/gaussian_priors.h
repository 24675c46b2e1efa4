// Gaussian priors: isotropic N(0, s·I) and anisotropic N(0, diag(σ²)).
//
// The anisotropic prior follows Mathieu et al.'s parameterisation: σ_d = sqrt(s·D·softmax(ℓ)_d),
// so Σ_d σ_d² = s·D is fixed and only relative variances are (optionally) learnt. Initialised
// from singular values sv (ℓ = log sv², σ_d² = s·D·sv_d²/Σ sv²) or PCA variances (ℓ = log var),
// or given fixed per-dimension scales.
#pragma once
#include <memory>
#include <vector>

#include "objectives/priors/prior.h"

namespace unravel {

/// N(0, scale²·I).
class IsotropicGaussianPrior : public Prior {
 public:
  /// D latents, per-dim standard deviation `scale`.
  explicit IsotropicGaussianPrior(int64_t dim, double scale = 1.0, DType dtype = DType::f32);
  std::string name() const override { return "iso"; }
  int64_t dim() const override { return dim_; }
  Tensor log_prob(const Tensor& z) const override;
  Tensor sample(const Shape& batch, Generator& gen) const override;
  bool has_rsample() const override { return true; }
  Tensor analytic_kl(const DiagonalGaussian& q) const override;
  double scale() const { return scale_; }

 private:
  int64_t dim_;
  double scale_;
};

/// N(0, diag(σ²)) with fixed σ or learnable relative variances (softmax parameterisation).
/// Tensors: "scale" (buffer) for fixed scales, else "logits" (a parameter when learnable, a
/// buffer otherwise).
class AnisotropicGaussianPrior : public Prior {
 public:
  /// Fixed per-dimension standard deviations.
  static std::unique_ptr<AnisotropicGaussianPrior> fixed_scales(const std::vector<double>& scales,
                                                                DType dtype = DType::f32);
  /// σ = sqrt(s·D·softmax(ℓ)) with ℓ = `logits` (zeros: every σ² = s); learnable or fixed.
  static std::unique_ptr<AnisotropicGaussianPrior> softmax(const std::vector<double>& logits,
                                                           double variance_scale, bool learnable,
                                                           DType dtype = DType::f32);
  /// Relative variances ∝ sv² from singular values; takes the D largest (sorted descending,
  /// since e.g. scipy's svds promises no order).
  static std::unique_ptr<AnisotropicGaussianPrior> from_singular_values(
      const std::vector<double>& sv, int64_t dim, double variance_scale, bool learnable,
      DType dtype = DType::f32);
  /// Relative variances ∝ the D largest principal-component variances.
  static std::unique_ptr<AnisotropicGaussianPrior> from_pca_variances(
      const std::vector<double>& variances, int64_t dim, double variance_scale, bool learnable,
      DType dtype = DType::f32);

  std::string name() const override { return "aniso"; }
  int64_t dim() const override { return dim_; }
  Tensor log_prob(const Tensor& z) const override;
  Tensor sample(const Shape& batch, Generator& gen) const override;
  bool has_rsample() const override { return true; }
  Tensor analytic_kl(const DiagonalGaussian& q) const override;
  /// Current per-dimension standard deviations (D), differentiable w.r.t. the logits.
  Tensor scales() const;

 private:
  explicit AnisotropicGaussianPrior(DType dtype) : Prior(dtype) {}
  int64_t dim_ = 0;
  Tensor fixed_scale_;  ///< set for fixed_scales
  Tensor logits_;       ///< set for the softmax parameterisation
  double variance_scale_ = 1.0;
};

}  // namespace unravel
