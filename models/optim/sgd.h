// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay, exactly as
// torch.optim.SGD:
//   d = g + wd·p
//   b = d on the first step, else μ·b + (1 - τ)·d        (when μ ≠ 0)
//   d = d + μ·b (Nesterov) or b
//   p = p - lr·d
#pragma once
#include "models/optim/optimizer.h"

namespace unravel::optim {

struct SGDOptions {
  double lr = 1e-2;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(TensorList params, const SGDOptions& opt);
  std::string type_name() const override { return "SGD"; }
  const SGDOptions& options() const { return opt_; }

 protected:
  OptimStep rule(int64_t t) const override;

 private:
  SGDOptions opt_;
};

}  // namespace unravel::optim
