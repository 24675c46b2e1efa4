// Sparse spike-and-slab prior, per dimension (Mathieu et al.'s Fashion-MNIST prior):
//
//   p(z_d) = γ·N(z_d; 0, σ_spike²) + (1 − γ)·N(z_d; 0, σ_slab²)
//
// γ is the weight of the narrow spike (default 0.8), σ_spike = 0.05, σ_slab = 1. log p via
// logsumexp of the two weighted components. Sampling draws a Bernoulli(γ) mask per element to
// pick the component, so it is not reparameterised.
#pragma once
#include "objectives/priors/prior.h"

namespace unravel {

class SpikeSlabPrior : public Prior {
 public:
  /// D latents, spike weight γ ∈ [0, 1], spike and slab standard deviations.
  SpikeSlabPrior(int64_t dim, double gamma = 0.8, double spike_scale = 0.05,
                 double slab_scale = 1.0, DType dtype = DType::f32);
  std::string name() const override { return "sparse"; }
  int64_t dim() const override { return dim_; }
  Tensor log_prob(const Tensor& z) const override;
  Tensor sample(const Shape& batch, Generator& gen) const override;
  bool has_rsample() const override { return false; }
  double gamma() const { return gamma_; }

 private:
  int64_t dim_;
  double gamma_, spike_, slab_;
};

}  // namespace unravel
