// Per-datapoint log-likelihoods of the observation models (see likelihoods.h).
#include "ops/likelihoods.h"

#include <cmath>

#include <fmt/ranges.h>

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

namespace {
// Every likelihood, listed once: name, meaning, kind (from_name and name() read this table).
struct LikelihoodName {
  RegistryEntry entry;
  LikelihoodKind kind;
};
const std::vector<LikelihoodName>& likelihood_table() {
  static const std::vector<LikelihoodName> t = {
      {{"bernoulli", "Bernoulli on logits, for binary or [0,1] images"}, LikelihoodKind::bernoulli},
      {{"gaussian", "Gaussian with a fixed scale, or a log-scale the decoder outputs (pinwheel-mlp)"},
       LikelihoodKind::gaussian},
      {{"laplace", "Laplace with a fixed scale"}, LikelihoodKind::laplace},
  };
  return t;
}
}  // namespace

const std::vector<RegistryEntry>& likelihood_entries() {
  static const std::vector<RegistryEntry> e = [] {
    std::vector<RegistryEntry> v;
    for (const auto& l : likelihood_table()) v.push_back(l.entry);
    return v;
  }();
  return e;
}

Likelihood Likelihood::from_name(const std::string& name, double scale) {
  Likelihood l;
  l.scale = scale;
  const LikelihoodName* found = nullptr;
  for (const auto& t : likelihood_table())
    if (t.entry.name == name) found = &t;
  UNRAVEL_CHECK(found != nullptr, "likelihood: unknown name '{}' (valid: {})", name,
                fmt::join(names_of(likelihood_entries()), ", "));
  l.kind = found->kind;
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
  for (const auto& t : likelihood_table())
    if (t.kind == kind) return t.entry.name;
  return "?";
}

}  // namespace unravel
