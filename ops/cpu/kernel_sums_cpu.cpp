// CPU kernel of the fused pairwise IMQ kernel sums (ops/kernel_sums.h).
//
// For rows a_i (Ba, D), b_j (Bb, D) and scales c_s, with k(ρ) = Σ_s c_s/(c_s + ρ) and
// w(ρ) = −k'(ρ) = Σ_s c_s/(c_s + ρ)²:
//   per_dim: y = Σ_{i,j,d} k(δ²), δ = a_id − b_jd;   ∂k(δ²)/∂a_id = −2·w(δ²)·δ =: t_ijd
//   full:    y = Σ_{i,j} k(ρ_ij), ρ_ij = Σ_d δ²;      ∂k(ρ_ij)/∂a_id = −2·w(ρ_ij)·δ =: t_ijd
// so ∂y/∂a_id = Σ_j t_ijd and ∂y/∂b_jd = −Σ_i t_ijd. Forward and gradient share the divisions:
// one pass computes r = 1/(c_s + ρ), k += c_s·r and w += c_s·r².
//
// Layout: b is copied transposed to bt (D, Bb) so every inner loop runs over j with unit stride
// (vectorised; float sums through `omp simd reduction`). Rows i are split into a FIXED number of
// blocks that depends only on the shapes; each block writes its own partial sum and its own
// (D, Bb) buffer of column gradients, and the blocks are combined in block order in double, so
// the result is the same for any OpenMP thread count. Within a block, f32 sums over j (and the
// column buffer over the block's ≤ ~32 rows) are float; everything across rows and blocks is
// double.
//
// When a and b are the same memory (same data, shape and strides: the xx / yy terms of an MMD)
// only pairs j > i are visited: y = Bb·k(0)·(D or 1) + 2·Σ_{i<j}, and since ∂y/∂a = ∂y/∂b then
// (both equal half of the full derivative of Σ_{i,j} k(a_i, a_j)), each is Σ_{j>i} t_ij − Σ_{i<j}
// t_ij. Rows are then taken in the order 0, B−1, 1, B−2, … so every block has equal work.
#include <algorithm>
#include <cmath>

#include "engine/check.h"
#include "engine/tensor.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/parallel.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

namespace {

// Rows per block aimed at; the block count is clamped to [1, kMaxBlocks].
constexpr int64_t kRowsPerBlock = 32;
constexpr int64_t kMaxBlocks = 16;

template <class T> struct ImqArgs {
  ImqMode mode;
  const T* a;      // a_id = a[i * sa0 + d * sa1]
  int64_t sa0, sa1;
  const T* bt;     // (D, Bb) contiguous
  int64_t ba, bb, dim;
  const std::vector<double>* c;
  bool symmetric, grad;
};

// Per-block scratch: row buffers of Bb and the (D, Bb) column-gradient buffer.
template <class T> struct BlockScratch {
  T* delta;  // δ for the current d (per_dim) or ρ (full)
  T* rho;
  T* k;
  T* w;
  T* col;    // (D, Bb) Σ_{rows of this block} t
};

// k[j] = Σ_s c_s/(c_s + ρ[j]) and (when grad) w[j] = Σ_s c_s/(c_s + ρ[j])² for j in [j0, n).
template <class T>
void imq_terms(const std::vector<double>& cs, const T* rho, T* k, T* w, int64_t j0, int64_t n,
               bool grad) {
  for (int64_t j = j0; j < n; ++j) k[j] = T(0);
  if (grad)
    for (int64_t j = j0; j < n; ++j) w[j] = T(0);
  for (double cd : cs) {
    const T c = static_cast<T>(cd);
    if (grad) {
#pragma omp simd
      for (int64_t j = j0; j < n; ++j) {
        const T r = T(1) / (c + rho[j]);
        const T cr = c * r;
        k[j] += cr;
        w[j] += cr * r;
      }
    } else {
#pragma omp simd
      for (int64_t j = j0; j < n; ++j) k[j] += c / (c + rho[j]);
    }
  }
}

template <class T> T sum_range(const T* x, int64_t j0, int64_t n) {
  T s = T(0);
#pragma omp simd reduction(+ : s)
  for (int64_t j = j0; j < n; ++j) s += x[j];
  return s;
}

// Row i against columns [j0, Bb): returns the row's kernel sum (double); when grad writes
// Σ_j t_ijd to rowg[d] and adds t_ijd to sc.col[d][j].
template <class T>
double imq_row(const ImqArgs<T>& p, const BlockScratch<T>& sc, int64_t i, int64_t j0,
               double* rowg) {
  const int64_t n = p.bb;
  double total = 0.0;
  if (p.mode == ImqMode::per_dim) {
    for (int64_t d = 0; d < p.dim; ++d) {
      const T ai = p.a[i * p.sa0 + d * p.sa1];
      const T* brow = p.bt + d * n;
#pragma omp simd
      for (int64_t j = j0; j < n; ++j) {
        const T dl = ai - brow[j];
        sc.delta[j] = dl;
        sc.rho[j] = dl * dl;
      }
      imq_terms(*p.c, sc.rho, sc.k, sc.w, j0, n, p.grad);
      total += static_cast<double>(sum_range(sc.k, j0, n));
      if (p.grad) {
        T g = T(0);
        T* col = sc.col + d * n;
#pragma omp simd reduction(+ : g)
        for (int64_t j = j0; j < n; ++j) {
          const T t = T(-2) * sc.w[j] * sc.delta[j];
          g += t;
          col[j] += t;
        }
        rowg[d] = static_cast<double>(g);
      }
    }
    return total;
  }
  // full: ρ_j = Σ_d δ², then one kernel value per pair.
  for (int64_t j = j0; j < n; ++j) sc.rho[j] = T(0);
  for (int64_t d = 0; d < p.dim; ++d) {
    const T ai = p.a[i * p.sa0 + d * p.sa1];
    const T* brow = p.bt + d * n;
#pragma omp simd
    for (int64_t j = j0; j < n; ++j) {
      const T dl = ai - brow[j];
      sc.rho[j] += dl * dl;
    }
  }
  imq_terms(*p.c, sc.rho, sc.k, sc.w, j0, n, p.grad);
  total = static_cast<double>(sum_range(sc.k, j0, n));
  if (p.grad) {
    for (int64_t d = 0; d < p.dim; ++d) {
      const T ai = p.a[i * p.sa0 + d * p.sa1];
      const T* brow = p.bt + d * n;
      T* col = sc.col + d * n;
      T g = T(0);
#pragma omp simd reduction(+ : g)
      for (int64_t j = j0; j < n; ++j) {
        const T t = T(-2) * sc.w[j] * (ai - brow[j]);
        g += t;
        col[j] += t;
      }
      rowg[d] = static_cast<double>(g);
    }
  }
  return total;
}

template <class T>
void pairwise_imq_impl(ImqMode mode, const TensorView& a, const TensorView& b,
                       const std::vector<double>& c, const TensorView& y, const TensorView& ga,
                       const TensorView& gb) {
  const int64_t ba = a.shape[0], bb = b.shape[0], dim = a.shape[1];
  const bool grad = ga.data != nullptr || gb.data != nullptr;
  const bool symmetric = a.data == b.data && a.shape == b.shape && a.strides == b.strides;

  // bt = bᵀ (D, Bb), contiguous.
  Tensor bt_t = Tensor::empty(Shape{dim, bb}, dtype_v<T>, kCPU);
  T* bt = bt_t.data<T>();
  const T* bp = b.ptr<T>();
  for (int64_t j = 0; j < bb; ++j)
    for (int64_t d = 0; d < dim; ++d) bt[d * bb + j] = bp[j * b.strides[0] + d * b.strides[1]];

  const int64_t nblocks = std::clamp<int64_t>(ba / kRowsPerBlock, 1, kMaxBlocks);
  const int64_t col_n = grad ? dim * bb : 0;
  const int64_t scratch_per_block = 4 * bb + col_n;
  Tensor scratch_t = Tensor::empty(Shape{nblocks * scratch_per_block}, dtype_v<T>, kCPU);
  Tensor rowg_t = Tensor::empty(Shape{grad ? ba * dim : 1}, DType::f64, kCPU);
  Tensor partial_t = Tensor::empty(Shape{nblocks}, DType::f64, kCPU);
  T* scratch = scratch_t.data<T>();
  double* rowg = rowg_t.data<double>();
  double* partial = partial_t.data<double>();

  ImqArgs<T> p{mode, a.ptr<T>(), a.strides[0], a.strides[1], bt, ba, bb, dim, &c, symmetric,
               grad};
  // Position q of the row order → row index (balanced triangle when symmetric).
  auto row_at = [&](int64_t q) -> int64_t {
    if (!symmetric) return q;
    return (q % 2 == 0) ? q / 2 : ba - 1 - q / 2;
  };
  const double cost_per_block = static_cast<double>(ba) / nblocks * bb * dim *
                                static_cast<double>(c.size() * (grad ? 3 : 2));
  cpu::parallel_for(nblocks, static_cast<int64_t>(std::min(cost_per_block, 1e15)),
                    [&](int64_t blk0, int64_t blk1) {
    for (int64_t blk = blk0; blk < blk1; ++blk) {
      T* s = scratch + blk * scratch_per_block;
      BlockScratch<T> sc{s, s + bb, s + 2 * bb, s + 3 * bb, s + 4 * bb};
      for (int64_t q = 0; q < col_n; ++q) sc.col[q] = T(0);
      double acc = 0.0;
      const int64_t q0 = ba * blk / nblocks, q1 = ba * (blk + 1) / nblocks;
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t i = row_at(q);
        const int64_t j0 = symmetric ? i + 1 : 0;
        double* rg = grad ? rowg + i * dim : nullptr;
        if (j0 >= bb) {
          if (grad) std::fill(rg, rg + dim, 0.0);
          continue;
        }
        acc += imq_row(p, sc, i, j0, rg);
      }
      partial[blk] = acc;
    }
  });

  // Fixed-order combination.
  double total = 0.0;
  for (int64_t blk = 0; blk < nblocks; ++blk) total += partial[blk];
  if (symmetric) {
    double k0 = 0.0;  // k(0) = Σ_s c_s/c_s
    for (double cs : c) k0 += cs / cs;
    total = 2.0 * total + static_cast<double>(ba) * k0 * (mode == ImqMode::per_dim ? dim : 1);
  }
  *y.ptr<T>() = static_cast<T>(total);
  if (!grad) return;
  // Column gradients Σ_blocks col[d][j] in block order (double).
  Tensor colsum_t = Tensor::empty(Shape{dim * bb}, DType::f64, kCPU);
  double* colsum = colsum_t.data<double>();
  for (int64_t q = 0; q < dim * bb; ++q) colsum[q] = 0.0;
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    const T* col = scratch + blk * scratch_per_block + 4 * bb;
    for (int64_t q = 0; q < dim * bb; ++q) colsum[q] += static_cast<double>(col[q]);
  }
  if (symmetric) {
    // ∂y/∂a = ∂y/∂b = Σ_{j>i} t_ij − Σ_{i<j} t_ij.
    for (int64_t i = 0; i < ba; ++i)
      for (int64_t d = 0; d < dim; ++d) {
        const T v = static_cast<T>(rowg[i * dim + d] - colsum[d * bb + i]);
        if (ga.data) ga.ptr<T>()[i * dim + d] = v;
        if (gb.data) gb.ptr<T>()[i * dim + d] = v;
      }
    return;
  }
  if (ga.data)
    for (int64_t q = 0; q < ba * dim; ++q) ga.ptr<T>()[q] = static_cast<T>(rowg[q]);
  if (gb.data)
    for (int64_t j = 0; j < bb; ++j)
      for (int64_t d = 0; d < dim; ++d)
        gb.ptr<T>()[j * dim + d] = static_cast<T>(-colsum[d * bb + j]);
}

}  // namespace

void pairwise_imq(ImqMode mode, const TensorView& a, const TensorView& b,
                              const std::vector<double>& c, const TensorView& y,
                              const TensorView& ga, const TensorView& gb) {
  UNRAVEL_CHECK(a.rank() == 2 && b.rank() == 2 && a.shape[1] == b.shape[1] && a.dtype == b.dtype,
                "pairwise_imq (cpu): want a (Ba, D) and b (Bb, D) of one dtype, got {} {} and "
                "{} {}",
                a.shape.str(), dtype_name(a.dtype), b.shape.str(), dtype_name(b.dtype));
  UNRAVEL_CHECK((ga.data == nullptr || ga.contiguous()) && (gb.data == nullptr || gb.contiguous()),
                "pairwise_imq (cpu): gradient outputs must be contiguous");
  switch (a.dtype) {
    case DType::f32: return pairwise_imq_impl<float>(mode, a, b, c, y, ga, gb);
    case DType::f64: return pairwise_imq_impl<double>(mode, a, b, c, y, ga, gb);
    default:
      UNRAVEL_CHECK(false, "pairwise_imq (cpu): dtype {} not supported (f32, f64)",
                    dtype_name(a.dtype));
  }
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
