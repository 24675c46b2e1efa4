// The networks the papers used, by name. Sources (see /shared/reference/papers.md):
//  burgess           Burgess et al. 2018, App. A.1: 4 conv 32 (4×4, s2) → FC 256 → FC 256 → 2·D;
//                    decoder FC 256 → 256 → 512 → 32×4×4 → 4 ConvT 32 (4×4, s2), last to C.
//                    Kaiming-normal init (as YannDubs' disvae).
//  conv64            The benchmark reference model of bench/ and baseline.md: conv 32-32-64-64
//                    (4×4, s2, p1) → FC 1024→256 → 256 → 2·D; mirrored decoder (16.4 M MACs).
//  broadcast         Burgess et al.'s encoder; decoder: Watters et al. 2019's spatial broadcast
//                    (latents tiled on 16×16 + x, y coordinate channels) → conv 3×3 32 → 32 →
//                    ConvT 32 (4,2,1) → C (64×64). Kaiming-normal init.
//  konny-h           1Konny's BetaVAE_H (used by ControlVAE): conv 32,32,64,64 (4,2,1) → conv
//                    64→256 (4×4 valid) → FC 256 → 2·D; decoder FC D→256 → ConvT 256→64 (4) →
//                    64 → 32 → 32 → C (4,2,1). Kaiming-normal init.
//  mathieu-dsprites  Mathieu et al.'s dSprites net: conv 1→32→32→64→64 (4,2,1) → FC 1024→128
//                    (no activation) → heads μ and σ = exp(½h) + 1e-6; decoder FC D→128 → 1024 →
//                    64×4×4 → ConvT 64→64→32→C.
//  higgins-mlp       Higgins et al.: FC 4096→1200→1200 (ReLU) → 2·D; decoder FC D→1200→1200→1200
//                    (tanh) → 4096 logits.
//  dcgan32           Mathieu et al.'s Fashion-MNIST net (32×32): conv 1→32 (no BN) → 64 → 128 with
//                    BN and LeakyReLU(0.2), conv 128→D (4×4) heads μ and softplus σ + 1e-6; decoder
//                    ConvT D→128 (4,1,0) BN ReLU → 64 → 32 → C; no biases; N(0, 0.02) init.
//  fashion28         The 28×28 Fashion-MNIST bench model of baseline.md: conv 32-64 (4,2,1) →
//                    FC 3136→256 → 2·D; mirrored decoder.
//  infogan-dsprites  InfoGAN (Chen et al. 2016) D/Q and G for 64×64, see models/gan.h: a 3-way
//                    categorical code (dSprites' shape), latents − 3 continuous codes, 16 noise.
//  pinwheel-mlp      Mathieu et al.'s pinwheel MLP: 2→100 (ReLU) → μ, softplus σ + 1e-6; decoder
//                    D→100 (ReLU) → mean and softplus scale (learned-scale Gaussian likelihood).
#include <cmath>

#include "engine/check.h"
#include "models/gan.h"
#include "models/nn/nn.h"
#include "models/vae.h"
#include "ops/ops.h"

namespace unravel::models {

namespace {

using nn::Module;
using nn::Sequential;
using MP = std::shared_ptr<Module>;

/// trunk → one head emitting (μ, p) side by side, or two heads; p is mapped to σ per ScaleParam.
class TrunkEncoder final : public Encoder {
 public:
  TrunkEncoder(MP trunk, MP mu_head, MP p_head, int64_t latents, ScaleParam param)
      : trunk_(register_module("trunk", std::move(trunk))), latents_(latents), param_(param) {
    mu_head_ = register_module("mu", std::move(mu_head));
    if (p_head) p_head_ = register_module("scale", std::move(p_head));
  }
  DiagonalGaussian encode(const Tensor& x) override {
    Tensor h = (*trunk_)(x);
    Tensor mu, p;
    if (p_head_) {
      mu = flatten((*mu_head_)(h), 1);
      p = flatten((*p_head_)(h), 1);
    } else {
      Tensor both = flatten((*mu_head_)(h), 1);
      mu = slice(both, 1, 0, latents_);
      p = slice(both, 1, latents_, 2 * latents_);
    }
    switch (param_) {
      case ScaleParam::logvar: return DiagonalGaussian::from_logvar(mu, p);
      case ScaleParam::softplus: return DiagonalGaussian::from_scale(mu, softplus(p) + 1e-6);
      case ScaleParam::exp_half: return DiagonalGaussian::from_scale(mu, exp(p * 0.5) + 1e-6);
    }
    return {};
  }
  std::optional<EncoderSpec> export_spec() const override {
    return EncoderSpec{"trunk", "mu", p_head_ ? "scale" : "", param_};
  }

 private:
  MP trunk_, mu_head_, p_head_;
  int64_t latents_;
  ScaleParam param_;
};

class NetDecoder final : public Decoder {
 public:
  explicit NetDecoder(MP net) : net_(register_module("net", std::move(net))) {}
  Tensor decode(const Tensor& z) override { return (*net_)(z); }
  std::optional<std::string> export_net() const override { return "net"; }

 private:
  MP net_;
};

template <class M, class... A> MP mk(A&&... a) { return std::make_shared<M>(std::forward<A>(a)...); }

unravel::Conv2dOptions s2p1() {
  unravel::Conv2dOptions o;
  o.stride = {2, 2};
  o.padding = {1, 1};
  return o;
}
MP conv(int64_t i, int64_t o, Generator& g, bool bias = true) {
  return mk<nn::Conv2d>(i, o, 4, g, s2p1(), bias);
}
MP deconv(int64_t i, int64_t o, Generator& g, bool bias = true) {
  return mk<nn::ConvTranspose2d>(i, o, 4, g, s2p1(), bias);
}
MP relu() { return mk<nn::ReLU>(); }
MP lin(int64_t i, int64_t o, Generator& g, bool bias = true) { return mk<nn::Linear>(i, o, g, bias); }

/// Burgess et al.'s encoder trunk (conv64's with c3 = 64): conv 32, 32, c3, c3 (4×4, s2) → FC
/// 256 → 256, each followed by a ReLU.
MP burgess_trunk(int64_t C, int64_t c3, Generator& g) {
  return mk<Sequential>(std::initializer_list<MP>{
      conv(C, 32, g), relu(), conv(32, 32, g), relu(), conv(32, c3, g), relu(), conv(c3, c3, g),
      relu(), mk<nn::Flatten>(), lin(c3 * 16, 256, g), relu(), lin(256, 256, g), relu()});
}

/// Re-initialises weights (rank ≥ 2) with f and zeroes biases of conv/linear layers.
template <class F> void reinit(Module& m, F f) {
  for (auto& [name, t] : m.named_parameters()) {
    bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    if (t.dim() >= 2) f(t);
    else if (is_bias) nn::init::zeros_(t);
  }
}

/// Kaiming-normal (fan-in, ReLU gain) weights and zero biases, as 1Konny's and disvae's nets.
void kaiming_relu_init(Module& m, Generator& g) {
  reinit(m, [&](const Tensor& w) {
    nn::init::kaiming_normal_(w, g, 0.0, nn::init::FanMode::fan_in, nn::init::Nonlinearity::relu);
  });
}

std::shared_ptr<Vae> build(const std::string& name, int64_t D, int64_t C, Generator& g,
                           const Likelihood& lik) {
  if (name == "burgess" || name == "conv64") {
    bool wide = name == "conv64";
    auto trunk = burgess_trunk(C, wide ? 64 : 32, g);
    auto enc = std::make_shared<TrunkEncoder>(trunk, lin(256, 2 * D, g), nullptr, D, ScaleParam::logvar);
    std::shared_ptr<Sequential> dec;
    if (wide)
      dec = std::make_shared<Sequential>(std::initializer_list<MP>{
          lin(D, 256, g), relu(), lin(256, 1024, g), relu(), mk<nn::Unflatten>(1, std::vector<int64_t>{64, 4, 4}),
          deconv(64, 64, g), relu(), deconv(64, 32, g), relu(), deconv(32, 32, g), relu(), deconv(32, C, g)});
    else
      dec = std::make_shared<Sequential>(std::initializer_list<MP>{
          lin(D, 256, g), relu(), lin(256, 256, g), relu(), lin(256, 512, g), relu(),
          mk<nn::Unflatten>(1, std::vector<int64_t>{32, 4, 4}), deconv(32, 32, g), relu(),
          deconv(32, 32, g), relu(), deconv(32, 32, g), relu(), deconv(32, C, g)});
    auto vae = std::make_shared<Vae>(enc, std::make_shared<NetDecoder>(dec), D, Shape{C, 64, 64}, lik, false);
    // burgess: Kaiming init for the ReLU layers, as YannDubs' disvae (weights_init) does: with the
    // default fan-in uniform init this 13-layer net starts with a near-constant decoder and a plain
    // VAE sits in posterior collapse for thousands of steps. conv64 keeps the default (bench model).
    if (!wide)
      kaiming_relu_init(*vae, g);
    return vae;
  }
  if (name == "broadcast") {
    // Burgess et al.'s encoder; Watters et al. 2019's spatial broadcast decoder, made cheap
    // enough for a CPU: the latents tiled over a 16×16 grid with two coordinate channels, two
    // 3×3 convolutions there, then two transposed convolutions up to 64×64.
    auto enc = std::make_shared<TrunkEncoder>(burgess_trunk(C, 32, g), lin(256, 2 * D, g), nullptr, D,
                                              ScaleParam::logvar);
    unravel::Conv2dOptions same;
    same.padding = {1, 1};
    auto dec = mk<Sequential>(std::initializer_list<MP>{
        mk<nn::SpatialBroadcast>(16, 16), mk<nn::Conv2d>(D + 2, 32, 3, g, same), relu(),
        mk<nn::Conv2d>(32, 32, 3, g, same), relu(), deconv(32, 32, g), relu(), deconv(32, C, g)});
    auto vae = std::make_shared<Vae>(enc, std::make_shared<NetDecoder>(dec), D, Shape{C, 64, 64}, lik, false);
    kaiming_relu_init(*vae, g);
    return vae;
  }
  if (name == "konny-h") {
    auto trunk = mk<Sequential>(std::initializer_list<MP>{
        conv(C, 32, g), relu(), conv(32, 32, g), relu(), conv(32, 64, g), relu(), conv(64, 64, g),
        relu(), mk<nn::Conv2d>(64, 256, 4, g), relu(), mk<nn::Flatten>()});
    auto enc = std::make_shared<TrunkEncoder>(trunk, lin(256, 2 * D, g), nullptr, D, ScaleParam::logvar);
    auto dec = mk<Sequential>(std::initializer_list<MP>{
        lin(D, 256, g), mk<nn::Unflatten>(1, std::vector<int64_t>{256, 1, 1}), relu(),
        mk<nn::ConvTranspose2d>(256, 64, 4, g), relu(), deconv(64, 64, g), relu(), deconv(64, 32, g),
        relu(), deconv(32, 32, g), relu(), deconv(32, C, g)});
    auto vae = std::make_shared<Vae>(enc, std::make_shared<NetDecoder>(dec), D, Shape{C, 64, 64}, lik, false);
    kaiming_relu_init(*vae, g);
    return vae;
  }
  if (name == "mathieu-dsprites") {
    auto trunk = mk<Sequential>(std::initializer_list<MP>{
        conv(C, 32, g), relu(), conv(32, 32, g), relu(), conv(32, 64, g), relu(), conv(64, 64, g),
        relu(), mk<nn::Flatten>(), lin(1024, 128, g)});
    auto enc = std::make_shared<TrunkEncoder>(trunk, lin(128, D, g), lin(128, D, g), D, ScaleParam::exp_half);
    auto dec = mk<Sequential>(std::initializer_list<MP>{
        lin(D, 128, g), relu(), lin(128, 1024, g), relu(), mk<nn::Unflatten>(1, std::vector<int64_t>{64, 4, 4}),
        deconv(64, 64, g), relu(), deconv(64, 32, g), relu(), deconv(32, 32, g), relu(), deconv(32, C, g)});
    return std::make_shared<Vae>(enc, std::make_shared<NetDecoder>(dec), D, Shape{C, 64, 64}, lik, false);
  }
  if (name == "higgins-mlp") {
    int64_t px = C * 64 * 64;
    auto trunk = mk<Sequential>(std::initializer_list<MP>{mk<nn::Flatten>(), lin(px, 1200, g), relu(),
                                                          lin(1200, 1200, g), relu()});
    auto enc = std::make_shared<TrunkEncoder>(trunk, lin(1200, 2 * D, g), nullptr, D, ScaleParam::logvar);
    auto dec = mk<Sequential>(std::initializer_list<MP>{
        lin(D, 1200, g), mk<nn::Tanh>(), lin(1200, 1200, g), mk<nn::Tanh>(), lin(1200, 1200, g),
        mk<nn::Tanh>(), lin(1200, px, g), mk<nn::Unflatten>(1, std::vector<int64_t>{C, 64, 64})});
    return std::make_shared<Vae>(enc, std::make_shared<NetDecoder>(dec), D, Shape{C, 64, 64}, lik, false);
  }
  if (name == "dcgan32") {
    auto lrelu = [] { return mk<nn::LeakyReLU>(0.2); };
    auto bn = [](int64_t c) { return mk<nn::BatchNorm2d>(c); };
    auto trunk = mk<Sequential>(std::initializer_list<MP>{
        conv(C, 32, g, false), lrelu(), conv(32, 64, g, false), bn(64), lrelu(),
        conv(64, 128, g, false), bn(128), lrelu()});
    auto enc = std::make_shared<TrunkEncoder>(trunk, mk<nn::Conv2d>(128, D, 4, g, unravel::Conv2dOptions{}, false),
                                              mk<nn::Conv2d>(128, D, 4, g, unravel::Conv2dOptions{}, false), D,
                                              ScaleParam::softplus);
    auto dec = mk<Sequential>(std::initializer_list<MP>{
        mk<nn::Unflatten>(1, std::vector<int64_t>{D, 1, 1}),
        mk<nn::ConvTranspose2d>(D, 128, 4, g, unravel::Conv2dOptions{}, false), bn(128), relu(),
        deconv(128, 64, g, false), bn(64), relu(), deconv(64, 32, g, false), bn(32), relu(),
        deconv(32, C, g, false)});
    auto vae = std::make_shared<Vae>(enc, std::make_shared<NetDecoder>(dec), D, Shape{C, 32, 32}, lik, false);
    reinit(*vae, [&](const Tensor& w) { nn::init::normal_(w, 0.0, 0.02, g); });
    return vae;
  }
  if (name == "fashion28") {
    auto trunk = mk<Sequential>(std::initializer_list<MP>{
        conv(C, 32, g), relu(), conv(32, 64, g), relu(), mk<nn::Flatten>(), lin(3136, 256, g), relu()});
    auto enc = std::make_shared<TrunkEncoder>(trunk, lin(256, 2 * D, g), nullptr, D, ScaleParam::logvar);
    auto dec = mk<Sequential>(std::initializer_list<MP>{
        lin(D, 256, g), relu(), lin(256, 3136, g), relu(), mk<nn::Unflatten>(1, std::vector<int64_t>{64, 7, 7}),
        deconv(64, 32, g), relu(), deconv(32, C, g)});
    return std::make_shared<Vae>(enc, std::make_shared<NetDecoder>(dec), D, Shape{C, 28, 28}, lik, false);
  }
  if (name == "infogan-dsprites") return make_infogan(D, 3, 16, C, g, lik);
  if (name == "pinwheel-mlp") {
    auto trunk = mk<Sequential>(std::initializer_list<MP>{lin(2, 100, g), relu()});
    auto enc = std::make_shared<TrunkEncoder>(trunk, lin(100, D, g), lin(100, D, g), D, ScaleParam::softplus);
    bool learned = lik.kind == LikelihoodKind::gaussian && lik.scale <= 0;
    auto dec = mk<Sequential>(std::initializer_list<MP>{lin(D, 100, g), relu(), lin(100, learned ? 4 : 2, g)});
    return std::make_shared<Vae>(enc, std::make_shared<NetDecoder>(dec), D, Shape{2}, lik, learned);
  }
  UNRAVEL_CHECK(false, "unknown architecture '{}'", name);
  return nullptr;
}

}  // namespace

const std::vector<ArchitectureInfo>& architectures() {
  static const std::vector<ArchitectureInfo> list = {
      {"burgess", "Burgess et al. 2018 conv net: 4 conv 32 (4x4 s2), FC 256-256 (64x64)", Shape{1, 64, 64}, "bernoulli", 0, 10},
      {"conv64", "bench reference: conv 32-32-64-64, FC 1024-256-256, mirrored (64x64)", Shape{1, 64, 64}, "bernoulli", 0, 10},
      {"broadcast", "Burgess et al.'s encoder, spatial broadcast decoder (Watters et al. 2019) at 16x16, 3x3 conv 32-32, 2 ConvT (64x64)", Shape{1, 64, 64}, "bernoulli", 0, 10},
      {"konny-h", "1Konny BetaVAE_H as used by ControlVAE, kaiming init (64x64)", Shape{1, 64, 64}, "bernoulli", 0, 10},
      {"mathieu-dsprites", "Mathieu et al. dSprites conv net, sigma = exp(h/2)+1e-6 (64x64)", Shape{1, 64, 64}, "bernoulli", 0, 10},
      {"higgins-mlp", "Higgins et al. MLP 4096-1200-1200, tanh decoder (64x64)", Shape{1, 64, 64}, "bernoulli", 0, 10},
      {"dcgan32", "Mathieu et al. Fashion-MNIST DCGAN net with batch norm (32x32), Laplace(0.1)", Shape{1, 32, 32}, "laplace", 0.1, 50},
      {"fashion28", "bench reference: conv 32-64, FC 3136-256, mirrored (28x28)", Shape{1, 28, 28}, "bernoulli", 0, 50},
      {"infogan-dsprites", "InfoGAN D/Q (encoder) and G (decoder): 3-way categorical + D-3 continuous codes, 16 noise (64x64)", Shape{1, 64, 64}, "bernoulli", 0, 8},
      {"pinwheel-mlp", "Mathieu et al. pinwheel MLP, 100 hidden, learned-scale Gaussian (2-D data)", Shape{2}, "gaussian", 0, 2},
  };
  return list;
}

const ArchitectureInfo& architecture(const std::string& name) {
  std::string names;
  for (const auto& a : architectures()) {
    if (a.name == name) return a;
    names += (names.empty() ? "" : ", ") + a.name;
  }
  UNRAVEL_CHECK(false, "unknown architecture '{}' (valid: {})", name, names);
  return architectures().front();
}

std::shared_ptr<Vae> make_vae(const std::string& arch, int64_t latents, Generator& gen,
                              int64_t channels, const std::string& likelihood,
                              double likelihood_scale) {
  const ArchitectureInfo& info = architecture(arch);
  UNRAVEL_CHECK(latents >= 1, "make_vae: {} latents", latents);
  UNRAVEL_CHECK(channels >= 1, "make_vae: {} channels", channels);
  UNRAVEL_CHECK(info.data_shape.size() != 1 || channels == 1,
                "make_vae: architecture '{}' takes 2-D points, not images with {} channels", arch,
                channels);
  std::string lik_name = likelihood.empty() ? info.likelihood : likelihood;
  double scale = likelihood_scale > 0 ? likelihood_scale : info.likelihood_scale;
  Likelihood lik = Likelihood::from_name(lik_name, scale > 0 ? scale : 1.0);
  if (lik.kind == LikelihoodKind::gaussian && scale <= 0) lik.scale = 0;  // learned scale
  return build(arch, latents, channels, gen, lik);
}

}  // namespace unravel::models
