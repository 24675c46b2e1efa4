// CUDA reductions (sum, mean, max, min, prod) and arg_reduce, with the CPU's semantics
// (ops/cpu/reduce_cpu.cpp): y has x's rank with 1 on the reduced axes; f32 sums and products
// accumulate in double, i32 / u8 in int64; max / min propagate NaN; mean = sum / count; an
// empty sum / prod / mean gives the identity (mean: NaN); arg_reduce returns the first index
// of the extreme, or of the first NaN.
//
// Layout: the axes of x split into kept axes (y's extent there is x's) and reduced axes. Output
// element o (row-major over the kept axes) and reduced element k (row-major over the reduced
// axes) read x at kept.offset(o) + red.offset(k) (reduce_input_offset below). Three shapes of
// work:
//   * few reduced elements (<= kSerialMax): one thread per output loops over them in order;
//   * otherwise one block per output (grid-stride over outputs): thread t combines the reduced
//     elements t, t + blockDim, ... in that order, then a shared-memory tree combines the
//     threads' partials in a fixed pairing;
//   * few outputs with a long reduction: each output's range is cut into `parts` fixed chunks,
//     one block per (output, chunk) writes a partial to scratch, and a second launch combines
//     each output's partials in chunk order.
// Every combination order depends only on the shapes, never on timing, so results are identical
// run to run (eager and CUDA-graph replay agree). Sums are not in the CPU's order, so f32 / f64
// sums may differ from the CPU in the last bits; max / min / arg results equal the CPU's except
// that a max / min over +0.0 and -0.0 may return the other zero.
#include <limits>
#include <type_traits>

#include "engine/check.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/hd.h"
#include "ops/cuda/cuda_common.cuh"

namespace unravel {

namespace cuda {

/// Offset in x of reduced element k of output element o (host- and device-callable).
UNRAVEL_HD int64_t reduce_input_offset(const Strided& kept, const Strided& red, int64_t o,
                                       int64_t k) {
  return kept.offset(o) + red.offset(k);
}

}  // namespace cuda

using cuda::blocks_for;
using cuda::kThreads;
using cuda::Strided;

namespace {

/// Reductions at most this long run one thread per output.
constexpr int64_t kSerialMax = 32;

template <class T> struct AccType { using type = T; };
template <> struct AccType<float> { using type = double; };
template <> struct AccType<int32_t> { using type = int64_t; };
template <> struct AccType<uint8_t> { using type = int64_t; };

template <class Acc> Acc identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: case ReduceOp::mean: return Acc(0);
    case ReduceOp::prod: return Acc(1);
    case ReduceOp::max:
      return std::numeric_limits<Acc>::has_infinity ? -std::numeric_limits<Acc>::infinity()
                                                    : std::numeric_limits<Acc>::lowest();
    case ReduceOp::min:
      return std::numeric_limits<Acc>::has_infinity ? std::numeric_limits<Acc>::infinity()
                                                    : std::numeric_limits<Acc>::max();
    default: return Acc(0);
  }
}

template <class T> __device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

/// The CPU's combine: acc then v, NaN-propagating for max / min.
template <ReduceOp Op, class Acc> __device__ __forceinline__ Acc combine(Acc acc, Acc v) {
  if constexpr (Op == ReduceOp::sum || Op == ReduceOp::mean) return acc + v;
  else if constexpr (Op == ReduceOp::prod) return acc * v;
  else if constexpr (Op == ReduceOp::max) return (v > acc || is_nan(v)) ? v : acc;
  else return (v < acc || is_nan(v)) ? v : acc;
}

/// Offset of reduced element k (one division fewer per element for a single reduced axis).
__device__ __forceinline__ int64_t red_offset(const Strided& red, int64_t k) {
  return red.rank == 1 ? k * red.strides[0] : red.offset(k);
}

/// The value written to y: mean divides by the count (empty: `empty_mean`, as the CPU).
template <ReduceOp Op, class Acc, class Out>
__device__ __forceinline__ Out finish(Acc a, int64_t count, Acc empty_mean) {
  if constexpr (Op == ReduceOp::mean) a = count ? a / static_cast<Acc>(count) : empty_mean;
  return static_cast<Out>(a);
}

/// One thread per output; reduces x (In) along `red` in order, writes finish(acc) to y.
template <ReduceOp Op, class In, class Acc, class Out>
__global__ void reduce_serial_kernel(const In* x, Strided kept, Strided red, int64_t out_n,
                                     int64_t red_n, Out* y, Strided ys, Acc init, int64_t count,
                                     Acc empty_mean) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < out_n;
       o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = kept.offset(o);
    Acc acc = init;
    for (int64_t k = 0; k < red_n; ++k)
      acc = combine<Op, Acc>(acc, static_cast<Acc>(x[base + red_offset(red, k)]));
    y[ys.offset(o)] = finish<Op, Acc, Out>(acc, count, empty_mean);
  }
}

/// One block per (output, part); blockDim.x is a power of two <= kThreads. With `partial` set,
/// block b = o·parts + p writes its partial to partial[b]; otherwise (parts == 1) finish(acc)
/// goes to y.
template <ReduceOp Op, class In, class Acc, class Out>
__global__ void reduce_block_kernel(const In* x, Strided kept, Strided red, int64_t out_n,
                                    int64_t red_n, int64_t parts, int64_t chunk, Out* y,
                                    Strided ys, Acc* partial, Acc init, int64_t count,
                                    Acc empty_mean) {
  __shared__ Acc smem[kThreads];
  const int t = threadIdx.x;
  const int64_t blocks = out_n * parts;
  for (int64_t b = blockIdx.x; b < blocks; b += gridDim.x) {
    const int64_t o = b / parts, p = b - o * parts;
    const int64_t begin = p * chunk;
    const int64_t end = begin + chunk < red_n ? begin + chunk : red_n;
    const int64_t base = kept.offset(o);
    Acc acc = init;
    for (int64_t k = begin + t; k < end; k += blockDim.x)
      acc = combine<Op, Acc>(acc, static_cast<Acc>(x[base + red_offset(red, k)]));
    smem[t] = acc;
    __syncthreads();
    // Fixed pairing: after the step of width s, smem[t] (t a multiple of 2s) holds the
    // combination of threads t .. t + 2s - 1, lower threads on the left.
    for (unsigned s = 1; s < blockDim.x; s *= 2) {
      if ((t & (2 * s - 1)) == 0) smem[t] = combine<Op, Acc>(smem[t], smem[t + s]);
      __syncthreads();
    }
    if (t == 0) {
      if (partial) partial[b] = smem[0];
      else y[ys.offset(o)] = finish<Op, Acc, Out>(smem[0], count, empty_mean);
    }
    __syncthreads();  // smem is rewritten by the next output
  }
}

/// The smallest power of two >= n, clamped to [32, kThreads].
unsigned block_threads(int64_t n) {
  unsigned t = 32;
  while (t < static_cast<unsigned>(kThreads) && static_cast<int64_t>(t) < n) t *= 2;
  return t;
}

unsigned grid_for_blocks(int64_t blocks) {
  const int64_t cap = int64_t{1} << 20;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

/// x's axes split into kept axes (those of y's extent != 1) and reduced axes (y's extent 1,
/// x's not); extent-1 axes of both are dropped. `ys` walks y's kept axes in the same order, so
/// output o is at ys.offset(o).
struct ReduceGeom {
  Strided kept, red, ys;
  int64_t out_n = 1, red_n = 1;
};

ReduceGeom reduce_geometry(const TensorView& x, const TensorView& y, const char* what) {
  (void)cuda::strided_of(x, what);  // strided, rank <= kMaxDims
  (void)cuda::strided_of(y, what);
  ReduceGeom g;
  for (int d = 0; d < x.rank(); ++d) {
    const int64_t xe = x.shape[d], ye = y.shape[d];
    UNRAVEL_CHECK(ye == xe || ye == 1, "{}: output {} does not fit input {} (dim {})", what,
                  y.shape.str(), x.shape.str(), d);
    if (ye != 1) {
      g.kept.shape[g.kept.rank] = xe;
      g.kept.strides[g.kept.rank++] = x.strides[d];
      g.ys.shape[g.ys.rank] = ye;
      g.ys.strides[g.ys.rank++] = y.strides[d];
      g.out_n *= ye;
    } else if (xe != 1) {
      g.red.shape[g.red.rank] = xe;
      g.red.strides[g.red.rank++] = x.strides[d];
      g.red_n *= xe;
    }
  }
  return g;
}

template <ReduceOp Op, class T> void reduce_impl(const TensorView& x, const TensorView& y) {
  using Acc = typename AccType<T>::type;
  const ReduceGeom g = reduce_geometry(x, y, "reduce");
  if (g.out_n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  const Acc init = identity<Acc>(Op);
  Acc empty_mean;
  if constexpr (std::is_floating_point_v<Acc>) empty_mean = std::numeric_limits<Acc>::quiet_NaN();
  else empty_mean = std::numeric_limits<Acc>::min();  // what x86 makes of the CPU's Acc(NAN)
  const T* xp = x.ptr<T>();
  T* yp = y.ptr<T>();

  if (g.red_n <= kSerialMax) {
    reduce_serial_kernel<Op, T, Acc, T><<<blocks_for(g.out_n), kThreads, 0, s>>>(
        xp, g.kept, g.red, g.out_n, g.red_n, yp, g.ys, init, g.red_n, empty_mean);
    UNRAVEL_CUDA_LAUNCH();
    return;
  }
  // Few outputs, long reductions: split each into up to ~1024 / out_n parts of >= 8192.
  int64_t parts = 1;
  if (g.out_n < 256 && g.red_n >= 32768) {
    const int64_t by_size = (g.red_n + 8191) / 8192, by_outputs = 1024 / g.out_n;
    parts = by_size < by_outputs ? by_size : by_outputs;
    if (parts < 1) parts = 1;
  }
  const int64_t chunk = (g.red_n + parts - 1) / parts;
  parts = (g.red_n + chunk - 1) / chunk;
  const unsigned threads = block_threads(chunk);
  const unsigned grid = grid_for_blocks(g.out_n * parts);
  if (parts == 1) {
    reduce_block_kernel<Op, T, Acc, T><<<grid, threads, 0, s>>>(
        xp, g.kept, g.red, g.out_n, g.red_n, 1, chunk, yp, g.ys, nullptr, init, g.red_n,
        empty_mean);
    UNRAVEL_CUDA_LAUNCH();
    return;
  }
  cuda::Scratch partial(static_cast<size_t>(g.out_n * parts) * sizeof(Acc));
  reduce_block_kernel<Op, T, Acc, T><<<grid, threads, 0, s>>>(
      xp, g.kept, g.red, g.out_n, g.red_n, parts, chunk, yp, g.ys, partial.as<Acc>(), init,
      g.red_n, empty_mean);
  UNRAVEL_CUDA_LAUNCH();
  // Combine each output's partials in part order: partial is (out_n, parts) row-major.
  Strided pk, pr;
  pk.rank = 1;
  pk.shape[0] = g.out_n;
  pk.strides[0] = parts;
  pr.rank = 1;
  pr.shape[0] = parts;
  pr.strides[0] = 1;
  reduce_serial_kernel<Op, Acc, Acc, T><<<blocks_for(g.out_n), kThreads, 0, s>>>(
      partial.as<Acc>(), pk, pr, g.out_n, parts, yp, g.ys, init, g.red_n, empty_mean);
  UNRAVEL_CUDA_LAUNCH();
}

// --- arg_reduce ----------------------------------------------------------------------------

/// A candidate of arg_reduce: value and index (i < 0: none yet).
template <class T> struct ArgBest {
  T v;
  int64_t i;
};

/// The better of two candidates by the CPU's rule, independent of the order they are seen in:
/// a NaN beats every number; among NaNs, or among equal numbers, the lower index wins.
template <class T>
__device__ __forceinline__ ArgBest<T> pick(bool is_max, ArgBest<T> a, ArgBest<T> b) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool an = is_nan(a.v), bn = is_nan(b.v);
  if (an || bn) {
    if (an && bn) return a.i < b.i ? a : b;
    return an ? a : b;
  }
  if (is_max ? b.v > a.v : b.v < a.v) return b;
  if (is_max ? a.v > b.v : a.v < b.v) return a;
  return a.i < b.i ? a : b;
}

template <class T>
__global__ void arg_serial_kernel(const T* x, Strided kept, int64_t xs, int64_t n, int64_t out_n,
                                  int64_t* y, Strided ys, bool is_max) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < out_n;
       o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = kept.offset(o);
    ArgBest<T> best{T(0), -1};
    for (int64_t k = 0; k < n; ++k) best = pick(is_max, best, ArgBest<T>{x[base + k * xs], k});
    y[ys.offset(o)] = best.i;
  }
}

template <class T>
__global__ void arg_block_kernel(const T* x, Strided kept, int64_t xs, int64_t n, int64_t out_n,
                                 int64_t* y, Strided ys, bool is_max) {
  __shared__ T sv[kThreads];
  __shared__ int64_t si[kThreads];
  const int t = threadIdx.x;
  for (int64_t o = blockIdx.x; o < out_n; o += gridDim.x) {
    const int64_t base = kept.offset(o);
    ArgBest<T> best{T(0), -1};
    for (int64_t k = t; k < n; k += blockDim.x)
      best = pick(is_max, best, ArgBest<T>{x[base + k * xs], k});
    sv[t] = best.v;
    si[t] = best.i;
    __syncthreads();
    for (unsigned s = 1; s < blockDim.x; s *= 2) {
      if ((t & (2 * s - 1)) == 0) {
        const ArgBest<T> r =
            pick(is_max, ArgBest<T>{sv[t], si[t]}, ArgBest<T>{sv[t + s], si[t + s]});
        sv[t] = r.v;
        si[t] = r.i;
      }
      __syncthreads();
    }
    if (t == 0) y[ys.offset(o)] = si[0];
    __syncthreads();
  }
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const TensorView& x, const TensorView& y) {
  UNRAVEL_CUDA_TIMED("reduce", y.device.index);
  UNRAVEL_CHECK(x.rank() == y.rank(), "reduce: output rank {} differs from input rank {}", y.rank(),
                x.rank());
  UNRAVEL_CHECK(x.dtype == y.dtype, "reduce: dtypes differ");
  UNRAVEL_CHECK(x.device == y.device, "reduce: input on {} and output on {}", x.device.str(),
                y.device.str());
  if ((op == ReduceOp::max || op == ReduceOp::min) && x.numel() == 0)
    UNRAVEL_CHECK(false, "{}: reduction over an empty tensor has no identity",
                  op == ReduceOp::max ? "max" : "min");
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case ReduceOp::sum: reduce_impl<ReduceOp::sum, T>(x, y); break;
      case ReduceOp::mean: reduce_impl<ReduceOp::mean, T>(x, y); break;
      case ReduceOp::max: reduce_impl<ReduceOp::max, T>(x, y); break;
      case ReduceOp::min: reduce_impl<ReduceOp::min, T>(x, y); break;
      case ReduceOp::prod: reduce_impl<ReduceOp::prod, T>(x, y); break;
      default: UNRAVEL_CHECK(false, "reduce: unknown op");
    }
  });
}

void CudaBackend::arg_reduce(bool is_max, const TensorView& x, int axis, const TensorView& y) {
  UNRAVEL_CUDA_TIMED("arg_reduce", y.device.index);
  const char* what = is_max ? "argmax" : "argmin";
  UNRAVEL_CHECK(y.dtype == DType::i64, "arg_reduce: output must be i64");
  UNRAVEL_CHECK(axis >= 0 && axis < x.rank() && y.rank() == x.rank(),
                "{}: axis {} / output {} do not fit input {}", what, axis, y.shape.str(),
                x.shape.str());
  UNRAVEL_CHECK(x.device == y.device, "{}: input on {} and output on {}", what, x.device.str(),
                y.device.str());
  const int64_t n = x.shape[axis];
  UNRAVEL_CHECK(n > 0, "{}: axis {} is empty", what, axis);
  (void)cuda::strided_of(x, what);
  (void)cuda::strided_of(y, what);
  // Kept axes: every axis but `axis` (extent-1 axes dropped), with x's and y's strides.
  Strided kept, ys;
  int64_t out_n = 1;
  for (int d = 0; d < x.rank(); ++d) {
    if (d == axis) {
      UNRAVEL_CHECK(y.shape[d] == 1, "{}: output {} must have extent 1 on axis {}", what,
                    y.shape.str(), axis);
      continue;
    }
    UNRAVEL_CHECK(y.shape[d] == x.shape[d], "{}: output {} does not fit input {}", what,
                  y.shape.str(), x.shape.str());
    if (x.shape[d] == 1) continue;
    kept.shape[kept.rank] = x.shape[d];
    kept.strides[kept.rank++] = x.strides[d];
    ys.shape[ys.rank] = y.shape[d];
    ys.strides[ys.rank++] = y.strides[d];
    out_n *= x.shape[d];
  }
  if (out_n == 0) return;
  const int64_t xs = x.strides[axis];
  cudaStream_t s = cuda::stream_of(y);
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (n <= kSerialMax) {
      arg_serial_kernel<T><<<blocks_for(out_n), kThreads, 0, s>>>(x.ptr<T>(), kept, xs, n, out_n,
                                                                  y.ptr<int64_t>(), ys, is_max);
    } else {
      arg_block_kernel<T><<<grid_for_blocks(out_n), block_threads(n), 0, s>>>(
          x.ptr<T>(), kept, xs, n, out_n, y.ptr<int64_t>(), ys, is_max);
    }
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel
