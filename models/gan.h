// InfoGAN's networks (Chen et al. 2016) for 64×64 images, in the VAE's slots so that runs,
// checkpoints, metrics and figures treat them like any model:
//  * the Encoder slot holds the discriminator D with its Q head: a shared conv trunk, a D head
//    (one real/fake logit) and a Q head (logits of a categorical code, means of the continuous
//    codes; their standard deviation is fixed at 1). encode(x) is Q's posterior over the codes:
//    mean = (softmax of the categorical logits, continuous means), log-variance 0 — the
//    representation the metrics score;
//  * the Decoder slot holds the generator G: input (codes, noise) → image logits (sigmoid = the
//    image). decode(z) with only the D code dimensions sets the noise to 0 (traversals).
// Architecture "infogan-dsprites" (models/architectures.cpp): the DCGAN layout of Chen et al.'s
// App. C (strided convolutions with LeakyReLU in D, FC then transposed convolutions with batch
// norm and ReLU in G; one more stride-2 stage for 64×64) at the widths of disentanglement_lib's
// conv net (32-32-64-64), so that a quick run fits a CPU budget:
//   D trunk  conv 1→32→32→64→64 (4×4, s2, p1) each LeakyReLU(0.1) → FC 1024→256 LeakyReLU
//            (no batch norm: the metrics read Q on real images, whose statistics differ from
//            the generated batches a running average would hold);
//   D head   FC 256→1;  Q head  FC 256→128 LeakyReLU → FC 128→(categories + continuous);
//   G        FC (D + noise)→256 → 1024 (batch norm, ReLU) → 64×4×4 → ConvT 64→64→32→32
//            (4×4, s2, p1; batch norm, ReLU) → ConvT 32→C logits.
// Weights N(0, 0.02), biases 0 (DCGAN init) in G and D/Q alike (with the layers' default init, D
// overpowered G within 100 steps of batch 64 and Q learned nothing).
#pragma once
#include <memory>

#include "models/vae.h"

namespace unravel::models {

/// D and Q's outputs for a batch.
struct DiscriminatorOutputs {
  Tensor d_logit;     ///< (B) real-vs-generated logit
  Tensor cat_logits;  ///< (B, categories)
  Tensor cont_mean;   ///< (B, continuous)
};

class InfoGanDiscriminator final : public Encoder {
 public:
  InfoGanDiscriminator(int64_t channels, int64_t categories, int64_t continuous, Generator& gen);
  std::string type_name() const override { return "InfoGanDiscriminator"; }
  DiscriminatorOutputs discriminate(const Tensor& x);
  DiagonalGaussian encode(const Tensor& x) override;
  int64_t categories() const { return categories_; }
  int64_t continuous() const { return continuous_; }

 private:
  std::shared_ptr<nn::Module> trunk_, d_head_, q_head_;
  int64_t categories_, continuous_;
};

class InfoGanGenerator final : public Decoder {
 public:
  InfoGanGenerator(int64_t channels, int64_t codes, int64_t noise, Generator& gen);
  std::string type_name() const override { return "InfoGanGenerator"; }
  /// z (N, codes) (noise 0) or (N, codes + noise) → image logits (N, C, 64, 64).
  Tensor decode(const Tensor& z) override;
  int64_t codes() const { return codes_; }
  int64_t noise() const { return noise_; }

 private:
  std::shared_ptr<nn::Module> net_;
  int64_t codes_, noise_;
};

/// The InfoGAN "VAE" (D/Q as encoder, G as decoder) with `categories` classes of one categorical
/// code, latents − categories continuous codes and `noise` noise inputs.
std::shared_ptr<Vae> make_infogan(int64_t latents, int64_t categories, int64_t noise,
                                  int64_t channels, Generator& gen, const Likelihood& lik);

}  // namespace unravel::models
