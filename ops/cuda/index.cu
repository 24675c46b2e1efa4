// CUDA indexing kernels with the CPU's (torch) semantics (ops/cpu/index_cpu.cpp): gather,
// scatter_add, index_select, index_add. The per-thread bodies and the launch geometry are in
// ops/cuda/index_body.h (the kernels here are thin wrappers); the sort between the keys and the
// apply steps of scatter_add / index_add is CUB's.
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

#include "engine/check.h"
#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"
#include "ops/kernel_checks.h"
#include "ops/cuda/index_body.h"

namespace unravel {

using cuda::DeviceCtx;
using cuda::elementwise_dims;
using cuda::GatherGeom;
using cuda::Strided;

namespace {

// --- host-side validation (ops/kernel_checks.h, plus this backend's own; index values are not
// readable here) ------------------------------------------------------------------------------

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
  checks::gather_shapes(op, dense, axis, index, indexed);
  check_common(op, dense, index, indexed);
}

void check_select_shapes(const char* op, const TensorView& dense, int axis,
                         const TensorView& index, const TensorView& indexed) {
  checks::select_shapes(op, dense, axis, index, indexed);
  check_common(op, dense, index, indexed);
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

// --- kernels: thin wrappers of the bodies in ops/cuda/index_body.h ---------------------------

template <class T>
__global__ void gather_kernel(const T* x, const int64_t* index, GatherGeom g, int64_t n, T* y) {
  DeviceCtx c;
  cuda::gather_body<T>(c, x, index, g, n, y);
}

__global__ void scatter_keys_kernel(const int64_t* index, GatherGeom g, int64_t n, int64_t inner,
                                    uint64_t* keys, int64_t* pos) {
  DeviceCtx c;
  cuda::scatter_keys_body(c, index, g, n, inner, keys, pos);
}

template <class T>
__global__ void scatter_apply_kernel(const T* src, const uint64_t* keys, const int64_t* pos,
                                     GatherGeom g, int64_t n, T* y) {
  DeviceCtx c;
  cuda::scatter_apply_body<T>(c, src, keys, pos, g, n, y);
}

template <class T>
__global__ void index_select_kernel(const T* x, Strided xrest, int64_t x_axis, int64_t extent,
                                    const int64_t* index, int64_t is, int64_t n_idx,
                                    int64_t inner, T* y, Strided ys, int64_t n) {
  DeviceCtx c;
  cuda::index_select_body<T>(c, x, xrest, x_axis, extent, index, is, n_idx, inner, y, ys, n);
}

__global__ void select_keys_kernel(const int64_t* index, int64_t is, int64_t n, int64_t extent,
                                   uint64_t* keys, int64_t* pos) {
  DeviceCtx c;
  cuda::select_keys_body(c, index, is, n, extent, keys, pos);
}

template <class T>
__global__ void index_add_apply_kernel(const T* src, Strided srest, int64_t s_axis, T* y,
                                       Strided yrest, int64_t y_axis, const uint64_t* keys,
                                       const int64_t* pos, int64_t n_idx, int64_t rest_n,
                                       int64_t extent) {
  DeviceCtx c;
  cuda::index_add_apply_body<T>(c, src, srest, s_axis, y, yrest, y_axis, keys, pos, n_idx, rest_n,
                                extent);
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
  const GatherGeom g = cuda::gather_geom(y, axis, index, x);
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    gather_kernel<T><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
        x.ptr<T>(), index.ptr<int64_t>(), g, n, y.ptr<T>());
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
  const cuda::ScatterPlan p = cuda::scatter_add_plan(src, axis, index, y);
  SortedKeys keys(n);
  scatter_keys_kernel<<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
      index.ptr<int64_t>(), p.g, n, p.inner, keys.keys_in.as<uint64_t>(),
      keys.pos_in.as<int64_t>());
  UNRAVEL_CUDA_LAUNCH();
  keys.sort(n, p.bits, s);
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    scatter_apply_kernel<T><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
        src.ptr<T>(), keys.keys_out.as<uint64_t>(), keys.pos_out.as<int64_t>(), p.g, n,
        y.ptr<T>());
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
  const cuda::SelectArgs g = cuda::index_select_args(x, axis, index, y);
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    index_select_kernel<T><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
        x.ptr<T>(), g.xrest, g.x_axis, g.extent, index.ptr<int64_t>(), g.is, g.n_idx, g.inner,
        y.ptr<T>(), g.ys, n);
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
  const cuda::IndexAddPlan p = cuda::index_add_plan(src, axis, index, y);
  SortedKeys keys(n_idx);
  select_keys_kernel<<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n_idx), s)>>>(
      index.ptr<int64_t>(), p.is, n_idx, p.extent, keys.keys_in.as<uint64_t>(),
      keys.pos_in.as<int64_t>());
  UNRAVEL_CUDA_LAUNCH();
  keys.sort(n_idx, p.bits, s);
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    index_add_apply_kernel<T><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n_idx * p.rest_n), s)>>>(
        src.ptr<T>(), p.srest, p.s_axis, y.ptr<T>(), p.yrest, p.y_axis,
        keys.keys_out.as<uint64_t>(), keys.pos_out.as<int64_t>(), n_idx, p.rest_n, p.extent);
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel
