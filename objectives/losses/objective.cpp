// Shared pieces of the objectives (see objective.h).
#include "objectives/losses/objective.h"

#include "objectives/divergences.h"
#include "ops/ops.h"

namespace unravel {

ObjectiveInput objective_input(const VaeOutputs& out, const Prior& prior) {
  return ObjectiveInput{out, prior, posterior_kl(out, prior)};
}

const Tensor& LossTerms::get(const std::string& name) const {
  for (const auto& [n, t] : terms)
    if (n == name) return t;
  if (name == "total" && total.defined()) return total;
  std::string have;
  for (const auto& [n, t] : terms) have += (have.empty() ? "" : ", ") + n;
  UNRAVEL_CHECK(false, "LossTerms::get: no term '{}' (have: {})", name, have);
}

std::vector<std::pair<std::string, Tensor>> LossTerms::scalars() const {
  std::vector<std::pair<std::string, Tensor>> v(terms.begin(), terms.end());
  if (total.defined()) {
    NoGradGuard ng;
    v.emplace_back("total", total_items == 1.0 ? total : total / total_items);
  }
  return v;
}

std::vector<std::pair<std::string, double>> LossTerms::values() const {
  auto s = scalars();
  TensorList ts;
  for (const auto& [n, t] : s) ts.push_back(t);
  std::vector<double> x = read_scalars(ts);
  std::vector<std::pair<std::string, double>> v;
  for (size_t i = 0; i < s.size(); ++i) v.emplace_back(s[i].first, x[i]);
  return v;
}

Tensor Objective::reduce(const Tensor& per_point) const {
  return opt_.sum_over_batch ? sum(per_point) : mean(per_point);
}

double Objective::batch_scale(const VaeOutputs& out) const {
  return opt_.sum_over_batch ? static_cast<double>(out.posterior.batch()) : 1.0;
}

LossTerms Objective::new_terms(const VaeOutputs& out) const {
  LossTerms t;
  t.total_items = batch_scale(out);
  return t;
}

LossTerms Objective::beta_elbo(const ObjectiveInput& in, const Schedule& schedule, const char* who,
                               const Tensor& extra) const {
  const VaeOutputs& out = in.out;
  check_outputs(out, in.prior, who);
  Tensor rec = reconstruction_log_lik(out);
  const Tensor& kl = in.kl;
  Tensor per_point = kl * match_like(schedule.beta, kl) - rec;
  LossTerms t = new_terms(out);
  t.total = reduce(extra.defined() ? per_point + extra : per_point);
  t.add("recon", mean(-rec));
  t.add("kl", mean(kl));
  return t;
}

VaeOutputs Objective::outputs(models::Vae& vae, const Tensor& x, Generator& gen, int64_t samples) {
  return vae.forward(x, gen, samples);
}

void Objective::set_batch_factor(int k) {
  UNRAVEL_CHECK(false, "objective '{}' does not train on factor batches (asked to vary factor {})",
                name(), k);
}

void check_outputs(const VaeOutputs& out, const Prior& prior, const char* who) {
  UNRAVEL_CHECK(out.x.defined() && out.recon.defined() && out.z.defined() &&
                    out.posterior.mean().defined(),
                "{}: VaeOutputs needs x, recon, z and the posterior", who);
  const Tensor& mu = out.posterior.mean();
  UNRAVEL_CHECK(mu.dim() == 2 && mu.size(0) == out.x.size(0),
                "{}: posterior {} must be (B, D) with B = x's batch {}", who, mu.desc(),
                out.x.desc());
  UNRAVEL_CHECK(mu.size(1) == prior.dim(), "{}: posterior {} vs prior '{}' of size {}", who,
                mu.desc(), prior.name(), prior.dim());
  UNRAVEL_CHECK((out.z.dim() == 2 || out.z.dim() == 3) && out.z.size(-2) == mu.size(0) &&
                    out.z.size(-1) == mu.size(1),
                "{}: z {} must be (B, D) or (K, B, D) for posterior {}", who, out.z.desc(),
                mu.desc());
  const int64_t extra = out.recon.dim() - out.x.dim();
  UNRAVEL_CHECK(extra == out.z.dim() - 2,
                "{}: recon {} must carry the same sample axes as z {} over x {}", who,
                out.recon.desc(), out.z.desc(), out.x.desc());
}

Tensor reconstruction_log_lik(const VaeOutputs& out) {
  Tensor lp = out.likelihood.log_prob(out.x, out.recon, out.recon_log_scale);
  return lp.dim() == 2 ? mean(lp, {0}) : lp;
}

Tensor posterior_kl(const VaeOutputs& out, const Prior& prior) {
  return kl_divergence(out.posterior, prior, out.z);
}

TensorList AuxiliaryUpdate::batch_inputs(const Tensor&, Generator&) {
  UNRAVEL_CHECK(false, "{}: has no data-parallel form", description());
  return {};
}

LossTerms AuxiliaryUpdate::shard_loss(const TensorList&) {
  UNRAVEL_CHECK(false, "{}: has no data-parallel form", description());
  return {};
}

}  // namespace unravel
