// nn::Linear: parameter creation with PyTorch's default init and a shape-checked forward.
#include "models/nn/linear.h"

#include "engine/check.h"
#include "models/nn/init.h"
#include "ops/matmul.h"

namespace unravel::nn {

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias)
    : in_(in_features), out_(out_features) {
  UNRAVEL_CHECK(in_ > 0 && out_ > 0, "Linear: features must be positive, got in={} out={}", in_,
                out_);
  weight_ = register_parameter("weight", Tensor::empty(Shape{out_, in_}));
  init::default_weight_(weight_, gen);
  if (bias) {
    bias_ = register_parameter("bias", Tensor::empty(Shape{out_}));
    init::default_bias_(bias_, in_, gen);
  }
}

Tensor Linear::forward(const Tensor& x) {
  UNRAVEL_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in_,
                "Linear(in={}, out={}): input {} must end in {} features", in_, out_, x.desc(), in_);
  return linear(x, weight_, bias_);
}

std::string Linear::describe() const {
  return fmt::format("Linear(in={}, out={}{})", in_, out_, bias_.defined() ? ", bias" : "");
}

}  // namespace unravel::nn
