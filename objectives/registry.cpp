// Name → component registry for objectives/ (see registry.h).
#include "objectives/registry.h"

#include <set>

#include <fmt/ranges.h>

#include "engine/check.h"
#include "engine/param_reader.h"

#include "objectives/controllers/pi_controllers.h"
#include "objectives/controllers/schedules.h"
#include "objectives/losses/dcign.h"
#include "objectives/losses/elbo_objectives.h"
#include "objectives/losses/factor_vae.h"
#include "objectives/losses/infogan.h"
#include "objectives/priors/gaussian_priors.h"
#include "objectives/priors/gen_normal.h"
#include "objectives/priors/mixture.h"
#include "objectives/priors/spike_slab.h"
#include "objectives/priors/student_t.h"

namespace unravel {

namespace {
int64_t as_int(double v, const char* what) {
  UNRAVEL_CHECK(v >= 0 && v == static_cast<double>(static_cast<int64_t>(v)),
                "registry: {} must be a non-negative integer, got {}", what, v);
  return static_cast<int64_t>(v);
}

// Reads key_0 .. key_{d-1}; empty when key_0 is absent, else all must be present.
std::vector<double> indexed(ParamReader& r, const std::string& key, int64_t d) {
  std::vector<double> v;
  if (!r.has(key + "_0")) return v;
  for (int64_t i = 0; i < d; ++i) v.push_back(r.required(key + "_" + std::to_string(i)));
  return v;
}
}  // namespace

const std::vector<RegistryEntry>& prior_entries() {
  static const std::vector<RegistryEntry> e = {
      {"iso", "isotropic Gaussian N(0, scale^2 I)"},
      {"aniso", "anisotropic Gaussian, per-dim variances (softmax logits or fixed scales; "
                "optionally learned)"},
      {"student-t", "factorised Student-t with df degrees of freedom (heavy tails)"},
      {"mog", "the 2-D pinwheel mixture of 4 Gaussians (Mathieu et al.)"},
      {"sparse", "spike-and-slab per dim: gamma N(0, spike^2) + (1-gamma) N(0, slab^2) (Mathieu et al.)"},
      {"gen-normal", "factorised generalised normal exp(-|z/a|^power), unit variance by default "
                     "(power 2: Gaussian; > 2: light tails, towards a uniform)"},
  };
  return e;
}
const std::vector<RegistryEntry>& divergence_entries() {
  static const std::vector<RegistryEntry> e = {
      {"kld_inc", "inclusive KL(p(z) || q(z)), q(z) the minibatch mixture (Mathieu et al.)"},
      {"mmd_dim", "sum over dims of 1-D IMQ-kernel MMD between q(z_d) and p(z_d)"},
      {"mmd_full", "IMQ-kernel MMD between q(z) and p(z) in the full latent space"},
      {"kl_mws", "KL(q(z) || p(z)) with Chen et al.'s minibatch weighted sampling"},
  };
  return e;
}
const std::vector<RegistryEntry>& objective_entries() {
  static const std::vector<RegistryEntry> e = {
      {"vae", "ELBO: E[log p(x|z)] - KL(q(z|x) || p(z)) (Kingma & Welling)"},
      {"beta-vae", "E[log p(x|z)] - beta KL, beta from the controller (Higgins et al.)"},
      {"capacity", "E[log p(x|z)] - gamma |KL - C|, C from the controller (Burgess et al.)"},
      {"mathieu", "E[log p(x|z)] - beta KL - alpha D(q(z), p(z)) (Mathieu et al.)"},
      {"beta-tcvae", "ELBO with the total correlation weighted by beta (Chen et al.; MWS or MSS)"},
      {"factor-vae", "ELBO - gamma TC, TC by a density-ratio discriminator (Kim & Mnih)"},
      {"dip-vae-i", "ELBO + penalty on the covariance of the posterior means (Kumar et al.)"},
      {"dip-vae-ii", "ELBO + penalty on the aggregate posterior's covariance (Kumar et al.)"},
      {"dcign", "ELBO on batches where one factor varies, other latents clamped to the batch mean (Kulkarni et al.)"},
      {"infogan", "GAN + lambda * mutual-information lower bound, Q head as encoder (Chen et al. 2016)"},
  };
  return e;
}
const std::vector<RegistryEntry>& controller_entries() {
  static const std::vector<RegistryEntry> e = {
      {"constant", "fixed beta"},
      {"linear-capacity", "C(t) rising linearly from C_start to C_max by step C_stop (Burgess et al.)"},
      {"controlvae-pi", "PI controller on beta tracking a KL set-point raised in steps (Shao et al.)"},
      {"adaptive-capacity", "PI controller on beta; C rises only while beta has stopped rising"},
      {"kl-anneal-monotonic", "beta ramps from beta_min to beta_max once, then holds (Fu et al.)"},
      {"kl-anneal-cyclical", "beta ramps from beta_min to beta_max in repeated cycles (Fu et al.)"},
  };
  return e;
}

std::vector<std::string> prior_names() { return names_of(prior_entries()); }
std::vector<std::string> divergence_names() { return names_of(divergence_entries()); }
std::vector<std::string> objective_names() { return names_of(objective_entries()); }
std::vector<std::string> controller_names() { return names_of(controller_entries()); }

std::unique_ptr<Prior> make_prior(const std::string& name, const Params& params, DType dtype) {
  ParamReader r(params, "prior '" + name + "'");
  std::unique_ptr<Prior> p;
  if (name == "iso") {
    int64_t d = as_int(r.required("dim"), "dim");
    p = std::make_unique<IsotropicGaussianPrior>(d, r.get("scale", 1.0), dtype);
  } else if (name == "aniso") {
    int64_t d = as_int(r.required("dim"), "dim");
    r.allow_prefix("scale_");
    r.allow_prefix("logit_");
    double vs = r.get("variance_scale", 1.0);
    bool learn = r.get("learnable", 0.0) != 0.0;
    std::vector<double> scales = indexed(r, "scale", d), logits = indexed(r, "logit", d);
    UNRAVEL_CHECK(scales.empty() || logits.empty(), "prior 'aniso': give scale_<d> or logit_<d>, "
                                                    "not both");
    if (!scales.empty()) {
      UNRAVEL_CHECK(!learn, "prior 'aniso': fixed scale_<d> cannot be learnable; use logit_<d>");
      p = AnisotropicGaussianPrior::fixed_scales(scales, dtype);
    } else {
      if (logits.empty()) logits.assign(static_cast<size_t>(d), 0.0);
      p = AnisotropicGaussianPrior::softmax(logits, vs, learn, dtype);
    }
  } else if (name == "student-t") {
    int64_t d = as_int(r.required("dim"), "dim");
    p = std::make_unique<StudentTPrior>(d, r.get("df", 2.0), r.get("scale", 1.0), dtype);
  } else if (name == "gen-normal") {
    int64_t d = as_int(r.required("dim"), "dim");
    p = std::make_unique<GeneralisedNormalPrior>(d, r.get("power", 4.0), r.get("stddev", 1.0), dtype);
  } else if (name == "mog") {
    UNRAVEL_CHECK(as_int(r.get("dim", 2.0), "dim") == 2,
                  "prior 'mog': the registry's mixture is the 2-D pinwheel prior; build other "
                  "mixtures with MixtureOfGaussiansPrior");
    p = MixtureOfGaussiansPrior::pinwheel(r.get("variance_scale", 0.03),
                                          r.get("learnable", 0.0) != 0.0, dtype);
  } else if (name == "sparse") {
    int64_t d = as_int(r.required("dim"), "dim");
    p = std::make_unique<SpikeSlabPrior>(d, r.get("gamma", 0.8), r.get("spike_scale", 0.05),
                                         r.get("slab_scale", 1.0), dtype);
  } else {
    UNRAVEL_CHECK(false, "prior: unknown name '{}' (valid: {})", name, fmt::join(prior_names(), ", "));
  }
  r.finish();
  return p;
}

std::unique_ptr<AggregateDivergence> make_divergence(const std::string& name) {
  return make_aggregate_divergence(name);
}

std::unique_ptr<Objective> make_objective(const std::string& name, const Params& params,
                                          const std::string& divergence, Generator* gen,
                                          DType dtype) {
  ParamReader r(params, "objective '" + name + "'");
  ObjectiveOptions opt;
  opt.sum_over_batch = r.get("sum_over_batch", name == "mathieu" ? 1.0 : 0.0) != 0.0;
  std::unique_ptr<Objective> o;
  if (name == "vae" || name == "beta-vae") {
    o = std::make_unique<VaeObjective>(name == "beta-vae", opt);
  } else if (name == "capacity") {
    o = std::make_unique<CapacityObjective>(r.get("gamma", 1000.0), opt);
  } else if (name == "mathieu") {
    o = std::make_unique<MathieuObjective>(r.get("alpha", 0.0), make_divergence(divergence), opt);
  } else if (name == "beta-tcvae") {
    int64_t n = as_int(r.required("dataset_size"), "dataset_size");
    const double mss = r.get("mss", 0.0);
    UNRAVEL_CHECK(mss == 0.0 || mss == 1.0,
                  "{}: mss must be 1 (the stratified estimator) or 0 (minibatch-weighted), got {}",
                  r.who(), mss);
    TcSampling s = mss != 0.0 ? TcSampling::mss : TcSampling::mws;
    o = std::make_unique<BetaTcvaeObjective>(n, s, r.get("alpha", 1.0), r.get("gamma", 1.0), opt);
  } else if (name == "factor-vae") {
    UNRAVEL_CHECK(gen != nullptr, "objective 'factor-vae': needs a Generator for the discriminator");
    int64_t latent = as_int(r.required("latent"), "latent");
    o = std::make_unique<FactorVaeObjective>(latent, r.get("gamma", 6.4),
                                             as_int(r.get("disc_hidden", 1000.0), "disc_hidden"),
                                             as_int(r.get("disc_layers", 6.0), "disc_layers"),
                                             *gen, dtype, opt);
  } else if (name == "dip-vae-i" || name == "dip-vae-ii") {
    const bool second = name == "dip-vae-ii";
    double od = r.get("lambda_od", 10.0);
    double d = r.get("lambda_d", second ? od : 10.0 * od);
    o = std::make_unique<DipVaeObjective>(second, od, d, opt);
  } else if (name == "dcign") {
    int64_t latent = as_int(r.required("latent"), "latent");
    int64_t factors = as_int(r.required("factors"), "factors");
    o = std::make_unique<DcignObjective>(latent, factors, r.get("grad_scale", 1.0), opt);
  } else if (name == "infogan") {
    o = std::make_unique<InfoGanObjective>(r.get("lambda_cat", 1.0), r.get("lambda_cont", 1.0), opt);
  } else {
    UNRAVEL_CHECK(false, "objective: unknown name '{}' (valid: {})", name, fmt::join(objective_names(), ", "));
  }
  r.finish();
  return o;
}

std::unique_ptr<Controller> make_controller(const std::string& name, const Params& params) {
  ParamReader r(params, "controller '" + name + "'");
  std::unique_ptr<Controller> c;
  if (name == "constant") {
    c = std::make_unique<ConstantController>(r.get("beta", 1.0));
  } else if (name == "linear-capacity") {
    c = std::make_unique<LinearCapacityController>(r.get("C_max", 25.0), r.get("C_stop", 1e5),
                                                   r.get("C_start", 0.0));
  } else if (name == "controlvae-pi") {
    c = std::make_unique<ControlVaePiController>(
        r.get("C_start", 0.5), r.get("C_max", 18.0), r.get("step_val", 0.15),
        as_int(r.get("period", 5000.0), "period"), r.get("Kp", 0.01), r.get("Ki", -0.001),
        r.get("beta_min", 1.0));
  } else if (name == "adaptive-capacity") {
    c = std::make_unique<AdaptiveCapacityController>(r.get("C_start", 0.5), r.get("C_max", 16.0),
                                                     r.get("t_max", 1.5e6), r.get("Kp", 0.01),
                                                     r.get("Ki", -0.001), r.get("beta_min", 1.0));
  } else if (name == "kl-anneal-monotonic") {
    c = std::make_unique<KlAnnealController>(true, r.required("total_steps"), 1.0,
                                             r.get("ratio", 0.5), r.get("beta_min", 0.0),
                                             r.get("beta_max", 1.0));
  } else if (name == "kl-anneal-cyclical") {
    c = std::make_unique<KlAnnealController>(false, r.required("total_steps"),
                                             r.get("cycles", 4.0), r.get("ratio", 0.5),
                                             r.get("beta_min", 0.0), r.get("beta_max", 1.0));
  } else {
    UNRAVEL_CHECK(false, "controller: unknown name '{}' (valid: {})", name,
                  fmt::join(controller_names(), ", "));
  }
  r.finish();
  return c;
}

}  // namespace unravel
