// Adam, AMSGrad and AdamW exactly as torch.optim.Adam / AdamW (t = the parameter's step):
//   g = g + wd·p                       (Adam's L2 term)    p = p·(1 - lr·wd)   (AdamW, decoupled)
//   m = m + (1 - β1)·(g - m)           v = β2·v + (1 - β2)·g²
//   v̂ = max(v̂, v) (AMSGrad; used in place of v below)
//   p = p - (lr / (1 - β1^t)) · m / (sqrt(v) / sqrt(1 - β2^t) + ε)
#pragma once
#include "models/optim/optimizer.h"

namespace unravel::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
};

class Adam : public Optimizer {
 public:
  Adam(TensorList params, const AdamOptions& opt);
  std::string type_name() const override { return "Adam"; }
  const AdamOptions& options() const { return opt_; }

 protected:
  /// decoupled = true gives AdamW.
  Adam(TensorList params, const AdamOptions& opt, bool decoupled);
  OptimStep rule(int64_t t) const override;

 private:
  AdamOptions opt_;
  bool decoupled_;
};

/// Adam with decoupled weight decay (Loshchilov & Hutter); PyTorch's default decay is 0.01.
class AdamW : public Adam {
 public:
  AdamW(TensorList params, const AdamOptions& opt) : Adam(std::move(params), opt, true) {}
  std::string type_name() const override { return "AdamW"; }
};

}  // namespace unravel::optim
