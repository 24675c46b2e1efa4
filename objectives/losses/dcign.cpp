// DC-IGN objective (see dcign.h).
#include "objectives/losses/dcign.h"

#include "engine/check.h"
#include "ops/ops.h"

namespace unravel {

DcignObjective::DcignObjective(int64_t latents, int64_t factors, double grad_scale,
                               ObjectiveOptions opt)
    : Objective(opt), latents_(latents), factors_(factors), grad_scale_(grad_scale),
      host_mask_(static_cast<size_t>(latents), 1.0f) {
  UNRAVEL_CHECK(factors >= 1 && latents >= factors,
                "objective 'dcign': needs latents >= factors >= 1 (one latent per factor), got "
                "{} latents for {} factors", latents, factors);
  UNRAVEL_CHECK(grad_scale >= 0, "objective 'dcign': grad_scale must be >= 0, got {}", grad_scale);
}

void DcignObjective::set_batch_factor(int k) {
  UNRAVEL_CHECK(k >= -1 && k < factors_, "objective 'dcign': factor {} out of range [0, {})", k,
                factors_);
  factor_ = k;
  for (int64_t j = 0; j < latents_; ++j) host_mask_[static_cast<size_t>(j)] = k < 0 || j == k ? 1.0f : 0.0f;
  if (mask_.defined()) {
    NoGradGuard ng;
    copy_(mask_, unravel::to(Tensor::from_vector(host_mask_, Shape{latents_}), mask_.device()));
  }
}

VaeOutputs DcignObjective::outputs(models::Vae& vae, const Tensor& x, Generator& gen,
                                   int64_t samples) {
  UNRAVEL_CHECK(vae.latents() == latents_, "objective 'dcign': built for {} latents, the model has {}",
                latents_, vae.latents());
  if (!mask_.defined() || mask_.device() != x.device()) {
    NoGradGuard ng;
    mask_ = unravel::to(Tensor::from_vector(host_mask_, Shape{latents_}), x.device());
  }
  VaeOutputs out;
  out.x = x;
  out.likelihood = vae.likelihood();
  out.posterior = vae.encode(x);
  out.z = samples == 1 ? out.posterior.rsample(gen) : out.posterior.rsample(gen, samples);
  const double scale =
      opt_.sum_over_batch ? grad_scale_ : grad_scale_ / static_cast<double>(x.size(0));
  Tensor mask = mask_.dtype() == out.z.dtype() ? mask_ : unravel::to(mask_, out.z.dtype());
  Tensor clamped = factor_ < 0 ? out.z : batch_mean_clamp(out.z, mask, scale);
  out.recon = vae.decode(clamped, vae.learned_scale() ? &out.recon_log_scale : nullptr);
  return out;
}

LossTerms DcignObjective::compute(const ObjectiveInput& in, const Schedule& schedule, Generator&) {
  return beta_elbo(in, schedule, "dcign");
}

}  // namespace unravel
