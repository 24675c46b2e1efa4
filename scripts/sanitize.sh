#!/usr/bin/env bash
# The sanitizer stage of CI (scripts/test.sh calls it): every doctest executable built with
# AddressSanitizer + UndefinedBehaviorSanitizer (gcc, build-asan/) and run once with leak
# detection on. It is also the build users without nvcc get (-Dcuda=disabled).
#   bash scripts/sanitize.sh [meson test options] [test names]   (no names: every test)
# Ends with the line "sanitizers: N passed, N failed" (doctest test cases) and fails when any
# executable reports a sanitizer error, a leak, a failed test or no summary (a crash).
# Suppressions, each naming the library and why: tests/sanitizers/{lsan,ubsan}.supp.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${SANITIZE_BUILD_DIR:-build-asan}
t0=$SECONDS
if [ ! -f "$BUILD/build.ninja" ]; then
  # -O1 and line tables only (-g1): -O2 -g costs about 3x the compile time under the
  # sanitizers (ops/cpu/elementwise_cpu.cpp: 205 s against 53 s) for nothing they need.
  meson setup "$BUILD" -Db_sanitize=address,undefined -Dcuda=disabled -Dbench=false \
    -Dpython=disabled -Doptimization=1 -Ddebug=false "-Dcpp_args=-g1 -fno-omit-frame-pointer" \
    >"$BUILD.setup.log" 2>&1 || { cat "$BUILD.setup.log"; exit 1; }
fi
ninja -C "$BUILD" -j"${SANITIZE_BUILD_JOBS:-2}" >"$BUILD.build.log" 2>&1 ||
  { tail -40 "$BUILD.build.log"; echo "sanitize.sh: build failed ($BUILD.build.log)"; exit 1; }
echo "== sanitizer build: $((SECONDS - t0)) s"

supp="$PWD/tests/sanitizers"
# abort_on_error: a report ends the executable with SIGABRT, which meson counts as a failure.
# allocator_may_return_null: a C library's malloc of an impossible size (libhdf5 believes
# lengths from the file: fuzz_shapes3d found a 79 TB request) gets NULL, as from glibc in a
# normal build, and the library reports the failure; operator new still stops the process, so
# our own sizes taken from input are still caught.
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:abort_on_error=1:check_initialization_order=1:strict_init_order=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
# Test cases too slow under the sanitizers for the CI budget, excluded by name (doctest -tce):
# each is a long loop of the same code that the remaining cases of its executable run in small.
# Meson splits --test-args like a shell and doctest splits filters at commas, so spaces and
# commas inside a name become doctest's one-character wildcard '?'.
SLOW=$(grep -v '^#' tests/sanitizers/slow_tests.txt | grep . | sed 's/[ ,]/?/g' | paste -sd, -)
# The tests named on the command line (arguments not starting with "-"), else every test but the
# Python one (no Python module in this build), the reruns of suites under other CPU loop variants
# (NAME_isa_base, NAME_isa_avx2: the same code as NAME, whose variants test_cpu_isa compares) and
# isa_symbols (a check of the normal build's objects, not a doctest executable). `meson test
# --list` prints "unravel / NAME" or "unravel:SUITE / NAME" (older Meson: "unravel:NAME"), maybe
# after a regeneration log: keep only test names.
tests=(); opts=()
for a in "$@"; do case "$a" in -*) opts+=("$a") ;; *) tests+=("$a") ;; esac; done
if [ ${#tests[@]} = 0 ]; then
  mapfile -t tests < <(meson test -C "$BUILD" --list 2>/dev/null |
    sed -E 's/^unravel(:[A-Za-z0-9_]+)? \/ //; s/^unravel://' |
    grep -E '^[A-Za-z0-9_]+$' | grep -vxE 'python|isa_symbols|.*_isa_(base|avx2|avx512)')
  [ ${#tests[@]} -gt 0 ] || { echo "sanitize.sh: found no tests in $BUILD (meson test --list)"; exit 1; }
fi
t1=$SECONDS
summary=$(mktemp)
meson test -C "$BUILD" --print-errorlogs --num-processes 2 --timeout-multiplier 2 \
  ${SLOW:+"--test-args=-tce=$SLOW"} "${opts[@]}" "${tests[@]}" | tee "$summary"
rc=${PIPESTATUS[0]}
read -r passed failed < <(awk -F'|' '/\[doctest\] test cases:/ {
    gsub(/[^0-9]/, "", $2); gsub(/[^0-9]/, "", $3); p += $2; f += $3 }
  END { printf "%d %d\n", p, f }' "$BUILD/meson-logs/testlog.txt")
# An executable stopped by a sanitizer prints no doctest summary: count it as a failure.
meson_failed=$(awk '/^Fail:/ {f=$2} /^Timeout:/ {t=$2} END {print f+t}' "$summary")
rm -f "$summary"
if [ "$rc" != 0 ] && [ "$meson_failed" -gt "$failed" ]; then failed=$meson_failed; fi
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
grep -E "^SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer" "$BUILD/meson-logs/testlog.txt" |
  sort | uniq -c | head -20
echo "== sanitizer tests: $((SECONDS - t1)) s (${#tests[@]} executables)"
echo "sanitizers: ${passed} passed, ${failed} failed"
exit "$rc"
