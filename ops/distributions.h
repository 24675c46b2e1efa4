// Diagonal Gaussian posterior q(z|x) = Π_d N(z_d; μ_d, σ_d²) and Gaussian log-density helpers.
//
//   log N(z; μ, σ²) = −½·(log 2π + log σ² + (z − μ)²·exp(−log σ²))
//   entropy         = ½·(1 + log 2π + log σ²)                     (per dimension)
//   rsample         = μ + σ·ε, ε ~ N(0, I)                         (reparameterised)
//
// `pairwise_log_density` builds the M×M×D table log q(z_i,d | x_j) that the minibatch mixture
// estimators (kld_inc, MWS/MSS, the aggregate KL) need.
#pragma once
#include "engine/random.h"
#include "engine/tensor.h"

namespace unravel {

/// Elementwise log N(z; mu, exp(logvar)) (all three broadcast together).
Tensor gaussian_log_density(const Tensor& z, const Tensor& mu, const Tensor& logvar);
/// Elementwise log N(z; mu, scale²) with a tensor scale.
Tensor gaussian_log_density_scale(const Tensor& z, const Tensor& mu, const Tensor& scale);
/// Elementwise log N(z; mu, scale²) with a fixed scalar scale.
Tensor gaussian_log_density_scale(const Tensor& z, const Tensor& mu, double scale);
/// Pairwise table: z (M, D), mu/logvar (N, D) → (M, N, D) with [i, j, d] = log N(z_id; μ_jd, σ²_jd).
Tensor pairwise_log_density(const Tensor& z, const Tensor& mu, const Tensor& logvar);

/// Where a batch's rows sit in a larger batch whose random draws they must reproduce: rows
/// [start, start + rows) of a batch of `batch` rows (a data-parallel micro-shard,
/// objectives/training/train_step.h). A draw through a window gives exactly the numbers the
/// whole batch's draw gives those rows (Philox counters are indexed by the global row, never by
/// the process) and advances the generator by the whole batch's draw, so every micro-shard
/// leaves the stream where one process drawing the whole batch would.
struct BatchWindow {
  int64_t batch = 0;
  int64_t start = 0;
};

/// Converts `t` to `like`'s dtype and device when they differ (differentiable).
Tensor match_like(const Tensor& t, const Tensor& like);

/// A diagonal Gaussian over the last dimension, batched over the leading ones: mean and
/// log-variance (the scale σ = exp(½·logvar) is derived, or logvar = 2·log σ from a scale).
class DiagonalGaussian {
 public:
  DiagonalGaussian() = default;
  /// From a mean and a log-variance of the same shape (..., D).
  static DiagonalGaussian from_logvar(const Tensor& mu, const Tensor& logvar);
  /// From a mean and a positive scale σ (e.g. softplus(h) + 1e-6) of the same shape.
  static DiagonalGaussian from_scale(const Tensor& mu, const Tensor& scale);

  const Tensor& mean() const { return mu_; }
  const Tensor& logvar() const { return logvar_; }
  /// σ (kept exactly as given by from_scale, else exp(½·logvar)).
  const Tensor& scale() const { return scale_; }
  /// σ².
  Tensor variance() const;
  /// Latent size D (the last extent).
  int64_t dim() const { return mu_.size(-1); }
  /// Batch size B (the first extent; mean must be at least 1-D).
  int64_t batch() const { return mu_.dim() > 1 ? mu_.size(0) : 1; }

  /// One reparameterised draw μ + σ·ε with the mean's shape.
  Tensor rsample(Generator& gen) const;
  /// K reparameterised draws stacked in a new leading axis: (K, ..., D).
  Tensor rsample(Generator& gen, int64_t k) const;
  /// rsample(gen) (k = 0) or rsample(gen, k) for rows `w.start`.. of a batch of `w.batch` rows
  /// (BatchWindow): the same values as those rows of the whole batch's draw.
  Tensor rsample(Generator& gen, int64_t k, const BatchWindow& w) const;
  /// Per-dimension log-density; z broadcasts against the mean (e.g. (K, B, D) vs (B, D)).
  Tensor log_prob(const Tensor& z) const;
  /// log q(z) summed over the last (latent) dimension.
  Tensor log_prob_sum(const Tensor& z) const;
  /// Per-dimension entropy ½·(1 + log 2π + log σ²), the mean's shape.
  Tensor entropy() const;
  /// The same distribution with detached parameters.
  DiagonalGaussian detach() const;

 private:
  Tensor mu_, logvar_, scale_;
};

}  // namespace unravel
