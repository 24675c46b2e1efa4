// Differentiable indexing ops (declared in ops/shape_ops.h), forward through the backend's
// index kernels. Each gradient is the adjoint scatter of its forward read:
//   index_select(x, axis, idx):  dx = index_add of dy into zeros(x.shape) at idx along axis
//   gather(x, axis, idx):        dx = scatter_add of dy into zeros(x.shape) at idx along axis
// Repeated indices therefore sum their gradients. The index is i64 and never differentiated.
#include "ops/detail.h"
#include "ops/shape_ops.h"

namespace unravel {

namespace {

void check_index(const Tensor& x, const Tensor& index, const char* op) {
  detail::check_defined(x, op, "input");
  detail::check_defined(index, op, "index");
  UNRAVEL_CHECK(index.dtype() == DType::i64, "{}: index must be i64, got {} (input {})", op,
                index.desc(), x.desc());
  UNRAVEL_CHECK(index.device() == x.device(), "{}: index {} and input {} are on different devices",
                op, index.desc(), x.desc());
  UNRAVEL_CHECK(x.dim() >= 1, "{}: input must have at least 1 dimension, got {}", op, x.desc());
}

// Backward of both ops: scatter the output gradient into zeros of the input's shape.
struct IndexBackward final : Node {
  bool is_gather;  // gather -> scatter_add; index_select -> index_add
  int axis;
  Shape x_shape;
  SavedTensor index;
  IndexBackward(bool g, int a, Shape s) : is_gather(g), axis(a), x_shape(std::move(s)) {}
  const char* name() const override { return is_gather ? "gather" : "index_select"; }

  TensorList backward(const TensorList& grads) override {
    const Tensor& g = grads[0];
    const Tensor& idx = index.get(name());
    Tensor dx = Tensor::zeros(x_shape, g.dtype(), g.device());
    if (is_gather)
      backend(g.device()).scatter_add(g.view(), axis, idx.view(), dx.view());
    else
      backend(g.device()).index_add(g.view(), axis, idx.view(), dx.view());
    return {dx};
  }
};

}  // namespace

Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index) {
  check_index(x, index, "index_select");
  UNRAVEL_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got {} (input {})",
                index.desc(), x.desc());
  int a = normalize_axis(axis, x.dim(), "index_select");
  Shape shape = x.shape();
  shape[a] = index.numel();
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  backend(x.device()).index_select(x.view(), a, index.view(), y.view());
  if (Tape::needs_grad({&x})) {
    detail::check_floating(x, "index_select");
    auto* n = record<IndexBackward>({x}, {y}, false, a, x.shape());
    n->index = SavedTensor(index);
  }
  return y;
}

Tensor gather(const Tensor& x, int64_t axis, const Tensor& index) {
  check_index(x, index, "gather");
  UNRAVEL_CHECK(index.dim() == x.dim(), "gather: index {} must have the rank of input {}",
                index.desc(), x.desc());
  int a = normalize_axis(axis, x.dim(), "gather");
  for (int d = 0; d < x.dim(); ++d)
    UNRAVEL_CHECK(d == a || index.shape()[d] <= x.shape()[d],
                  "gather: index {} is larger than input {} along dim {} (axis {})",
                  index.shape().str(), x.shape().str(), d, a);
  Tensor y = Tensor::empty(index.shape(), x.dtype(), x.device());
  backend(x.device()).gather(x.view(), a, index.view(), y.view());
  if (Tape::needs_grad({&x})) {
    detail::check_floating(x, "gather");
    auto* n = record<IndexBackward>({x}, {y}, true, a, x.shape());
    n->index = SavedTensor(index);
  }
  return y;
}

}  // namespace unravel
