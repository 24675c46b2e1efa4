// Elementwise unary ops with their gradients (ops/unary.cpp).
#pragma once
#include "engine/tensor.h"

namespace unravel {

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);
/// x > 0 ? x : slope * x.
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
/// Stable log(1 + exp(x)).
Tensor softplus(const Tensor& x);
Tensor lgamma(const Tensor& x);
Tensor digamma(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
/// Piecewise-constant ops: their gradient is zero almost everywhere, so none is recorded.
Tensor sign(const Tensor& x);
Tensor floor(const Tensor& x);
/// u8 tensor: 1 where x == 0.
Tensor logical_not(const Tensor& x);

Tensor operator-(const Tensor& x);

}  // namespace unravel
