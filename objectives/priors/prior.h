// The prior p(z) interface shared by every objective and divergence. z has shape (..., D); a
// factorised prior gives per-dimension log-densities, every prior gives the summed one.
// A prior is an nn::Module: learnable values are registered parameters and fixed ones buffers,
// under stable names ("logits", "means", …) that checkpoints use; to(Device) moves it, and its
// samplers draw on its device (Module::device()) with no host work.
#pragma once
#include <string>

#include "engine/random.h"
#include "engine/tensor.h"
#include "models/nn/module.h"
#include "ops/distributions.h"

namespace unravel {

class Prior : public nn::Module {
 public:
  /// Registry name ("iso", "aniso", "student-t", "mog", "sparse").
  virtual std::string name() const = 0;
  std::string type_name() const override { return "Prior"; }
  /// Latent size D.
  virtual int64_t dim() const = 0;
  /// True when p(z) = Π_d p(z_d), so per-dimension log-densities exist.
  virtual bool factorised() const { return true; }
  /// Per-dimension log p(z_d), shape of z; throws for a non-factorised prior.
  virtual Tensor log_prob(const Tensor& z) const = 0;
  /// log p(z) summed over the last dimension, shape z.shape[:-1].
  virtual Tensor log_prob_sum(const Tensor& z) const;
  /// Draws with shape batch + (D) on the prior's device; differentiable w.r.t. the parameters
  /// when has_rsample().
  virtual Tensor sample(const Shape& batch, Generator& gen) const = 0;
  /// Whether sample() is a reparameterised (path-wise differentiable) draw.
  virtual bool has_rsample() const = 0;
  /// Closed-form per-dimension KL(q ‖ p), shape of q's mean; undefined when none exists.
  virtual Tensor analytic_kl(const DiagonalGaussian& q) const;
  /// dtype of the prior's parameters and samples.
  DType dtype() const { return dtype_; }

 protected:
  explicit Prior(DType dtype) : dtype_(dtype) {}
  /// batch + (D).
  Shape sample_shape(const Shape& batch) const;
  /// Checks that z ends in D and is floating.
  void check_z(const Tensor& z, const char* fn) const;
  DType dtype_;
};

/// Closed-form per-dimension KL(N(μ, σ_q²) ‖ N(0, σ_p²)) = log σ_p − ½·log σ_q² +
/// (σ_q² + μ²)/(2σ_p²) − ½, with σ_p a tensor broadcasting against μ.
Tensor kl_gaussian_zero_mean(const DiagonalGaussian& q, const Tensor& prior_scale);

}  // namespace unravel
