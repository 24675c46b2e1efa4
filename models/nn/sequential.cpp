// nn::Sequential: ordered composition of child modules.
#include "models/nn/sequential.h"

#include <cmath>
#include <optional>
#include <typeinfo>

#include "engine/check.h"
#include "models/nn/activation.h"
#include "models/nn/conv.h"

namespace unravel::nn {

namespace {

// The negative slope of a ReLU (0) or LeakyReLU module that a convolution can absorb; exact
// types only, so a subclass with its own forward is never bypassed.
std::optional<double> fusable_relu_slope(const Module& m) {
  if (typeid(m) == typeid(ReLU)) return 0.0;
  if (typeid(m) == typeid(LeakyReLU)) {
    const double s = static_cast<const LeakyReLU&>(m).negative_slope();
    if (s >= 0.0 && std::isfinite(s)) return s;
  }
  return std::nullopt;
}

// Runs `m` with the activation fused when m is exactly a Conv2d / ConvTranspose2d.
std::optional<Tensor> forward_fused(Module& m, const Tensor& x, double slope) {
  if (typeid(m) == typeid(Conv2d)) return static_cast<Conv2d&>(m).forward_relu(x, slope);
  if (typeid(m) == typeid(ConvTranspose2d))
    return static_cast<ConvTranspose2d&>(m).forward_relu(x, slope);
  return std::nullopt;
}

}  // namespace

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
  const auto& c = children();
  for (size_t i = 0; i < c.size(); ++i) {
    AnomalyScope scope(c[i].first);  // names the layer in anomaly messages (no-op otherwise)
    if (i + 1 < c.size()) {
      if (const auto slope = fusable_relu_slope(*c[i + 1].second)) {
        if (auto y = forward_fused(*c[i].second, h, *slope)) {
          h = std::move(*y);
          ++i;  // the activation ran inside the convolution
          continue;
        }
      }
    }
    h = c[i].second->forward(h);
  }
  return h;
}

const std::shared_ptr<Module>& Sequential::operator[](size_t i) const {
  UNRAVEL_CHECK(i < size(), "Sequential[{}]: index out of range (size {})", i, size());
  return children()[i].second;
}

}  // namespace unravel::nn
