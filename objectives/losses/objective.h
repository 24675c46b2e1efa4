// The objective interface: a pure function from the model's outputs (no network code) and the
// controller's {β, C} to named scalar terms for logging plus the total loss to minimise.
//
// Conventions shared by every objective:
//  * recon = E_q[log p(x|z)] per datapoint (summed over pixels, averaged over the K samples);
//    kl = KL(q(z|x) ‖ p(z)) per datapoint (closed form or MC on the same samples, divergences.h).
//  * Logged terms are batch means per datapoint ("recon" is the negative log-likelihood, so every
//    logged term is a cost). `total` (the tensor minimised) is the batch mean of the
//    per-datapoint loss, or the batch sum when sum_over_batch (Mathieu et al.'s convention;
//    batch-level regularisers such as α·D then enter as B·α·D). Its logged value
//    (LossTerms::values) is always per datapoint, so it sits on the same scale as recon and kl.
//  * Which knob each objective reads from the Schedule is listed in its header.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"
#include "objectives/controllers/controller.h"
#include "objectives/distributions.h"
#include "objectives/likelihoods.h"
#include "objectives/priors/prior.h"

namespace unravel {

/// Everything an objective needs from one forward pass.
struct VaeOutputs {
  Tensor x;                    ///< data (B, ...)
  Tensor recon;                ///< decoder output (logits / means): (K, B, ...) or (B, ...)
  Tensor recon_log_scale;      ///< learned Gaussian log-scale (optional, broadcastable)
  Likelihood likelihood;       ///< observation model
  DiagonalGaussian posterior;  ///< q(z|x) with (B, D) parameters
  Tensor z;                    ///< the samples the decoder saw: (K, B, D) or (B, D)
  const Prior* prior = nullptr;
};

/// Named scalar terms plus the total.
struct LossTerms {
  Tensor total;
  /// How many datapoints `total` is summed over (B under sum_over_batch, else 1); values()
  /// divides by it so the logged total is per datapoint whatever the reduction.
  double total_items = 1.0;
  std::vector<std::pair<std::string, Tensor>> terms;
  /// Appends a named scalar.
  void add(const std::string& name, const Tensor& value) { terms.emplace_back(name, value); }
  /// The term called `name`; throws listing the available names.
  const Tensor& get(const std::string& name) const;
  /// Every term and "total" (per datapoint) as numbers, for logs.
  std::vector<std::pair<std::string, double>> values() const;
};

/// Options common to every objective.
struct ObjectiveOptions {
  bool sum_over_batch = false;  ///< total = Σ over the batch instead of the mean
};

class Objective {
 public:
  explicit Objective(ObjectiveOptions opt = {}) : opt_(opt) {}
  virtual ~Objective() = default;
  /// Registry name.
  virtual std::string name() const = 0;
  /// Loss terms for one batch.
  virtual LossTerms compute(const VaeOutputs& out, const Schedule& schedule, Generator& gen) = 0;
  /// Parameters the objective owns (FactorVAE's discriminator), trained by their own optimiser.
  virtual TensorList parameters() const { return {}; }
  const ObjectiveOptions& options() const { return opt_; }

 protected:
  /// Batch reduction of a per-datapoint loss (B): mean, or sum when sum_over_batch.
  Tensor reduce(const Tensor& per_point) const;
  /// Scale for batch-level (scalar) terms: B when sum_over_batch else 1.
  double batch_scale(const VaeOutputs& out) const;
  /// Empty terms whose total_items matches reduce() (every compute() starts from this).
  LossTerms new_terms(const VaeOutputs& out) const;
  ObjectiveOptions opt_;
};

/// Checks the outputs' shapes and that a prior is set; names `who` in errors.
void check_outputs(const VaeOutputs& out, const char* who);
/// log p(x|z) per datapoint (B), averaged over K samples.
Tensor reconstruction_log_lik(const VaeOutputs& out);
/// KL(q(z|x) ‖ p(z)) per datapoint (B).
Tensor posterior_kl(const VaeOutputs& out);

}  // namespace unravel
