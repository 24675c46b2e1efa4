// Shared benchmark helpers: a steady clock, repeated timing with warm-up, median/min/max, and
// CSV output. Every benchmark validates its result against a reference before it times anything.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace unravel::bench {

struct Timing {
  double median = 0, min = 0, max = 0;  // seconds per call
  int reps = 0;
};

/// Runs f `warmup` times, then `reps` samples of `inner` calls each; returns per-call seconds.
inline Timing time_it(const std::function<void()>& f, int reps = 7, int inner = 1, int warmup = 2) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> s;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) f();
    auto t1 = std::chrono::steady_clock::now();
    s.push_back(std::chrono::duration<double>(t1 - t0).count() / inner);
  }
  std::sort(s.begin(), s.end());
  return Timing{s[s.size() / 2], s.front(), s.back(), reps};
}

/// Steal time of the whole machine (/proc/stat's "cpu" line; 0 where unreadable): take one
/// reading before and one after, and steal_fraction(a, b) is the share of CPU time in between
/// that the hypervisor gave to other guests.
struct CpuTimes {
  double steal = 0, total = 0;
};
inline CpuTimes read_cpu_times() {
  CpuTimes t;
  if (FILE* f = std::fopen("/proc/stat", "r")) {
    unsigned long long v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                    &v[4], &v[5], &v[6], &v[7]) == 8) {
      for (unsigned long long x : v) t.total += static_cast<double>(x);
      t.steal = static_cast<double>(v[7]);
    }
    std::fclose(f);
  }
  return t;
}
inline double steal_fraction(const CpuTimes& a, const CpuTimes& b) {
  return b.total > a.total ? (b.steal - a.steal) / (b.total - a.total) : 0.0;
}

/// Picks `inner` so one sample lasts about `target` seconds.
inline int calibrate(const std::function<void()>& f, double target = 0.05) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::max(1, static_cast<int>(target / std::max(dt, 1e-9)));
}

/// Appends CSV rows (header written once) to stdout and, when path is non-empty, to a file.
class Csv {
 public:
  Csv(std::string header, std::string path = "") : header_(std::move(header)), path_(std::move(path)) {
    std::printf("%s\n", header_.c_str());
    if (!path_.empty()) {
      file_ = std::fopen(path_.c_str(), "w");
      if (file_) std::fprintf(file_, "%s\n", header_.c_str());
    }
  }
  ~Csv() {
    if (file_) std::fclose(file_);
  }
  void row(const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (file_) {
      std::fprintf(file_, "%s\n", line.c_str());
      std::fflush(file_);
    }
  }

 private:
  std::string header_, path_;
  std::FILE* file_ = nullptr;
};

/// Fails the benchmark (exit 1) with a message when a validation does not hold.
inline void require(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "VALIDATION FAILED: %s\n", what.c_str());
    std::exit(1);
  }
}

/// Naive f64 C (m x n) = op(A) @ op(B) on row-major buffers (ta: A stored (k, m); tb: B stored
/// (n, k)): the reference the GEMM benchmarks validate against.
template <class T>
std::vector<double> naive_gemm(const std::vector<T>& a, const std::vector<T>& b, int64_t m,
                               int64_t k, int64_t n, bool ta, bool tb) {
  std::vector<double> c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) {
      const double av = ta ? a[p * m + i] : a[i * k + p];
      for (int64_t j = 0; j < n; ++j) c[i * n + j] += av * (tb ? b[j * k + p] : b[p * n + j]);
    }
  return c;
}

/// Requires |got − ref| ≤ 1e-4 · max(1, max |ref|) elementwise (an f32 result against f64).
template <class T>
void require_close(const std::vector<T>& got, const std::vector<double>& ref, const std::string& what) {
  require(got.size() == ref.size(), what + ": wrong element count");
  double scale = 1.0, err = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    scale = std::max(scale, std::fabs(ref[i]));
    err = std::max(err, std::fabs(static_cast<double>(got[i]) - ref[i]));
  }
  require(err <= 1e-4 * scale, fmt::format("{}: max error {:.3g} (scale {:.3g})", what, err, scale));
}

}  // namespace unravel::bench
