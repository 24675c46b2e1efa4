// The per-thread bodies of the fused pairwise IMQ kernel sums on the GPU (Backend::pairwise_imq,
// ops/cuda/kernel_sums.cu) and their launch plan, in plain C++: nvcc builds them into the
// kernels and the host compiler runs them through emulate_launch (ops/cuda/launch_ctx.h) in
// tests/engine/test_cuda_emulated_imq.cpp, against the CPU kernel.
//
// The sums are those of ops/cpu/kernel_sums_cpu.cpp: with k(ρ) = Σ_s c_s/(c_s + ρ) and
// w(ρ) = Σ_s c_s/(c_s + ρ)²,
//   per_dim: y = Σ_{i,j,d} k(δ²), δ = a_id − b_jd;   t_ijd = −2·w(δ²)·δ
//   full:    y = Σ_{i,j} k(ρ_ij), ρ_ij = Σ_d δ²;      t_ijd = −2·w(ρ_ij)·δ
// with ∂y/∂a_id = Σ_j t_ijd and ∂y/∂b_jd = −Σ_i t_ijd, which is the same row sum with a and b
// exchanged (t changes sign with δ), so one body computes both: imq_rows_body(x = a, other = b)
// gives a's row sums and gradient, imq_rows_body(x = b, other = a) b's gradient. When a and b
// are the same tensor this gives ∂y/∂a = ∂y/∂b = Σ_j t_ijd, as the CPU kernel (each is half of
// the full derivative of Σ_{i,j} k(a_i, a_j); the tape adds them).
//
// Work: one block of kImqThreads threads per row i of x (grid-stride over rows); thread t takes
// the rows j = t, t + T, … of `other` in order and accumulates in double; a shared-memory tree
// in a fixed pairing combines the threads. The gradient of row i is one such sum per d (in the
// full mode ρ_ij is recomputed for each d: O(D²) per pair, no per-pair storage, which suits the
// latent sizes of the MMD terms). Each row's value goes to `row_value` (double) and a last
// one-block launch adds the rows in a fixed order, so the result depends only on the shapes:
// identical run to run, and between eager execution and CUDA-graph replay. Per-pair terms are
// computed in T (f32 or f64) as on the CPU; every sum is double.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/check.h"
#include "engine/hd.h"
#include "ops/cuda/kernel_common.h"

namespace unravel::cuda {

/// Threads per block of the IMQ kernels (a power of two: the tree pairs halves).
constexpr unsigned kImqThreads = 128;
/// The most kernel scales c_s a launch takes (passed by value).
constexpr int kImqMaxScales = 32;

/// The scales, by value for the kernel's parameter space.
struct ImqScales {
  int n = 0;
  double c[kImqMaxScales] = {};
};

/// One operand: x_rd = p[r·s0 + d·s1], `rows` rows.
template <class T> struct ImqOperand {
  const T* p = nullptr;
  int64_t rows = 0, s0 = 0, s1 = 0;
  UNRAVEL_HD T at(int64_t r, int64_t d) const { return p[r * s0 + d * s1]; }
};

/// k(ρ) and, when `w` is not null, w(ρ), in T.
template <class T> UNRAVEL_HD T imq_k(const ImqScales& cs, T rho, T* w) {
  T k = T(0), ww = T(0);
  for (int s = 0; s < cs.n; ++s) {
    const T c = static_cast<T>(cs.c[s]);
    const T r = T(1) / (c + rho);
    const T cr = c * r;
    k += cr;
    ww += cr * r;
  }
  if (w) *w = ww;
  return k;
}

/// ρ_ij of the full mode.
template <class T>
UNRAVEL_HD T imq_rho(const ImqOperand<T>& x, const ImqOperand<T>& o, int64_t i, int64_t j,
                     int64_t dim) {
  T rho = T(0);
  for (int64_t d = 0; d < dim; ++d) {
    const T dl = x.at(i, d) - o.at(j, d);
    rho += dl * dl;
  }
  return rho;
}

/// For each row i of x: row_value[i] = Σ_j k(x_i, o_j) (when row_value is not null) and
/// grad[i·dim + d] = Σ_j t_ijd (when grad is not null; contiguous (rows, dim)).
template <class T, class Ctx>
UNRAVEL_HD void imq_rows_body(Ctx& ctx, ImqOperand<T> x, ImqOperand<T> o, int64_t dim, bool full,
                              ImqScales cs, double* row_value, T* grad) {
  double* sh = ctx.template shared<double>();
  const int64_t t = ctx.thread_idx_x(), nt = ctx.block_dim_x();
  for (int64_t i = ctx.block_idx_x(); i < x.rows; i += ctx.grid_dim_x()) {
    if (row_value) {
      double acc = 0.0;
      for (int64_t j = t; j < o.rows; j += nt) {
        if (full) {
          acc += static_cast<double>(imq_k<T>(cs, imq_rho(x, o, i, j, dim), nullptr));
        } else {
          for (int64_t d = 0; d < dim; ++d) {
            const T dl = x.at(i, d) - o.at(j, d);
            acc += static_cast<double>(imq_k<T>(cs, dl * dl, nullptr));
          }
        }
      }
      const double v = block_sum(ctx, acc, sh);
      if (t == 0) row_value[i] = v;
    }
    if (grad) {
      for (int64_t d = 0; d < dim; ++d) {
        double acc = 0.0;
        const T xi = x.at(i, d);
        for (int64_t j = t; j < o.rows; j += nt) {
          const T dl = xi - o.at(j, d);
          T w = T(0);
          imq_k<T>(cs, full ? imq_rho(x, o, i, j, dim) : dl * dl, &w);
          acc += static_cast<double>(T(-2) * w * dl);
        }
        const double g = block_sum(ctx, acc, sh);
        if (t == 0) grad[i * dim + d] = static_cast<T>(g);
      }
    }
  }
}

/// y[0] = Σ_i row_value[i], in a fixed order (one block).
template <class T, class Ctx>
UNRAVEL_HD void imq_total_body(Ctx& ctx, const double* row_value, int64_t rows, T* y) {
  double* sh = ctx.template shared<double>();
  double acc = 0.0;
  for (int64_t i = ctx.thread_idx_x(); i < rows; i += ctx.block_dim_x()) acc += row_value[i];
  const double v = block_sum(ctx, acc, sh);
  if (ctx.thread_idx_x() == 0) y[0] = static_cast<T>(v);
}

/// The row launch for `rows` rows (at most `max_blocks`, grid-stride beyond) and the total's.
/// The backend uses the defaults; the bodies take any power-of-two block, which the host
/// emulation uses to keep its barrier count small.
inline LaunchDims imq_rows_dims(int64_t rows, int64_t max_blocks = 65535,
                                unsigned threads = kImqThreads) {
  LaunchDims d;
  d.grid.x = static_cast<unsigned>(rows < max_blocks ? (rows < 1 ? 1 : rows) : max_blocks);
  d.block.x = threads;
  d.shared = threads * sizeof(double);
  return d;
}
inline LaunchDims imq_total_dims(unsigned threads = kImqThreads) {
  LaunchDims d;
  d.block.x = threads;
  d.shared = threads * sizeof(double);
  return d;
}

/// The scales for a launch; refuses more than kImqMaxScales.
inline ImqScales imq_scales(const std::vector<double>& c) {
  UNRAVEL_CHECK(!c.empty() && c.size() <= static_cast<size_t>(kImqMaxScales),
                "pairwise_imq (cuda): takes 1 to {} kernel scales, got {}", kImqMaxScales,
                c.size());
  ImqScales s;
  s.n = static_cast<int>(c.size());
  for (size_t k = 0; k < c.size(); ++k) s.c[k] = c[k];
  return s;
}

}  // namespace unravel::cuda
