// The positive control of the ThreadSanitizer stage's OpenMP part (scripts/tsan.sh): built with
// the stage's own flags (g++ -fopenmp -fsanitize=thread) and run under the same runtime (LLVM's
// libomp in place of libgomp, with its Archer tool, which tells ThreadSanitizer what OpenMP's
// barriers order). Run without arguments it races: every thread adds into one double. With an
// argument it is correct, as our CPU loops are: each thread writes its own elements, and the
// main thread reads them all after the region's closing barrier. The stage requires a report
// for the first and none for the second before it trusts a clean run of the test executables:
// without Archer the second is reported too (the runtime's barriers are invisible to
// ThreadSanitizer), and with a runtime that never forks a team the first is not.
#include <cstdio>
#include <vector>

int main(int argc, char**) {
  std::vector<double> v(1 << 12, 1.0);
  double sum = 0;
  if (argc == 1) {
#pragma omp parallel for
    for (int i = 0; i < static_cast<int>(v.size()); ++i) sum += v[i];
  } else {
#pragma omp parallel for
    for (int i = 0; i < static_cast<int>(v.size()); ++i) v[i] = 2.0 * v[i];
    for (double x : v) sum += x;
  }
  std::printf("%g\n", sum);
  return 0;
}
