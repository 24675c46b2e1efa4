// FactorVAE objective, discriminator and permute_dims (see factor_vae.h).
#include "objectives/losses/factor_vae.h"

#include <cmath>

#include "models/nn/activation.h"
#include "models/nn/linear.h"
#include "objectives/divergences.h"
#include "ops/ops.h"

namespace unravel {

Tensor permute_dims(const Tensor& z, Generator& gen) {
  UNRAVEL_CHECK(z.dim() == 2, "permute_dims: z must be (B, D), got {}", z.desc());
  // Row j of perms is π_j (drawn as D successive permutations); column j of idx is π_j.
  Tensor perms = permutations(z.size(1), z.size(0), gen, z.device());  // (D, B)
  return gather(z, 0, contiguous(transpose(perms, 0, 1)));
}

TcDiscriminator::TcDiscriminator(int64_t latent, int64_t hidden, int64_t layers, Generator& gen,
                                 DType dtype) {
  UNRAVEL_CHECK(latent >= 1 && hidden >= 1 && layers >= 1,
                "TcDiscriminator: need latent, hidden, layers >= 1, got {} {} {}", latent, hidden,
                layers);
  net_ = register_module("net", std::make_shared<nn::Sequential>());
  int64_t in = latent;
  for (int64_t l = 0; l <= layers; ++l) {
    const int64_t o = l == layers ? 2 : hidden;
    net_->push_back(std::make_shared<nn::Linear>(in, o, gen));
    if (l < layers) net_->push_back(std::make_shared<nn::LeakyReLU>(0.2));
    in = o;
  }
  if (dtype != DType::f32) to(dtype);
}

Tensor TcDiscriminator::forward(const Tensor& z) { return net_->forward(z); }

FactorVaeObjective::FactorVaeObjective(int64_t latent, double gamma, int64_t hidden,
                                       int64_t layers, Generator& gen, DType dtype,
                                       ObjectiveOptions opt)
    : Objective(opt), gamma_(gamma) {
  disc_ = register_module("disc", std::make_shared<TcDiscriminator>(latent, hidden, layers, gen, dtype));
}

LossTerms FactorVaeObjective::compute(const ObjectiveInput& in, const Schedule& schedule,
                                      Generator&) {
  check_outputs(in.out, in.prior, "factor-vae");
  Tensor logits = disc_->forward(first_sample(in.out.z));
  Tensor ratio = squeeze(slice(logits, 1, 0, 1), 1) - squeeze(slice(logits, 1, 1, 2), 1);  // (B)
  LossTerms t = beta_elbo(in, schedule, "factor-vae", ratio * gamma_);
  t.add("tc", mean(ratio));
  return t;
}

LossTerms FactorVaeObjective::discriminator_loss(const Tensor& z, const Tensor& z_perm,
                                                 Generator& gen) const {
  return discriminator_loss_permuted(first_sample(z).detach(),
                                     permute_dims(first_sample(z_perm).detach(), gen));
}

LossTerms FactorVaeObjective::discriminator_loss_permuted(const Tensor& zr,
                                                          const Tensor& zp) const {
  Tensor lr = disc_->forward(zr.detach()), lp = disc_->forward(zp.detach());
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
    Tensor acc = (mean(unravel::to(gt(dr, 0.0), dr.dtype())) + mean(unravel::to(lt(dp, 0.0), dp.dtype()))) * 0.5;
    t.add("d_accuracy", acc);
  }
  return t;
}

TensorList FactorVaeObjective::DiscUpdate::batch_inputs(const Tensor& z, Generator& gen) {
  UNRAVEL_CHECK(z.dim() == 2, "factor-vae: the whole batch's codes must be (B, D), got {}",
                z.desc());
  const Tensor zr = z.detach();
  return {zr, permute_dims(zr, gen)};
}

LossTerms FactorVaeObjective::DiscUpdate::shard_loss(const TensorList& rows) {
  UNRAVEL_CHECK(rows.size() == 2, "factor-vae: shard_loss takes the codes and their permutation");
  return o_.discriminator_loss_permuted(rows[0], rows[1]);
}

}  // namespace unravel
