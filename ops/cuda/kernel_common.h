// What the CUDA kernel bodies (ops/cuda/*_body.h) and their host-side launch plans share, with
// no CUDA header: strided index arithmetic (an element's offset from its linear index), the
// elementwise launch size and the grid-stride loop. Compiled by nvcc for the kernels and by the
// host compiler for the emulated launches of tests/engine/test_cuda_emulated.cpp.
#pragma once
#include <cstdint>

#include "engine/check.h"
#include "engine/hd.h"
#include "engine/tensor_view.h"
#include "ops/cuda/launch_ctx.h"

namespace unravel::cuda {

/// The largest rank a kernel's strided index handles.
constexpr int kMaxDims = 8;

/// Shape and strides (in elements) of one operand, for index arithmetic on the device.
struct Strided {
  int rank = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
  /// Offset (elements) of the element with row-major linear index i.
  UNRAVEL_HD int64_t offset(int64_t i) const {
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t n = shape[d];
      const int64_t q = i / n;
      off += (i - q * n) * strides[d];
      i = q;
    }
    return off;
  }
};

/// v's strides with `shape` (same rank): for broadcast operands the caller has expanded.
/// Throws above kMaxDims dimensions or for a non-strided view.
inline Strided strided_as(const TensorView& v, const Shape& shape, const char* what) {
  UNRAVEL_CHECK(v.strided(), "{}: the CUDA backend takes strided tensors only (got layout {})",
                what, v.layout.format);
  UNRAVEL_CHECK(shape.size() <= kMaxDims,
                "{}: {} has {} dimensions; the CUDA kernels take at most {}", what, shape.str(),
                shape.size(), kMaxDims);
  Strided s;
  s.rank = shape.size();
  for (int d = 0; d < s.rank; ++d) {
    s.shape[d] = shape[d];
    s.strides[d] = v.strides[d];
  }
  return s;
}

/// v's shape and strides.
inline Strided strided_of(const TensorView& v, const char* what) {
  return strided_as(v, v.shape, what);
}

/// Elementwise launch: 256 threads, grid-stride loops, at most 65535·8 blocks.
constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  if (b < 1) b = 1;
  if (b > 65535 * 8) b = 65535 * 8;
  return static_cast<unsigned>(b);
}

/// The launch of an elementwise kernel over n items: blocks_for(n) blocks of kThreads.
inline LaunchDims elementwise_dims(int64_t n) {
  return LaunchDims{Dim3{blocks_for(n)}, Dim3{static_cast<unsigned>(kThreads)}, 0};
}

/// Sum over the block in a fixed pairing; every thread gets the result. `sh` holds
/// block_dim_x() doubles, block_dim_x() a power of two. Every thread of the block must call it
/// (it meets the others at barriers).
template <class Ctx> UNRAVEL_HD double block_sum(Ctx& ctx, double v, double* sh) {
  const unsigned t = ctx.thread_idx_x();
  sh[t] = v;
  ctx.sync();
  for (unsigned s = ctx.block_dim_x() / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    ctx.sync();
  }
  const double r = sh[0];
  ctx.sync();
  return r;
}

/// A grid-stride loop's first index and step: for (i = first; i < n; i += step).
template <class Ctx> UNRAVEL_HD int64_t grid_first(const Ctx& c) {
  return c.block_idx_x() * int64_t(c.block_dim_x()) + c.thread_idx_x();
}
template <class Ctx> UNRAVEL_HD int64_t grid_step(const Ctx& c) {
  return int64_t(c.grid_dim_x()) * c.block_dim_x();
}

}  // namespace unravel::cuda
