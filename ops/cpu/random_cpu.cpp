// Philox fills on the CPU: element i (row-major over y) uses counter state.offset + i.
// Permutations: row r sorts 0..n-1 by the 64-bit keys of counters offset + r·n + i.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/check.h"
#include "engine/philox.h"
#include "engine/tensor.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/parallel.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

void random(RandomOp op, PhiloxState st, double a, double b, const TensorView& y) {
  if (st.base) st.offset += static_cast<uint64_t>(*st.base);  // read when the kernel runs
  const int64_t n = y.numel();
  if (n == 0) return;
  // Generate into a contiguous buffer in row-major order, then copy into y's layout.
  Tensor buf = y.contiguous() ? Tensor() : Tensor::empty(y.shape, y.dtype, kCPU);
  void* out = buf.defined() ? buf.raw_data() : y.data;
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = static_cast<T*>(out);
    cpu::parallel_for(n, 40, [&](int64_t lo, int64_t hi) {
      switch (op) {
        case RandomOp::uniform:
          for (int64_t i = lo; i < hi; ++i)
            o[i] = static_cast<T>(philox::affine(a, b - a, philox::uniform(st.seed, st.offset + i)));
          break;
        case RandomOp::normal:
          for (int64_t i = lo; i < hi; ++i)
            o[i] = static_cast<T>(philox::affine(a, b, philox::normal(st.seed, st.offset + i)));
          break;
        case RandomOp::bernoulli:
          for (int64_t i = lo; i < hi; ++i)
            o[i] = static_cast<T>(philox::uniform(st.seed, st.offset + i) < a ? 1 : 0);
          break;
        default:
          break;
      }
    });
  });
  if (buf.defined()) copy(buf.view(), y);
}

void random_permutation(PhiloxState st, const TensorView& y) {
  UNRAVEL_CHECK(y.dtype == DType::i64 && y.rank() == 2 && y.contiguous(),
                "random_permutation: want a contiguous i64 (R, n) output, got {}{}",
                dtype_name(y.dtype), y.shape.str());
  if (st.base) st.offset += static_cast<uint64_t>(*st.base);
  const int64_t rows = y.shape[0], n = y.shape[1];
  int64_t* out = y.ptr<int64_t>();
  cpu::parallel_for(rows, std::max<int64_t>(1, 16 * n), [&](int64_t lo, int64_t hi) {
    std::vector<uint64_t> keys(static_cast<size_t>(n));
    for (int64_t r = lo; r < hi; ++r) {
      const uint64_t base = st.offset + static_cast<uint64_t>(r * n);
      for (int64_t i = 0; i < n; ++i) keys[i] = philox::bits64(st.seed, base + i);
      int64_t* row = out + r * n;
      std::iota(row, row + n, int64_t{0});
      std::stable_sort(row, row + n, [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
    }
  });
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
