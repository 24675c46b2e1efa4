#include "ops/broadcast.h"

#include "engine/check.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"

namespace unravel {

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int lead = g.dim() - shape.size();
  UNRAVEL_CHECK(lead >= 0, "sum_to: cannot reduce {} to the larger shape {}", g.desc(), shape.str());
  Axes axes;
  for (int i = 0; i < lead; ++i) axes.push_back(i);
  for (int i = 0; i < shape.size(); ++i) {
    if (shape[i] == g.shape()[i + lead]) continue;
    UNRAVEL_CHECK(shape[i] == 1, "sum_to: {} does not broadcast from {}", g.desc(), shape.str());
    axes.push_back(i + lead);
  }
  Tensor r = axes.empty() ? g : sum(g, axes, /*keepdim=*/true);
  return reshape(r, shape);
}

}  // namespace unravel
