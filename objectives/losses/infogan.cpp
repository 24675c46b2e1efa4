// InfoGAN objective (see infogan.h).
#include "objectives/losses/infogan.h"

#include "engine/check.h"
#include "ops/ops.h"

namespace unravel {

models::InfoGanDiscriminator& infogan_discriminator(models::Vae& vae, const char* who) {
  auto* d = dynamic_cast<models::InfoGanDiscriminator*>(&vae.encoder());
  UNRAVEL_CHECK(d != nullptr, "{}: needs an InfoGAN architecture (--arch infogan-dsprites); the "
                "model's encoder is a {}", who, vae.encoder().type_name());
  return *d;
}

models::InfoGanGenerator& infogan_generator(models::Vae& vae, const char* who) {
  auto* g = dynamic_cast<models::InfoGanGenerator*>(&vae.decoder());
  UNRAVEL_CHECK(g != nullptr, "{}: needs an InfoGAN architecture (--arch infogan-dsprites); the "
                "model's decoder is a {}", who, vae.decoder().type_name());
  return *g;
}

InfoGanObjective::InfoGanObjective(double lambda_cat, double lambda_cont, ObjectiveOptions opt)
    : Objective(opt), lambda_cat_(lambda_cat), lambda_cont_(lambda_cont) {
  UNRAVEL_CHECK(lambda_cat >= 0 && lambda_cont >= 0,
                "objective 'infogan': lambda_cat and lambda_cont must be >= 0, got {} and {}",
                lambda_cat, lambda_cont);
  UNRAVEL_CHECK(!opt.sum_over_batch, "objective 'infogan': sum_over_batch is not supported");
}

void InfoGanObjective::bind_model(models::Vae& vae) {
  infogan_discriminator(vae, "objective 'infogan'");
  infogan_generator(vae, "objective 'infogan'");
  vae_ = &vae;
}

models::InfoGanDiscriminator& InfoGanObjective::disc() const {
  UNRAVEL_CHECK(vae_ != nullptr, "objective 'infogan': not bound to a model (TrainState binds it)");
  return infogan_discriminator(*vae_, "objective 'infogan'");
}

VaeOutputs InfoGanObjective::outputs(models::Vae& vae, const Tensor& x, Generator& gen,
                                     int64_t samples) {
  UNRAVEL_CHECK(samples == 1, "objective 'infogan': draws one generated image per datapoint; "
                "got --samples {}", samples);
  models::InfoGanDiscriminator& d = infogan_discriminator(vae, "objective 'infogan'");
  models::InfoGanGenerator& g = infogan_generator(vae, "objective 'infogan'");
  UNRAVEL_CHECK(vae_ == &vae, "objective 'infogan': outputs() for a model it was not bound to");
  const int64_t B = x.size(0), K = d.categories(), L = d.continuous();
  const DType dt = x.dtype();
  const Device dev = x.device();
  Tensor codes;
  {
    NoGradGuard ng;
    Tensor cls = unravel::to(floor(uniform(Shape{B}, gen, 0.0, 1.0, DType::f64, dev) * static_cast<double>(K)),
                    DType::i64);
    Tensor cat = one_hot(minimum(cls, Tensor::full(Shape{}, static_cast<double>(K - 1), DType::i64, dev)), K, dt);
    codes = L > 0 ? concat({cat, uniform(Shape{B, L}, gen, -1.0, 1.0, dt, dev)}, 1) : cat;
  }
  Tensor input = codes;
  if (g.noise() > 0) input = concat({codes, normal(Shape{B, g.noise()}, gen, 0.0, 1.0, dt, dev)}, 1);
  VaeOutputs out;
  out.x = x;
  out.likelihood = vae.likelihood();
  {
    AnomalyScope scope(vae.name()), inner(g.name());
    out.recon = g.decode(input);
  }
  {
    AnomalyScope scope(vae.name()), inner(d.name());
    fake_ = d.discriminate(sigmoid(out.recon));
  }
  out.z = codes;
  Tensor mean = concat({softmax(fake_.cat_logits, 1), fake_.cont_mean}, 1);
  out.posterior = DiagonalGaussian::from_logvar(mean, Tensor::zeros(mean.shape(), mean.dtype(), dev));
  return out;
}

Tensor InfoGanObjective::mi_loss(const models::DiscriminatorOutputs& q, const Tensor& z,
                                 Tensor* cat, Tensor* cont) const {
  const int64_t K = q.cat_logits.size(1), L = q.cont_mean.size(1);
  UNRAVEL_CHECK(z.dim() == 2 && z.size(1) == K + L && z.size(0) == q.cat_logits.size(0),
                "objective 'infogan': codes {} do not match Q's {} categories and {} continuous "
                "codes for a batch of {}", z.desc(), K, L, q.cat_logits.size(0));
  Tensor c = z.detach();
  // CE with a one-hot target: −Σ_k onehot_k · log_softmax_k.
  Tensor l_cat = mean(neg(sum(slice(c, 1, 0, K) * log_softmax(q.cat_logits, 1), {1})));
  Tensor l_cont = L > 0 ? mean(sum(square(slice(c, 1, K, K + L) - q.cont_mean), {1})) * 0.5
                        : Tensor::zeros(Shape{}, l_cat.dtype(), l_cat.device());
  if (cat) *cat = l_cat;
  if (cont) *cont = l_cont;
  return l_cat * lambda_cat_ + l_cont * lambda_cont_;
}

LossTerms InfoGanObjective::generator_loss(const models::DiscriminatorOutputs& fake,
                                           const Tensor& z) const {
  Tensor cat, cont;
  Tensor mi = mi_loss(fake, z, &cat, &cont);
  Tensor g = mean(softplus(neg(fake.d_logit)));
  LossTerms t;
  t.total = g + mi;
  t.add("g_loss", g);
  t.add("mi_cat", cat);
  t.add("mi_cont", cont);
  return t;
}

LossTerms InfoGanObjective::discriminator_loss(const models::DiscriminatorOutputs& real,
                                               const models::DiscriminatorOutputs& fake,
                                               const Tensor& z) const {
  Tensor mi = mi_loss(fake, z, nullptr, nullptr);
  Tensor d = mean(softplus(neg(real.d_logit))) + mean(softplus(fake.d_logit));
  LossTerms t;
  t.total = d + mi;
  t.add("d_loss", d);
  {
    NoGradGuard ng;
    t.add("d_real", mean(unravel::to(gt(real.d_logit, 0.0), real.d_logit.dtype())));
    t.add("d_fake", mean(unravel::to(lt(fake.d_logit, 0.0), fake.d_logit.dtype())));
  }
  t.add("mi_d", mi);
  return t;
}

LossTerms InfoGanObjective::compute(const ObjectiveInput& in, const Schedule&, Generator&) {
  UNRAVEL_CHECK(fake_.d_logit.defined(), "objective 'infogan': compute() needs the outputs() of "
                "the same step (InfoGAN generates its own batch)");
  LossTerms t = generator_loss(fake_, in.out.z);
  fake_ = {};
  return t;
}

TensorList InfoGanObjective::DiscUpdate::parameters() const {
  return o_.disc().parameters();
}

LossTerms InfoGanObjective::DiscUpdate::loss(const ObjectiveInput& in, Generator&) {
  models::InfoGanDiscriminator& d = o_.disc();
  models::DiscriminatorOutputs real = d.discriminate(in.out.x);
  models::DiscriminatorOutputs fake = d.discriminate(sigmoid(in.out.recon.detach()));
  return o_.discriminator_loss(real, fake, in.out.z);
}

}  // namespace unravel
