// Observation models log p(x | decoder output), summed over every non-batch element of x so the
// result is one log-likelihood per datapoint. x has shape (B, ...); the decoder output may carry
// extra leading axes (e.g. K samples: (K, B, ...)), which are kept: the output has the decoder
// output's shape minus x's trailing (non-batch) dimensions.
//
//   Bernoulli on logits l:  log p = x·l − softplus(l)            (stable for any |l|)
//   Gaussian, scale σ:      log p = −½·((x−μ)/σ)² − log σ − ½·log 2π
//   Laplace, scale b:       log p = −|x−μ|/b − log(2b)
#pragma once
#include <string>
#include <vector>

#include "engine/registry_entry.h"
#include "engine/tensor.h"

namespace unravel {

/// Σ_pixels log Bernoulli(x; sigmoid(logits)); x may be fractional (the cross-entropy form).
Tensor bernoulli_log_prob(const Tensor& x, const Tensor& logits);
/// Σ_pixels log N(x; mean, scale²) with a fixed scale.
Tensor gaussian_log_prob(const Tensor& x, const Tensor& mean, double scale);
/// Σ_pixels log N(x; mean, exp(log_scale)²) with a learned (broadcastable) log-scale.
Tensor gaussian_log_prob(const Tensor& x, const Tensor& mean, const Tensor& log_scale);
/// Σ_pixels log Laplace(x; loc, scale) with a fixed scale.
Tensor laplace_log_prob(const Tensor& x, const Tensor& loc, double scale);

enum class LikelihoodKind { bernoulli, gaussian, laplace };

/// Every likelihood name with its meaning, in listing order (the one list of them: from_name,
/// name(), `unravel list` and error messages read it).
const std::vector<RegistryEntry>& likelihood_entries();

/// A likelihood chosen by name: "bernoulli", "gaussian" (fixed `scale`, or a learned
/// log-scale passed to log_prob), "laplace" (fixed `scale`).
struct Likelihood {
  LikelihoodKind kind = LikelihoodKind::bernoulli;
  double scale = 1.0;  ///< fixed scale for gaussian / laplace

  /// From a name; throws listing the valid names for an unknown one.
  static Likelihood from_name(const std::string& name, double scale = 1.0);
  /// Σ_pixels log p(x | param) per datapoint; `log_scale` (Gaussian only) overrides `scale`.
  Tensor log_prob(const Tensor& x, const Tensor& param, const Tensor& log_scale = Tensor()) const;
  /// "bernoulli", "gaussian" or "laplace".
  std::string name() const;
};

}  // namespace unravel
