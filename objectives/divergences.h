// KL(q(z|x) ‖ p(z)) per datapoint, the aggregate divergences D(q(z), p(z)) of Mathieu et al.'s
// α term, and the total-correlation decomposition of β-TCVAE (Chen et al. 2018).
//
// Per-datapoint KL: closed form when the prior has one (Gaussian posteriors against the iso /
// aniso Gaussian priors), else Monte Carlo on the SAME reparameterised samples z (K, B, D) used
// for the reconstruction: KL ≈ mean_k [log q(z_k|x) − log p(z_k)].
//
// Aggregate divergences (scalars for a minibatch of B posteriors):
//  * kld_inc   KL(p(z) ‖ q(z)) with q(z) ≈ (1/B)Σ_j q(z|x_j): draw z_i ~ p, D = mean_i[log p(z_i)
//              − logmeanexp_j log q(z_i|x_j)]  (B×B×D log-densities).
//  * mmd_dim   MMD² with an additive per-dimension IMQ kernel k(a, b) = Σ_d Σ_s C_s/(C_s + (a_d −
//              b_d)²), C_s = 2·s, s ∈ {0.1, 0.2, 0.5, 1, 2, 5}; X = B prior draws, Y = the
//              posterior samples (K = 1):
//              [Σ_{i≠j}(k(x_i,x_j) + k(y_i,y_j))/(B−1) − 2·Σ_{i,j} k(x_i,y_j)/B] / B.
//  * mmd_full  the same estimator with the IMQ kernel on the whole vector, C_s = 2·D·s (so it
//              reduces to mmd_dim's kernel for D = 1).
//  * kl_mws    KL(q(z) ‖ p(z)) = mean_i[log q̂(z_i) − log p(z_i)] with q̂ the minibatch mixture
//              (1/B)Σ_j q(z_i|x_j) on the posterior samples. Chen et al.'s published MWS uses
//              −log(N·B) instead of −log B, which shifts log q̂ by −log N and would put D at
//              −log N when q = p; the aggregate divergence is normalised so that D ≈ 0 at q = p.
//
// TC decomposition: E KL(q(z|x)‖p(z)) = MI + TC + dwKL with MI = E[log q(z|x) − log q(z)],
// TC = E[log q(z) − Σ_d log q(z_d)], dwKL = E[Σ_d log q(z_d) − log p(z)], q(z) estimated from the
// B×B×D table by
//  * MWS (minibatch weighted sampling, as published): log q̂(z_i) = logsumexp_j log q(z_i|x_j)
//    − log(N·B), likewise per dimension. Relative to a normalised mixture this shifts MI by
//    +log N, TC by +(D−1)·log N and dwKL by −D·log N (constants: gradients are unaffected);
//  * MSS (minibatch stratified sampling): log q̂(z_i) = logsumexp_j [log W_ij + log q(z_i|x_j)]
//    with the weight matrix of `log_importance_weight_matrix` (rows sum to 1).
#pragma once
#include <memory>
#include <string>

#include "engine/random.h"
#include "ops/distributions.h"
#include "objectives/priors/prior.h"

namespace unravel {

/// Monte-Carlo KL per datapoint: mean_k[log q(z_k|x) − log p(z_k)] summed over dims; z is
/// (K, B, D) or (B, D). Returns (B).
Tensor kl_monte_carlo(const DiagonalGaussian& q, const Prior& p, const Tensor& z);
/// Per-datapoint KL (B): analytic when p.analytic_kl(q) exists, else kl_monte_carlo on z.
Tensor kl_divergence(const DiagonalGaussian& q, const Prior& p, const Tensor& z);
/// Per-dimension KL (B, D): analytic, or the per-dimension Monte-Carlo estimate for factorised
/// priors; throws for a non-factorised prior without a closed form.
Tensor kl_divergence_dims(const DiagonalGaussian& q, const Prior& p, const Tensor& z);

/// The first sample (B, D) of z (K, B, D), or z itself when it is (B, D).
Tensor first_sample(const Tensor& z);

/// KL(p ‖ q_mixture) from prior draws zp (B', D) and the minibatch posteriors q (B, D).
Tensor kld_inc(const DiagonalGaussian& q, const Prior& p, const Tensor& prior_samples);
/// Mathieu et al.'s per-dimension IMQ MMD² between x (B, D) and y (B, D).
Tensor mmd_dim(const Tensor& x, const Tensor& y);
/// IMQ MMD² on the full vector between x (B, D) and y (B, D).
Tensor mmd_full(const Tensor& x, const Tensor& y);
/// Aggregate KL(q(z) ‖ p(z)) with the normalised minibatch mixture on samples z (B, D).
Tensor kl_mws(const DiagonalGaussian& q, const Tensor& z, const Prior& p);

/// An estimator of D(q(z), p(z)) chosen by name ("kld_inc", "mmd_dim", "mmd_full", "kl_mws").
class AggregateDivergence {
 public:
  virtual ~AggregateDivergence() = default;
  virtual std::string name() const = 0;
  /// Scalar D for posteriors q (B, D) with their samples z ((K, B, D) or (B, D)) against p;
  /// prior draws (when needed) come from gen.
  virtual Tensor operator()(const DiagonalGaussian& q, const Tensor& z, const Prior& p,
                            Generator& gen) const = 0;
};

/// Makes an estimator by name; throws listing the valid names for an unknown one.
std::unique_ptr<AggregateDivergence> make_aggregate_divergence(const std::string& name);

enum class TcSampling { mws, mss };

/// Batch-mean terms of the TC decomposition plus the per-datapoint estimates behind them (B).
struct TcDecomposition {
  Tensor mi, tc, dwkl;                             ///< scalars
  Tensor log_qz_x, log_qz, log_prod_qz, log_pz;    ///< (B)
};

/// log W (B, B) for minibatch stratified sampling with dataset size N. With m = B − 1 and
/// S = (N − m)/(N·m): W_ii = 1/N (z_i's own datapoint), W_{i,(i+1) mod B} = S, else 1/m; each
/// row sums to 1 (Chen et al. 2018, App. C.2). See the .cpp for how this differs from the
/// published code.
Tensor log_importance_weight_matrix(int64_t batch, int64_t dataset_size,
                                    DType dtype = DType::f32, Device device = kCPU);
/// The decomposition on one sample per datapoint z (B, D) (or the first of (K, B, D)).
TcDecomposition tc_decomposition(const DiagonalGaussian& q, const Tensor& z, const Prior& p,
                                 int64_t dataset_size, TcSampling sampling);

}  // namespace unravel
