#!/usr/bin/env bash
# The ThreadSanitizer stage of CI (scripts/test.sh calls it): the test executables whose code
# runs on threads of our own, built with -fsanitize=thread (gcc, build-tsan/) and run once.
#   test_cuda_emulated  the CUDA kernels' bodies on real std::threads meeting at std::barrier
#                       (ops/cuda/launch_ctx.h): a missing block barrier or a race in a reduction
#                       tree is reported here every time, not only when the threads' timing makes
#                       the result wrong;
#   test_engine         the caching allocator, the sim device's queue, the collectives' threads;
#   test_datasets       the prefetching batch worker and the image cache.
#   bash scripts/tsan.sh [test names]        (no names: the three above)
# OpenMP stays at one thread: Debian's libgomp is not built with ThreadSanitizer, so TSan cannot
# see its barriers and reports the CPU loops' parallel regions as races (checked: test_engine at
# OMP_NUM_THREADS=2 reports them in ops/cpu/elementwise_cpu.cpp's loops). Ends with the line
# "tsan: N passed, N failed" (doctest test cases); any ThreadSanitizer report fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${TSAN_BUILD_DIR:-build-tsan}
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(cuda_emulated engine datasets)
t0=$SECONDS
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Db_sanitize=thread -Dcuda=disabled -Dbench=false -Dpython=disabled \
    -Doptimization=1 -Ddebug=false "-Dcpp_args=-g1" >"$BUILD.setup.log" 2>&1 ||
    { cat "$BUILD.setup.log"; exit 1; }
fi
ninja -C "$BUILD" -j"${TSAN_BUILD_JOBS:-2}" "${tests[@]/#/tests/test_}" >"$BUILD.build.log" 2>&1 ||
  { tail -40 "$BUILD.build.log"; echo "tsan.sh: build failed ($BUILD.build.log)"; exit 1; }
echo "== ThreadSanitizer build: $((SECONDS - t0)) s"
export OMP_NUM_THREADS=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
export UNRAVEL_SOURCE_ROOT="$PWD"
passed=0 failed=0 rc=0
for t in "${tests[@]}"; do
  t1=$SECONDS
  log="$BUILD/tsan-$t.log"
  (cd "$BUILD" && "./tests/test_$t") >"$log" 2>&1
  code=$?
  read -r p f < <(awk -F'|' '/\[doctest\] test cases:/ {
      gsub(/[^0-9]/, "", $2); gsub(/[^0-9]/, "", $3); print $2, $3 }' "$log")
  p=${p:-0}; f=${f:-0}
  if grep -q "ThreadSanitizer" "$log" || [ "$code" != 0 ]; then
    [ "$f" -gt 0 ] || f=1
    rc=1
    grep -E "^(SUMMARY: ThreadSanitizer|WARNING: ThreadSanitizer)" "$log" | sort | uniq -c | head -10
    tail -30 "$log"
  fi
  passed=$((passed + p)); failed=$((failed + f))
  echo "test_$t under ThreadSanitizer: $p passed, $f failed ($((SECONDS - t1)) s; $log)"
done
echo "tsan: ${passed} passed, ${failed} failed"
exit "$rc"
