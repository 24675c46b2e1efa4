// Unary ops: forward through Backend::unary, backward right below as formulas in public ops.
#include "ops/unary.h"

#include <cmath>

#include "ops/binary.h"
#include "ops/detail.h"
#include "ops/functors.h"

namespace unravel {

namespace {

struct UnaryBackward final : Node {
  UnaryOp op;
  double alpha;
  SavedTensor x, y;
  UnaryBackward(UnaryOp o, double a) : op(o), alpha(a) {}
  const char* name() const override { return fn::unary_name(op); }

  TensorList backward(const TensorList& grads) override {
    const Tensor& g = grads[0];
    using detail::binary_kernel;
    using detail::unary_kernel;
    auto X = [&] { return x.get(name()); };
    auto Y = [&] { return y.get(name()); };
    switch (op) {
      case UnaryOp::neg: return {neg(g)};
      case UnaryOp::exp: return {g * Y()};
      case UnaryOp::log: return {g / X()};
      case UnaryOp::log1p: return {g / (X() + 1.0)};
      case UnaryOp::expm1: return {g * (Y() + 1.0)};
      case UnaryOp::sqrt: return {g / (Y() * 2.0)};
      case UnaryOp::rsqrt: { Tensor yy = Y(); return {g * (yy * yy * yy) * -0.5}; }
      case UnaryOp::abs: return {g * sign(X())};
      case UnaryOp::square: return {g * X() * 2.0};
      case UnaryOp::sigmoid: return {binary_kernel(BinaryOp::sigmoid_grad, g, Y())};
      case UnaryOp::tanh: return {binary_kernel(BinaryOp::tanh_grad, g, Y())};
      case UnaryOp::relu: return {binary_kernel(BinaryOp::relu_grad, g, X())};
      case UnaryOp::leaky_relu: return {binary_kernel(BinaryOp::leaky_relu_grad, g, X(), alpha)};
      case UnaryOp::softplus: return {binary_kernel(BinaryOp::softplus_grad, g, X())};
      case UnaryOp::lgamma: return {g * digamma(X())};
      case UnaryOp::digamma: return {g * unary_kernel(UnaryOp::trigamma, X())};
      case UnaryOp::erf: {
        Tensor xx = X();
        return {g * exp(neg(xx * xx)) * (2.0 / std::sqrt(3.14159265358979323846))};
      }
      case UnaryOp::reciprocal: { Tensor yy = Y(); return {neg(g * yy * yy)}; }
      case UnaryOp::sin: return {g * cos(X())};
      case UnaryOp::cos: return {neg(g * sin(X()))};
      case UnaryOp::scale: return {g * alpha};
      case UnaryOp::add_scalar: return {g};
      case UnaryOp::rsub_scalar: return {neg(g)};
      case UnaryOp::rdiv_scalar: { Tensor yy = Y(); return {neg(g * yy * yy) / alpha}; }
      case UnaryOp::pow_scalar: return {g * pow(X(), alpha - 1.0) * alpha};
      default: UNRAVEL_CHECK(false, "[{} backward] has no gradient formula", name());
    }
    return {};
  }
};

enum Saves { kSaveX = 1, kSaveY = 2 };

int saves(UnaryOp op) {
  switch (op) {
    case UnaryOp::exp: case UnaryOp::expm1: case UnaryOp::sqrt: case UnaryOp::rsqrt:
    case UnaryOp::sigmoid: case UnaryOp::tanh: case UnaryOp::reciprocal:
    case UnaryOp::rdiv_scalar:
      return kSaveY;
    case UnaryOp::neg: case UnaryOp::scale: case UnaryOp::add_scalar: case UnaryOp::rsub_scalar:
      return 0;
    default: return kSaveX;
  }
}

Tensor unary_op(UnaryOp op, const Tensor& x, double alpha = 0.0, bool differentiable = true) {
  detail::check_defined(x, fn::unary_name(op), "input");
  Tensor y = detail::unary_kernel(op, x, alpha);
  if (differentiable && Tape::needs_grad({&x})) {
    detail::check_floating(x, fn::unary_name(op));
    auto* n = record<UnaryBackward>({x}, {y}, op, alpha);
    int s = saves(op);
    if (s & kSaveX) n->x = SavedTensor(x);
    if (s & kSaveY) n->y = SavedTensor(y);
  }
  return y;
}

}  // namespace

namespace detail {

Tensor unary_kernel(UnaryOp op, const Tensor& x, double alpha) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend(x.device()).unary(op, x.view(), y.view(), alpha);
  return y;
}

void check_defined(const Tensor& t, const char* op, const char* what) {
  UNRAVEL_CHECK(t.defined(), "{}: {} is undefined", op, what);
}

void check_same(const Tensor& a, const Tensor& b, const char* op) {
  UNRAVEL_CHECK(a.dtype() == b.dtype(), "{}: dtypes differ ({} vs {}); convert with to()", op,
                a.desc(), b.desc());
  UNRAVEL_CHECK(a.device() == b.device(), "{}: devices differ ({} vs {})", op, a.desc(), b.desc());
}

void check_floating(const Tensor& t, const char* op) {
  UNRAVEL_CHECK(is_floating(t.dtype()), "{}: needs a floating-point tensor, got {}", op, t.desc());
}

}  // namespace detail

Tensor neg(const Tensor& x) { return unary_op(UnaryOp::neg, x); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::log, x); }
Tensor log1p(const Tensor& x) { return unary_op(UnaryOp::log1p, x); }
Tensor expm1(const Tensor& x) { return unary_op(UnaryOp::expm1, x); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary_op(UnaryOp::rsqrt, x); }
Tensor abs(const Tensor& x) { return unary_op(UnaryOp::abs, x); }
Tensor square(const Tensor& x) { return unary_op(UnaryOp::square, x); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::sigmoid, x); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::tanh, x); }
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::relu, x); }
Tensor leaky_relu(const Tensor& x, double slope) { return unary_op(UnaryOp::leaky_relu, x, slope); }
Tensor softplus(const Tensor& x) { return unary_op(UnaryOp::softplus, x); }
Tensor lgamma(const Tensor& x) { return unary_op(UnaryOp::lgamma, x); }
Tensor digamma(const Tensor& x) { return unary_op(UnaryOp::digamma, x); }
Tensor erf(const Tensor& x) { return unary_op(UnaryOp::erf, x); }
Tensor reciprocal(const Tensor& x) { return unary_op(UnaryOp::reciprocal, x); }
Tensor sin(const Tensor& x) { return unary_op(UnaryOp::sin, x); }
Tensor cos(const Tensor& x) { return unary_op(UnaryOp::cos, x); }
Tensor sign(const Tensor& x) { return unary_op(UnaryOp::sign, x, 0.0, false); }
Tensor floor(const Tensor& x) { return unary_op(UnaryOp::floor, x, 0.0, false); }
Tensor logical_not(const Tensor& x) {
  detail::check_defined(x, "logical_not", "input");
  Tensor u = x.dtype() == DType::u8 ? x : ne(x, scalar_like(0.0, x));
  return unary_op(UnaryOp::logical_not, u, 0.0, false);
}
Tensor operator-(const Tensor& x) { return neg(x); }

namespace detail {
Tensor scalar_op(UnaryOp op, const Tensor& x, double alpha) { return unary_op(op, x, alpha); }
}  // namespace detail

}  // namespace unravel
