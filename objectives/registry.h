// One registry, by name, for everything in objectives/: priors, aggregate divergences,
// objectives and controllers. Parameters come as a string → double map; unknown names and
// unknown parameter keys are errors that list the valid ones, and required keys are checked.
//
// priors       iso {dim, scale=1} · aniso {dim, variance_scale=1, learnable=0, scale_<d> (fixed
//              per-dim scales) or logit_<d> (softmax logits, default 0)} · student-t {dim, df=2,
//              scale=1} · mog {dim=2, variance_scale=0.03, learnable=0: the pinwheel mixture} ·
//              sparse {dim, gamma=0.8, spike_scale=0.05, slab_scale=1} · gen-normal {dim,
//              power=4, stddev=1}
// divergences  kld_inc · mmd_dim · mmd_full · kl_mws (no parameters)
// objectives   vae · beta-vae · capacity {gamma=1000} · mathieu {alpha=0; the divergence by name}
//              · beta-tcvae {dataset_size, mss=0, alpha=1, gamma=1} · factor-vae {latent,
//              gamma=6.4, disc_hidden=1000, disc_layers=6} · dip-vae-i {lambda_od=10,
//              lambda_d=10·lambda_od} · dip-vae-ii {lambda_od=10, lambda_d=lambda_od} · dcign
//              {latent, factors, grad_scale=1} · infogan {lambda_cat=1, lambda_cont=1; needs
//              an infogan-* architecture};
//              every objective also takes sum_over_batch (default 1 for mathieu, else 0)
// controllers  constant {beta=1} · linear-capacity {C_max=25, C_stop=100000, C_start=0} ·
//              controlvae-pi {C_start=0.5, C_max=18, step_val=0.15, period=5000, Kp=0.01,
//              Ki=-0.001, beta_min=1} · adaptive-capacity {C_start=0.5, C_max=16, t_max=1500000,
//              Kp, Ki, beta_min} · kl-anneal-monotonic {total_steps, ratio=0.5, beta_min=0,
//              beta_max=1} · kl-anneal-cyclical {total_steps, cycles=4, ratio=0.5, beta_min=0,
//              beta_max=1}
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/random.h"
#include "engine/registry_entry.h"
#include "objectives/controllers/controller.h"
#include "objectives/divergences.h"
#include "objectives/losses/objective.h"
#include "objectives/priors/prior.h"

namespace unravel {

using Params = std::map<std::string, double>;

/// Registered components of each kind, in listing order.
const std::vector<RegistryEntry>& prior_entries();
const std::vector<RegistryEntry>& divergence_entries();
const std::vector<RegistryEntry>& objective_entries();
const std::vector<RegistryEntry>& controller_entries();

/// Just the names of each kind.
std::vector<std::string> prior_names();
std::vector<std::string> divergence_names();
std::vector<std::string> objective_names();
std::vector<std::string> controller_names();

/// A prior by name with its parameters, in `dtype`.
std::unique_ptr<Prior> make_prior(const std::string& name, const Params& params,
                                  DType dtype = DType::f32);
/// An aggregate divergence D(q(z), p(z)) by name.
std::unique_ptr<AggregateDivergence> make_divergence(const std::string& name);
/// An objective by name; `divergence` names mathieu's D estimator; `gen` initialises
/// factor-vae's discriminator (required for it).
std::unique_ptr<Objective> make_objective(const std::string& name, const Params& params,
                                          const std::string& divergence = "kld_inc",
                                          Generator* gen = nullptr, DType dtype = DType::f32);
/// A controller by name.
std::unique_ptr<Controller> make_controller(const std::string& name, const Params& params);

}  // namespace unravel
