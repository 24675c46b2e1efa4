// DC-IGN (Kulkarni et al. 2015): a VAE trained on batches in which a single ground-truth factor
// varies. Latent j is assigned to factor j (j < number of factors; further latents belong to no
// factor). For a batch in which factor k varies (set_batch_factor(k), drawn by the training
// loop from the dataset's factor grid), every latent but k is clamped between encoder and
// decoder by batch_mean_clamp (ops/nn_ops.h, §3.2 of the paper): forward, it is replaced by its
// batch mean; backward, its gradient is replaced by grad_scale/B · (z − batch mean) (grad_scale
// · (z − mean) under sum_over_batch), which pulls the clamped codes of the batch together, so
// those latents become invariant to factor k. Latent k sees the decoder's gradient as usual.
// The loss is the ELBO with β from the controller: per datapoint −rec + β·kl (KL of the
// unclamped posterior, as the paper's KL term is per z_i). Without a factor (k = −1, e.g. an
// ordinary batcher in bench) nothing is clamped: a plain (β-)VAE step.
#pragma once
#include <vector>

#include "objectives/losses/objective.h"

namespace unravel {

class DcignObjective : public Objective {
 public:
  /// `latents` D ≥ `factors` K ≥ 1; grad_scale ≥ 0.
  DcignObjective(int64_t latents, int64_t factors, double grad_scale, ObjectiveOptions opt = {});
  std::string name() const override { return "dcign"; }
  std::string batch_coupling() const override {
    return "DC-IGN clamps latents to their batch mean, which couples the batch";
  }
  VaeOutputs outputs(models::Vae& vae, const Tensor& x, Generator& gen, int64_t samples) override;
  LossTerms compute(const ObjectiveInput& in, const Schedule& schedule, Generator& gen) override;
  bool wants_factor_batches() const override { return true; }
  void set_batch_factor(int k) override;
  /// The factor the current batches vary (−1 = none).
  int batch_factor() const { return factor_; }
  /// The (D) mask of the current factor on the host: 1 = active, 0 = clamped.
  const std::vector<float>& mask() const { return host_mask_; }

 private:
  int64_t latents_, factors_;
  double grad_scale_;
  int factor_ = -1;
  std::vector<float> host_mask_;
  Tensor mask_;  ///< host_mask_ on the device, written in place (a recorded step reads it)
};

}  // namespace unravel
