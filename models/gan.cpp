// InfoGAN's discriminator/Q network and generator (see gan.h).
#include "models/gan.h"

#include "engine/check.h"
#include "models/nn/nn.h"
#include "ops/ops.h"

namespace unravel::models {

namespace {

using MP = std::shared_ptr<nn::Module>;
template <class M, class... A> MP mk(A&&... a) { return std::make_shared<M>(std::forward<A>(a)...); }

Conv2dOptions s2p1() {
  Conv2dOptions o;
  o.stride = {2, 2};
  o.padding = {1, 1};
  return o;
}
MP lrelu() { return mk<nn::LeakyReLU>(0.1); }
MP relu() { return mk<nn::ReLU>(); }

/// DCGAN init: weights N(0, 0.02), biases 0; batch-norm scales keep their 1.
void dcgan_init(nn::Module& m, Generator& g) {
  for (auto& [name, t] : m.named_parameters()) {
    const bool bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    if (t.dim() >= 2) nn::init::normal_(t, 0.0, 0.02, g);
    else if (bias) nn::init::zeros_(t);
  }
}

}  // namespace

InfoGanDiscriminator::InfoGanDiscriminator(int64_t C, int64_t categories, int64_t continuous,
                                           Generator& g)
    : categories_(categories), continuous_(continuous) {
  UNRAVEL_CHECK(categories >= 2 && continuous >= 0,
                "InfoGanDiscriminator: needs >= 2 categories and >= 0 continuous codes, got {} and {}",
                categories, continuous);
  trunk_ = register_module("trunk", std::make_shared<nn::Sequential>(std::initializer_list<MP>{
      mk<nn::Conv2d>(C, 32, 4, g, s2p1()), lrelu(), mk<nn::Conv2d>(32, 32, 4, g, s2p1()), lrelu(),
      mk<nn::Conv2d>(32, 64, 4, g, s2p1()), lrelu(), mk<nn::Conv2d>(64, 64, 4, g, s2p1()),
      lrelu(), mk<nn::Flatten>(), mk<nn::Linear>(1024, 256, g), lrelu()}));
  d_head_ = register_module("d", mk<nn::Linear>(256, 1, g));
  q_head_ = register_module("q", std::make_shared<nn::Sequential>(std::initializer_list<MP>{
      mk<nn::Linear>(256, 128, g), lrelu(), mk<nn::Linear>(128, categories + continuous, g)}));
  dcgan_init(*this, g);
}

DiscriminatorOutputs InfoGanDiscriminator::discriminate(const Tensor& x) {
  UNRAVEL_CHECK(x.dim() == 4 && x.size(2) == 64 && x.size(3) == 64,
                "InfoGanDiscriminator: images must be (B, C, 64, 64), got {}", x.desc());
  Tensor h = (*trunk_)(x);
  Tensor q = (*q_head_)(h);
  DiscriminatorOutputs o;
  o.d_logit = squeeze((*d_head_)(h), 1);
  o.cat_logits = slice(q, 1, 0, categories_);
  o.cont_mean = slice(q, 1, categories_, categories_ + continuous_);
  return o;
}

DiagonalGaussian InfoGanDiscriminator::encode(const Tensor& x) {
  DiscriminatorOutputs o = discriminate(x);
  Tensor mean = concat({softmax(o.cat_logits, 1), o.cont_mean}, 1);
  return DiagonalGaussian::from_logvar(mean, Tensor::zeros(mean.shape(), mean.dtype(), mean.device()));
}

InfoGanGenerator::InfoGanGenerator(int64_t C, int64_t codes, int64_t noise, Generator& g)
    : codes_(codes), noise_(noise) {
  UNRAVEL_CHECK(codes >= 1 && noise >= 0, "InfoGanGenerator: {} codes, {} noise inputs", codes, noise);
  auto bn1 = [](int64_t c) { return mk<nn::BatchNorm1d>(c); };
  auto bn2 = [](int64_t c) { return mk<nn::BatchNorm2d>(c); };
  net_ = register_module("net", std::make_shared<nn::Sequential>(std::initializer_list<MP>{
      mk<nn::Linear>(codes + noise, 256, g), bn1(256), relu(), mk<nn::Linear>(256, 1024, g),
      bn1(1024), relu(), mk<nn::Unflatten>(1, std::vector<int64_t>{64, 4, 4}),
      mk<nn::ConvTranspose2d>(64, 64, 4, g, s2p1()), bn2(64), relu(),
      mk<nn::ConvTranspose2d>(64, 32, 4, g, s2p1()), bn2(32), relu(),
      mk<nn::ConvTranspose2d>(32, 32, 4, g, s2p1()), bn2(32), relu(),
      mk<nn::ConvTranspose2d>(32, C, 4, g, s2p1())}));
  dcgan_init(*this, g);
}

Tensor InfoGanGenerator::decode(const Tensor& z) {
  UNRAVEL_CHECK(z.dim() == 2 && (z.size(1) == codes_ || z.size(1) == codes_ + noise_),
                "InfoGanGenerator: input must be (N, {}) codes or (N, {}) codes and noise, got {}",
                codes_, codes_ + noise_, z.desc());
  Tensor in = z;
  if (z.size(1) == codes_ && noise_ > 0)
    in = concat({z, Tensor::zeros(Shape{z.size(0), noise_}, z.dtype(), z.device())}, 1);
  return (*net_)(in);
}

std::shared_ptr<Vae> make_infogan(int64_t latents, int64_t categories, int64_t noise,
                                  int64_t channels, Generator& g, const Likelihood& lik) {
  UNRAVEL_CHECK(latents >= categories,
                "infogan: {} latents cannot hold the {}-way categorical code (the first {} latents "
                "are its one-hot classes, the rest continuous codes)", latents, categories,
                categories);
  auto d = std::make_shared<InfoGanDiscriminator>(channels, categories, latents - categories, g);
  auto gen = std::make_shared<InfoGanGenerator>(channels, latents, noise, g);
  return std::make_shared<Vae>(d, gen, latents, Shape{channels, 64, 64}, lik, false);
}

}  // namespace unravel::models
