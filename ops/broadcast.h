// Gradients under broadcasting: sum a gradient back to an input's shape.
#pragma once
#include "engine/tensor.h"

namespace unravel {

/// Sums `g` over the dimensions that broadcasting added or expanded so it has `shape`.
/// Differentiable. Returns g itself when shapes already match.
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace unravel
