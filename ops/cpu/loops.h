// Strided iteration over N operands of one shape (operand 0 is the output), used by every
// elementwise CPU kernel. Dimensions are coalesced first, so contiguous and broadcast-scalar
// cases become one flat loop the compiler vectorises; the rest run an inner loop along the last
// dimension with byte strides (operands may have different dtypes).
#pragma once
#include <array>
#include <cstdint>

#include "engine/tensor_view.h"
#include "ops/cpu/isa.h"
#include "ops/cpu/parallel.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

template <int N> struct StridedLayout {
  int rank = 0;
  std::array<int64_t, kMaxDims> shape{};
  std::array<std::array<int64_t, kMaxDims>, N> stride{};  // bytes
  std::array<char*, N> base{};
};

/// Builds the coalesced layout of N views that share views[0]'s shape (inputs broadcast).
template <int N> StridedLayout<N> make_layout(const std::array<const TensorView*, N>& views) {
  StridedLayout<N> L;
  const Shape& shape = views[0]->shape;
  for (int k = 0; k < N; ++k) L.base[k] = static_cast<char*>(views[k]->data);
  // Drop size-1 dims, scale strides to bytes.
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    L.shape[L.rank] = shape[d];
    for (int k = 0; k < N; ++k)
      L.stride[k][L.rank] = views[k]->strides[d] * static_cast<int64_t>(size_of(views[k]->dtype));
    ++L.rank;
  }
  // Merge dim d into d+1 when every operand is contiguous across them.
  int r = 0;
  for (int d = 0; d < L.rank; ++d) {
    if (r > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        merge = merge && L.stride[k][r - 1] == L.stride[k][d] * L.shape[d];
      if (merge) {
        L.shape[r - 1] *= L.shape[d];
        for (int k = 0; k < N; ++k) L.stride[k][r - 1] = L.stride[k][d];
        continue;
      }
    }
    L.shape[r] = L.shape[d];
    for (int k = 0; k < N; ++k) L.stride[k][r] = L.stride[k][d];
    ++r;
  }
  L.rank = r;
  return L;
}

/// Calls inner(ptrs, strides, n) over rows of the innermost dimension; ptrs/strides are per
/// operand (bytes). Threaded over rows (or over the single row) when the work is large.
template <int N, class Inner>
void for_each_row(const StridedLayout<N>& L, int64_t cost, Inner&& inner) {
  if (L.rank == 0) {
    std::array<int64_t, N> s{};
    inner(L.base.data(), s.data(), int64_t{1});
    return;
  }
  const int last = L.rank - 1;
  const int64_t inner_n = L.shape[last];
  std::array<int64_t, N> inner_s;
  for (int k = 0; k < N; ++k) inner_s[k] = L.stride[k][last];
  if (L.rank == 1) {
    parallel_for(inner_n, cost, [&](int64_t b, int64_t e) {
      std::array<char*, N> p;
      for (int k = 0; k < N; ++k) p[k] = L.base[k] + b * inner_s[k];
      inner(p.data(), inner_s.data(), e - b);
    });
    return;
  }
  int64_t rows = 1;
  for (int d = 0; d < last; ++d) rows *= L.shape[d];
  // An outer extent of 0: no rows. parallel_for would still call the body once with [0, 0),
  // whose index split divides by that 0 (undefined behaviour, found by UBSan).
  if (rows == 0) return;
  parallel_for(rows, cost * inner_n, [&](int64_t b, int64_t e) {
    std::array<int64_t, kMaxDims> idx{};
    int64_t rem = b;
    for (int d = last - 1; d >= 0; --d) {
      idx[d] = rem % L.shape[d];
      rem /= L.shape[d];
    }
    std::array<char*, N> p;
    for (int k = 0; k < N; ++k) {
      char* q = L.base[k];
      for (int d = 0; d < last; ++d) q += idx[d] * L.stride[k][d];
      p[k] = q;
    }
    // The next row's pointers are this row's plus one step of the dimension that advances,
    // minus the full span of those that wrap (every pointer stays inside its operand: after
    // the last row all dimensions wrap, back to the base).
    for (int64_t row = b; row < e; ++row) {
      inner(p.data(), inner_s.data(), inner_n);
      for (int d = last - 1; d >= 0; --d) {
        if (++idx[d] < L.shape[d]) {
          for (int k = 0; k < N; ++k) p[k] += L.stride[k][d];
          break;
        }
        idx[d] = 0;
        for (int k = 0; k < N; ++k) p[k] -= (L.shape[d] - 1) * L.stride[k][d];
      }
    }
  });
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
