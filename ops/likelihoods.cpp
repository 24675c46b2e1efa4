// Per-datapoint log-likelihoods of the observation models (see likelihoods.h).
#include "ops/likelihoods.h"

#include <cmath>

#include "ops/distributions.h"
#include "ops/ops.h"

namespace unravel {

namespace {
constexpr double kLog2Pi = 1.8378770664093454836;

// Sums the trailing x.dim() − 1 axes of `t` (the pixels of each datapoint).
Tensor sum_pixels(const Tensor& t, const Tensor& x, const char* fn) {
  UNRAVEL_CHECK(x.dim() >= 1, "{}: x needs a batch dimension, got {}", fn, x.desc());
  UNRAVEL_CHECK(t.dim() >= x.dim(), "{}: decoder output {} has fewer dims than x {}", fn, t.desc(),
                x.desc());
  for (int64_t i = 1; i < x.dim(); ++i)
    UNRAVEL_CHECK(t.size(t.dim() - x.dim() + i) == x.size(i),
                  "{}: decoder output {} does not end in x's pixel shape {}", fn, t.desc(), x.desc());
  Axes axes;
  for (int64_t i = t.dim() - x.dim() + 1; i < t.dim(); ++i) axes.push_back(i);
  if (axes.empty()) return t;
  return sum(t, axes);
}
}  // namespace

Tensor bernoulli_log_prob(const Tensor& x, const Tensor& logits) {
  Tensor xm = match_like(x, logits);
  return sum_pixels(xm * logits - softplus(logits), x, "bernoulli_log_prob");
}

Tensor gaussian_log_prob(const Tensor& x, const Tensor& mean, double scale) {
  UNRAVEL_CHECK(scale > 0, "gaussian_log_prob: scale must be positive, got {}", scale);
  Tensor xm = match_like(x, mean);
  Tensor lp = square((xm - mean) * (1.0 / scale)) * -0.5 - (std::log(scale) + 0.5 * kLog2Pi);
  return sum_pixels(lp, x, "gaussian_log_prob");
}

Tensor gaussian_log_prob(const Tensor& x, const Tensor& mean, const Tensor& log_scale) {
  Tensor xm = match_like(x, mean);
  Tensor ls = match_like(log_scale, mean);
  Tensor lp = square((xm - mean) * exp(-ls)) * -0.5 - ls - 0.5 * kLog2Pi;
  // lp has the full pixel shape (x − mean broadcasts), so a per-channel log-scale counts once
  // per pixel.
  return sum_pixels(lp, x, "gaussian_log_prob");
}

Tensor laplace_log_prob(const Tensor& x, const Tensor& loc, double scale) {
  UNRAVEL_CHECK(scale > 0, "laplace_log_prob: scale must be positive, got {}", scale);
  Tensor xm = match_like(x, loc);
  Tensor lp = abs(xm - loc) * (-1.0 / scale) - std::log(2.0 * scale);
  return sum_pixels(lp, x, "laplace_log_prob");
}

Likelihood Likelihood::from_name(const std::string& name, double scale) {
  Likelihood l;
  l.scale = scale;
  if (name == "bernoulli") l.kind = LikelihoodKind::bernoulli;
  else if (name == "gaussian") l.kind = LikelihoodKind::gaussian;
  else if (name == "laplace") l.kind = LikelihoodKind::laplace;
  else UNRAVEL_CHECK(false, "likelihood: unknown name '{}' (valid: bernoulli, gaussian, laplace)", name);
  UNRAVEL_CHECK(scale > 0, "likelihood '{}': scale must be positive, got {}", name, scale);
  return l;
}

Tensor Likelihood::log_prob(const Tensor& x, const Tensor& param, const Tensor& log_scale) const {
  switch (kind) {
    case LikelihoodKind::bernoulli: return bernoulli_log_prob(x, param);
    case LikelihoodKind::gaussian:
      return log_scale.defined() ? gaussian_log_prob(x, param, log_scale)
                                 : gaussian_log_prob(x, param, scale);
    case LikelihoodKind::laplace: return laplace_log_prob(x, param, scale);
  }
  UNRAVEL_CHECK(false, "Likelihood::log_prob: bad kind");
}

std::string Likelihood::name() const {
  switch (kind) {
    case LikelihoodKind::bernoulli: return "bernoulli";
    case LikelihoodKind::gaussian: return "gaussian";
    case LikelihoodKind::laplace: return "laplace";
  }
  return "?";
}

}  // namespace unravel
