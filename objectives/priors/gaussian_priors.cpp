// Isotropic and anisotropic Gaussian priors (see gaussian_priors.h).
#include "objectives/priors/gaussian_priors.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "ops/ops.h"

namespace unravel {

namespace {
Tensor vec_tensor(const std::vector<double>& v, DType dtype) {
  return unravel::to(Tensor::from_vector(v, Shape{static_cast<int64_t>(v.size())}), dtype);
}

std::vector<double> top_d(std::vector<double> v, int64_t d, const char* fn) {
  UNRAVEL_CHECK(d >= 1 && static_cast<int64_t>(v.size()) >= d,
                "{}: need at least D = {} values, got {}", fn, d, v.size());
  std::sort(v.begin(), v.end(), std::greater<double>());
  v.resize(static_cast<size_t>(d));
  for (double x : v) UNRAVEL_CHECK(x > 0, "{}: values must be positive, got {}", fn, x);
  return v;
}
}  // namespace

IsotropicGaussianPrior::IsotropicGaussianPrior(int64_t dim, double scale, DType dtype)
    : Prior(dtype), dim_(dim), scale_(scale) {
  UNRAVEL_CHECK(dim >= 1, "iso prior: latent size must be >= 1, got {}", dim);
  UNRAVEL_CHECK(scale > 0, "iso prior: scale must be positive, got {}", scale);
}

Tensor IsotropicGaussianPrior::log_prob(const Tensor& z) const {
  check_z(z, "log_prob");
  return gaussian_log_density_scale(z, scalar_like(0.0, z), scale_);
}

Tensor IsotropicGaussianPrior::sample(const Shape& batch, Generator& gen) const {
  return normal(sample_shape(batch), gen, 0.0, scale_, dtype_, device());
}

Tensor IsotropicGaussianPrior::analytic_kl(const DiagonalGaussian& q) const {
  UNRAVEL_CHECK(q.dim() == dim_, "iso prior analytic_kl: posterior {} vs latent size {}",
                q.mean().desc(), dim_);
  return kl_gaussian_zero_mean(q, scalar_like(scale_, q.mean()));
}

std::unique_ptr<AnisotropicGaussianPrior> AnisotropicGaussianPrior::fixed_scales(
    const std::vector<double>& scales, DType dtype) {
  UNRAVEL_CHECK(!scales.empty(), "aniso prior: no scales given");
  for (double s : scales) UNRAVEL_CHECK(s > 0, "aniso prior: scales must be positive, got {}", s);
  std::unique_ptr<AnisotropicGaussianPrior> p(new AnisotropicGaussianPrior(dtype));
  p->dim_ = static_cast<int64_t>(scales.size());
  p->fixed_scale_ = p->register_buffer("scale", vec_tensor(scales, dtype));
  return p;
}

std::unique_ptr<AnisotropicGaussianPrior> AnisotropicGaussianPrior::softmax(
    const std::vector<double>& logits, double variance_scale, bool learnable, DType dtype) {
  UNRAVEL_CHECK(!logits.empty(), "aniso prior: no logits given");
  UNRAVEL_CHECK(variance_scale > 0, "aniso prior: variance scale must be positive, got {}",
                variance_scale);
  std::unique_ptr<AnisotropicGaussianPrior> p(new AnisotropicGaussianPrior(dtype));
  p->dim_ = static_cast<int64_t>(logits.size());
  p->variance_scale_ = variance_scale;
  Tensor l = vec_tensor(logits, dtype);
  p->logits_ = learnable ? p->register_parameter("logits", l) : p->register_buffer("logits", l);
  return p;
}

std::unique_ptr<AnisotropicGaussianPrior> AnisotropicGaussianPrior::from_singular_values(
    const std::vector<double>& sv, int64_t dim, double variance_scale, bool learnable,
    DType dtype) {
  std::vector<double> v = top_d(sv, dim, "aniso prior from_singular_values");
  for (double& x : v) x = 2.0 * std::log(x);
  return softmax(v, variance_scale, learnable, dtype);
}

std::unique_ptr<AnisotropicGaussianPrior> AnisotropicGaussianPrior::from_pca_variances(
    const std::vector<double>& variances, int64_t dim, double variance_scale, bool learnable,
    DType dtype) {
  std::vector<double> v = top_d(variances, dim, "aniso prior from_pca_variances");
  for (double& x : v) x = std::log(x);
  return softmax(v, variance_scale, learnable, dtype);
}

Tensor AnisotropicGaussianPrior::scales() const {
  if (fixed_scale_.defined()) return fixed_scale_;
  // softmax(ℓ) = exp(ℓ − logsumexp ℓ).
  Tensor sm = exp(logits_ - logsumexp(logits_, {0}, true));
  return sqrt(sm * (variance_scale_ * static_cast<double>(dim_)));
}

Tensor AnisotropicGaussianPrior::log_prob(const Tensor& z) const {
  check_z(z, "log_prob");
  return gaussian_log_density_scale(z, scalar_like(0.0, z), match_like(scales(), z));
}

Tensor AnisotropicGaussianPrior::sample(const Shape& batch, Generator& gen) const {
  return normal(sample_shape(batch), gen, 0.0, 1.0, dtype_, device()) * scales();
}

Tensor AnisotropicGaussianPrior::analytic_kl(const DiagonalGaussian& q) const {
  UNRAVEL_CHECK(q.dim() == dim_, "aniso prior analytic_kl: posterior {} vs latent size {}",
                q.mean().desc(), dim_);
  return kl_gaussian_zero_mean(q, scales());
}

}  // namespace unravel
