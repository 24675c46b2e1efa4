// The per-thread bodies of the CUDA indexing kernels (ops/cuda/index.cu) and the host side of
// their launches, in plain C++: nvcc builds them into the kernels and the host compiler runs
// them through emulate_launch (ops/cuda/launch_ctx.h) in tests/engine/test_cuda_emulated.cpp.
//
//   gather:       y[i][j][k] = x[index[i][j][k]][j][k]            (axis 0; index has y's shape)
//   scatter_add:  y[index[i][j][k]][j][k] += src[i][j][k]         (the adjoint of gather)
//   index_select: y[..., i, ...] = x[..., index[i], ...]          (1-D index)
//   index_add:    y[..., index[i], ...] += src[..., i, ...]       (the adjoint of index_select)
//
// Out-of-range indices (< 0 or >= the extent) are handled without an error: gather /
// index_select write 0 for them, and scatter_add / index_add skip them.
//
// The accumulating ops run in three steps: a keys body writes one (target key, position) pair
// per index element; the pairs are sorted by key, stably (CUB's radix sort on the GPU, so only
// the two bodies around it run in the emulation); then the first position of each run of equal
// keys adds the run's values into the target in position order, the CPU's order
// (y + s0 + s1 + ...). Every launch is elementwise_dims(items).
#pragma once
#include <cstdint>
#include <limits>

#include "engine/check.h"
#include "engine/hd.h"
#include "engine/tensor_view.h"
#include "ops/cuda/kernel_common.h"

namespace unravel::cuda {

/// Geometry of gather / scatter_add, walked over index's shape: `dense` (y of gather, src of
/// scatter_add) is addressed at the element's own coordinates, `indexed` (x of gather, y of
/// scatter_add) at them with the axis coordinate replaced by the index value.
struct GatherGeom {
  int rank = 0, axis = 0;
  int64_t shape[kMaxDims] = {};  // index's shape
  int64_t dense[kMaxDims] = {}, index[kMaxDims] = {}, indexed[kMaxDims] = {};  // strides
  int64_t extent = 0;       // indexed.shape[axis]
  int64_t axis_stride = 0;  // indexed.strides[axis]
};

struct GatherOffsets {
  int64_t dense, index, indexed_base;  // indexed_base: without the axis term
};

/// Offsets of the element with row-major linear index i of index's shape (host and device).
UNRAVEL_HD GatherOffsets gather_offsets(const GatherGeom& g, int64_t i) {
  GatherOffsets o{0, 0, 0};
  for (int d = g.rank - 1; d >= 0; --d) {
    const int64_t n = g.shape[d], q = i / n, c = i - q * n;
    i = q;
    o.dense += c * g.dense[d];
    o.index += c * g.index[d];
    if (d != g.axis) o.indexed_base += c * g.indexed[d];
  }
  return o;
}

/// Which fiber (all coordinates but the axis one) linear index i of index's shape lies in:
/// `len` = index's extent on the axis, `inner` = the product of its extents after the axis.
UNRAVEL_HD int64_t gather_fiber(int64_t i, int64_t len, int64_t inner) {
  return (i / (len * inner)) * inner + i % inner;
}

UNRAVEL_HD bool in_range(int64_t v, int64_t extent) { return v >= 0 && v < extent; }

// --- bodies ------------------------------------------------------------------------------------

template <class T, class Ctx>
UNRAVEL_HD void gather_body(Ctx& ctx, const T* x, const int64_t* index, GatherGeom g, int64_t n,
                            T* y) {
  for (int64_t i = grid_first(ctx); i < n; i += grid_step(ctx)) {
    const GatherOffsets o = gather_offsets(g, i);
    const int64_t v = index[o.index];
    y[o.dense] = in_range(v, g.extent) ? x[o.indexed_base + v * g.axis_stride] : T(0);
  }
}

/// Key of index element i: fiber·(extent + 1) + index value (extent for an out-of-range one).
template <class Ctx>
UNRAVEL_HD void scatter_keys_body(Ctx& ctx, const int64_t* index, GatherGeom g, int64_t n,
                                  int64_t inner, uint64_t* keys, int64_t* pos) {
  const int64_t len = g.shape[g.axis];
  const uint64_t span = static_cast<uint64_t>(g.extent) + 1;
  for (int64_t i = grid_first(ctx); i < n; i += grid_step(ctx)) {
    const int64_t v = index[gather_offsets(g, i).index];
    const uint64_t vv = in_range(v, g.extent) ? static_cast<uint64_t>(v)
                                              : static_cast<uint64_t>(g.extent);
    keys[i] = static_cast<uint64_t>(gather_fiber(i, len, inner)) * span + vv;
    pos[i] = i;
  }
}

/// The first position p of each run of equal (sorted) keys adds the run's src values, in
/// position order, into the run's target.
template <class T, class Ctx>
UNRAVEL_HD void scatter_apply_body(Ctx& ctx, const T* src, const uint64_t* keys,
                                   const int64_t* pos, GatherGeom g, int64_t n, T* y) {
  const uint64_t span = static_cast<uint64_t>(g.extent) + 1;
  for (int64_t p = grid_first(ctx); p < n; p += grid_step(ctx)) {
    const uint64_t key = keys[p];
    if (p > 0 && keys[p - 1] == key) continue;
    const int64_t v = static_cast<int64_t>(key % span);
    if (v == g.extent) continue;  // out-of-range indices: skipped
    const GatherOffsets o = gather_offsets(g, pos[p]);
    T* target = y + o.indexed_base + v * g.axis_stride;
    T acc = *target;
    for (int64_t q = p; q < n && keys[q] == key; ++q) acc += src[gather_offsets(g, pos[q]).dense];
    *target = acc;
  }
}

/// index_select: t walks dense (y) row-major; `xrest` has dense's shape with x's strides and 0
/// on the axis; the axis coordinate of t is (t / inner) % n_idx.
template <class T, class Ctx>
UNRAVEL_HD void index_select_body(Ctx& ctx, const T* x, Strided xrest, int64_t x_axis,
                                  int64_t extent, const int64_t* index, int64_t is,
                                  int64_t n_idx, int64_t inner, T* y, Strided ys, int64_t n) {
  for (int64_t t = grid_first(ctx); t < n; t += grid_step(ctx)) {
    const int64_t j = (t / inner) % n_idx;
    const int64_t v = index[j * is];
    y[ys.offset(t)] = in_range(v, extent) ? x[xrest.offset(t) + v * x_axis] : T(0);
  }
}

/// Key of index position j: its value (extent for an out-of-range one).
template <class Ctx>
UNRAVEL_HD void select_keys_body(Ctx& ctx, const int64_t* index, int64_t is, int64_t n,
                                 int64_t extent, uint64_t* keys, int64_t* pos) {
  for (int64_t j = grid_first(ctx); j < n; j += grid_step(ctx)) {
    const int64_t v = index[j * is];
    keys[j] = in_range(v, extent) ? static_cast<uint64_t>(v) : static_cast<uint64_t>(extent);
    pos[j] = j;
  }
}

/// index_add: item t = (sorted position p, rest element r), r fastest. The first p of each run
/// of equal keys adds src[rest r, axis pos[q]] for the run's q, in order, into y[rest r, key].
template <class T, class Ctx>
UNRAVEL_HD void index_add_apply_body(Ctx& ctx, const T* src, Strided srest, int64_t s_axis, T* y,
                                     Strided yrest, int64_t y_axis, const uint64_t* keys,
                                     const int64_t* pos, int64_t n_idx, int64_t rest_n,
                                     int64_t extent) {
  const int64_t n = n_idx * rest_n;
  for (int64_t t = grid_first(ctx); t < n; t += grid_step(ctx)) {
    const int64_t p = t / rest_n, r = t - p * rest_n;
    const uint64_t key = keys[p];
    if (p > 0 && keys[p - 1] == key) continue;
    const int64_t v = static_cast<int64_t>(key);
    if (v == extent) continue;  // out-of-range indices: skipped
    T* target = y + yrest.offset(r) + v * y_axis;
    const int64_t sbase = srest.offset(r);
    T acc = *target;
    for (int64_t q = p; q < n_idx && keys[q] == key; ++q) acc += src[sbase + pos[q] * s_axis];
    *target = acc;
  }
}

// --- host side: geometry and sort widths (shapes validated by the caller) ----------------------

inline GatherGeom gather_geom(const TensorView& dense, int axis, const TensorView& index,
                              const TensorView& indexed) {
  GatherGeom g;
  g.rank = index.rank();
  g.axis = axis;
  for (int d = 0; d < g.rank; ++d) {
    g.shape[d] = index.shape[d];
    g.dense[d] = dense.strides[d];
    g.index[d] = index.strides[d];
    g.indexed[d] = indexed.strides[d];
  }
  g.extent = indexed.shape[axis];
  g.axis_stride = indexed.strides[axis];
  return g;
}

/// The fewest low bits that hold every value <= max_key (at least 1).
inline int key_bits(uint64_t max_key) {
  int b = 1;
  while (b < 64 && (max_key >> b) != 0) ++b;
  return b;
}

/// scatter_add of index (n > 0 elements): the geometry, `inner` of scatter_keys_body and the
/// key bits the sort looks at.
struct ScatterPlan {
  GatherGeom g;
  int64_t n = 0, inner = 1;
  int bits = 1;
};

inline ScatterPlan scatter_add_plan(const TensorView& src, int axis, const TensorView& index,
                                    const TensorView& y) {
  ScatterPlan p;
  p.g = gather_geom(src, axis, index, y);
  p.n = index.numel();
  const int64_t len = index.shape[axis];
  for (int d = axis + 1; d < index.rank(); ++d) p.inner *= index.shape[d];
  const uint64_t fibers = static_cast<uint64_t>(p.n / len);
  const uint64_t span = static_cast<uint64_t>(p.g.extent) + 1;
  UNRAVEL_CHECK(span <= std::numeric_limits<uint64_t>::max() / fibers,
                "scatter_add: {} fibers of extent {} overflow the 64-bit sort keys", fibers,
                p.g.extent);
  p.bits = key_bits(fibers * span - 1);
  return p;
}

/// index_select's operands: y row-major, x at y's coordinates (0 stride on the axis) plus
/// index[j]·x_axis.
struct SelectArgs {
  Strided ys, xrest;
  int64_t x_axis = 0, extent = 0, is = 0, n_idx = 0, inner = 1;
};

inline SelectArgs index_select_args(const TensorView& x, int axis, const TensorView& index,
                                    const TensorView& y) {
  SelectArgs a;
  a.ys = strided_of(y, "index_select");
  a.xrest = strided_as(x, y.shape, "index_select");
  a.xrest.strides[axis] = 0;
  for (int d = axis + 1; d < y.rank(); ++d) a.inner *= y.shape[d];
  a.is = index.rank() == 0 ? 0 : index.strides[0];
  a.x_axis = x.strides[axis];
  a.extent = x.shape[axis];
  a.n_idx = index.numel();
  return a;
}

/// dense's shape without `axis`, with v's strides (the rest of an index_add).
inline Strided rest_of(const Shape& shape, const TensorView& v, int axis) {
  Strided s;
  for (int d = 0; d < shape.size(); ++d) {
    if (d == axis) continue;
    s.shape[s.rank] = shape[d];
    s.strides[s.rank++] = v.strides[d];
  }
  return s;
}

/// index_add of src (numel > 0): select_keys_body over n_idx positions, the sort's key bits,
/// then index_add_apply_body over n_idx·rest_n items.
struct IndexAddPlan {
  Strided srest, yrest;
  int64_t n_idx = 0, rest_n = 0, extent = 0, is = 0, s_axis = 0, y_axis = 0;
  int bits = 1;
};

inline IndexAddPlan index_add_plan(const TensorView& src, int axis, const TensorView& index,
                                   const TensorView& y) {
  IndexAddPlan p;
  p.srest = rest_of(src.shape, src, axis);
  p.yrest = rest_of(src.shape, y, axis);
  p.n_idx = index.numel();
  p.rest_n = src.numel() / p.n_idx;
  p.extent = y.shape[axis];
  p.is = index.rank() == 0 ? 0 : index.strides[0];
  p.s_axis = src.strides[axis];
  p.y_axis = y.strides[axis];
  p.bits = key_bits(static_cast<uint64_t>(p.extent));
  return p;
}

}  // namespace unravel::cuda
