// Binary elementwise ops with broadcasting; gradients reduce through sum_to (ops/broadcast.h).
#include "ops/binary.h"

#include "ops/broadcast.h"
#include "ops/detail.h"
#include "ops/functors.h"
#include "ops/shape_ops.h"
#include "ops/unary.h"

namespace unravel {

namespace {

struct BinaryBackward final : Node {
  BinaryOp op;
  SavedTensor a, b, y;
  Shape sa, sb;
  explicit BinaryBackward(BinaryOp o) : op(o) {}
  const char* name() const override { return fn::binary_name(op); }

  TensorList backward(const TensorList& grads) override {
    const Tensor& g = grads[0];
    bool na = needs_input_grad(0), nb = needs_input_grad(1);
    Tensor ga, gb;
    switch (op) {
      case BinaryOp::add:
        if (na) ga = g;
        if (nb) gb = g;
        break;
      case BinaryOp::sub:
        if (na) ga = g;
        if (nb) gb = neg(g);
        break;
      case BinaryOp::mul:
        if (na) ga = g * b.get(name());
        if (nb) gb = g * a.get(name());
        break;
      case BinaryOp::div: {
        const Tensor& B = b.get(name());
        if (na) ga = g / B;
        if (nb) gb = neg(g * y.get(name()) / B);
        break;
      }
      case BinaryOp::pow: {
        const Tensor &A = a.get(name()), &B = b.get(name());
        if (na) ga = g * B * pow(A, B - 1.0);
        if (nb) {
          // d/db a^b = a^b log a; defined as 0 where a == 0 (the limit for b > 0), as PyTorch.
          Tensor safe_log = where(eq(A, scalar_like(0.0, A)), scalar_like(0.0, A), log(A));
          gb = g * y.get(name()) * safe_log;
        }
        break;
      }
      case BinaryOp::fmod: {
        if (na) ga = g;
        // trunc(a/b) = (a − y)/b exactly where y = fmod(a, b).
        if (nb) gb = neg(g * (a.get(name()) - y.get(name())) / b.get(name()));
        break;
      }
      case BinaryOp::maximum:
      case BinaryOp::minimum: {
        const Tensor &A = a.get(name()), &B = b.get(name());
        Tensor pick_a = op == BinaryOp::maximum ? ge(A, B) : le(A, B);
        Tensor zero = scalar_like(0.0, g);
        if (na) ga = where(pick_a, g, zero);
        if (nb) gb = where(pick_a, zero, g);
        break;
      }
      default:
        UNRAVEL_CHECK(false, "[{} backward] has no gradient formula", name());
    }
    return {ga.defined() ? sum_to(ga, sa) : ga, gb.defined() ? sum_to(gb, sb) : gb};
  }
};

Tensor binary_op(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* nm = fn::binary_name(op);
  detail::check_defined(a, nm, "first operand");
  detail::check_defined(b, nm, "second operand");
  detail::check_same(a, b, nm);
  Tensor y = detail::binary_kernel(op, a, b);
  if (!fn::is_comparison(op) && Tape::needs_grad({&a, &b})) {
    detail::check_floating(a, nm);
    auto* n = record<BinaryBackward>({a, b}, {y}, op);
    n->sa = a.shape();
    n->sb = b.shape();
    bool na = a.requires_grad(), nb = b.requires_grad();
    switch (op) {
      case BinaryOp::mul:
        if (na) n->b = SavedTensor(b);
        if (nb) n->a = SavedTensor(a);
        break;
      case BinaryOp::div:
        n->b = SavedTensor(b);
        if (nb) n->y = SavedTensor(y);
        break;
      case BinaryOp::pow:
        n->a = SavedTensor(a);
        n->b = SavedTensor(b);
        if (nb) n->y = SavedTensor(y);
        break;
      case BinaryOp::maximum:
      case BinaryOp::minimum:
        n->a = SavedTensor(a);
        n->b = SavedTensor(b);
        break;
      case BinaryOp::fmod:
        if (nb) {
          n->a = SavedTensor(a);
          n->b = SavedTensor(b);
          n->y = SavedTensor(y);
        }
        break;
      default:
        break;
    }
  }
  return y;
}

}  // namespace

namespace detail {
Tensor binary_kernel(BinaryOp op, const Tensor& a, const Tensor& b, double alpha) {
  Shape out = broadcast_shapes(a.shape(), b.shape(), fn::binary_name(op));
  DType dt = fn::is_comparison(op) ? DType::u8 : a.dtype();
  Tensor y = Tensor::empty(out, dt, a.device());
  TensorView va = a.view(), vb = b.view();
  va.strides = broadcast_strides(a.shape(), a.strides(), out);
  va.shape = out;
  vb.strides = broadcast_strides(b.shape(), b.strides(), out);
  vb.shape = out;
  backend(a.device()).binary(op, va, vb, y.view(), alpha);
  return y;
}
}  // namespace detail

Tensor scalar_like(double v, const Tensor& like) {
  return Tensor::scalar(v, like.dtype(), like.device());
}

Tensor add(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::pow, a, b); }
Tensor pow(const Tensor& a, double b) {
  if (b == 2.0) return square(a);
  return detail::scalar_op(UnaryOp::pow_scalar, a, b);
}
Tensor maximum(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::minimum, a, b); }
Tensor fmod(const Tensor& a, const Tensor& b) {
  detail::check_floating(a, "fmod");
  return binary_op(BinaryOp::fmod, a, b);
}
Tensor eq(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::ge, a, b); }
Tensor gt(const Tensor& a, double b) { return gt(a, scalar_like(b, a)); }
Tensor lt(const Tensor& a, double b) { return lt(a, scalar_like(b, a)); }

namespace {
struct WhereBackward final : Node {
  SavedTensor cond;
  Shape sa, sb;
  const char* name() const override { return "where"; }
  TensorList backward(const TensorList& grads) override {
    const Tensor& g = grads[0];
    const Tensor& c = cond.get(name());
    Tensor zero = scalar_like(0.0, g);
    Tensor ga, gb;
    if (needs_input_grad(1)) ga = sum_to(where(c, g, zero), sa);
    if (needs_input_grad(2)) gb = sum_to(where(c, zero, g), sb);
    return {Tensor(), ga, gb};
  }
};
}  // namespace

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_defined(cond, "where", "condition");
  detail::check_defined(a, "where", "first branch");
  detail::check_defined(b, "where", "second branch");
  detail::check_same(a, b, "where");
  UNRAVEL_CHECK(cond.dtype() == DType::u8, "where: condition must be u8 (a comparison result), got {}",
                cond.desc());
  UNRAVEL_CHECK(cond.device() == a.device(), "where: condition on {} but branches on {}",
                cond.device().str(), a.device().str());
  Shape out = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor y = Tensor::empty(out, a.dtype(), a.device());
  auto bview = [&](const Tensor& t) {
    TensorView v = t.view();
    v.strides = broadcast_strides(t.shape(), t.strides(), out);
    v.shape = out;
    return v;
  };
  backend(a.device()).where(bview(cond), bview(a), bview(b), y.view());
  if (Tape::needs_grad({&a, &b})) {
    auto* n = record<WhereBackward>({cond, a, b}, {y});
    n->cond = SavedTensor(cond);
    n->sa = a.shape();
    n->sb = b.shape();
  }
  return y;
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  return minimum(maximum(x, scalar_like(lo, x)), scalar_like(hi, x));
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
// Tensor-scalar arithmetic runs as one unary kernel with the scalar as a parameter. Division by
// a scalar multiplies by its reciprocal (may differ from a true division in the last ulp).
Tensor operator+(const Tensor& a, double b) { return detail::scalar_op(UnaryOp::add_scalar, a, b); }
Tensor operator-(const Tensor& a, double b) { return detail::scalar_op(UnaryOp::add_scalar, a, -b); }
Tensor operator*(const Tensor& a, double b) { return detail::scalar_op(UnaryOp::scale, a, b); }
Tensor operator/(const Tensor& a, double b) { return detail::scalar_op(UnaryOp::scale, a, 1.0 / b); }
Tensor operator+(double a, const Tensor& b) { return detail::scalar_op(UnaryOp::add_scalar, b, a); }
Tensor operator-(double a, const Tensor& b) { return detail::scalar_op(UnaryOp::rsub_scalar, b, a); }
Tensor operator*(double a, const Tensor& b) { return detail::scalar_op(UnaryOp::scale, b, a); }
Tensor operator/(double a, const Tensor& b) { return detail::scalar_op(UnaryOp::rdiv_scalar, b, a); }

// In-place ---------------------------------------------------------------------------------------

namespace {
void check_inplace(const Tensor& dst, const char* op) {
  detail::check_defined(dst, op, "destination");
  UNRAVEL_CHECK(!(grad_enabled() && dst.requires_grad()),
                "{}: {} requires grad; in-place writes to it must run under NoGradGuard", op,
                dst.desc());
}
TensorView broadcast_view(const Tensor& src, const Tensor& dst, const char* op) {
  Shape out = broadcast_shapes(src.shape(), dst.shape(), op);
  UNRAVEL_CHECK(out == dst.shape(), "{}: source {} does not broadcast to destination {}", op,
                src.desc(), dst.desc());
  TensorView v = src.view();
  v.strides = broadcast_strides(src.shape(), src.strides(), out);
  v.shape = out;
  return v;
}
}  // namespace

void add_(const Tensor& dst, const Tensor& src, double alpha) {
  check_inplace(dst, "add_");
  detail::check_same(dst, src, "add_");
  Backend& be = backend(dst.device());
  if (alpha == 1.0) {
    be.binary(BinaryOp::add, dst.view(), broadcast_view(src, dst, "add_"), dst.view(), 0.0);
  } else {
    Tensor scaled = detail::binary_kernel(BinaryOp::mul, src, scalar_like(alpha, src));
    be.binary(BinaryOp::add, dst.view(), broadcast_view(scaled, dst, "add_"), dst.view(), 0.0);
  }
  dst.bump_version();
}

void add_(const Tensor& dst, double value) {
  check_inplace(dst, "add_");
  backend(dst.device()).unary(UnaryOp::add_scalar, dst.view(), dst.view(), value);
  dst.bump_version();
}

void mul_(const Tensor& dst, double s) {
  check_inplace(dst, "mul_");
  backend(dst.device()).unary(UnaryOp::scale, dst.view(), dst.view(), s);
  dst.bump_version();
}

void copy_(const Tensor& dst, const Tensor& src) {
  check_inplace(dst, "copy_");
  detail::check_defined(src, "copy_", "source");
  if (src.device() == dst.device()) {
    backend(dst.device()).copy(broadcast_view(src, dst, "copy_"), dst.view());
  } else {
    Tensor moved = to(src, dst.device());
    backend(dst.device()).copy(broadcast_view(moved, dst, "copy_"), dst.view());
  }
  dst.bump_version();
}

void fill_(const Tensor& dst, double value) {
  check_inplace(dst, "fill_");
  backend(dst.device()).fill(dst.view(), value);
  dst.bump_version();
}

}  // namespace unravel
