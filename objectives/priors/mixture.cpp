// Mixture-of-Gaussians prior (see mixture.h).
#include "objectives/priors/mixture.h"

#include <cmath>

#include "ops/ops.h"

namespace unravel {

MixtureOfGaussiansPrior::MixtureOfGaussiansPrior(const std::vector<double>& weights,
                                                 const std::vector<double>& means,
                                                 const std::vector<double>& scales, int64_t dim,
                                                 bool learnable, DType dtype)
    : Prior(dtype), dim_(dim), k_(static_cast<int64_t>(weights.size())), learnable_(learnable) {
  UNRAVEL_CHECK(dim >= 1 && k_ >= 1, "mog prior: need D >= 1 and K >= 1, got D {} K {}", dim, k_);
  UNRAVEL_CHECK(static_cast<int64_t>(means.size()) == k_ * dim &&
                    static_cast<int64_t>(scales.size()) == k_ * dim,
                "mog prior: K = {}, D = {} needs {} means and scales, got {} and {}", k_, dim,
                k_ * dim, means.size(), scales.size());
  std::vector<double> lw, ls;
  for (double w : weights) {
    UNRAVEL_CHECK(w > 0, "mog prior: weights must be positive, got {}", w);
    lw.push_back(std::log(w));
  }
  for (double s : scales) {
    UNRAVEL_CHECK(s > 0, "mog prior: scales must be positive, got {}", s);
    ls.push_back(std::log(s));
  }
  weight_logits_ = to(Tensor::from_vector(lw, Shape{k_}), dtype);
  means_ = to(Tensor::from_vector(means, Shape{k_, dim}), dtype);
  log_scales_ = to(Tensor::from_vector(ls, Shape{k_, dim}), dtype);
  if (learnable) {
    weight_logits_.set_requires_grad(true);
    means_.set_requires_grad(true);
    log_scales_.set_requires_grad(true);
  }
}

MixtureOfGaussiansPrior MixtureOfGaussiansPrior::pinwheel(double variance_scale, bool learnable,
                                                          DType dtype) {
  const double s = std::sqrt(variance_scale * 2.0 * 0.5);
  return MixtureOfGaussiansPrior({1, 1, 1, 1}, {0, -1, 0, 1, 1, 0, -1, 0},
                                 {s, s, s, s, s, s, s, s}, 2, learnable, dtype);
}

Tensor MixtureOfGaussiansPrior::log_weights() const {
  return weight_logits_ - logsumexp(weight_logits_, {0}, true);
}

Tensor MixtureOfGaussiansPrior::scales() const { return exp(log_scales_); }

Tensor MixtureOfGaussiansPrior::log_prob(const Tensor&) const {
  UNRAVEL_CHECK(false, "mog prior: not factorised, so there is no per-dimension log_prob; use "
                       "log_prob_sum");
}

Tensor MixtureOfGaussiansPrior::log_prob_sum(const Tensor& z) const {
  check_z(z, "log_prob_sum");
  // (..., 1, D) against (K, D) → (..., K, D) → Σ_d → (..., K).
  Tensor zk = unsqueeze(z, -2);
  Tensor ls = match_like(log_scales_, z);
  Tensor comp = sum(gaussian_log_density(zk, match_like(means_, z), ls * 2.0), {-1});
  return logsumexp(comp + match_like(log_weights(), z), {-1});
}

Tensor MixtureOfGaussiansPrior::sample(const Shape& batch, Generator& gen) const {
  int64_t n = numel(batch);
  // One-hot component choice (n, K): u < cum_k and not u < cum_{k-1}.
  Tensor w;
  {
    NoGradGuard ng;
    w = to(exp(log_weights()), DType::f64);
  }
  std::vector<double> wv = w.to_vector<double>(), cum(static_cast<size_t>(k_));
  double acc = 0;
  for (int64_t k = 0; k < k_; ++k) cum[static_cast<size_t>(k)] = (acc += wv[static_cast<size_t>(k)]);
  cum.back() = 1.0 + 1e-12;
  Tensor u = uniform(Shape{n, 1}, gen, 0.0, 1.0, DType::f64);
  Tensor hi = lt(u, Tensor::from_vector(cum, Shape{1, k_}));
  std::vector<double> prev(static_cast<size_t>(k_), 0.0);
  for (int64_t k = 1; k < k_; ++k) prev[static_cast<size_t>(k)] = cum[static_cast<size_t>(k - 1)];
  Tensor lo = lt(u, Tensor::from_vector(prev, Shape{1, k_}));
  Tensor onehot = to(to(hi, dtype_) - to(lo, dtype_), dtype_);  // (n, K)
  Tensor eps = normal(Shape{n, dim_}, gen, 0.0, 1.0, dtype_);
  // Σ_k onehot_k·(μ_k + σ_k·ε): (n, K, 1) · (K, D) summed over K.
  Tensor oh = unsqueeze(onehot, -1);
  Tensor mu = sum(oh * means_, {1});
  Tensor sd = sum(oh * scales(), {1});
  Tensor z = mu + sd * eps;
  return reshape(z, sample_shape(batch));
}

TensorList MixtureOfGaussiansPrior::parameters() const {
  if (learnable_) return {weight_logits_, means_, log_scales_};
  return {};
}

}  // namespace unravel
