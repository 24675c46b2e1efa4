// nn::Sequential: ordered composition of child modules.
#include "models/nn/sequential.h"

#include "engine/check.h"

namespace unravel::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

Sequential& Sequential::push_back(std::shared_ptr<Module> m) {
  return add(std::to_string(size()), std::move(m));
}

Sequential& Sequential::add(const std::string& name, std::shared_ptr<Module> m) {
  register_module(name, std::move(m));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [_, m] : children()) h = m->forward(h);
  return h;
}

const std::shared_ptr<Module>& Sequential::operator[](size_t i) const {
  UNRAVEL_CHECK(i < size(), "Sequential[{}]: index out of range (size {})", i, size());
  return children()[i].second;
}

}  // namespace unravel::nn
