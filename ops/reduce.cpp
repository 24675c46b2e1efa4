// Reductions; gradients broadcast the output gradient back over the reduced axes.
#include "ops/reduce.h"

#include <cmath>

#include "ops/binary.h"
#include "ops/detail.h"
#include "ops/shape_ops.h"
#include "ops/unary.h"

namespace unravel {

namespace {

struct ReduceInfo {
  Shape keep;  // output shape with reduced axes kept as 1
  Shape out;   // final output shape
  int64_t count = 1;
};

ReduceInfo reduce_info(const Tensor& x, const Axes& axes, bool keepdim, const char* op) {
  std::vector<int> ax = normalize_axes(axes, x.dim(), op);
  ReduceInfo r;
  r.keep = x.shape();
  for (int a : ax) {
    r.count *= x.shape()[a];
    r.keep[a] = 1;
  }
  if (keepdim) {
    r.out = r.keep;
  } else {
    size_t k = 0;
    for (int d = 0; d < x.dim(); ++d) {
      if (k < ax.size() && ax[k] == d) { ++k; continue; }
      r.out.push_back(x.shape()[d]);
    }
  }
  return r;
}

struct ReduceBackward final : Node {
  ReduceOp op;
  Shape in_shape, keep;
  int64_t count = 1;
  SavedTensor x, y;
  explicit ReduceBackward(ReduceOp o) : op(o) {}
  const char* name() const override {
    switch (op) {
      case ReduceOp::sum: return "sum";
      case ReduceOp::mean: return "mean";
      case ReduceOp::max: return "max";
      case ReduceOp::min: return "min";
      default: return "prod";
    }
  }
  TensorList backward(const TensorList& grads) override {
    Tensor g = reshape(grads[0], keep);
    switch (op) {
      case ReduceOp::sum: return {expand(g, in_shape)};
      case ReduceOp::mean: return {expand(g / static_cast<double>(count), in_shape)};
      case ReduceOp::max:
      case ReduceOp::min: {
        // Split evenly between ties, so the gradient of max over equal values sums to g.
        const Tensor& X = x.get(name());
        Tensor mask = to(eq(X, reshape(y.get(name()), keep)), X.dtype());
        Tensor ties = sum(mask, normalize_axes_of(), true);
        return {mask * (g / ties)};
      }
      default:
        UNRAVEL_CHECK(false, "[{} backward] has no gradient formula", name());
    }
    return {};
  }
  Axes normalize_axes_of() const {
    Axes a;
    for (int d = 0; d < in_shape.size(); ++d)
      if (keep[d] == 1 && in_shape[d] != 1) a.push_back(d);
    return a;
  }
};

Tensor reduce_op(ReduceOp op, const char* nm, const Tensor& x, const Axes& axes, bool keepdim) {
  detail::check_defined(x, nm, "input");
  ReduceInfo info = reduce_info(x, axes, keepdim, nm);
  Tensor yk = Tensor::empty(info.keep, x.dtype(), x.device());
  backend(x.device()).reduce(op, x.view(), yk.view());
  Tensor y = Tensor::make_view(yk.storage(), 0, info.out, contiguous_strides(info.out), x.dtype());
  if (Tape::needs_grad({&x})) {
    auto* n = record<ReduceBackward>({x}, {y}, op);
    n->in_shape = x.shape();
    n->keep = info.keep;
    n->count = info.count;
    if (op == ReduceOp::max || op == ReduceOp::min) {
      n->x = SavedTensor(x);
      n->y = SavedTensor(y);
    }
  }
  return y;
}

}  // namespace

Tensor sum(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce_op(ReduceOp::sum, "sum", x, axes, keepdim);
}
Tensor mean(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce_op(ReduceOp::mean, "mean", x, axes, keepdim);
}
Tensor max(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce_op(ReduceOp::max, "max", x, axes, keepdim);
}
Tensor min(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce_op(ReduceOp::min, "min", x, axes, keepdim);
}

Tensor logsumexp(const Tensor& x, const Axes& axes, bool keepdim) {
  detail::check_defined(x, "logsumexp", "input");
  detail::check_floating(x, "logsumexp");
  // Shift by the (constant) max; where the max is infinite use 0 so -inf rows give -inf.
  Tensor m = max(x.detach(), axes, /*keepdim=*/true);
  Tensor finite = lt(abs(m), scalar_like(INFINITY, m));
  Tensor shift = where(finite, m, scalar_like(0.0, m));
  Tensor r = log(sum(exp(x - shift), axes, /*keepdim=*/true)) + shift;
  if (keepdim) return r;
  return reshape(r, reduce_info(x, axes, false, "logsumexp").out);
}

Tensor var(const Tensor& x, const Axes& axes, int64_t correction, bool keepdim) {
  detail::check_defined(x, "var", "input");
  detail::check_floating(x, "var");
  ReduceInfo info = reduce_info(x, axes, keepdim, "var");
  Tensor d = x - mean(x, axes, true);
  double denom = static_cast<double>(info.count - correction);
  UNRAVEL_CHECK(denom > 0, "var: {} elements with correction {}", info.count, correction);
  return sum(d * d, axes, keepdim) / denom;
}

namespace {
Tensor arg_op(bool is_max, const Tensor& x, int64_t axis, bool keepdim) {
  const char* nm = is_max ? "argmax" : "argmin";
  detail::check_defined(x, nm, "input");
  int a = normalize_axis(axis, x.dim(), nm);
  Shape keep = x.shape();
  if (x.dim() > 0) keep[a] = 1;
  Tensor y = Tensor::empty(keep, DType::i64, x.device());
  if (x.dim() == 0) {
    fill_(y, 0.0);
    return y;
  }
  backend(x.device()).arg_reduce(is_max, x.view(), a, y.view());
  return keepdim ? y : squeeze(y, a);
}
}  // namespace

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) { return arg_op(true, x, axis, keepdim); }
Tensor argmin(const Tensor& x, int64_t axis, bool keepdim) { return arg_op(false, x, axis, keepdim); }

}  // namespace unravel
