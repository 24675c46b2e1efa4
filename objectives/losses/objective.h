// The objective interface: a pure function from the model's outputs (no network code), the
// prior, the per-datapoint KL (computed once per step) and the controller's {β, C} to named
// scalar terms for logging plus the total loss to minimise. Everything stays on the outputs'
// device; nothing is read back unless a caller asks for values().
//
// Conventions shared by every objective:
//  * recon = E_q[log p(x|z)] per datapoint (summed over pixels, averaged over the K samples);
//    kl = KL(q(z|x) ‖ p(z)) per datapoint (closed form or MC on the same samples, divergences.h).
//  * Logged terms are batch means per datapoint ("recon" is the negative log-likelihood, so every
//    logged term is a cost). `total` (the tensor minimised) is the batch mean of the
//    per-datapoint loss, or the batch sum when sum_over_batch (Mathieu et al.'s convention;
//    batch-level regularisers such as α·D then enter as B·α·D). Its logged value
//    (LossTerms::values) is always per datapoint, so it sits on the same scale as recon and kl.
//  * β and C arrive as 0-d device tensors (objectives/controllers/controller.h); which knob each
//    objective reads is listed in its header.
//  * An objective is an nn::Module: parameters it owns (FactorVAE's discriminator) have stable
//    checkpoint names and move with to(Device); they are trained by its auxiliary updates, each
//    with its own optimiser, never by the main one.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"
#include "models/nn/module.h"
#include "models/vae.h"
#include "objectives/controllers/controller.h"
#include "objectives/priors/prior.h"

namespace unravel {

/// What an objective reads for one batch.
struct ObjectiveInput {
  const VaeOutputs& out;
  const Prior& prior;
  Tensor kl;  ///< KL(q(z|x) ‖ p(z)) per datapoint (B): posterior_kl(out, prior), once per step
};

/// The input with its KL computed.
ObjectiveInput objective_input(const VaeOutputs& out, const Prior& prior);

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
  /// Every term and then "total" (per datapoint) as one-element tensors on their device, in the
  /// order values() reports them (nothing read back).
  std::vector<std::pair<std::string, Tensor>> scalars() const;
  /// scalars() read back as numbers in one transfer, for logs.
  std::vector<std::pair<std::string, double>> values() const;
};

/// Options common to every objective.
struct ObjectiveOptions {
  bool sum_over_batch = false;  ///< total = Σ over the batch instead of the mean
};

/// A second optimisation problem trained alongside the VAE with its own parameters and
/// optimiser, run after the main update of each step (FactorVAE's discriminator; a GAN's
/// discriminator when the generator is the main update).
class AuxiliaryUpdate {
 public:
  virtual ~AuxiliaryUpdate() = default;
  /// Short name, [a-z0-9_]+: its optimiser's checkpoint prefix ("disc").
  virtual std::string name() const = 0;
  /// What it is, for messages ("FactorVAE discriminator optimiser").
  virtual std::string description() const = 0;
  /// The parameters its optimiser trains.
  virtual TensorList parameters() const = 0;
  /// Its loss on this step's (already updated-from) outputs; the terms are logged beside the
  /// main ones.
  virtual LossTerms loss(const ObjectiveInput& in, Generator& gen) = 0;

  // Data-parallel form (objectives/training/train_step.h, micro-shards): the update sees the
  // whole batch through batch_inputs, drawn once per step from the whole batch's detached first
  // posterior samples (gathered from every process, so every process draws the same numbers),
  // and its loss is a mean over rows of those inputs, computed per micro-shard.
  /// Whether the update has the data-parallel form (if not, micro-shards are refused).
  virtual bool shardable() const { return false; }
  /// Whole-batch inputs (each with B rows, detached) from z (B, D): every random draw of the
  /// update happens here.
  virtual TensorList batch_inputs(const Tensor& z, Generator& gen);
  /// The loss on some rows of batch_inputs (each input sliced to the same rows): a mean over
  /// them, so the whole batch's loss is the mean over equal micro-shards. Draws nothing.
  virtual LossTerms shard_loss(const TensorList& rows);
};

class Objective : public nn::Module {
 public:
  explicit Objective(ObjectiveOptions opt = {}) : opt_(opt) {}
  /// Registry name.
  virtual std::string name() const = 0;
  std::string type_name() const override { return "Objective"; }
  /// Loss terms for one batch.
  virtual LossTerms compute(const ObjectiveInput& in, const Schedule& schedule, Generator& gen) = 0;
  /// The outputs a training step computes for batch x: the VAE's forward with K samples by
  /// default. DC-IGN clamps the codes between encoder and decoder; InfoGAN generates images from
  /// sampled codes and reads them back through the discriminator's Q head.
  virtual VaeOutputs outputs(models::Vae& vae, const Tensor& x, Generator& gen, int64_t samples);
  /// Called once by TrainState with the model the objective trains (InfoGAN checks it is an
  /// InfoGAN network and hands D's parameters to its auxiliary update); a no-op by default.
  virtual void bind_model(models::Vae& vae) { (void)vae; }
  /// True when the objective trains on batches in which a single ground-truth factor varies
  /// (DC-IGN); the training loop then draws such batches and calls set_batch_factor(k) with the
  /// varying factor before each step.
  virtual bool wants_factor_batches() const { return false; }
  /// The factor that varies in the next batch (see wants_factor_batches); −1 = none (all free).
  virtual void set_batch_factor(int k);
  /// Updates with their own optimisers (empty for most objectives).
  virtual std::vector<AuxiliaryUpdate*> auxiliary_updates() { return {}; }
  /// Empty when the batch may be split into micro-shards (data-parallel training): `total` is
  /// the batch mean (or sum) of per-datapoint losses that read only their own datapoint and
  /// β, C, and compute() draws no random numbers. Otherwise what couples the batch, for the
  /// refusal message. The default is conservative: an objective must declare itself.
  virtual std::string batch_coupling() const {
    return "it does not declare its loss a mean of per-datapoint terms";
  }
  const ObjectiveOptions& options() const { return opt_; }

 protected:
  /// Batch reduction of a per-datapoint loss (B): mean, or sum when sum_over_batch.
  Tensor reduce(const Tensor& per_point) const;
  /// Scale for batch-level (scalar) terms: B when sum_over_batch else 1.
  double batch_scale(const VaeOutputs& out) const;
  /// Empty terms whose total_items matches reduce() (every compute() starts from this).
  LossTerms new_terms(const VaeOutputs& out) const;
  /// The β-weighted negative ELBO that most objectives build on: checks the outputs (errors name
  /// `who`), total = reduce(β·KL − log p(x|z) [+ extra]) with `extra` an optional per-datapoint
  /// (B) term, and the "recon" and "kl" terms (batch means).
  LossTerms beta_elbo(const ObjectiveInput& in, const Schedule& schedule, const char* who,
                      const Tensor& extra = Tensor()) const;
  ObjectiveOptions opt_;
};

/// Checks the outputs' shapes against the prior; names `who` in errors.
void check_outputs(const VaeOutputs& out, const Prior& prior, const char* who);
/// log p(x|z) per datapoint (B), averaged over K samples.
Tensor reconstruction_log_lik(const VaeOutputs& out);
/// KL(q(z|x) ‖ p(z)) per datapoint (B).
Tensor posterior_kl(const VaeOutputs& out, const Prior& prior);

}  // namespace unravel
