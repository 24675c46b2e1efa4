// The closed sets of kernel operations a backend implements. Each family is one backend entry
// point taking one of these enums, so adding an elementwise op touches no backend interface.
// The functor for each value lives in ops/functors.h; a static_assert there keeps the tables
// in step with these enums.
#pragma once
#include <cstdint>

namespace unravel {

/// Elementwise y = f(x; alpha).
enum class UnaryOp : uint8_t {
  neg, exp, log, log1p, expm1, sqrt, rsqrt, abs, square, sigmoid, tanh, relu,
  leaky_relu,  // alpha = negative slope
  softplus, lgamma, digamma, erf, sign, reciprocal, sin, cos, floor, logical_not,
  trigamma,  // internal: the derivative of digamma (used by its backward)
  // Tensor-scalar arithmetic with the scalar in alpha (no 0-d tensor, no broadcasting):
  scale,        // x * alpha
  add_scalar,   // x + alpha
  rsub_scalar,  // alpha - x
  rdiv_scalar,  // alpha / x
  pow_scalar,   // x ^ alpha
  count
};
inline constexpr int kNumUnaryOps = static_cast<int>(UnaryOp::count);

/// Elementwise y = f(a, b; alpha) with broadcasting by 0 strides. Comparisons write u8.
/// The *_grad entries are fused backward helpers (not differentiable themselves).
enum class BinaryOp : uint8_t {
  add, sub, mul, div, pow, maximum, minimum,
  fmod,  // C's fmod: a − trunc(a/b)·b, the sign of a
  eq, ne, lt, le, gt, ge,
  relu_grad,        // a = upstream grad, b = x:  a * (b > 0)
  leaky_relu_grad,  // a * (b > 0 ? 1 : alpha)
  sigmoid_grad,     // b = y:  a * y * (1 - y)
  tanh_grad,        // b = y:  a * (1 - y^2)
  softplus_grad,    // b = x:  a * sigmoid(x)
  add_relu,         // fused bias + activation, v = a + b:  v > 0 ? v : alpha * v (alpha 0: ReLU)
  count
};
inline constexpr int kNumBinaryOps = static_cast<int>(BinaryOp::count);

/// Reductions over a set of axes.
enum class ReduceOp : uint8_t { sum, mean, max, min, prod, count };
inline constexpr int kNumReduceOps = static_cast<int>(ReduceOp::count);

/// Random fills from the counter-based generator.
enum class RandomOp : uint8_t { uniform, normal, bernoulli, count };

}  // namespace unravel
