// InfoGAN (Chen et al. 2016) as an objective over the infogan-* architectures (models/gan.h:
// the model's encoder is the discriminator D with its Q head, the decoder the generator G).
//
// Each training step (objectives/training/train_step.h):
//  * outputs(): codes c = (a one-hot categorical code, uniform, and continuous codes
//    U(−1, 1)) and noise ε ~ N(0, I) are drawn for the batch; x̃ = σ(G(c, ε)); D and Q read x̃.
//    VaeOutputs: x the real batch, recon G's logits, z the codes c, posterior Q(c|x̃) (the
//    encoder's view of the fakes).
//  * main update (G; the main optimiser holds only G's parameters, since D's are claimed by the
//    auxiliary update): the non-saturating loss −log D(x̃) = softplus(−d(x̃)) plus
//    λ·(L_cat + L_cont), the mutual-information lower bound's negative up to the constant code
//    entropy: L_cat = CE(Q_cat(x̃), c_cat), L_cont = ½ Σ_j (c_j − μ_j(x̃))² (Gaussian with σ = 1,
//    its constant dropped).
//  * auxiliary update "disc" (D and Q, their own optimiser): softplus(−d(x)) + softplus(d(x̃))
//    on the real batch and the detached fakes, plus λ·(L_cat + L_cont) on those fakes (as
//    Chen et al.'s code, where D's variables also minimise the MI term).
// Terms: g_loss, mi_cat, mi_cont (the main step), d_loss, d_real, d_fake (the accuracy of D on
// each half) and mi_d (the auxiliary step's MI term). β and C of the controller are unused.
#pragma once
#include "models/gan.h"
#include "objectives/losses/objective.h"

namespace unravel {

class InfoGanObjective : public Objective {
 public:
  /// lambda_cat, lambda_cont ≥ 0 weigh the two parts of the MI term.
  InfoGanObjective(double lambda_cat, double lambda_cont, ObjectiveOptions opt = {});
  std::string name() const override { return "infogan"; }
  std::string batch_coupling() const override {
    return "InfoGAN draws its codes in the step and trains D on the whole batch";
  }
  VaeOutputs outputs(models::Vae& vae, const Tensor& x, Generator& gen, int64_t samples) override;
  LossTerms compute(const ObjectiveInput& in, const Schedule& schedule, Generator& gen) override;
  std::vector<AuxiliaryUpdate*> auxiliary_updates() override { return {&disc_update_}; }
  /// Checks the model is an InfoGAN network; D/Q's parameters go to the auxiliary update.
  void bind_model(models::Vae& vae) override;

  /// The generator's loss from D/Q's outputs on the fakes and the codes z (B, categories +
  /// continuous): softplus(−d) + λ_cat·CE + λ_cont·½Σ(c − μ)², batch mean. Terms g_loss,
  /// mi_cat, mi_cont.
  LossTerms generator_loss(const models::DiscriminatorOutputs& fake, const Tensor& z) const;
  /// The discriminator's loss on real and generated outputs of D/Q with the fakes' codes z.
  /// Terms d_loss, d_real, d_fake, mi_d.
  LossTerms discriminator_loss(const models::DiscriminatorOutputs& real,
                               const models::DiscriminatorOutputs& fake, const Tensor& z) const;
  /// λ_cat·L_cat + λ_cont·L_cont for Q's outputs and the codes z; also returns both parts.
  Tensor mi_loss(const models::DiscriminatorOutputs& q, const Tensor& z, Tensor* cat,
                 Tensor* cont) const;

 private:
  class DiscUpdate final : public AuxiliaryUpdate {
   public:
    explicit DiscUpdate(InfoGanObjective& o) : o_(o) {}
    std::string name() const override { return "disc"; }
    std::string description() const override { return "InfoGAN discriminator optimiser"; }
    TensorList parameters() const override;
    LossTerms loss(const ObjectiveInput& in, Generator& gen) override;

   private:
    InfoGanObjective& o_;
  };
  models::InfoGanDiscriminator& disc() const;
  double lambda_cat_, lambda_cont_;
  models::Vae* vae_ = nullptr;        ///< the bound model (bind_model)
  models::DiscriminatorOutputs fake_; ///< D/Q on this step's fakes (outputs() → compute())
  DiscUpdate disc_update_{*this};
};

/// The InfoGAN networks of a model, or an error naming `who` when it is not an infogan-* one.
models::InfoGanDiscriminator& infogan_discriminator(models::Vae& vae, const char* who);
models::InfoGanGenerator& infogan_generator(models::Vae& vae, const char* who);

}  // namespace unravel
