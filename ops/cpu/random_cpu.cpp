// Philox fills on the CPU: element i (row-major over y) uses counter state.offset + i.
#include <cmath>

#include "engine/check.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/philox.h"
#include "engine/tensor.h"
#include "ops/cpu/parallel.h"

namespace unravel {

void CpuBackend::random(RandomOp op, PhiloxState st, double a, double b, const TensorView& y) {
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
            o[i] = static_cast<T>(a + (b - a) * philox::uniform(st.seed, st.offset + i));
          break;
        case RandomOp::normal:
          for (int64_t i = lo; i < hi; ++i)
            o[i] = static_cast<T>(a + b * philox::normal(st.seed, st.offset + i));
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

}  // namespace unravel
