#include "models/vae.h"

#include "engine/check.h"
#include "ops/ops.h"

namespace unravel::models {

Vae::Vae(std::shared_ptr<Encoder> enc, std::shared_ptr<Decoder> dec, int64_t latents,
         Shape data_shape, Likelihood likelihood, bool learned_scale)
    : enc_(register_module("enc", std::move(enc))), dec_(register_module("dec", std::move(dec))),
      latents_(latents), data_shape_(data_shape), likelihood_(likelihood),
      learned_scale_(learned_scale) {}

DiagonalGaussian Vae::encode(const Tensor& x) {
  UNRAVEL_CHECK(x.dim() == data_shape_.size() + 1,
                "Vae::encode: input {} should be a batch of {} datapoints", x.desc(),
                data_shape_.str());
  for (int d = 0; d < data_shape_.size(); ++d)
    UNRAVEL_CHECK(x.shape()[d + 1] == data_shape_[d],
                  "Vae::encode: input {} does not match the architecture's datapoint shape {}",
                  x.desc(), data_shape_.str());
  AnomalyScope scope(name()), inner(enc_->name());  // "vae.enc…" in anomaly messages
  DiagonalGaussian q = enc_->encode(x);
  UNRAVEL_CHECK(q.mean().dim() == 2 && q.mean().size(1) == latents_,
                "Vae::encode: encoder returned {} for {} latents", q.mean().desc(), latents_);
  return q;
}

Tensor Vae::decode(const Tensor& z, Tensor* log_scale) {
  UNRAVEL_CHECK(z.dim() >= 1 && z.size(-1) == latents_, "Vae::decode: z is {}, expected (..., {})",
                z.desc(), latents_);
  Shape lead(z.shape().begin(), z.shape().end() - 1);
  Tensor flat = reshape(z, Shape{-1, latents_});
  Tensor out;
  {
    AnomalyScope scope(name()), inner(dec_->name());
    out = dec_->decode(flat);
  }
  Tensor mean = out;
  if (learned_scale_) {
    int64_t c = out.size(1) / 2;
    mean = slice(out, 1, 0, c);
    if (log_scale) *log_scale = log(softplus(slice(out, 1, c, 2 * c)) + 1e-6);
  }
  auto unflatten = [&](const Tensor& t) {
    Shape s = lead;
    for (int d = 1; d < t.dim(); ++d) s.push_back(t.shape()[d]);
    return reshape(t, s);
  };
  if (log_scale && log_scale->defined()) *log_scale = unflatten(*log_scale);
  return unflatten(mean);
}

VaeOutputs Vae::forward(const Tensor& x, Generator& gen, int64_t k) {
  UNRAVEL_CHECK(k >= 1, "Vae::forward: K = {} samples", k);
  VaeOutputs out;
  out.x = x;
  out.likelihood = likelihood_;
  out.posterior = encode(x);
  out.z = k == 1 ? out.posterior.rsample(gen) : out.posterior.rsample(gen, k);
  out.recon = decode(out.z, learned_scale_ ? &out.recon_log_scale : nullptr);
  return out;
}

VaeOutputs Vae::forward(const Tensor& x, Generator& gen, int64_t k, const BatchWindow& window) {
  UNRAVEL_CHECK(k >= 1, "Vae::forward: K = {} samples", k);
  VaeOutputs out;
  out.x = x;
  out.likelihood = likelihood_;
  out.posterior = encode(x);
  // k = 1 draws (B, D) samples as forward() does (the window's k = 0), else (K, B, D).
  out.z = out.posterior.rsample(gen, k == 1 ? 0 : k, window);
  out.recon = decode(out.z, learned_scale_ ? &out.recon_log_scale : nullptr);
  return out;
}

}  // namespace unravel::models
