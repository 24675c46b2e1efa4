// The per-thread bodies of the CUDA reductions (ops/cuda/reduce.cu) and their launch plans, in
// plain C++: nvcc builds them into the kernels and the host compiler runs them through
// emulate_launch (ops/cuda/launch_ctx.h) in tests/engine/test_cuda_emulated.cpp.
//
// Semantics are the CPU's (ops/cpu/reduce_cpu.cpp): y has x's rank with 1 on the reduced axes;
// f32 sums and products accumulate in double, i32 / u8 in int64; max / min propagate NaN;
// mean = sum / count; an empty sum / prod / mean gives the identity (mean: NaN); arg_reduce
// returns the first index of the extreme, or of the first NaN.
//
// Layout: the axes of x split into kept axes (y's extent there is x's) and reduced axes. Output
// element o (row-major over the kept axes) and reduced element k (row-major over the reduced
// axes) read x at kept.offset(o) + red.offset(k) (reduce_input_offset). Three shapes of work
// (reduce_plan):
//   * few reduced elements (<= kSerialMax): one thread per output loops over them in order;
//   * otherwise one block per output (grid-stride over outputs): thread t combines the reduced
//     elements t, t + blockDim, ... in that order, then a shared-memory tree combines the
//     threads' partials in a fixed pairing;
//   * few outputs with a long reduction: each output's range is cut into `parts` fixed chunks,
//     one block per (output, chunk) writes a partial to scratch, and a second launch combines
//     each output's partials in chunk order.
// Every combination order depends only on the shapes, never on timing, so results are identical
// run to run (eager and CUDA-graph replay agree).
#pragma once
#include <cstdint>
#include <limits>
#include <type_traits>

#include "engine/check.h"
#include "engine/hd.h"
#include "engine/op_kinds.h"
#include "engine/tensor_view.h"
#include "ops/cuda/kernel_common.h"
#include "ops/reduce_rules.h"

namespace unravel::cuda {

/// Offset in x of reduced element k of output element o (host- and device-callable).
UNRAVEL_HD int64_t reduce_input_offset(const Strided& kept, const Strided& red, int64_t o,
                                       int64_t k) {
  return kept.offset(o) + red.offset(k);
}

/// Reductions at most this long run one thread per output.
constexpr int64_t kSerialMax = 32;

using unravel::AccType;  // the accumulator and identity every backend shares (ops/reduce_rules.h)
using unravel::reduce_identity;

/// The mean of an empty reduction: NaN, or for integers what x86 makes of the CPU's Acc(NAN).
template <class Acc> Acc reduce_empty_mean() {
  if constexpr (std::is_floating_point_v<Acc>) return std::numeric_limits<Acc>::quiet_NaN();
  else return std::numeric_limits<Acc>::min();
}

template <class T> UNRAVEL_HD bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

/// The CPU's combine (ops/reduce_rules.h).
template <ReduceOp Op, class Acc> UNRAVEL_HD Acc combine(Acc acc, Acc v) {
  return reduce_combine<Op, Acc>(acc, v);
}

/// Offset of reduced element k (one division fewer per element for a single reduced axis).
UNRAVEL_HD int64_t red_offset(const Strided& red, int64_t k) {
  return red.rank == 1 ? k * red.strides[0] : red.offset(k);
}

/// The value written to y: mean divides by the count (empty: `empty_mean`, as the CPU).
template <ReduceOp Op, class Acc, class Out>
UNRAVEL_HD Out finish(Acc a, int64_t count, Acc empty_mean) {
  if constexpr (Op == ReduceOp::mean) a = count ? a / static_cast<Acc>(count) : empty_mean;
  return static_cast<Out>(a);
}

// --- reduce bodies -----------------------------------------------------------------------------

/// One thread per output; reduces x (In) along `red` in order, writes finish(acc) to y.
template <ReduceOp Op, class In, class Acc, class Out, class Ctx>
UNRAVEL_HD void reduce_serial_body(Ctx& ctx, const In* x, Strided kept, Strided red,
                                   int64_t out_n, int64_t red_n, Out* y, Strided ys, Acc init,
                                   int64_t count, Acc empty_mean) {
  for (int64_t o = grid_first(ctx); o < out_n; o += grid_step(ctx)) {
    const int64_t base = kept.offset(o);
    Acc acc = init;
    for (int64_t k = 0; k < red_n; ++k)
      acc = combine<Op, Acc>(acc, static_cast<Acc>(x[base + red_offset(red, k)]));
    y[ys.offset(o)] = finish<Op, Acc, Out>(acc, count, empty_mean);
  }
}

/// One block per (output, part); blockDim.x is a power of two <= kThreads and the block has
/// blockDim.x Acc of shared memory. With `partial` set, block b = o·parts + p writes its partial
/// to partial[b]; otherwise (parts == 1) finish(acc) goes to y.
template <ReduceOp Op, class In, class Acc, class Out, class Ctx>
UNRAVEL_HD void reduce_block_body(Ctx& ctx, const In* x, Strided kept, Strided red, int64_t out_n,
                                  int64_t red_n, int64_t parts, int64_t chunk, Out* y,
                                  Strided ys, Acc* partial, Acc init, int64_t count,
                                  Acc empty_mean) {
  Acc* smem = ctx.template shared<Acc>();
  const int t = ctx.thread_idx_x();
  const unsigned threads = ctx.block_dim_x();
  const int64_t blocks = out_n * parts;
  for (int64_t b = ctx.block_idx_x(); b < blocks; b += ctx.grid_dim_x()) {
    const int64_t o = b / parts, p = b - o * parts;
    const int64_t begin = p * chunk;
    const int64_t end = begin + chunk < red_n ? begin + chunk : red_n;
    const int64_t base = kept.offset(o);
    Acc acc = init;
    for (int64_t k = begin + t; k < end; k += threads)
      acc = combine<Op, Acc>(acc, static_cast<Acc>(x[base + red_offset(red, k)]));
    smem[t] = acc;
    ctx.sync();
    // Fixed pairing: after the step of width s, smem[t] (t a multiple of 2s) holds the
    // combination of threads t .. t + 2s - 1, lower threads on the left.
    for (unsigned s = 1; s < threads; s *= 2) {
      if ((t & (2 * s - 1)) == 0) smem[t] = combine<Op, Acc>(smem[t], smem[t + s]);
      ctx.sync();
    }
    if (t == 0) {
      if (partial) partial[b] = smem[0];
      else y[ys.offset(o)] = finish<Op, Acc, Out>(smem[0], count, empty_mean);
    }
    ctx.sync();  // smem is rewritten by the next output
  }
}

// --- reduce: host side -------------------------------------------------------------------------

/// The smallest power of two >= n, clamped to [32, kThreads].
inline unsigned block_threads(int64_t n) {
  unsigned t = 32;
  while (t < static_cast<unsigned>(kThreads) && static_cast<int64_t>(t) < n) t *= 2;
  return t;
}

inline unsigned grid_for_blocks(int64_t blocks) {
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

inline ReduceGeom reduce_geometry(const TensorView& x, const TensorView& y, const char* what) {
  (void)strided_of(x, what);  // strided, rank <= kMaxDims
  (void)strided_of(y, what);
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

/// How reduce runs for out_n outputs of red_n elements each (out_n > 0).
struct ReducePlan {
  enum class Kind {
    serial,   ///< reduce_serial_body over x with `main`
    block,    ///< reduce_block_body with `main`, parts == 1, no partials
    chunked,  ///< reduce_block_body with `main` into out_n·parts partials (Acc), then
              ///< reduce_serial_body over them (geometry pk / pr) with `combine`
  };
  Kind kind = Kind::serial;
  LaunchDims main;
  int64_t parts = 1, chunk = 0;
  LaunchDims combine;
  Strided pk, pr;
};

template <class Acc> ReducePlan reduce_plan(int64_t out_n, int64_t red_n) {
  ReducePlan p;
  if (red_n <= kSerialMax) {
    p.main = elementwise_dims(out_n);
    return p;
  }
  // Few outputs, long reductions: split each into up to ~1024 / out_n parts of >= 8192.
  int64_t parts = 1;
  if (out_n < 256 && red_n >= 32768) {
    const int64_t by_size = (red_n + 8191) / 8192, by_outputs = 1024 / out_n;
    parts = by_size < by_outputs ? by_size : by_outputs;
    if (parts < 1) parts = 1;
  }
  const int64_t chunk = (red_n + parts - 1) / parts;
  parts = (red_n + chunk - 1) / chunk;
  const unsigned threads = block_threads(chunk);
  p.main = LaunchDims{Dim3{grid_for_blocks(out_n * parts)}, Dim3{threads}, threads * sizeof(Acc)};
  p.parts = parts;
  p.chunk = chunk;
  if (parts == 1) {
    p.kind = ReducePlan::Kind::block;
    return p;
  }
  p.kind = ReducePlan::Kind::chunked;
  // Each output's partials in part order: partial is (out_n, parts) row-major.
  p.pk.rank = 1;
  p.pk.shape[0] = out_n;
  p.pk.strides[0] = parts;
  p.pr.rank = 1;
  p.pr.shape[0] = parts;
  p.pr.strides[0] = 1;
  p.combine = elementwise_dims(out_n);
  return p;
}

// --- arg_reduce ----------------------------------------------------------------------------

/// A candidate of arg_reduce: value and index (i < 0: none yet).
template <class T> struct ArgBest {
  T v;
  int64_t i;
};

/// The better of two candidates by the CPU's rule, independent of the order they are seen in:
/// a NaN beats every number; among NaNs, or among equal numbers, the lower index wins.
template <class T> UNRAVEL_HD ArgBest<T> pick(bool is_max, ArgBest<T> a, ArgBest<T> b) {
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

template <class T, class Ctx>
UNRAVEL_HD void arg_serial_body(Ctx& ctx, const T* x, Strided kept, int64_t xs, int64_t n,
                                int64_t out_n, int64_t* y, Strided ys, bool is_max) {
  for (int64_t o = grid_first(ctx); o < out_n; o += grid_step(ctx)) {
    const int64_t base = kept.offset(o);
    ArgBest<T> best{T(0), -1};
    for (int64_t k = 0; k < n; ++k) best = pick(is_max, best, ArgBest<T>{x[base + k * xs], k});
    y[ys.offset(o)] = best.i;
  }
}

/// One block per output; shared memory: blockDim.x int64 indices, then blockDim.x values.
template <class T, class Ctx>
UNRAVEL_HD void arg_block_body(Ctx& ctx, const T* x, Strided kept, int64_t xs, int64_t n,
                               int64_t out_n, int64_t* y, Strided ys, bool is_max) {
  const unsigned threads = ctx.block_dim_x();
  int64_t* si = ctx.template shared<int64_t>();
  T* sv = reinterpret_cast<T*>(si + threads);
  const int t = ctx.thread_idx_x();
  for (int64_t o = ctx.block_idx_x(); o < out_n; o += ctx.grid_dim_x()) {
    const int64_t base = kept.offset(o);
    ArgBest<T> best{T(0), -1};
    for (int64_t k = t; k < n; k += threads)
      best = pick(is_max, best, ArgBest<T>{x[base + k * xs], k});
    sv[t] = best.v;
    si[t] = best.i;
    ctx.sync();
    for (unsigned s = 1; s < threads; s *= 2) {
      if ((t & (2 * s - 1)) == 0) {
        const ArgBest<T> r =
            pick(is_max, ArgBest<T>{sv[t], si[t]}, ArgBest<T>{sv[t + s], si[t + s]});
        sv[t] = r.v;
        si[t] = r.i;
      }
      ctx.sync();
    }
    if (t == 0) y[ys.offset(o)] = si[0];
    ctx.sync();
  }
}

/// arg_reduce's geometry: the kept axes (every axis but `axis`, extent-1 axes dropped) with
/// x's and y's strides; n elements along `axis` at stride xs.
struct ArgGeom {
  Strided kept, ys;
  int64_t out_n = 1, n = 0, xs = 0;
};

inline ArgGeom arg_geometry(const TensorView& x, int axis, const TensorView& y, const char* what) {
  UNRAVEL_CHECK(y.dtype == DType::i64, "arg_reduce: output must be i64");
  UNRAVEL_CHECK(axis >= 0 && axis < x.rank() && y.rank() == x.rank(),
                "{}: axis {} / output {} do not fit input {}", what, axis, y.shape.str(),
                x.shape.str());
  UNRAVEL_CHECK(x.device == y.device, "{}: input on {} and output on {}", what, x.device.str(),
                y.device.str());
  ArgGeom g;
  g.n = x.shape[axis];
  UNRAVEL_CHECK(g.n > 0, "{}: axis {} is empty", what, axis);
  (void)strided_of(x, what);
  (void)strided_of(y, what);
  for (int d = 0; d < x.rank(); ++d) {
    if (d == axis) {
      UNRAVEL_CHECK(y.shape[d] == 1, "{}: output {} must have extent 1 on axis {}", what,
                    y.shape.str(), axis);
      continue;
    }
    UNRAVEL_CHECK(y.shape[d] == x.shape[d], "{}: output {} does not fit input {}", what,
                  y.shape.str(), x.shape.str());
    if (x.shape[d] == 1) continue;
    g.kept.shape[g.kept.rank] = x.shape[d];
    g.kept.strides[g.kept.rank++] = x.strides[d];
    g.ys.shape[g.ys.rank] = y.shape[d];
    g.ys.strides[g.ys.rank++] = y.strides[d];
    g.out_n *= x.shape[d];
  }
  g.xs = x.strides[axis];
  return g;
}

/// arg_reduce's launch: arg_serial_body (n <= kSerialMax) or arg_block_body.
struct ArgPlan {
  bool serial = true;
  LaunchDims dims;
};

template <class T> ArgPlan arg_plan(int64_t n, int64_t out_n) {
  if (n <= kSerialMax) return {true, elementwise_dims(out_n)};
  const unsigned threads = block_threads(n);
  return {false, LaunchDims{Dim3{grid_for_blocks(out_n)}, Dim3{threads},
                            threads * (sizeof(int64_t) + sizeof(T))}};
}

}  // namespace unravel::cuda
