// Adam / AMSGrad / AdamW (formulas in adam.h): the rule's scalars for Backend::optimizer_step,
// whose per-element code (ops/optim_functors.h) keeps PyTorch's single-tensor operation order.
#include "models/optim/adam.h"

#include <cmath>

#include "engine/check.h"

namespace unravel::optim {

Adam::Adam(TensorList params, const AdamOptions& opt) : Adam(std::move(params), opt, false) {}

Adam::Adam(TensorList params, const AdamOptions& opt, bool decoupled)
    : Optimizer(std::move(params), opt.lr), opt_(opt), decoupled_(decoupled) {
  const char* name = decoupled ? "AdamW" : "Adam";
  UNRAVEL_CHECK(opt.beta1 >= 0 && opt.beta1 < 1 && opt.beta2 >= 0 && opt.beta2 < 1,
                "{}: betas must be in [0, 1), got ({}, {})", name, opt.beta1, opt.beta2);
  UNRAVEL_CHECK(opt.eps >= 0 && opt.weight_decay >= 0,
                "{}: eps and weight_decay must be >= 0, got {} and {}", name, opt.eps,
                opt.weight_decay);
  add_state("exp_avg");
  add_state("exp_avg_sq");
  if (opt.amsgrad) add_state("max_exp_avg_sq");
}

OptimStep Adam::rule(int64_t t) const {
  OptimStep h;
  h.rule = OptimRule::adam;
  h.lr = lr();
  h.weight_decay = opt_.weight_decay;
  h.beta1 = opt_.beta1;
  h.beta2 = opt_.beta2;
  h.eps = opt_.eps;
  h.step_size = lr() / (1 - std::pow(opt_.beta1, double(t)));
  h.bc2_sqrt = std::sqrt(1 - std::pow(opt_.beta2, double(t)));
  h.decoupled = decoupled_;
  h.amsgrad = opt_.amsgrad;
  return h;
}

}  // namespace unravel::optim
