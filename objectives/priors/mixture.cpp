// Mixture-of-Gaussians prior (see mixture.h).
#include "objectives/priors/mixture.h"

#include <cmath>

#include "ops/ops.h"

namespace unravel {

MixtureOfGaussiansPrior::MixtureOfGaussiansPrior(const std::vector<double>& weights,
                                                 const std::vector<double>& means,
                                                 const std::vector<double>& scales, int64_t dim,
                                                 bool learnable, DType dtype)
    : Prior(dtype), dim_(dim), k_(static_cast<int64_t>(weights.size())) {
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
  auto add = [&](const char* name, const Tensor& t) {
    return learnable ? register_parameter(name, t) : register_buffer(name, t);
  };
  weight_logits_ = add("weight_logits", unravel::to(Tensor::from_vector(lw, Shape{k_}), dtype));
  means_ = add("means", unravel::to(Tensor::from_vector(means, Shape{k_, dim}), dtype));
  log_scales_ = add("log_scales", unravel::to(Tensor::from_vector(ls, Shape{k_, dim}), dtype));
}

std::unique_ptr<MixtureOfGaussiansPrior> MixtureOfGaussiansPrior::pinwheel(double variance_scale,
                                                                           bool learnable,
                                                                           DType dtype) {
  const double s = std::sqrt(variance_scale * 2.0 * 0.5);
  return std::make_unique<MixtureOfGaussiansPrior>(
      std::vector<double>{1, 1, 1, 1}, std::vector<double>{0, -1, 0, 1, 1, 0, -1, 0},
      std::vector<double>{s, s, s, s, s, s, s, s}, 2, learnable, dtype);
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
  const int64_t n = numel(batch);
  const Device dev = device();
  // One-hot component choice (n, K): u < cum_k and not u < cum_{k-1}, with the cumulative
  // weights as w @ U (U upper-triangular ones, made on the device), in f64.
  Tensor onehot;
  {
    NoGradGuard ng;
    Tensor w = unsqueeze(unravel::to(exp(log_weights()), DType::f64), 0);  // (1, K)
    Tensor i = unsqueeze(arange(k_, DType::i64, dev), 1), j = unsqueeze(arange(k_, DType::i64, dev), 0);
    Tensor cum = matmul(w, unravel::to(le(i, j), DType::f64));   // Σ_{i<=k} w_i
    Tensor prev = matmul(w, unravel::to(lt(i, j), DType::f64));  // Σ_{i<k} w_i
    // The last bound is 1 + 1e-12 so rounding never leaves a draw without a component.
    Tensor last = eq(j, Tensor::full(Shape{}, static_cast<double>(k_ - 1), DType::i64, dev));
    cum = where(last, Tensor::full(Shape{}, 1.0 + 1e-12, DType::f64, dev), cum);
    Tensor u = uniform(Shape{n, 1}, gen, 0.0, 1.0, DType::f64, dev);
    onehot = unravel::to(lt(u, cum), dtype_) - unravel::to(lt(u, prev), dtype_);  // (n, K)
  }
  Tensor eps = normal(Shape{n, dim_}, gen, 0.0, 1.0, dtype_, dev);
  // Σ_k onehot_k·(μ_k + σ_k·ε): (n, K, 1) · (K, D) summed over K.
  Tensor oh = unsqueeze(onehot, -1);
  Tensor mu = sum(oh * means_, {1});
  Tensor sd = sum(oh * scales(), {1});
  Tensor z = mu + sd * eps;
  return reshape(z, sample_shape(batch));
}

}  // namespace unravel
