// Mixture of K diagonal Gaussians over the whole latent vector (not factorised):
//
//   log p(z) = logsumexp_k [ log w_k + Σ_d log N(z_d; μ_kd, σ_kd²) ],  w = softmax(weight logits)
//
// Fixed or learnable (weight logits, means, log-scales: parameters "weight_logits", "means",
// "log_scales", or buffers of those names when fixed). Sampling picks a component per draw from
// uniforms against the cumulative weights (computed on the device), then μ_c + σ_c·ε: path-wise
// differentiable in the means and scales but not the weights, so has_rsample() is false.
#pragma once
#include <memory>
#include <vector>

#include "objectives/priors/prior.h"

namespace unravel {

class MixtureOfGaussiansPrior : public Prior {
 public:
  /// weights (K, need not be normalised), means and scales (K·D row-major), learnable or fixed.
  MixtureOfGaussiansPrior(const std::vector<double>& weights, const std::vector<double>& means,
                          const std::vector<double>& scales, int64_t dim, bool learnable = false,
                          DType dtype = DType::f32);
  /// Mathieu et al.'s pinwheel prior: 4 equal components at (0,−1), (0,1), (1,0), (−1,0), each
  /// with std sqrt(variance_scale · D · ½) = sqrt(0.03) for the default 0.03 and D = 2.
  static std::unique_ptr<MixtureOfGaussiansPrior> pinwheel(double variance_scale = 0.03,
                                                           bool learnable = false,
                                                           DType dtype = DType::f32);

  std::string name() const override { return "mog"; }
  int64_t dim() const override { return dim_; }
  bool factorised() const override { return false; }
  /// Throws: a mixture over the joint vector has no per-dimension density.
  Tensor log_prob(const Tensor& z) const override;
  Tensor log_prob_sum(const Tensor& z) const override;
  Tensor sample(const Shape& batch, Generator& gen) const override;
  bool has_rsample() const override { return false; }
  int64_t components() const { return k_; }
  /// Normalised log-weights (K).
  Tensor log_weights() const;
  /// Means (K, D).
  const Tensor& means() const { return means_; }
  /// Standard deviations (K, D).
  Tensor scales() const;

 private:
  int64_t dim_, k_;
  Tensor weight_logits_, means_, log_scales_;
};

}  // namespace unravel
