// FactorVAE (Kim & Mnih 2018): ELBO − γ·TC with TC estimated by the density-ratio trick.
//
//  * The discriminator D(z) is an MLP z → [hidden, LeakyReLU(0.2)] × layers → 2 logits (the
//    paper / disentanglement_lib use 6 layers of 1000; 1Konny 5), an nn::Module registered as
//    the objective's child "disc" (parameters "disc.net.<i>.weight/bias"). Logit 0 = "from
//    q(z)", logit 1 = "from Π_j q(z_j)".
//  * VAE side (per datapoint): −recon + β·kl + γ·(logit_0 − logit_1)(z), averaged over the
//    batch; TC ≈ mean(logit_0 − logit_1). β from the Schedule (1 in the paper).
//  * permute_dims(z): each latent column permuted independently across the batch (all D
//    permutations drawn on z's device in one kernel), a sample of Π_j q(z_j).
//  * Discriminator loss: ½·[CE(D(z), 0) + CE(D(permute_dims(z')), 1)] on detached z (and z', a
//    second batch as in 1Konny, or the same batch as in disentanglement_lib); with two logits,
//    CE(l, 0) = softplus(l_1 − l_0) and CE(l, 1) = softplus(l_0 − l_1).
// The discriminator is trained by its own optimiser through the objective's auxiliary update
// ("disc"), on the same batch's first sample; the VAE loss also reaches the discriminator's
// .grad, which the training step clears before that update.
#pragma once
#include <memory>
#include <vector>

#include "models/nn/sequential.h"
#include "objectives/losses/objective.h"

namespace unravel {

/// Independently permutes each column of z (B, D) across the batch.
Tensor permute_dims(const Tensor& z, Generator& gen);

/// The FactorVAE discriminator MLP.
class TcDiscriminator : public nn::Module {
 public:
  /// `layers` hidden layers of `hidden` units on a `latent`-dimensional input; weights and biases
  /// ~ U(−1/√fan_in, 1/√fan_in) from gen (PyTorch's Linear default).
  TcDiscriminator(int64_t latent, int64_t hidden, int64_t layers, Generator& gen,
                  DType dtype = DType::f32);
  std::string type_name() const override { return "TcDiscriminator"; }
  /// Logits (B, 2) for z (B, D).
  Tensor forward(const Tensor& z) override;

 private:
  std::shared_ptr<nn::Sequential> net_;
};

class FactorVaeObjective : public Objective {
 public:
  FactorVaeObjective(int64_t latent, double gamma, int64_t hidden, int64_t layers, Generator& gen,
                     DType dtype = DType::f32, ObjectiveOptions opt = {});
  std::string name() const override { return "factor-vae"; }
  /// Per datapoint: −rec + β·kl + γ·(logit_0 − logit_1)(z_i). The discriminator's update is
  /// the whole batch's (its permutation), in its data-parallel form (AuxiliaryUpdate).
  std::string batch_coupling() const override { return ""; }
  LossTerms compute(const ObjectiveInput& in, const Schedule& schedule, Generator& gen) override;
  /// The discriminator step ("disc") on this batch's z (the same-batch variant).
  std::vector<AuxiliaryUpdate*> auxiliary_updates() override { return {&disc_update_}; }

  /// The discriminator's loss for z (B, D) and the batch to permute (z_perm, same shape; pass z
  /// again for the same-batch variant); both are detached here. Terms: d_loss, d_accuracy.
  LossTerms discriminator_loss(const Tensor& z, const Tensor& z_perm, Generator& gen) const;
  TcDiscriminator& discriminator() const { return *disc_; }
  /// The discriminator's loss for detached codes zr (B, D) and already permuted codes zp.
  LossTerms discriminator_loss_permuted(const Tensor& zr, const Tensor& zp) const;

 private:
  class DiscUpdate final : public AuxiliaryUpdate {
   public:
    explicit DiscUpdate(FactorVaeObjective& o) : o_(o) {}
    std::string name() const override { return "disc"; }
    std::string description() const override { return "FactorVAE discriminator optimiser"; }
    TensorList parameters() const override { return o_.disc_->parameters(); }
    LossTerms loss(const ObjectiveInput& in, Generator& gen) override {
      return o_.discriminator_loss(in.out.z, in.out.z, gen);
    }
    // Data-parallel: the whole batch's codes and their permutation (drawn once, identically on
    // every process); each micro-shard's loss is the mean over its rows of both.
    bool shardable() const override { return true; }
    TensorList batch_inputs(const Tensor& z, Generator& gen) override;
    LossTerms shard_loss(const TensorList& rows) override;

   private:
    FactorVaeObjective& o_;
  };
  double gamma_;
  std::shared_ptr<TcDiscriminator> disc_;
  DiscUpdate disc_update_{*this};
};

}  // namespace unravel
