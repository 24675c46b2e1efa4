// The per-thread bodies of the CUDA batch normalisation (ops/cuda/batch_norm.cu) and their
// launch plan, in plain C++: nvcc builds them into the kernels and the host compiler runs them
// through emulate_launch (ops/cuda/launch_ctx.h) in tests/engine/test_cuda_emulated_conv_bn.cpp.
//
// One block per channel reduces in double with a fixed-order shared-memory tree (deterministic),
// with the CPU's exact formulas (ops/cpu/batch_norm_cpu.cpp); gamma / beta optional; saved
// statistics stored in the element type.
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/hd.h"
#include "engine/tensor_view.h"
#include "ops/cuda/kernel_common.h"

namespace unravel::cuda {

/// Threads of a batch-norm block (one block per channel, so a large block keeps enough warps
/// per SM); a power of two (the bodies take any).
constexpr unsigned kBnThreads = 512;

/// Offset of element e (0 ≤ e < N·H·W, row-major over n, h, w) of channel c in a rank-2 / rank-4
/// view.
struct ChannelMap {
  int64_t h = 1, w = 1, sn = 0, sc = 0, sh = 0, sw = 0;
  UNRAVEL_HD int64_t at(int64_t c, int64_t e) const {
    const int64_t d = e % w, rest = e / w, b = rest % h, a = rest / h;
    return a * sn + c * sc + b * sh + d * sw;
  }
};

inline ChannelMap channel_map(const TensorView& v) {
  ChannelMap m;
  m.sn = v.strides[0];
  m.sc = v.strides[1];
  if (v.rank() == 4) {
    m.h = v.shape[2];
    m.w = v.shape[3];
    m.sh = v.strides[2];
    m.sw = v.strides[3];
  }
  return m;
}

/// An optional per-channel vector: element c at p[c · stride], absent when p is null.
template <class T> struct ChannelVec {
  T* p = nullptr;
  int64_t stride = 0;
  UNRAVEL_HD double get(int64_t c, double fallback) const {
    return p != nullptr ? static_cast<double>(p[c * stride]) : fallback;
  }
  UNRAVEL_HD void set(int64_t c, double v) const {
    if (p != nullptr) p[c * stride] = static_cast<T>(v);
  }
};

/// The launch of both bodies: one block of `threads` per channel (grid-stride over channels
/// beyond max_blocks), one double of shared memory per thread.
inline LaunchDims bn_dims(int64_t channels, int64_t max_blocks = 65535 * 8,
                          unsigned threads = kBnThreads) {
  const int64_t blocks = channels < 1 ? 1 : (channels < max_blocks ? channels : max_blocks);
  return LaunchDims{Dim3{static_cast<unsigned>(blocks)}, Dim3{threads}, threads * sizeof(double)};
}

/// Per channel c (M elements each):
///   training: μ = Σx / M, σ² = Σ(x − μ)² / M (two passes), r = 1 / √(σ² + ε);
///   eval: μ, σ² from mean / var;
///   y = x·(γ·r) + (β − μ·γ·r), with γ = 1, β = 0 when absent (the CPU's expression).
template <class T, class Ctx>
UNRAVEL_HD void bn_forward_body(Ctx& ctx, const T* x, ChannelMap xm, T* y, ChannelMap ym,
                                int64_t channels, int64_t M, ChannelVec<const T> gamma,
                                ChannelVec<const T> beta, ChannelVec<const T> mean,
                                ChannelVec<const T> var, bool training, double eps,
                                ChannelVec<T> save_mean, ChannelVec<T> save_invstd) {
  double* sh = ctx.template shared<double>();
  const int64_t t0 = ctx.thread_idx_x(), step = ctx.block_dim_x();
  for (int64_t c = ctx.block_idx_x(); c < channels; c += ctx.grid_dim_x()) {
    double mu, invstd;
    if (training) {
      double s = 0;
      for (int64_t e = t0; e < M; e += step) s += static_cast<double>(x[xm.at(c, e)]);
      mu = block_sum(ctx, s, sh) / static_cast<double>(M);
      double ss = 0;
      for (int64_t e = t0; e < M; e += step) {
        const double dv = static_cast<double>(x[xm.at(c, e)]) - mu;
        ss += dv * dv;
      }
      invstd = 1.0 / sqrt(block_sum(ctx, ss, sh) / static_cast<double>(M) + eps);
    } else {
      mu = mean.get(c, 0.0);
      invstd = 1.0 / sqrt(var.get(c, 1.0) + eps);
    }
    if (t0 == 0) {
      save_mean.set(c, mu);
      save_invstd.set(c, invstd);
    }
    const double scale = gamma.get(c, 1.0) * invstd;
    const double shift = beta.get(c, 0.0) - mu * scale;
    for (int64_t e = t0; e < M; e += step)
      y[ym.at(c, e)] = static_cast<T>(static_cast<double>(x[xm.at(c, e)]) * scale + shift);
  }
}

/// Per channel c (training-mode backward), μ and r the saved statistics:
///   x̂ = (x − μ)·r, dβ = Σdy, dγ = Σdy·x̂ = r·Σdy·(x − μ), dx = γ·r·(dy − dβ/M − x̂·dγ/M).
/// dx may be null (then dm is unused): only the parameter gradients.
template <class T, class Ctx>
UNRAVEL_HD void bn_backward_body(Ctx& ctx, const T* dy, ChannelMap gm, const T* x, ChannelMap xm,
                                 int64_t channels, int64_t M, ChannelVec<const T> gamma,
                                 ChannelVec<const T> save_mean, ChannelVec<const T> save_invstd,
                                 T* dx, ChannelMap dm, ChannelVec<T> dgamma, ChannelVec<T> dbeta) {
  double* sh = ctx.template shared<double>();
  const int64_t t0 = ctx.thread_idx_x(), step = ctx.block_dim_x();
  for (int64_t c = ctx.block_idx_x(); c < channels; c += ctx.grid_dim_x()) {
    const double mu = save_mean.get(c, 0.0);
    const double r = save_invstd.get(c, 1.0);
    double s1 = 0, s2 = 0;
    for (int64_t e = t0; e < M; e += step) {
      const double g = static_cast<double>(dy[gm.at(c, e)]);
      s1 += g;
      s2 += g * (static_cast<double>(x[xm.at(c, e)]) - mu);
    }
    const double sum_dy = block_sum(ctx, s1, sh);
    const double dg = block_sum(ctx, s2, sh) * r;
    if (t0 == 0) {
      dgamma.set(c, dg);
      dbeta.set(c, sum_dy);
    }
    if (dx == nullptr) continue;  // uniform over the block
    const double k = gamma.get(c, 1.0) * r, inv_m = 1.0 / static_cast<double>(M);
    for (int64_t e = t0; e < M; e += step) {
      const double xhat = (static_cast<double>(x[xm.at(c, e)]) - mu) * r;
      dx[dm.at(c, e)] = static_cast<T>(
          k * (static_cast<double>(dy[gm.at(c, e)]) - sum_dy * inv_m - xhat * dg * inv_m));
    }
  }
}

}  // namespace unravel::cuda
