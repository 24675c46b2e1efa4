#!/usr/bin/env bash
# The ThreadSanitizer stage of CI (scripts/test.sh calls it), gcc with -fsanitize=thread
# (build-tsan/), in two parts.
# 1. The test executables whose code runs on threads of our own, OpenMP at one thread:
#   test_cuda_emulated  the CUDA kernels' bodies on real std::threads meeting at std::barrier
#                       (ops/cuda/launch_ctx.h): a missing block barrier or a race in a reduction
#                       tree is reported here every time, not only when the threads' timing makes
#                       the result wrong;
#   test_engine         the caching allocator, the sim device's queue, the collectives' threads;
#   test_datasets       the prefetching batch worker and the image cache.
# 2. The CPU loops' OpenMP regions at two threads (test_engine's device parity cases run every
#   op, the ops_* suites, the optimisers, objectives and metrics), with UNRAVEL_THREAD_GRAIN=1 so
#   every loop of two items or more forks. Debian's libgomp is not built with ThreadSanitizer,
#   which then cannot see its barriers and reports every parallel region as a race (checked:
#   thousands of reports in test_engine). So LLVM's libomp (libomp-dev), which exports libgomp's
#   GOMP_* interface, replaces it through LD_PRELOAD, and its Archer tool (libarcher.so) tells
#   ThreadSanitizer what the runtime's barriers order; the runtime's own code and oneDNN's and
#   OpenBLAS's (not instrumented) are ignored. A positive control comes first
#   (tests/sanitizers/omp_race.cpp): a racy loop must be reported and a correct one not, or
#   the part fails. test_train_step (199 s here) and test_layout (36 s) are left out for time.
#   bash scripts/tsan.sh [test names]    (no names: both parts; names: part 1 with those tests)
#   UNRAVEL_TSAN_OMP="names"             part 2's list ("" skips part 2)
# Ends with the line "tsan: N passed, N failed" (doctest test cases, and the control as one);
# any ThreadSanitizer report fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${TSAN_BUILD_DIR:-build-tsan}
tests=("$@")
omp_default="engine ops_elementwise ops_nn ops_index ops_kernel_sums ops_conv ops_matmul optim objectives metrics"
if [ ${#tests[@]} -gt 0 ]; then omp_tests=(); else
  tests=(cuda_emulated engine datasets)
  read -r -a omp_tests <<< "${UNRAVEL_TSAN_OMP-$omp_default}"
fi
mapfile -t build_tests < <(printf '%s\n' "${tests[@]}" "${omp_tests[@]}" | sort -u)
t0=$SECONDS
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Db_sanitize=thread -Dcuda=disabled -Dbench=false -Dpython=disabled \
    -Doptimization=1 -Ddebug=false "-Dcpp_args=-g1" >"$BUILD.setup.log" 2>&1 ||
    { cat "$BUILD.setup.log"; exit 1; }
fi
ninja -C "$BUILD" -j"${TSAN_BUILD_JOBS:-2}" "${build_tests[@]/#/tests/test_}" >"$BUILD.build.log" 2>&1 ||
  { tail -40 "$BUILD.build.log"; echo "tsan.sh: build failed ($BUILD.build.log)"; exit 1; }
echo "== ThreadSanitizer build: $((SECONDS - t0)) s"
export OMP_NUM_THREADS=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
export UNRAVEL_SOURCE_ROOT="$PWD"
passed=0 failed=0 rc=0
run_tsan() {  # run_tsan NAME LABEL [LOG_SUFFIX]: one test executable under ThreadSanitizer, counted
  local t=$1 label=$2 t1=$SECONDS log="$BUILD/tsan-$1${3:-}.log" code p f
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
  echo "test_$t under ThreadSanitizer$label: $p passed, $f failed ($((SECONDS - t1)) s; $log)"
}
for t in "${tests[@]}"; do run_tsan "$t" ""; done

if [ ${#omp_tests[@]} -gt 0 ]; then
  libomp=$(ls /usr/lib/llvm-*/lib/libomp.so.5 2>/dev/null | sort -V | tail -1)
  archer=${libomp%/*}/libarcher.so
  if [ -z "$libomp" ] || [ ! -f "$archer" ]; then
    echo "tsan.sh: OpenMP part needs LLVM's libomp with Archer (apt install libomp-dev)"
    failed=$((failed + 1)); rc=1
  else
    t1=$SECONDS
    ctl="$BUILD/omp_race"
    g++ -O1 -g1 -fopenmp -fsanitize=thread tests/sanitizers/omp_race.cpp -o "$ctl" ||
      { echo "tsan.sh: cannot build the OpenMP control"; exit 1; }
    export LD_PRELOAD="$libomp" OMP_TOOL_LIBRARIES="$archer" OMP_NUM_THREADS=2 UNRAVEL_THREAD_GRAIN=1
    export TSAN_OPTIONS="$TSAN_OPTIONS:ignore_noninstrumented_modules=1"
    "$ctl" >"$ctl-racy.log" 2>&1
    racy=$(grep -c "WARNING: ThreadSanitizer" "$ctl-racy.log")
    "$ctl" ok >"$ctl-ok.log" 2>&1; okrc=$?
    clean=$(grep -c "WARNING: ThreadSanitizer" "$ctl-ok.log")
    if [ "$racy" -gt 0 ] && [ "$clean" = 0 ] && [ "$okrc" = 0 ]; then
      passed=$((passed + 1))
      echo "OpenMP control: the racy loop reported, the correct one clean ($((SECONDS - t1)) s; libomp $libomp, Archer)"
      for t in "${omp_tests[@]}"; do run_tsan "$t" " (OpenMP at 2 threads, grain 1)" "-omp"; done
    else
      echo "OpenMP control FAILED: racy loop reported $racy time(s), correct loop $clean (exit $okrc): the OpenMP part would prove nothing"
      tail -20 "$ctl-ok.log"
      failed=$((failed + 1)); rc=1
    fi
  fi
fi
echo "tsan: ${passed} passed, ${failed} failed"
exit "$rc"
