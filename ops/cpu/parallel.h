// When to use threads on the CPU. Two OpenMP threads only pay off for large enough work on
// these 2-vCPU machines (a fork/join costs a few µs when the other core is idle), so small ops
// stay on one thread: elementwise loops below kParallelGrain, and library calls (oneDNN sgemm,
// convolution passes) below kLibraryParallelMacs, capped per call by ThreadCap (oneDNN would
// otherwise fork for every 128x100 product). The thresholds are fixed (never load-dependent)
// because oneDNN's reductions depend on the thread count, and a run must be reproducible from
// its seed. Measured with bench_train_step, OMP_NUM_THREADS=2, idle machine (load ~1), conv64
// batch 64 / fashion28 batch 128 steps/s: caps at 2^29 MACs and grain 2^23 8.9 / 15.8 (= one
// thread); 2^25 MACs 14.5 / 25; 2^23 MACs 15.2 / 27; plus grain 2^20 15.6 / 28.8; grain 2^17
// 16.4 / 29.2 (chosen); pinwheel 7000 whatever the caps (its products stay on one thread).
// When the other core is BUSY (other processes; load 4-7 here) every parallel region stalls for
// a scheduler slice (~8 ms: libgomp's team waits for the descheduled member), and one thread
// wins everywhere: conv64 b64 2.9 steps/s at two threads against 8.3 at one, fashion28 2.8
// against 15.4 (OMP_WAIT_POLICY=passive recovers most: 6.6 against 8.1). So on a shared or
// loaded machine run with OMP_NUM_THREADS=1 (bench/README.md).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "ops/cpu/isa.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

/// Elements (times per-item cost) of elementwise work below which a loop runs on one thread.
inline constexpr int64_t kParallelGrain = 1 << 17;

/// kParallelGrain, or UNRAVEL_THREAD_GRAIN from the environment (read once) to tune it.
inline int64_t parallel_grain() {
  static const int64_t v = [] {
    const char* e = std::getenv("UNRAVEL_THREAD_GRAIN");
    return e && std::atoll(e) > 0 ? static_cast<int64_t>(std::atoll(e)) : kParallelGrain;
  }();
  return v;
}

/// Multiply-adds of one library call (sgemm, convolution pass) below which it runs on one
/// thread (2^23 ≈ 8.4 M, ~0.1 ms on one core).
inline constexpr double kLibraryParallelMacs = static_cast<double>(int64_t{1} << 23);

/// kLibraryParallelMacs, or UNRAVEL_THREAD_MACS from the environment (read once) to tune it.
inline double library_parallel_macs() {
  static const double v = [] {
    const char* e = std::getenv("UNRAVEL_THREAD_MACS");
    return e && std::atof(e) > 0 ? std::atof(e) : kLibraryParallelMacs;
  }();
  return v;
}

/// Caps this thread's OpenMP team size at 1 for its scope when a library call of `macs`
/// multiply-adds is below library_parallel_macs(); restores the previous cap afterwards.
class ThreadCap {
 public:
  explicit ThreadCap(double macs) {
    if (macs < library_parallel_macs() && !omp_in_parallel()) {
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
  if (threads <= 1 || n * cost_per_item < parallel_grain() || n < 2 || omp_in_parallel()) {
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

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
