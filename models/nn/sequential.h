// nn::Sequential: runs its children in order; children are named "0", "1", ... (or given names),
// so parameters read "0.weight", "2.bias" as in PyTorch. A Conv2d or ConvTranspose2d directly
// followed by a ReLU or a LeakyReLU (slope >= 0) runs as one fused op (forward_relu: the
// activation inside the convolution, ops/conv.h), with the same values and gradients; the
// modules and their names stay as built.
#pragma once
#include <initializer_list>
#include <memory>

#include "models/nn/module.h"

namespace unravel::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  /// Appends each module under its index.
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  /// Appends a module named by its index; returns *this for chaining.
  Sequential& push_back(std::shared_ptr<Module> m);
  /// Appends a module under an explicit name.
  Sequential& add(const std::string& name, std::shared_ptr<Module> m);
  /// Runs the children in order, fusing conv → ReLU / LeakyReLU pairs (file comment).
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }

  size_t size() const { return children().size(); }
  /// The i-th child.
  const std::shared_ptr<Module>& operator[](size_t i) const;
};

}  // namespace unravel::nn
