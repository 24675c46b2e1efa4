// ELBO-family objectives (see elbo_objectives.h).
#include "objectives/losses/elbo_objectives.h"

#include <vector>

#include "ops/ops.h"

namespace unravel {

namespace {
/// The D × D identity in like's dtype on like's device, built once per device.
Tensor eye_constant(int64_t d, const Tensor& like) {
  return cached_constant(fmt::format("eye/{}", d), like.device(), like.dtype(),
                         [d] { return eye(d, DType::f64); });
}
}  // namespace

LossTerms VaeObjective::compute(const ObjectiveInput& in, const Schedule& schedule, Generator&) {
  const VaeOutputs& out = in.out;
  check_outputs(out, in.prior, name().c_str());
  Tensor rec = reconstruction_log_lik(out);
  const Tensor& kl = in.kl;
  LossTerms t = new_terms(out);
  Tensor beta = use_beta_ ? match_like(schedule.beta, kl) : scalar_like(1.0, kl);
  t.total = reduce((use_beta_ ? kl * beta : kl) - rec);
  t.add("recon", mean(-rec));
  t.add("kl", mean(kl));
  t.add("beta", beta);
  return t;
}

LossTerms CapacityObjective::compute(const ObjectiveInput& in, const Schedule& schedule,
                                     Generator&) {
  const VaeOutputs& out = in.out;
  check_outputs(out, in.prior, "capacity");
  Tensor rec = reconstruction_log_lik(out);
  Tensor kl_mean = mean(in.kl);
  Tensor c = match_like(schedule.capacity, kl_mean);
  Tensor cap = abs(kl_mean - c) * gamma_;
  LossTerms t = new_terms(out);
  t.total = reduce(-rec) + cap * batch_scale(out);
  t.add("recon", mean(-rec));
  t.add("kl", kl_mean);
  t.add("capacity", c);
  t.add("capacity_term", cap);
  return t;
}

MathieuObjective::MathieuObjective(double alpha, std::unique_ptr<AggregateDivergence> divergence,
                                   ObjectiveOptions opt)
    : Objective(opt), alpha_(alpha), div_(std::move(divergence)) {
  UNRAVEL_CHECK(alpha >= 0, "mathieu objective: alpha must be >= 0, got {}", alpha);
  UNRAVEL_CHECK(div_ != nullptr || alpha == 0, "mathieu objective: alpha > 0 needs a divergence");
}

std::string MathieuObjective::batch_coupling() const {
  if (alpha_ == 0) return "";
  return fmt::format("its divergence '{}' estimates D(q(z), p(z)) from the whole batch "
                     "(alpha = {})", div_->name(), alpha_);
}

LossTerms MathieuObjective::compute(const ObjectiveInput& in, const Schedule& schedule,
                                    Generator& gen) {
  const VaeOutputs& out = in.out;
  LossTerms t = beta_elbo(in, schedule, "mathieu");
  if (alpha_ > 0) {
    Tensor d = (*div_)(out.posterior, out.z, in.prior, gen);
    t.total = t.total + d * (alpha_ * batch_scale(out));
    t.add(div_->name(), d);
  }
  return t;
}

BetaTcvaeObjective::BetaTcvaeObjective(int64_t dataset_size, TcSampling sampling, double alpha,
                                       double gamma, ObjectiveOptions opt)
    : Objective(opt), n_(dataset_size), sampling_(sampling), alpha_(alpha), gamma_(gamma) {
  UNRAVEL_CHECK(dataset_size >= 2, "beta-tcvae: dataset size must be >= 2, got {}", dataset_size);
}

LossTerms BetaTcvaeObjective::compute(const ObjectiveInput& in, const Schedule& schedule,
                                      Generator&) {
  const VaeOutputs& out = in.out;
  check_outputs(out, in.prior, "beta-tcvae");
  Tensor rec = reconstruction_log_lik(out);
  TcDecomposition d = tc_decomposition(out.posterior, out.z, in.prior, n_, sampling_);
  Tensor mi = d.log_qz_x - d.log_qz, tc = d.log_qz - d.log_prod_qz, dw = d.log_prod_qz - d.log_pz;
  Tensor per_point = mi * alpha_ + tc * match_like(schedule.beta, tc) + dw * gamma_ - rec;
  LossTerms t = new_terms(out);
  t.total = reduce(per_point);
  t.add("recon", mean(-rec));
  t.add("kl", mean(in.kl.detach()));  // logged only
  t.add("mi", d.mi);
  t.add("tc", d.tc);
  t.add("dwkl", d.dwkl);
  return t;
}

DipVaeObjective::DipVaeObjective(bool second, double lambda_od, double lambda_d,
                                 ObjectiveOptions opt)
    : Objective(opt), second_(second), lambda_od_(lambda_od), lambda_d_(lambda_d) {
  UNRAVEL_CHECK(lambda_od >= 0 && lambda_d >= 0, "dip-vae: lambdas must be >= 0, got {} and {}",
                lambda_od, lambda_d);
}

Tensor dip_covariance(const DiagonalGaussian& q, bool second) {
  const Tensor& mu = q.mean();
  UNRAVEL_CHECK(mu.dim() == 2, "dip_covariance: posterior mean must be (B, D), got {}", mu.desc());
  Tensor c = mu - mean(mu, {0}, true);
  Tensor cov = mean(unsqueeze(c, 2) * unsqueeze(c, 1), {0});  // (D, D), population covariance
  if (!second) return cov;
  return cov + unsqueeze(mean(q.variance(), {0}), 0) * eye_constant(mu.size(1), mu);
}

std::vector<Tensor> dip_regulariser(const Tensor& cov, double lambda_od, double lambda_d) {
  UNRAVEL_CHECK(cov.dim() == 2 && cov.size(0) == cov.size(1),
                "dip_regulariser: covariance must be square, got {}", cov.desc());
  Tensor e = eye_constant(cov.size(0), cov);
  Tensor off = sum(square(cov * (1.0 - e)));
  Tensor diag = sum(square(sum(cov * e, {1}) - 1.0));
  return {off * lambda_od + diag * lambda_d, off, diag};
}

LossTerms DipVaeObjective::compute(const ObjectiveInput& in, const Schedule& schedule, Generator&) {
  const VaeOutputs& out = in.out;
  LossTerms t = beta_elbo(in, schedule, name().c_str());
  std::vector<Tensor> reg = dip_regulariser(dip_covariance(out.posterior, second_), lambda_od_,
                                            lambda_d_);
  t.total = t.total + reg[0] * batch_scale(out);
  t.add("cov_offdiag", reg[1]);
  t.add("cov_diag", reg[2]);
  t.add("dip", reg[0]);
  return t;
}

}  // namespace unravel
