// nn::Linear: y = x Wᵀ + b for x (..., in), W (out, in), b (out), on ops/matmul.h's linear.
#pragma once
#include "engine/random.h"
#include "models/nn/module.h"

namespace unravel::nn {

class Linear : public Module {
 public:
  /// Weight (out, in) and optional bias (out) with PyTorch's default init drawn from `gen`.
  Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string describe() const override;

  /// (out, in) weight.
  const Tensor& weight() const { return weight_; }
  /// (out) bias, undefined when built without one.
  const Tensor& bias() const { return bias_; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  Tensor weight_, bias_;
};

}  // namespace unravel::nn
