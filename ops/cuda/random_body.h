// The per-thread bodies of the CUDA Philox fills and permutation keys (ops/cuda/random.cu), in
// plain C++: nvcc builds them into the kernels and the host compiler runs them through
// emulate_launch (ops/cuda/launch_ctx.h) in tests/engine/test_cuda_emulated.cpp.
//
// Element i of y (row-major linear index, whatever y's strides) uses counter state.offset + i of
// engine/philox.h, the very code the CPU runs (ops/cpu/random_cpu.cpp), and the same final
// affine step (philox::affine, one fma everywhere): uniform and bernoulli values are
// bit-identical to the CPU's. normal goes through the device's log and cos, which may differ
// from glibc's in the last bit of a double (rarely visible after rounding to f32); the host
// emulation uses glibc's, so it cannot see that difference.
//
// Permutations: row r sorts 0..n-1 by the 64-bit keys philox::bits64(seed, offset + r·n + i)
// (perm_keys_body); the sort itself is CUB's (stable, GPU only).
#pragma once
#include <cstdint>

#include "engine/hd.h"
#include "engine/op_kinds.h"
#include "engine/philox.h"
#include "ops/cuda/kernel_common.h"

namespace unravel::cuda {

/// b + c rounded once to nearest: nvcc's __dadd_rn on the device (never fused with a product);
/// a lone add on the host is rounded the same way.
UNRAVEL_HD double add_rn(double b, double c) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(b, c);
#else
  return b + c;
#endif
}

/// Rows at least this long are sorted one device-wide sort each; shorter ones together, one
/// segmented sort (a thread block per row).
constexpr int64_t kLongRow = int64_t{1} << 16;

/// random: launched with elementwise_dims(n); `base` (recorded work) is read at each run.
template <class T, class Ctx>
UNRAVEL_HD void random_body(Ctx& ctx, RandomOp op, uint64_t seed, uint64_t offset,
                            const int64_t* base, double a, double b, T* y, Strided ys, int64_t n,
                            bool dense) {
  if (base) offset += static_cast<uint64_t>(*base);  // recorded work: read at each replay
  const double span = add_rn(b, -a);  // b - a, as the CPU
  for (int64_t i = grid_first(ctx); i < n; i += grid_step(ctx)) {
    const uint64_t counter = offset + static_cast<uint64_t>(i);
    double v;
    switch (op) {
      case RandomOp::uniform:
        v = philox::affine(a, span, philox::uniform(seed, counter));
        break;
      case RandomOp::normal:
        v = philox::affine(a, b, philox::normal(seed, counter));
        break;
      default:  // bernoulli (the host refuses other ops)
        v = philox::uniform(seed, counter) < a ? 1.0 : 0.0;
        break;
    }
    y[dense ? i : ys.offset(i)] = static_cast<T>(v);
  }
}

/// keys[t] = bits64(seed, offset + t) for t = r·n + i, vals[t] = i; elementwise_dims(total).
template <class Ctx>
UNRAVEL_HD void perm_keys_body(Ctx& ctx, uint64_t seed, uint64_t offset, const int64_t* base,
                               int64_t n, int64_t total, uint64_t* keys, int64_t* vals) {
  if (base) offset += static_cast<uint64_t>(*base);
  for (int64_t t = grid_first(ctx); t < total; t += grid_step(ctx)) {
    keys[t] = philox::bits64(seed, offset + static_cast<uint64_t>(t));
    vals[t] = t % n;
  }
}

/// offsets[r] = r·n for r in 0..rows (segment bounds of the segmented sort);
/// elementwise_dims(rows + 1).
template <class Ctx>
UNRAVEL_HD void row_offsets_body(Ctx& ctx, int* offsets, int64_t rows, int64_t n) {
  for (int64_t r = grid_first(ctx); r <= rows; r += grid_step(ctx))
    offsets[r] = static_cast<int>(r * n);
}

}  // namespace unravel::cuda
