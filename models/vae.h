// The VAE: an Encoder x → q(z|x) (a DiagonalGaussian), a reparameterised sample, and a Decoder
// z → the likelihood's parameters. forward() returns everything an objective needs (VaeOutputs,
// below; objectives add the prior); it computes no loss itself. models/ never includes
// objectives/: the distribution types both use live in ops/.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/random.h"
#include "models/nn/module.h"
#include "ops/distributions.h"
#include "ops/likelihoods.h"

namespace unravel {

/// Everything one forward pass of a VAE gives an objective.
struct VaeOutputs {
  Tensor x;                    ///< data (B, ...)
  Tensor recon;                ///< decoder output (logits / means): (K, B, ...) or (B, ...)
  Tensor recon_log_scale;      ///< learned Gaussian log-scale (optional, broadcastable)
  Likelihood likelihood;       ///< observation model
  DiagonalGaussian posterior;  ///< q(z|x) with (B, D) parameters
  Tensor z;                    ///< the samples the decoder saw: (K, B, D) or (B, D)
};

}  // namespace unravel

namespace unravel::models {

/// How an encoder's second output p becomes σ: logvar = p; σ = softplus(p) + 1e-6;
/// σ = exp(½p) + 1e-6.
enum class ScaleParam { logvar, softplus, exp_half };

/// What an encoder computes around its child modules, for exporters to other frameworks
/// (apps/export.cpp), which rebuild the children layer by layer but cannot read a forward():
/// h = trunk(x); μ = flatten(mu(h), 1) and p = flatten(scale(h), 1), or, without a scale head,
/// (μ, p) = the two halves of flatten(mu(h), 1); then σ from p per `param`.
struct EncoderSpec {
  std::string trunk, mu, scale;  ///< child names; scale "" = one head emitting (μ, p)
  ScaleParam param = ScaleParam::logvar;
};

/// x (B, ...) → q(z|x) with (B, D) parameters.
class Encoder : public nn::Module {
 public:
  virtual DiagonalGaussian encode(const Tensor& x) = 0;
  std::string type_name() const override { return "Encoder"; }
  /// The computation for exporters; none (the default) = this encoder cannot be exported.
  virtual std::optional<EncoderSpec> export_spec() const { return std::nullopt; }
};

/// z (N, D) → decoder output (N, ...): logits or means, with the learned-scale channels after
/// the mean channels when the likelihood learns its scale.
class Decoder : public nn::Module {
 public:
  virtual Tensor decode(const Tensor& z) = 0;
  std::string type_name() const override { return "Decoder"; }
  /// For exporters: the name of the one child that decode() applies to z, or none (the
  /// default) when decode() does more and this decoder cannot be exported.
  virtual std::optional<std::string> export_net() const { return std::nullopt; }
};

class Vae : public nn::Module {
 public:
  /// data_shape is one datapoint's shape (C, H, W) or (F). learned_scale: the decoder emits
  /// 2× the data's leading extent (means, then softplus scales).
  Vae(std::shared_ptr<Encoder> enc, std::shared_ptr<Decoder> dec, int64_t latents,
      Shape data_shape, Likelihood likelihood, bool learned_scale);
  std::string type_name() const override { return "Vae"; }

  /// q(z|x).
  DiagonalGaussian encode(const Tensor& x);
  /// Decoder output for z (..., D); leading axes are kept: (K, B, D) → (K, B, ...).
  /// With a learned scale, `log_scale` (if given) receives the log-scale half.
  Tensor decode(const Tensor& z, Tensor* log_scale = nullptr);
  /// Module's one-tensor forward stays visible; for a Vae it throws, since a forward pass needs
  /// a generator (the overloads below).
  using nn::Module::forward;
  /// Encode, draw K reparameterised samples (K = 1 gives (B, D) samples), decode.
  VaeOutputs forward(const Tensor& x, Generator& gen, int64_t k = 1);
  /// forward() of rows `window.start`.. of a batch of `window.batch` rows: the samples use the
  /// noise the whole batch's forward would give these rows (a data-parallel micro-shard).
  VaeOutputs forward(const Tensor& x, Generator& gen, int64_t k, const BatchWindow& window);

  int64_t latents() const { return latents_; }
  const Shape& data_shape() const { return data_shape_; }
  const Likelihood& likelihood() const { return likelihood_; }
  /// Whether the decoder also emits the learned scale (decode's log_scale).
  bool learned_scale() const { return learned_scale_; }
  Encoder& encoder() { return *enc_; }
  Decoder& decoder() { return *dec_; }

 private:
  std::shared_ptr<Encoder> enc_;
  std::shared_ptr<Decoder> dec_;
  int64_t latents_;
  Shape data_shape_;
  Likelihood likelihood_;
  bool learned_scale_;
};

/// One architecture in the registry.
struct ArchitectureInfo {
  std::string name;
  std::string description;
  Shape data_shape;            ///< expected datapoint shape ((C, H, W) or (F))
  std::string likelihood;      ///< default likelihood name
  double likelihood_scale;     ///< its fixed scale where it has one
  int64_t default_latents;
};

/// Every architecture by name, with its paper source.
const std::vector<ArchitectureInfo>& architectures();
/// Looks an architecture up; throws listing the valid names.
const ArchitectureInfo& architecture(const std::string& name);

/// Builds a VAE with architecture `arch`, `latents` latent dimensions and `channels` input
/// channels (image architectures), initialised from `gen`. `likelihood` overrides the default
/// ("" keeps it).
std::shared_ptr<Vae> make_vae(const std::string& arch, int64_t latents, Generator& gen,
                              int64_t channels = 1, const std::string& likelihood = "",
                              double likelihood_scale = 0.0);

}  // namespace unravel::models
