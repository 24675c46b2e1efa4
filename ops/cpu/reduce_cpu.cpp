// CPU reductions. The output is viewed with 0 strides over the reduced axes and walked together
// with the input in the input's memory order, accumulating into a buffer of Acc (double for
// float sums and products, so long f32 reductions keep their precision). When the reduced axes
// are innermost each row is reduced into a register first; rows are threaded when no two rows
// share an output element. When a reduced axis sits just outside a contiguous kept one (a
// channel-blocked layout's bias gradient, column sums), each run of rows is added into one block
// of accumulators, in the order the general loop would add them.
#include <cmath>
#include <limits>
#include <type_traits>

#include "engine/check.h"
#include "ops/kernel_checks.h"
#include "engine/tensor.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/loops.h"
#include "ops/reduce_rules.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

namespace {


template <ReduceOp Op, class Acc> inline Acc combine(Acc acc, Acc v) {
  return reduce_combine<Op, Acc>(acc, v);
}

// The accumulators (av, out_n elements at acc) into y: divided by the count for a mean.
template <ReduceOp Op, class Acc>
void finish_reduce(Acc* acc, int64_t out_n, int64_t in_n, const TensorView& av,
                   const TensorView& y) {
  if constexpr (Op == ReduceOp::mean) {
    int64_t count = out_n ? in_n / out_n : 0;
    for (int64_t i = 0; i < out_n; ++i) acc[i] = count ? acc[i] / static_cast<Acc>(count) : Acc(NAN);
  }
  backend(kCPU).copy(av, y);
}

template <ReduceOp Op, class T>
void reduce_impl(const TensorView& x, const TensorView& y) {
  using Acc = typename AccType<T>::type;
  const int64_t out_n = y.numel();
  // Accumulator buffer with y's shape (contiguous), from the caching allocator.
  Tensor acc_t = Tensor::empty(y.shape, dtype_v<Acc>, kCPU);
  Acc* acc = acc_t.data<Acc>();
  const Acc init = reduce_identity<Acc>(Op);
  for (int64_t i = 0; i < out_n; ++i) acc[i] = init;

  TensorView av = acc_t.view();
  TensorView abc{acc, x.shape, broadcast_strides(y.shape, av.strides, x.shape), av.dtype, kCPU,
                 kStrided};
  auto L = cpu::make_layout<2>({&abc, &x});
  const int last = L.rank - 1;
  if (L.rank >= 2 && L.stride[0][last] == sizeof(Acc) && L.stride[1][last] == sizeof(T) &&
      L.stride[0][last - 1] == 0) {
    // A reduced axis just outside a contiguous kept one (a channel sum over a channel-blocked
    // layout's rank-5 view: (…, H·W, block)): each run of the reduced axis adds its rows into
    // one block of accumulators in turn. Every accumulator gets the same additions in the same
    // order as in the loop below, so the same bits, without a call per short row.
    const int64_t m = L.shape[last];
    StridedLayout<2> outer = L;
    outer.rank = last;
    auto blocks = [&](auto width) {  // width: the block size as a constant (0: m at run time)
      cpu::for_each_row(outer, 0, [m](char* const* p, const int64_t* s, int64_t n) {
        const int64_t w = decltype(width)::value ? decltype(width)::value : m;
        Acc* __restrict a = reinterpret_cast<Acc*>(p[0]);
        for (int64_t i = 0; i < n; ++i) {
          const T* __restrict xv = reinterpret_cast<const T*>(p[1] + i * s[1]);
          for (int64_t c = 0; c < w; ++c) a[c] = combine<Op>(a[c], static_cast<Acc>(xv[c]));
        }
      });
    };
    if (m == 16) blocks(std::integral_constant<int64_t, 16>{});  // nChw16c (AVX-512)
    else if (m == 8) blocks(std::integral_constant<int64_t, 8>{});  // nChw8c (AVX2)
    else blocks(std::integral_constant<int64_t, 0>{});
    return finish_reduce<Op>(acc, out_n, x.numel(), av, y);
  }
  // Rows may run in parallel only when each output element belongs to exactly one row.
  bool row_reduce = L.rank > 0 && L.stride[0][last] == 0;
  bool rows_disjoint = L.rank > 1;
  for (int d = 0; d < last; ++d) rows_disjoint = rows_disjoint && L.stride[0][d] != 0;
  const int64_t cost = (row_reduce && rows_disjoint) ? 1 : 0;
  cpu::for_each_row(L, cost, [](char* const* p, const int64_t* s, int64_t n) {
    Acc* a = reinterpret_cast<Acc*>(p[0]);
    if (s[0] == 0) {
      Acc r = *a;
      if (s[1] == sizeof(T)) {
        const T* xv = reinterpret_cast<const T*>(p[1]);
        if constexpr (Op == ReduceOp::sum || Op == ReduceOp::mean) {
          // Four independent partial sums let the compiler vectorise without reassociation.
          Acc r0 = 0, r1 = 0, r2 = 0, r3 = 0;
          int64_t i = 0;
          for (; i + 4 <= n; i += 4) {
            r0 += static_cast<Acc>(xv[i]);
            r1 += static_cast<Acc>(xv[i + 1]);
            r2 += static_cast<Acc>(xv[i + 2]);
            r3 += static_cast<Acc>(xv[i + 3]);
          }
          for (; i < n; ++i) r0 += static_cast<Acc>(xv[i]);
          r += (r0 + r1) + (r2 + r3);
        } else {
          for (int64_t i = 0; i < n; ++i) r = combine<Op>(r, static_cast<Acc>(xv[i]));
        }
      } else {
        for (int64_t i = 0; i < n; ++i)
          r = combine<Op>(r, static_cast<Acc>(*reinterpret_cast<const T*>(p[1] + i * s[1])));
      }
      *a = r;
    } else {
      for (int64_t i = 0; i < n; ++i) {
        Acc* ai = reinterpret_cast<Acc*>(p[0] + i * s[0]);
        *ai = combine<Op>(*ai, static_cast<Acc>(*reinterpret_cast<const T*>(p[1] + i * s[1])));
      }
    }
  });
  finish_reduce<Op>(acc, out_n, x.numel(), av, y);
}

}  // namespace

void reduce(ReduceOp op, const TensorView& x, const TensorView& y) {
  checks::reduce(op, x, y);
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    dispatch_reduce(op, [&](auto o) { reduce_impl<decltype(o)::value, T>(x, y); });
  });
}

void arg_reduce(bool is_max, const TensorView& x, int axis, const TensorView& y) {
  UNRAVEL_CHECK(y.dtype == DType::i64, "arg_reduce: output must be i64");
  const int64_t n = x.shape[axis];
  UNRAVEL_CHECK(n > 0, "{}: axis {} is empty", is_max ? "argmax" : "argmin", axis);
  const int64_t xs = x.strides[axis];
  TensorView xo = x;
  xo.shape[axis] = 1;
  auto L = cpu::make_layout<2>({&y, &xo});
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::for_each_row(L, n, [=](char* const* p, const int64_t* s, int64_t m) {
      for (int64_t i = 0; i < m; ++i) {
        const T* xv = reinterpret_cast<const T*>(p[1] + i * s[1]);
        int64_t best = 0;
        T bv = xv[0];
        for (int64_t k = 1; k < n && bv == bv; ++k) {
          T v = xv[k * xs];
          if (v != v || (is_max ? v > bv : v < bv)) {
            bv = v;
            best = k;
          }
        }
        *reinterpret_cast<int64_t*>(p[0] + i * s[0]) = best;
      }
    });
  });
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
