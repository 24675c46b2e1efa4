// CPU indexing kernels with torch semantics, for any element type and arbitrary strides:
//   gather:       y[i][j][k] = x[index[i][j][k]][j][k]            (axis 0; index has y's shape)
//   scatter_add:  y[index[i][j][k]][j][k] += src[i][j][k]         (the adjoint of gather)
//   index_select: y[..., i, ...] = x[..., index[i], ...]          (1-D index)
//   index_add:    y[..., index[i], ...] += src[..., i, ...]       (the adjoint of index_select)
// Every index is checked against the extent it addresses before anything is written, so a bad
// index throws (naming the value and the extent) and leaves y untouched. The reads (gather,
// index_select) are threaded over rows; the accumulating writes run on one thread, since two
// rows may hit the same output element.
#include <vector>

#include "engine/check.h"
#include "ops/kernel_checks.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/parallel.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

namespace {

// Calls f(idx, n) for each row of `shape` (all dims but the last; idx holds the row's leading
// indices, n = the last extent), threaded over rows when `parallel` and the work is large.
template <class F> void for_rows(const Shape& shape, bool parallel, F&& f) {
  const int r = shape.size();
  const int64_t n = shape[r - 1];
  int64_t rows = 1;
  for (int d = 0; d + 1 < r; ++d) rows *= shape[d];
  if (rows == 0 || n == 0) return;
  auto run = [&](int64_t b, int64_t e) {
    std::vector<int64_t> idx(std::max(r - 1, 1), 0);
    int64_t rem = b;
    for (int d = r - 2; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    for (int64_t row = b; row < e; ++row) {
      f(idx.data(), n);
      for (int d = r - 2; d >= 0; --d) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  };
  if (parallel)
    cpu::parallel_for(rows, n, run);
  else
    run(0, rows);
}

// Throws unless every element of `index` (i64) lies in [0, extent).
void check_indices(const TensorView& index, int64_t extent, const char* op, int axis,
                   const Shape& target) {
  UNRAVEL_CHECK(index.dtype == DType::i64, "{}: index must be i64, got {}", op,
                dtype_name(index.dtype));
  if (index.rank() == 0) {
    int64_t v = *index.ptr<int64_t>();
    UNRAVEL_CHECK(v >= 0 && v < extent,
                  "{}: index {} is out of range for axis {} of extent {} (tensor {})", op, v, axis,
                  extent, target.str());
    return;
  }
  const int last = index.rank() - 1;
  const int64_t* base = index.ptr<int64_t>();
  for_rows(index.shape, false, [&](const int64_t* idx, int64_t n) {
    int64_t off = 0;
    for (int d = 0; d < last; ++d) off += idx[d] * index.strides[d];
    for (int64_t j = 0; j < n; ++j) {
      int64_t v = base[off + j * index.strides[last]];
      UNRAVEL_CHECK(v >= 0 && v < extent,
                    "{}: index {} is out of range for axis {} of extent {} (tensor {})", op, v,
                    axis, extent, target.str());
    }
  });
}

// Shared walk of gather (Accumulate = false) and scatter_add (true) over index's shape:
// `dense` is addressed at the element's own position, `indexed` with the axis coordinate
// replaced by the index value. gather reads indexed -> dense, scatter_add adds dense -> indexed.
template <class T, bool Accumulate>
void gather_scatter(const TensorView& dense, int axis, const TensorView& index,
                    const TensorView& indexed) {
  const int last = index.rank() - 1;
  T* dp = dense.ptr<T>();
  T* xp = indexed.ptr<T>();
  const int64_t* ip = index.ptr<int64_t>();
  for_rows(index.shape, !Accumulate, [&](const int64_t* idx, int64_t n) {
    int64_t io = 0, doff = 0, xo = 0;
    for (int d = 0; d < last; ++d) {
      io += idx[d] * index.strides[d];
      doff += idx[d] * dense.strides[d];
      if (d != axis) xo += idx[d] * indexed.strides[d];
    }
    const int64_t is = index.strides[last], ds = dense.strides[last];
    const int64_t xs_last = indexed.strides[last], xs_axis = indexed.strides[axis];
    for (int64_t j = 0; j < n; ++j) {
      int64_t v = ip[io + j * is];
      int64_t x_off = axis == last ? xo + v * xs_last : xo + j * xs_last + v * xs_axis;
      if constexpr (Accumulate)
        xp[x_off] += dp[doff + j * ds];
      else
        dp[doff + j * ds] = xp[x_off];
    }
  });
}

// Shared walk of index_select (Accumulate = false) and index_add (true) over `dense`'s shape,
// whose axis runs over the positions of the 1-D index; `indexed` is addressed at index[i].
template <class T, bool Accumulate>
void select_add(const TensorView& dense, int axis, const TensorView& index,
                const TensorView& indexed) {
  const int last = dense.rank() - 1;
  T* dp = dense.ptr<T>();
  T* xp = indexed.ptr<T>();
  const int64_t* ip = index.ptr<int64_t>();
  const int64_t is = index.rank() == 0 ? 0 : index.strides[0];
  for_rows(dense.shape, !Accumulate, [&](const int64_t* idx, int64_t n) {
    int64_t doff = 0, xo = 0;
    for (int d = 0; d < last; ++d) {
      doff += idx[d] * dense.strides[d];
      xo += (d == axis ? ip[idx[d] * is] : idx[d]) * indexed.strides[d];
    }
    const int64_t ds = dense.strides[last], xs = indexed.strides[last];
    for (int64_t j = 0; j < n; ++j) {
      int64_t x_off = axis == last ? xo + ip[j * is] * xs : xo + j * xs;
      if constexpr (Accumulate)
        xp[x_off] += dp[doff + j * ds];
      else
        dp[doff + j * ds] = xp[x_off];
    }
  });
}

}  // namespace

void gather(const TensorView& x, int axis, const TensorView& index,
                        const TensorView& y) {
  checks::gather_shapes("gather", y, axis, index, x);
  UNRAVEL_CHECK(y.shape == index.shape, "gather: output {} must have the index's shape {}",
                y.shape.str(), index.shape.str());
  check_indices(index, x.shape[axis], "gather", axis, x.shape);
  dispatch_dtype(x.dtype, [&](auto t) { gather_scatter<decltype(t), false>(y, axis, index, x); });
}

void scatter_add(const TensorView& src, int axis, const TensorView& index,
                             const TensorView& y) {
  checks::gather_shapes("scatter_add", src, axis, index, y);
  check_indices(index, y.shape[axis], "scatter_add", axis, y.shape);
  dispatch_dtype(y.dtype, [&](auto t) { gather_scatter<decltype(t), true>(src, axis, index, y); });
}

void index_select(const TensorView& x, int axis, const TensorView& index,
                              const TensorView& y) {
  checks::select_shapes("index_select", y, axis, index, x);
  check_indices(index, x.shape[axis], "index_select", axis, x.shape);
  dispatch_dtype(x.dtype, [&](auto t) { select_add<decltype(t), false>(y, axis, index, x); });
}

void index_add(const TensorView& src, int axis, const TensorView& index,
                           const TensorView& y) {
  checks::select_shapes("index_add", src, axis, index, y);
  check_indices(index, y.shape[axis], "index_add", axis, y.shape);
  dispatch_dtype(y.dtype, [&](auto t) { select_add<decltype(t), true>(src, axis, index, y); });
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
