// Diagonal Gaussian posterior and Gaussian log-density helpers (see distributions.h).
#include "ops/distributions.h"

#include <cmath>
#include <numbers>

#include "ops/ops.h"

namespace unravel {

namespace {
constexpr double kLog2Pi = 1.8378770664093454836;  // log(2π)

void check_same_shape(const Tensor& a, const Tensor& b, const char* fn) {
  UNRAVEL_CHECK(a.defined() && b.defined(), "{}: undefined mean or scale", fn);
  UNRAVEL_CHECK(a.shape() == b.shape(), "{}: mean {} and scale {} must have the same shape", fn,
                a.desc(), b.desc());
  UNRAVEL_CHECK(a.dim() >= 1, "{}: needs at least a latent dimension, got {}", fn, a.desc());
}
}  // namespace

Tensor match_like(const Tensor& t, const Tensor& like) {
  Tensor r = t;
  if (r.dtype() != like.dtype()) r = to(r, like.dtype());
  if (r.device() != like.device()) r = to(r, like.device());
  return r;
}

Tensor gaussian_log_density(const Tensor& z, const Tensor& mu, const Tensor& logvar) {
  Tensor d = z - mu;
  return (square(d) * exp(-logvar) + logvar + kLog2Pi) * -0.5;
}

Tensor gaussian_log_density_scale(const Tensor& z, const Tensor& mu, const Tensor& scale) {
  Tensor u = (z - mu) / scale;
  return square(u) * -0.5 - log(scale) - 0.5 * kLog2Pi;
}

Tensor gaussian_log_density_scale(const Tensor& z, const Tensor& mu, double scale) {
  UNRAVEL_CHECK(scale > 0, "gaussian_log_density_scale: scale must be positive, got {}", scale);
  Tensor u = (z - mu) * (1.0 / scale);
  return square(u) * -0.5 - (std::log(scale) + 0.5 * kLog2Pi);
}

Tensor pairwise_log_density(const Tensor& z, const Tensor& mu, const Tensor& logvar) {
  UNRAVEL_CHECK(z.dim() == 2 && mu.dim() == 2 && mu.shape() == logvar.shape() &&
                    z.size(1) == mu.size(1),
                "pairwise_log_density: want z (M, D), mu/logvar (N, D); got z {}, mu {}, logvar {}",
                z.desc(), mu.desc(), logvar.desc());
  // (M, 1, D) against (1, N, D).
  return gaussian_log_density(unsqueeze(z, 1), unsqueeze(mu, 0), unsqueeze(logvar, 0));
}

DiagonalGaussian DiagonalGaussian::from_logvar(const Tensor& mu, const Tensor& logvar) {
  check_same_shape(mu, logvar, "DiagonalGaussian::from_logvar");
  DiagonalGaussian q;
  q.mu_ = mu;
  q.logvar_ = logvar;
  q.scale_ = exp(logvar * 0.5);
  return q;
}

DiagonalGaussian DiagonalGaussian::from_scale(const Tensor& mu, const Tensor& scale) {
  check_same_shape(mu, scale, "DiagonalGaussian::from_scale");
  DiagonalGaussian q;
  q.mu_ = mu;
  q.scale_ = scale;
  q.logvar_ = log(scale) * 2.0;
  return q;
}

Tensor DiagonalGaussian::variance() const { return square(scale_); }

Tensor DiagonalGaussian::rsample(Generator& gen) const {
  UNRAVEL_CHECK(mu_.defined(), "DiagonalGaussian::rsample: empty distribution");
  return mu_ + scale_ * randn_like(mu_, gen);
}

Tensor DiagonalGaussian::rsample(Generator& gen, int64_t k) const {
  UNRAVEL_CHECK(mu_.defined(), "DiagonalGaussian::rsample: empty distribution");
  UNRAVEL_CHECK(k >= 1, "DiagonalGaussian::rsample: K must be >= 1, got {}", k);
  Shape s;
  s.push_back(k);
  for (int64_t e : mu_.shape()) s.push_back(e);
  Tensor eps = normal(s, gen, 0.0, 1.0, mu_.dtype(), mu_.device());
  return unsqueeze(mu_, 0) + unsqueeze(scale_, 0) * eps;
}

Tensor DiagonalGaussian::rsample(Generator& gen, int64_t k, const BatchWindow& w) const {
  UNRAVEL_CHECK(mu_.defined() && mu_.dim() >= 1, "DiagonalGaussian::rsample: empty distribution");
  UNRAVEL_CHECK(k >= 0, "DiagonalGaussian::rsample: K must be >= 0, got {}", k);
  const int64_t rows = mu_.size(0);
  UNRAVEL_CHECK(w.start >= 0 && w.start + rows <= w.batch,
                "DiagonalGaussian::rsample: rows [{}, {}) do not fit a batch of {}", w.start,
                w.start + rows, w.batch);
  // The whole batch draws K planes of batch·row numbers (one plane when k = 0); these rows take
  // their part of each plane.
  const uint64_t row = static_cast<uint64_t>(mu_.numel() / std::max<int64_t>(rows, 1));
  const uint64_t plane = static_cast<uint64_t>(w.batch) * row, base = gen.offset();
  const int64_t planes = std::max<int64_t>(k, 1);
  TensorList eps;
  for (int64_t p = 0; p < planes; ++p) {
    Generator g(gen.seed(), base + static_cast<uint64_t>(p) * plane +
                                static_cast<uint64_t>(w.start) * row);
    eps.push_back(normal(mu_.shape(), g, 0.0, 1.0, mu_.dtype(), mu_.device()));
  }
  gen.set_offset(base + static_cast<uint64_t>(planes) * plane);
  if (k == 0) return mu_ + scale_ * eps[0];
  return unsqueeze(mu_, 0) + unsqueeze(scale_, 0) * stack(eps, 0);
}

Tensor DiagonalGaussian::log_prob(const Tensor& z) const {
  UNRAVEL_CHECK(z.defined() && z.size(-1) == dim(),
                "DiagonalGaussian::log_prob: z {} does not end in the latent size {}",
                z.defined() ? z.desc() : "undefined", dim());
  return gaussian_log_density(z, mu_, logvar_);
}

Tensor DiagonalGaussian::log_prob_sum(const Tensor& z) const { return sum(log_prob(z), {-1}); }

Tensor DiagonalGaussian::entropy() const { return (logvar_ + (1.0 + kLog2Pi)) * 0.5; }

DiagonalGaussian DiagonalGaussian::detach() const {
  DiagonalGaussian q;
  q.mu_ = mu_.detach();
  q.logvar_ = logvar_.detach();
  q.scale_ = scale_.detach();
  return q;
}

}  // namespace unravel
