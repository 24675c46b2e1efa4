// nn::Sequential: runs its children in order; children are named "0", "1", ... (or given names),
// so parameters read "0.weight", "2.bias" as in PyTorch.
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
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }

  size_t size() const { return children().size(); }
  /// The i-th child.
  const std::shared_ptr<Module>& operator[](size_t i) const;
};

}  // namespace unravel::nn
