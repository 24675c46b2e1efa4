// Spike-and-slab prior (see spike_slab.h).
#include "objectives/priors/spike_slab.h"

#include <cmath>

#include "ops/ops.h"

namespace unravel {

SpikeSlabPrior::SpikeSlabPrior(int64_t dim, double gamma, double spike_scale, double slab_scale,
                               DType dtype)
    : Prior(dtype), dim_(dim), gamma_(gamma), spike_(spike_scale), slab_(slab_scale) {
  UNRAVEL_CHECK(dim >= 1, "sparse prior: latent size must be >= 1, got {}", dim);
  UNRAVEL_CHECK(gamma >= 0 && gamma <= 1, "sparse prior: gamma must be in [0, 1], got {}", gamma);
  UNRAVEL_CHECK(spike_scale > 0 && slab_scale > 0,
                "sparse prior: scales must be positive, got spike {} slab {}", spike_scale,
                slab_scale);
}

Tensor SpikeSlabPrior::log_prob(const Tensor& z) const {
  check_z(z, "log_prob");
  Tensor zero = scalar_like(0.0, z);
  // γ ∈ {0, 1} leaves a single component (avoids log 0 in the logsumexp).
  if (gamma_ == 0.0) return gaussian_log_density_scale(z, zero, slab_);
  if (gamma_ == 1.0) return gaussian_log_density_scale(z, zero, spike_);
  Tensor a = gaussian_log_density_scale(z, zero, spike_) + std::log(gamma_);
  Tensor b = gaussian_log_density_scale(z, zero, slab_) + std::log1p(-gamma_);
  return logsumexp(stack({a, b}, -1), {-1});
}

Tensor SpikeSlabPrior::sample(const Shape& batch, Generator& gen) const {
  Shape s = sample_shape(batch);
  Tensor mask = bernoulli(s, gamma_, gen, dtype_, device());
  Tensor eps = normal(s, gen, 0.0, 1.0, dtype_, device());
  Tensor sd = mask * spike_ + (1.0 - mask) * slab_;
  return eps * sd;
}

}  // namespace unravel
