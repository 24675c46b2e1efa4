// Shared pieces of the Prior interface and the Gaussian-vs-Gaussian closed-form KL.
#include "objectives/priors/prior.h"

#include "ops/ops.h"

namespace unravel {

Tensor Prior::log_prob_sum(const Tensor& z) const { return sum(log_prob(z), {-1}); }

Tensor Prior::analytic_kl(const DiagonalGaussian&) const { return Tensor(); }

Shape Prior::sample_shape(const Shape& batch) const {
  Shape s = batch;
  s.push_back(dim());
  return s;
}

void Prior::check_z(const Tensor& z, const char* fn) const {
  UNRAVEL_CHECK(z.defined() && z.dim() >= 1 && z.size(-1) == dim(),
                "{} prior {}: z {} must end in the latent size {}", name(), fn,
                z.defined() ? z.desc() : std::string("undefined"), dim());
  UNRAVEL_CHECK(z.dtype() == DType::f32 || z.dtype() == DType::f64,
                "{} prior {}: z must be floating, got {}", name(), fn, z.desc());
}

Tensor kl_gaussian_zero_mean(const DiagonalGaussian& q, const Tensor& prior_scale) {
  const Tensor& mu = q.mean();
  Tensor sp = match_like(prior_scale, mu);
  Tensor var_p = square(sp);
  return log(sp) - q.logvar() * 0.5 + (q.variance() + square(mu)) / (var_p * 2.0) - 0.5;
}

}  // namespace unravel
