// When to use threads on the CPU. Two OpenMP threads only pay off for large work on these
// machines (a fork/join costs a few µs), so small ops stay on one thread.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace unravel::cpu {

/// Elements of simple elementwise work below which a loop runs on one thread.
inline constexpr int64_t kParallelGrain = 1 << 15;

/// Runs f(begin, end) over [0, n) split into contiguous chunks, threaded only when
/// n * cost_per_item exceeds the grain.
template <class F> void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  int threads = omp_get_max_threads();
  if (threads <= 1 || n * cost_per_item < kParallelGrain || n < 2 || omp_in_parallel()) {
    f(int64_t{0}, n);
    return;
  }
  int64_t chunks = std::min<int64_t>(threads, n);
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    if (b < e) f(b, e);
  }
}

}  // namespace unravel::cpu
