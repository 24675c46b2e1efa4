// FactorVAE (Kim & Mnih 2018): ELBO − γ·TC with TC estimated by the density-ratio trick.
//
//  * The discriminator D(z) is an MLP z → [hidden, LeakyReLU(0.2)] × layers → 2 logits (the
//    paper / disentanglement_lib use 6 layers of 1000; 1Konny 5). Logit 0 = "from q(z)",
//    logit 1 = "from Π_j q(z_j)".
//  * VAE side (per datapoint): −recon + β·kl + γ·(logit_0 − logit_1)(z), averaged over the
//    batch; TC ≈ mean(logit_0 − logit_1). β from the Schedule (1 in the paper).
//  * permute_dims(z): each latent column permuted independently across the batch, a sample
//    of Π_j q(z_j).
//  * Discriminator loss: ½·[CE(D(z), 0) + CE(D(permute_dims(z')), 1)] on detached z (and z', a
//    second batch as in 1Konny, or the same batch as in disentanglement_lib); with two logits,
//    CE(l, 0) = softplus(l_1 − l_0) and CE(l, 1) = softplus(l_0 − l_1).
// The discriminator is trained by its own optimiser on parameters(); the VAE loss also reaches
// the discriminator's .grad, so zero those before the discriminator step.
#pragma once
#include <vector>

#include "objectives/losses/objective.h"

namespace unravel {

/// Independently permutes each column of z (B, D) across the batch.
Tensor permute_dims(const Tensor& z, Generator& gen);

/// The FactorVAE discriminator MLP with its own parameters.
class TcDiscriminator {
 public:
  /// `layers` hidden layers of `hidden` units on a `latent`-dimensional input; weights and biases
  /// ~ U(−1/√fan_in, 1/√fan_in) from gen.
  TcDiscriminator(int64_t latent, int64_t hidden, int64_t layers, Generator& gen,
                  DType dtype = DType::f32);
  /// Logits (B, 2) for z (B, D).
  Tensor forward(const Tensor& z) const;
  /// Weights and biases, in layer order.
  TensorList parameters() const;

 private:
  std::vector<Tensor> w_, b_;
};

class FactorVaeObjective : public Objective {
 public:
  FactorVaeObjective(int64_t latent, double gamma, int64_t hidden, int64_t layers, Generator& gen,
                     DType dtype = DType::f32, ObjectiveOptions opt = {});
  std::string name() const override { return "factor-vae"; }
  LossTerms compute(const VaeOutputs& out, const Schedule& schedule, Generator& gen) override;
  TensorList parameters() const override { return disc_.parameters(); }
  /// The discriminator's loss for z (B, D) and the batch to permute (z_perm, same shape; pass z
  /// again for the same-batch variant); both are detached here. Terms: d_loss, d_accuracy.
  LossTerms discriminator_loss(const Tensor& z, const Tensor& z_perm, Generator& gen) const;
  const TcDiscriminator& discriminator() const { return disc_; }

 private:
  double gamma_;
  TcDiscriminator disc_;
};

}  // namespace unravel
