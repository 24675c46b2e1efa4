// CUDA indexing kernels with the CPU's (torch) semantics (ops/cpu/index_cpu.cpp):
//   gather:       y[i][j][k] = x[index[i][j][k]][j][k]            (axis 0; index has y's shape)
//   scatter_add:  y[index[i][j][k]][j][k] += src[i][j][k]         (the adjoint of gather)
//   index_select: y[..., i, ...] = x[..., index[i], ...]          (1-D index)
//   index_add:    y[..., index[i], ...] += src[..., i, ...]       (the adjoint of index_select)
//
// Index values. The CPU checks every index before writing and throws on a bad one; here the
// index lives on the device and the host may not read it (no synchronisation in a training
// step), and ops/index.cpp validates shapes only. So out-of-range indices (< 0 or >= the extent)
// are handled in the kernels, without an error: gather / index_select write 0 for them, and
// scatter_add / index_add skip them. Callers that need the CPU's error must check on the host.
//
// The accumulating kernels are deterministic and equal to the CPU bit for bit, without atomics:
// the (target, position) keys are radix-sorted (CUB, stable), and the first position of each
// run of equal targets adds the run's values into the target in position order, which is the
// CPU's order (y + s0 + s1 + ...). So eager runs and CUDA-graph replays agree, and every dtype
// (u8 included) works. The cost is a sort of index.numel() 64-bit keys per call, and a target
// hit by a very long run of indices is summed by one thread (e.g. scatter_add of a million
// equal indices into one element runs a million dependent adds).
#include <cub/device/device_radix_sort.cuh>

#include <cstdint>
#include <limits>

#include "engine/check.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/hd.h"
#include "ops/cuda/cuda_common.cuh"

namespace unravel {

namespace cuda {

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

}  // namespace cuda

using cuda::blocks_for;
using cuda::GatherGeom;
using cuda::GatherOffsets;
using cuda::kThreads;
using cuda::Strided;

namespace {

// --- host-side validation (the CPU's shape checks; index values are not readable here) -------

void check_axis(int axis, int rank, const char* op) {
  UNRAVEL_CHECK(rank >= 1 && axis >= 0 && axis < rank,
                "{}: axis {} is out of range for a tensor of rank {}", op, axis, rank);
}

void check_common(const char* op, const TensorView& dense, const TensorView& index,
                  const TensorView& indexed) {
  UNRAVEL_CHECK(index.dtype == DType::i64, "{}: index must be i64, got {}", op,
                dtype_name(index.dtype));
  UNRAVEL_CHECK(dense.device == indexed.device && index.device == indexed.device,
                "{}: operands on different devices ({}, {}, {})", op, dense.device.str(),
                index.device.str(), indexed.device.str());
  (void)cuda::strided_of(dense, op);  // strided, rank <= kMaxDims
  (void)cuda::strided_of(index, op);
  (void)cuda::strided_of(indexed, op);
}

void check_gather_shapes(const char* op, const TensorView& dense, int axis,
                         const TensorView& index, const TensorView& indexed) {
  check_axis(axis, indexed.rank(), op);
  UNRAVEL_CHECK(dense.dtype == indexed.dtype, "{}: dtypes differ ({} vs {})", op,
                dtype_name(dense.dtype), dtype_name(indexed.dtype));
  UNRAVEL_CHECK(index.rank() == indexed.rank() && dense.rank() == indexed.rank(),
                "{}: index {} must have the rank of {} and {}", op, index.shape.str(),
                dense.shape.str(), indexed.shape.str());
  for (int d = 0; d < index.rank(); ++d) {
    UNRAVEL_CHECK(index.shape[d] <= dense.shape[d] &&
                      (d == axis || index.shape[d] <= indexed.shape[d]),
                  "{}: index {} does not fit {} and {} along dim {} (axis {})", op,
                  index.shape.str(), dense.shape.str(), indexed.shape.str(), d, axis);
  }
  check_common(op, dense, index, indexed);
}

void check_select_shapes(const char* op, const TensorView& dense, int axis,
                         const TensorView& index, const TensorView& indexed) {
  check_axis(axis, indexed.rank(), op);
  UNRAVEL_CHECK(dense.dtype == indexed.dtype, "{}: dtypes differ ({} vs {})", op,
                dtype_name(dense.dtype), dtype_name(indexed.dtype));
  UNRAVEL_CHECK(index.rank() <= 1, "{}: index must be 1-D, got {}", op, index.shape.str());
  Shape expect = indexed.shape;
  expect[axis] = index.numel();
  UNRAVEL_CHECK(dense.shape == expect, "{}: {} indices along axis {} of {} need {}, got {}", op,
                index.numel(), axis, indexed.shape.str(), expect.str(), dense.shape.str());
  check_common(op, dense, index, indexed);
}

GatherGeom gather_geom(const TensorView& dense, int axis, const TensorView& index,
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
int key_bits(uint64_t max_key) {
  int b = 1;
  while (b < 64 && (max_key >> b) != 0) ++b;
  return b;
}

/// Keys and positions, sorted: keys_out / pos_out hold the pairs (key, position) ordered by key
/// and, within equal keys, by position (the input order: CUB's radix sort is stable).
struct SortedKeys {
  cuda::Scratch keys_in, keys_out, pos_in, pos_out;
  explicit SortedKeys(int64_t n)
      : keys_in(static_cast<size_t>(n) * 8), keys_out(static_cast<size_t>(n) * 8),
        pos_in(static_cast<size_t>(n) * 8), pos_out(static_cast<size_t>(n) * 8) {}
  /// Sorts keys_in / pos_in (filled by the caller's kernel) by their low `bits` bits.
  void sort(int64_t n, int bits, cudaStream_t s) {
    size_t bytes = 0;
    UNRAVEL_CUDA(cub::DeviceRadixSort::SortPairs(
        nullptr, bytes, keys_in.as<uint64_t>(), keys_out.as<uint64_t>(), pos_in.as<int64_t>(),
        pos_out.as<int64_t>(), n, 0, bits, s));
    cuda::Scratch temp(bytes);
    UNRAVEL_CUDA(cub::DeviceRadixSort::SortPairs(
        temp.get(), bytes, keys_in.as<uint64_t>(), keys_out.as<uint64_t>(), pos_in.as<int64_t>(),
        pos_out.as<int64_t>(), n, 0, bits, s));
  }
};

// --- kernels -------------------------------------------------------------------------------

__device__ __forceinline__ bool in_range(int64_t v, int64_t extent) { return v >= 0 && v < extent; }

template <class T>
__global__ void gather_kernel(const T* x, const int64_t* index, GatherGeom g, int64_t n, T* y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const GatherOffsets o = cuda::gather_offsets(g, i);
    const int64_t v = index[o.index];
    y[o.dense] = in_range(v, g.extent) ? x[o.indexed_base + v * g.axis_stride] : T(0);
  }
}

/// Key of index element i: fiber·(extent + 1) + index value (extent for an out-of-range one).
__global__ void scatter_keys_kernel(const int64_t* index, GatherGeom g, int64_t n, int64_t inner,
                                    uint64_t* keys, int64_t* pos) {
  const int64_t len = g.shape[g.axis];
  const uint64_t span = static_cast<uint64_t>(g.extent) + 1;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = index[cuda::gather_offsets(g, i).index];
    const uint64_t vv = in_range(v, g.extent) ? static_cast<uint64_t>(v)
                                              : static_cast<uint64_t>(g.extent);
    keys[i] = static_cast<uint64_t>(cuda::gather_fiber(i, len, inner)) * span + vv;
    pos[i] = i;
  }
}

/// The first position p of each run of equal keys adds the run's src values, in position
/// order, into the run's target.
template <class T>
__global__ void scatter_apply_kernel(const T* src, const uint64_t* keys, const int64_t* pos,
                                     GatherGeom g, int64_t n, T* y) {
  const uint64_t span = static_cast<uint64_t>(g.extent) + 1;
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < n;
       p += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t key = keys[p];
    if (p > 0 && keys[p - 1] == key) continue;
    const int64_t v = static_cast<int64_t>(key % span);
    if (v == g.extent) continue;  // out-of-range indices: skipped
    const GatherOffsets o = cuda::gather_offsets(g, pos[p]);
    T* target = y + o.indexed_base + v * g.axis_stride;
    T acc = *target;
    for (int64_t q = p; q < n && keys[q] == key; ++q)
      acc += src[cuda::gather_offsets(g, pos[q]).dense];
    *target = acc;
  }
}

/// index_select: t walks dense (y) row-major; `xrest` has dense's shape with x's strides and 0
/// on the axis; the axis coordinate of t is (t / inner) % n_idx.
template <class T>
__global__ void index_select_kernel(const T* x, Strided xrest, int64_t x_axis, int64_t extent,
                                    const int64_t* index, int64_t is, int64_t n_idx,
                                    int64_t inner, T* y, Strided ys, int64_t n) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = (t / inner) % n_idx;
    const int64_t v = index[j * is];
    y[ys.offset(t)] = in_range(v, extent) ? x[xrest.offset(t) + v * x_axis] : T(0);
  }
}

/// Key of index position j: its value (extent for an out-of-range one).
__global__ void select_keys_kernel(const int64_t* index, int64_t is, int64_t n, int64_t extent,
                                   uint64_t* keys, int64_t* pos) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n;
       j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = index[j * is];
    keys[j] = in_range(v, extent) ? static_cast<uint64_t>(v) : static_cast<uint64_t>(extent);
    pos[j] = j;
  }
}

/// index_add: item t = (sorted position p, rest element r), r fastest. The first p of each run
/// of equal keys adds src[rest r, axis pos[q]] for the run's q, in order, into y[rest r, key].
template <class T>
__global__ void index_add_apply_kernel(const T* src, Strided srest, int64_t s_axis, T* y,
                                       Strided yrest, int64_t y_axis, const uint64_t* keys,
                                       const int64_t* pos, int64_t n_idx, int64_t rest_n,
                                       int64_t extent) {
  const int64_t n = n_idx * rest_n;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n;
       t += int64_t(gridDim.x) * blockDim.x) {
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

/// dense's shape without `axis`, with v's strides (the rest of an index_add).
Strided rest_of(const Shape& shape, const TensorView& v, int axis) {
  Strided s;
  for (int d = 0; d < shape.size(); ++d) {
    if (d == axis) continue;
    s.shape[s.rank] = shape[d];
    s.strides[s.rank++] = v.strides[d];
  }
  return s;
}

}  // namespace

void CudaBackend::gather(const TensorView& x, int axis, const TensorView& index,
                         const TensorView& y) {
  UNRAVEL_CUDA_TIMED("gather", y.device.index);
  check_gather_shapes("gather", y, axis, index, x);
  UNRAVEL_CHECK(y.shape == index.shape, "gather: output {} must have the index's shape {}",
                y.shape.str(), index.shape.str());
  const int64_t n = index.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  const GatherGeom g = gather_geom(y, axis, index, x);
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    gather_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(x.ptr<T>(), index.ptr<int64_t>(), g, n,
                                                        y.ptr<T>());
    UNRAVEL_CUDA_LAUNCH();
  });
}

void CudaBackend::scatter_add(const TensorView& src, int axis, const TensorView& index,
                              const TensorView& y) {
  UNRAVEL_CUDA_TIMED("scatter_add", y.device.index);
  check_gather_shapes("scatter_add", src, axis, index, y);
  const int64_t n = index.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  const GatherGeom g = gather_geom(src, axis, index, y);
  const int64_t len = index.shape[axis];
  int64_t inner = 1;
  for (int d = axis + 1; d < index.rank(); ++d) inner *= index.shape[d];
  const uint64_t fibers = static_cast<uint64_t>(n / len);
  const uint64_t span = static_cast<uint64_t>(g.extent) + 1;
  UNRAVEL_CHECK(span <= std::numeric_limits<uint64_t>::max() / fibers,
                "scatter_add: {} fibers of extent {} overflow the 64-bit sort keys", fibers,
                g.extent);
  SortedKeys keys(n);
  scatter_keys_kernel<<<blocks_for(n), kThreads, 0, s>>>(
      index.ptr<int64_t>(), g, n, inner, keys.keys_in.as<uint64_t>(), keys.pos_in.as<int64_t>());
  UNRAVEL_CUDA_LAUNCH();
  keys.sort(n, key_bits(fibers * span - 1), s);
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    scatter_apply_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(
        src.ptr<T>(), keys.keys_out.as<uint64_t>(), keys.pos_out.as<int64_t>(), g, n, y.ptr<T>());
    UNRAVEL_CUDA_LAUNCH();
  });
}

void CudaBackend::index_select(const TensorView& x, int axis, const TensorView& index,
                               const TensorView& y) {
  UNRAVEL_CUDA_TIMED("index_select", y.device.index);
  check_select_shapes("index_select", y, axis, index, x);
  const int64_t n = y.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  const Strided ys = cuda::strided_of(y, "index_select");
  Strided xrest = cuda::strided_as(x, y.shape, "index_select");
  xrest.strides[axis] = 0;
  int64_t inner = 1;
  for (int d = axis + 1; d < y.rank(); ++d) inner *= y.shape[d];
  const int64_t is = index.rank() == 0 ? 0 : index.strides[0];
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    index_select_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(
        x.ptr<T>(), xrest, x.strides[axis], x.shape[axis], index.ptr<int64_t>(), is,
        index.numel(), inner, y.ptr<T>(), ys, n);
    UNRAVEL_CUDA_LAUNCH();
  });
}

void CudaBackend::index_add(const TensorView& src, int axis, const TensorView& index,
                            const TensorView& y) {
  UNRAVEL_CUDA_TIMED("index_add", y.device.index);
  check_select_shapes("index_add", src, axis, index, y);
  const int64_t n_idx = index.numel();
  if (src.numel() == 0) return;  // also covers n_idx == 0
  cudaStream_t s = cuda::stream_of(y);
  const Strided srest = rest_of(src.shape, src, axis), yrest = rest_of(src.shape, y, axis);
  const int64_t rest_n = src.numel() / n_idx;
  const int64_t extent = y.shape[axis];
  const int64_t is = index.rank() == 0 ? 0 : index.strides[0];
  SortedKeys keys(n_idx);
  select_keys_kernel<<<blocks_for(n_idx), kThreads, 0, s>>>(
      index.ptr<int64_t>(), is, n_idx, extent, keys.keys_in.as<uint64_t>(),
      keys.pos_in.as<int64_t>());
  UNRAVEL_CUDA_LAUNCH();
  keys.sort(n_idx, key_bits(static_cast<uint64_t>(extent)), s);
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    index_add_apply_kernel<T><<<blocks_for(n_idx * rest_n), kThreads, 0, s>>>(
        src.ptr<T>(), srest, src.strides[axis], y.ptr<T>(), yrest, y.strides[axis],
        keys.keys_out.as<uint64_t>(), keys.pos_out.as<int64_t>(), n_idx, rest_n, extent);
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel
