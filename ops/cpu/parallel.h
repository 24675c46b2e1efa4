// When to use threads on the CPU. Two OpenMP threads only pay off for large work on these
// machines (a fork/join costs a few µs when the other core is idle), so small ops stay on one
// thread. Library calls (oneDNN sgemm and convolutions) get the same treatment through
// ThreadCap: on these shared 2-vCPU VMs a parallel region stalls for a scheduler slice (~8 ms)
// whenever the other core is busy (libgomp's threads spin, then wait for the descheduled team
// member), so only calls long enough to amortise such a stall use the second core. Measured with
// bench_train_step (load 4-7): at OMP_NUM_THREADS=2 without caps the conv64 step ran 4.0
// steps/s (6.6 with OMP_WAIT_POLICY=passive) against 9.2 on one thread, and the pinwheel MLP
// 850 (4400 passive) against 7200.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace unravel::cpu {

/// Elements of simple elementwise work below which a loop runs on one thread: 2^23 ≈ 8 M
/// (several ms of memory-bound work), for the same reason as kLibraryParallelMacs. At the
/// former 2^15 the conv64 step at OMP_NUM_THREADS=2 ran 2.9 steps/s against 8.3 on one
/// thread (every ReLU and its gradient forked), fashion28 2.8 against 15.4.
inline constexpr int64_t kParallelGrain = 1 << 23;

/// Multiply-adds of one library call (sgemm, convolution pass) below which it runs on one
/// thread: 2^29 ≈ 537 M, 5-10 ms on one core, so a stalled fork/join costs at most about as
/// much as the second core can save.
inline constexpr double kLibraryParallelMacs = static_cast<double>(int64_t{1} << 29);

/// Caps this thread's OpenMP team size at 1 for its scope when a library call of `macs`
/// multiply-adds is below kLibraryParallelMacs; restores the previous cap afterwards.
class ThreadCap {
 public:
  explicit ThreadCap(double macs) {
    if (macs < kLibraryParallelMacs && !omp_in_parallel()) {
      prev_ = omp_get_max_threads();
      if (prev_ > 1) omp_set_num_threads(1);
      else prev_ = 0;
    }
  }
  ~ThreadCap() {
    if (prev_ > 0) omp_set_num_threads(prev_);
  }
  ThreadCap(const ThreadCap&) = delete;
  ThreadCap& operator=(const ThreadCap&) = delete;
  /// True when this scope runs single-threaded because of the cap (or a cap of 1 already).
  static bool single() { return omp_get_max_threads() == 1; }

 private:
  int prev_ = 0;
};

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
