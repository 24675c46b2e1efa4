// FactorVAE objective, discriminator and permute_dims (see factor_vae.h).
#include "objectives/losses/factor_vae.h"

#include <cmath>

#include "objectives/divergences.h"
#include "ops/ops.h"

namespace unravel {

Tensor permute_dims(const Tensor& z, Generator& gen) {
  UNRAVEL_CHECK(z.dim() == 2, "permute_dims: z must be (B, D), got {}", z.desc());
  const int64_t d = z.size(1);
  TensorList cols;
  for (int64_t j = 0; j < d; ++j) cols.push_back(permutation(z.size(0), gen, z.device()));
  Tensor idx = stack(cols, 1);  // (B, D) i64: column j is π_j
  return gather(z, 0, idx);
}

TcDiscriminator::TcDiscriminator(int64_t latent, int64_t hidden, int64_t layers, Generator& gen,
                                 DType dtype) {
  UNRAVEL_CHECK(latent >= 1 && hidden >= 1 && layers >= 1,
                "TcDiscriminator: need latent, hidden, layers >= 1, got {} {} {}", latent, hidden,
                layers);
  int64_t in = latent;
  for (int64_t l = 0; l <= layers; ++l) {
    const int64_t o = l == layers ? 2 : hidden;
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    w_.push_back(uniform(Shape{o, in}, gen, -bound, bound, dtype).set_requires_grad(true));
    b_.push_back(uniform(Shape{o}, gen, -bound, bound, dtype).set_requires_grad(true));
    in = o;
  }
}

Tensor TcDiscriminator::forward(const Tensor& z) const {
  Tensor h = z;
  for (size_t l = 0; l < w_.size(); ++l) {
    h = linear(h, w_[l], b_[l]);
    if (l + 1 < w_.size()) h = leaky_relu(h, 0.2);
  }
  return h;
}

TensorList TcDiscriminator::parameters() const {
  TensorList p;
  for (size_t l = 0; l < w_.size(); ++l) {
    p.push_back(w_[l]);
    p.push_back(b_[l]);
  }
  return p;
}

FactorVaeObjective::FactorVaeObjective(int64_t latent, double gamma, int64_t hidden,
                                       int64_t layers, Generator& gen, DType dtype,
                                       ObjectiveOptions opt)
    : Objective(opt), gamma_(gamma), disc_(latent, hidden, layers, gen, dtype) {}

LossTerms FactorVaeObjective::compute(const VaeOutputs& out, const Schedule& schedule,
                                      Generator&) {
  check_outputs(out, "factor-vae");
  Tensor rec = reconstruction_log_lik(out);
  Tensor kl = posterior_kl(out);
  Tensor logits = disc_.forward(first_sample(out.z));
  Tensor ratio = squeeze(slice(logits, 1, 0, 1), 1) - squeeze(slice(logits, 1, 1, 2), 1);  // (B)
  LossTerms t = new_terms(out);
  t.total = reduce(kl * schedule.beta - rec + ratio * gamma_);
  t.add("recon", mean(-rec));
  t.add("kl", mean(kl));
  t.add("tc", mean(ratio));
  return t;
}

LossTerms FactorVaeObjective::discriminator_loss(const Tensor& z, const Tensor& z_perm,
                                                 Generator& gen) const {
  Tensor zr = first_sample(z).detach();
  Tensor zp = permute_dims(first_sample(z_perm).detach(), gen);
  Tensor lr = disc_.forward(zr), lp = disc_.forward(zp);
  auto diff = [](const Tensor& l) {  // l_0 − l_1, (B)
    return squeeze(slice(l, 1, 0, 1), 1) - squeeze(slice(l, 1, 1, 2), 1);
  };
  Tensor dr = diff(lr), dp = diff(lp);
  // CE(l, 0) = softplus(l_1 − l_0); CE(l, 1) = softplus(l_0 − l_1).
  Tensor loss = (mean(softplus(-dr)) + mean(softplus(dp))) * 0.5;
  LossTerms t;
  t.total = loss;
  t.add("d_loss", loss);
  {
    NoGradGuard ng;
    Tensor acc = (mean(to(gt(dr, 0.0), dr.dtype())) + mean(to(lt(dp, 0.0), dp.dtype()))) * 0.5;
    t.add("d_accuracy", acc);
  }
  return t;
}

}  // namespace unravel
