// The argument checks of the Backend kernel contracts (engine/backend.h) that every backend makes
// the same way, with the same messages: shapes, ranks and dtypes only (values on a device are not
// readable from the host). Header-only, so the CUDA translation units use them too.
#pragma once
#include "engine/check.h"
#include "engine/op_kinds.h"
#include "engine/tensor_view.h"

namespace unravel::checks {

inline void axis(int axis, int rank, const char* op) {
  UNRAVEL_CHECK(rank >= 1 && axis >= 0 && axis < rank,
                "{}: axis {} is out of range for a tensor of rank {}", op, axis, rank);
}

/// gather / scatter_add: `dense` has index's footprint, `indexed` is addressed along `ax`.
inline void gather_shapes(const char* op, const TensorView& dense, int ax, const TensorView& index,
                          const TensorView& indexed) {
  axis(ax, indexed.rank(), op);
  UNRAVEL_CHECK(dense.dtype == indexed.dtype, "{}: dtypes differ ({} vs {})", op,
                dtype_name(dense.dtype), dtype_name(indexed.dtype));
  UNRAVEL_CHECK(index.rank() == indexed.rank() && dense.rank() == indexed.rank(),
                "{}: index {} must have the rank of {} and {}", op, index.shape.str(),
                dense.shape.str(), indexed.shape.str());
  for (int d = 0; d < index.rank(); ++d)
    UNRAVEL_CHECK(index.shape[d] <= dense.shape[d] && (d == ax || index.shape[d] <= indexed.shape[d]),
                  "{}: index {} does not fit {} and {} along dim {} (axis {})", op,
                  index.shape.str(), dense.shape.str(), indexed.shape.str(), d, ax);
}

/// index_select / index_add: a 1-D index picks slices of `indexed` along `ax` into `dense`.
inline void select_shapes(const char* op, const TensorView& dense, int ax, const TensorView& index,
                          const TensorView& indexed) {
  axis(ax, indexed.rank(), op);
  UNRAVEL_CHECK(dense.dtype == indexed.dtype, "{}: dtypes differ ({} vs {})", op,
                dtype_name(dense.dtype), dtype_name(indexed.dtype));
  UNRAVEL_CHECK(index.rank() <= 1, "{}: index must be 1-D, got {}", op, index.shape.str());
  Shape expect = indexed.shape;
  expect[ax] = index.numel();
  UNRAVEL_CHECK(dense.shape == expect, "{}: {} indices along axis {} of {} need {}, got {}", op,
                index.numel(), ax, indexed.shape.str(), expect.str(), dense.shape.str());
}

/// reduce: y has x's rank and dtype; max / min of nothing has no identity.
inline void reduce(ReduceOp op, const TensorView& x, const TensorView& y) {
  UNRAVEL_CHECK(x.rank() == y.rank(), "reduce: output rank {} differs from input rank {}", y.rank(),
                x.rank());
  UNRAVEL_CHECK(x.dtype == y.dtype, "reduce: dtypes differ");
  if ((op == ReduceOp::max || op == ReduceOp::min) && x.numel() == 0)
    UNRAVEL_CHECK(false, "{}: reduction over an empty tensor has no identity",
                  op == ReduceOp::max ? "max" : "min");
}

/// The sizes of C[b] = op(A[b]) @ op(B[b]) after checking ranks, dtypes and shapes.
struct GemmDims {
  int64_t m, n, k;
};
inline GemmDims gemm(bool trans_a, bool trans_b, const TensorView& a, const TensorView& b,
                     const TensorView& c) {
  UNRAVEL_CHECK(a.rank() == 3 && b.rank() == 3 && c.rank() == 3,
                "gemm: needs rank-3 (batch, rows, cols) views, got A {} B {} C {}", a.shape.str(),
                b.shape.str(), c.shape.str());
  UNRAVEL_CHECK(a.dtype == b.dtype && a.dtype == c.dtype, "gemm: dtypes differ (A {}, B {}, C {})",
                dtype_name(a.dtype), dtype_name(b.dtype), dtype_name(c.dtype));
  UNRAVEL_CHECK(a.dtype == DType::f32 || a.dtype == DType::f64,
                "gemm: supports f32 and f64 only, got {}", dtype_name(a.dtype));
  const int64_t m = trans_a ? a.shape[2] : a.shape[1], ka = trans_a ? a.shape[1] : a.shape[2];
  const int64_t kb = trans_b ? b.shape[2] : b.shape[1], n = trans_b ? b.shape[1] : b.shape[2];
  UNRAVEL_CHECK(ka == kb, "gemm: op(A) {}{} and op(B) {}{}: inner dimensions {} and {} differ",
                a.shape.str(), trans_a ? "^T" : "", b.shape.str(), trans_b ? "^T" : "", ka, kb);
  UNRAVEL_CHECK(c.shape[1] == m && c.shape[2] == n,
                "gemm: op(A) {}{} @ op(B) {}{} gives {} x {} matrices but C is {}", a.shape.str(),
                trans_a ? "^T" : "", b.shape.str(), trans_b ? "^T" : "", m, n, c.shape.str());
  return {m, n, ka};
}

}  // namespace unravel::checks
