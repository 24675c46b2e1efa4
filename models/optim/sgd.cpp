// SGD (formula in sgd.h): the rule's scalars for Backend::optimizer_step (element code in
// ops/optim_functors.h).
#include "models/optim/sgd.h"

#include "engine/check.h"

namespace unravel::optim {

SGD::SGD(TensorList params, const SGDOptions& opt) : Optimizer(std::move(params), opt.lr), opt_(opt) {
  UNRAVEL_CHECK(opt.momentum >= 0 && opt.weight_decay >= 0,
                "SGD: momentum and weight_decay must be >= 0, got {} and {}", opt.momentum,
                opt.weight_decay);
  UNRAVEL_CHECK(!opt.nesterov || (opt.momentum > 0 && opt.dampening == 0),
                "SGD: Nesterov momentum needs momentum > 0 and dampening 0, got {} and {}",
                opt.momentum, opt.dampening);
  if (opt_.momentum != 0) add_state("momentum_buffer");
}

OptimStep SGD::rule(int64_t t) const {
  OptimStep h;
  h.rule = OptimRule::sgd;
  h.lr = lr();
  h.weight_decay = opt_.weight_decay;
  h.momentum = opt_.momentum;
  h.dampening = opt_.dampening;
  h.nesterov = opt_.nesterov;
  h.first = t == 1;
  return h;
}

}  // namespace unravel::optim
