// nn::Sequential: ordered composition of child modules.
#include "models/nn/sequential.h"

#include <cmath>
#include <optional>
#include <typeinfo>

#include "engine/check.h"
#include "models/nn/activation.h"
#include "models/nn/conv.h"
#include "ops/layout.h"

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

// m as a convolution layer when it is exactly a Conv2d / ConvTranspose2d, else null.
ConvLayer2d* as_conv(Module& m) {
  if (typeid(m) == typeid(Conv2d) || typeid(m) == typeid(ConvTranspose2d))
    return static_cast<ConvLayer2d*>(&m);
  return nullptr;
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

// A convolution followed by a ReLU / LeakyReLU runs them as one fused op. A convolution whose
// output (after that activation) goes straight into another convolution hands it over in the
// backend's conv_chain_layout, so the chain reorders only at its ends; the chain's last output
// is strided, so the modules after it never see a backend layout.
Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  const auto& c = children();
  for (size_t i = 0; i < c.size(); ++i) {
    AnomalyScope scope(c[i].first);  // names the layer in anomaly messages (no-op otherwise)
    Module& m = *c[i].second;
    ConvLayer2d* conv = as_conv(m);
    if (!conv) {
      h = m.forward(h);
      continue;
    }
    std::optional<double> slope;
    if (i + 1 < c.size()) slope = fusable_relu_slope(*c[i + 1].second);
    const size_t next = i + (slope ? 2 : 1);
    const Layout out = next < c.size() && as_conv(*c[next].second)
                           ? conv_chain_layout(h.device(), conv->out_channels(), h.dtype())
                           : kStrided;
    h = conv->forward_to(h, slope, out);
    if (slope) ++i;  // the activation ran inside the convolution
  }
  return h;
}

const std::shared_ptr<Module>& Sequential::operator[](size_t i) const {
  UNRAVEL_CHECK(i < size(), "Sequential[{}]: index out of range (size {})", i, size());
  return children()[i].second;
}

}  // namespace unravel::nn
