// The importance-weighted bound (Burda et al. 2016) used as the evaluation log-likelihood:
//
//   log p(x) ≥ L_K = log (1/K) Σ_k exp(log p(x|z_k) + log p(z_k) − log q(z_k|x)),  z_k ~ q(z|x)
//
// L_1 is the ELBO (with MC KL); L_K increases with K and tends to log p(x).
#pragma once
#include <functional>

#include "objectives/losses/objective.h"

namespace unravel {

/// log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x), shape (K, B), from outputs whose z is
/// (K, B, D) and recon (K, B, ...).
Tensor iwae_log_weights(const VaeOutputs& out, const Prior& prior);
/// L_K per datapoint (B) from the same outputs.
Tensor iwae_bound(const VaeOutputs& out, const Prior& prior);
/// L_K per datapoint drawing K samples from `posterior` and decoding them in chunks of at most
/// `chunk` samples with `decode` (z (k, B, D) → decoder output (k, B, ...)); runs without the
/// tape (evaluation).
Tensor iwae_bound(const Tensor& x, const DiagonalGaussian& posterior, const Prior& prior,
                  const Likelihood& likelihood,
                  const std::function<Tensor(const Tensor&)>& decode, int64_t k, Generator& gen,
                  int64_t chunk = 100);

}  // namespace unravel
