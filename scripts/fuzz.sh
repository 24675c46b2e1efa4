#!/usr/bin/env bash
# Fuzzing the parsers of outside data (tests/fuzz, libFuzzer with clang, ASan+UBSan).
#   scripts/fuzz.sh TARGET SECONDS  fuzz one target: npy npz safetensors idx png jpeg image_folder
#                                   config sweep checkpoint shapes3d smallnorb mpi3d
#   scripts/fuzz.sh all SECONDS     each target in turn, SECONDS each
#   FUZZ_RUNS=N scripts/fuzz.sh ... stop a target after N executions too (whichever comes first;
#                                   the issue's bar: FUZZ_RUNS=10000000 ... all 1800)
#   FUZZ_KEEP_GOING=1 scripts/fuzz.sh TARGET SECONDS
#                                   libFuzzer's fork mode: crashes are kept in build-fuzz/found/
#                                   TARGET/ and the run goes on; then `triage` (for a target whose
#                                   third-party library crashes on inputs we cannot validate first)
#   scripts/fuzz.sh triage TARGET [DIR]
#                                   replays each input of DIR (build-fuzz/found/TARGET) alone and
#                                   names where it crashes: a third-party library or our code
#                                   (exit 1 when any is ours)
#   scripts/fuzz.sh replay          each target over its seeds and kept crashes, once (CI)
#   scripts/fuzz.sh seed            rewrite tests/fuzz/corpus with the project's own writers
#   scripts/fuzz.sh build           configure (once) and build build-fuzz/
# Inputs that reach new code go to build-fuzz/corpus/TARGET (kept between runs, not committed).
# A crash, leak, timeout or oversized allocation stops the run and is written to
# tests/fuzz/crashes/TARGET/: fix the loader, then commit the file there, where `replay` runs it.
# Each fuzzing run ends with a line "fuzz TARGET: N executions in S s (R exec/s), ..." that is
# also appended to build-fuzz/fuzz-stats.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
TARGETS=(npy npz safetensors idx png jpeg image_folder config sweep checkpoint shapes3d smallnorb mpi3d)
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
# One thread: the image-folder loader is OpenMP-parallel, and threads only add noise here.
export OMP_NUM_THREADS=1
# allocator_may_return_null: a C library's malloc of an impossible size (libhdf5 believes
# lengths from the file: fuzz_shapes3d found a 79 TB request) gets NULL, as from glibc in a
# normal build, and the library reports the failure; operator new still stops the process, so
# our own sizes taken from input are still caught.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:abort_on_error=1:symbolize=1}"
# Leaks inside third-party libraries, each with its reason: the sanitizer stage's list.
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# libFuzzer limits: an input may run for 10 s and allocate 512 MB in one piece. No seed is
# larger than 64 KB and no loader may need more than the deflate bound (1032×) of its input,
# so an allocation above that is a size believed from the input.
LIMITS=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512)

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

build() {
  if [ ! -f "$BUILD/build.ninja" ]; then
    command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is required (apt install clang)"; exit 1; }
    local cxx=clang++
    command -v ccache >/dev/null && cxx="ccache clang++"
    CXX="$cxx" meson setup "$BUILD" -Dfuzz=true -Dcuda=disabled -Dbench=false -Dtests=false \
      -Dpython=disabled >"$BUILD.setup.log" 2>&1 || { cat "$BUILD.setup.log"; exit 1; }
  fi
  ninja -C "$BUILD" -j"${FUZZ_BUILD_JOBS:-2}" >"$BUILD/fuzz-build.log" 2>&1 ||
    { tail -40 "$BUILD/fuzz-build.log"; echo "fuzz.sh: build failed ($BUILD/fuzz-build.log)"; exit 1; }
}

is_target() { local t; for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

dict_args() { [ -f "tests/fuzz/$1.dict" ] && echo "-dict=tests/fuzz/$1.dict"; }

# The seed and crash folders of a target that exist.
corpus_dirs() {
  local d
  for d in "tests/fuzz/corpus/$1" "tests/fuzz/crashes/$1"; do [ -d "$d" ] && echo "$d"; done
}

fuzz_one() {
  local target=$1 secs=$2 log rc
  mkdir -p "$BUILD/corpus/$target" "tests/fuzz/crashes/$target"
  log="$BUILD/fuzz-$target.log"
  echo "fuzz.sh: fuzzing $target for $secs s (log: $log)"
  local start=$SECONDS
  # The first folder receives new inputs; the seeds and crashes are only read.
  "$BUILD/tests/fuzz/fuzz_$target" "$BUILD/corpus/$target" $(corpus_dirs "$target") \
    $(dict_args "$target") "${LIMITS[@]}" -max_total_time="$secs" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} \
    -print_final_stats=1 \
    -artifact_prefix="tests/fuzz/crashes/$target/" >"$log" 2>&1
  rc=$?
  # libFuzzer's final stats (printed again after a crash: the last ones count).
  local runs secs_run cov
  runs=$(awk '/stat::number_of_executed_units/ {n = $2} END {print n}' "$log")
  secs_run=$((SECONDS - start))
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  local line="fuzz $target: ${runs:-?} executions in $secs_run s \
($(( ${runs:-0} / (secs_run > 0 ? secs_run : 1) )) exec/s), coverage ${cov:-?} edges, \
$(ls "$BUILD/corpus/$target" | wc -l) inputs in $BUILD/corpus/$target, exit $rc"
  if [ "$rc" != 0 ]; then
    grep -E "ERROR: |BUG: |SUMMARY: |runtime error|Test unit written" "$log" | head -8
    line="$line: CRASH (see $log; input in tests/fuzz/crashes/$target/)"
  fi
  echo "$line"
  echo "$(date -u +%FT%TZ) $line" >>"$BUILD/fuzz-stats.txt"
  return "$rc"
}

# libFuzzer's fork mode (-fork=1: each job a child process) with crashes, OOMs and timeouts
# ignored: a libhdf5 crash must not end a 30-minute run. Every crashing input is kept in
# $BUILD/found/TARGET/ and triaged at the end.
fuzz_keep_going() {
  local target=$1 secs=$2 log found rc
  found="$BUILD/found/$target"
  mkdir -p "$BUILD/corpus/$target" "$found"
  log="$BUILD/fuzz-$target.log"
  echo "fuzz.sh: fuzzing $target for $secs s, crashes kept going (log: $log)"
  local start=$SECONDS
  "$BUILD/tests/fuzz/fuzz_$target" "$BUILD/corpus/$target" $(corpus_dirs "$target") \
    $(dict_args "$target") "${LIMITS[@]}" -max_total_time="$secs" -fork=1 -ignore_crashes=1 \
    -ignore_ooms=1 -ignore_timeouts=1 -artifact_prefix="$found/" >"$log" 2>&1
  rc=$?
  # Fork mode's progress lines: "#RUNS: cov: C ft: F corp: ... crash: K ...".
  local runs secs_run cov
  runs=$(grep -oE '^#[0-9]+: cov' "$log" | tail -1 | tr -dc '0-9')
  cov=$(grep -oE '^#[0-9]+: cov: [0-9]+' "$log" | tail -1 | awk '{print $3}')
  secs_run=$((SECONDS - start))
  local line="fuzz $target (keep going): ${runs:-?} executions in $secs_run s \
($(( ${runs:-0} / (secs_run > 0 ? secs_run : 1) )) exec/s), coverage ${cov:-?} edges, \
$(ls "$found" | wc -l) crashing inputs kept in $found, exit $rc"
  echo "$line"
  echo "$(date -u +%FT%TZ) $line" >>"$BUILD/fuzz-stats.txt"
  triage "$target" "$found"
}

# Replays each input of a folder alone and names the first frame of its crash that is neither
# the sanitizer runtime nor libc: a third-party library (a shared object outside our build) or
# our code. Exit 1 when any crash is in our code.
triage() {
  local target=$1 dir=${2:-$BUILD/found/$1} f out frame ours=0 theirs=0 fixed=0
  [ -d "$dir" ] || { echo "triage: no folder $dir"; return 0; }
  declare -A where=()
  for f in "$dir"/*; do
    [ -f "$f" ] || continue
    out=$("$BUILD/tests/fuzz/fuzz_$target" "${LIMITS[@]}" "$f" 2>&1) && { fixed=$((fixed + 1)); continue; }
    frame=$(grep -E '^ +#[0-9]+ 0x[0-9a-f]+ in ' <<<"$out" |
      grep -vE ' in (__interceptor_|__asan|__ubsan|__sanitizer|__lsan|(__)?(libc_)?(malloc|calloc|realloc|free|abort|raise)\b|__GI_|__libc_start|_start\b|fuzzer::|LLVMFuzzer|std::)' |
      grep -vE '/libc\.so|/libstdc\+\+|sysdeps/|^[^(]*[ (]string/' | head -1 | sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ in //')
    case "$frame" in
      *"/lib/"*|*"/usr/lib/"*) theirs=$((theirs + 1)) ;;
      *) ours=$((ours + 1)) ;;
    esac
    where["${frame%% *} in $(sed -E 's/^[^(]*\(([^+)]*).*/\1/; s/^[^ ]+ //' <<<"$frame")"]+=x
    echo "  $(basename "$f"): ${frame:-no stack (see: ${BUILD}/tests/fuzz/fuzz_$target $f)}"
  done
  local k
  for k in "${!where[@]}"; do echo "  ${#where[$k]} x $k"; done | sort -rn
  echo "triage $target: $theirs in third-party libraries, $ours in our code, $fixed no longer crash"
  [ "$ours" = 0 ]
}

replay() {
  local target failed=0 n total=0 tmp
  tmp=$(mktemp -d)
  for target in "${TARGETS[@]}"; do
    n=$(cat <(corpus_dirs "$target" | xargs -r -I{} find {} -type f) | wc -l)
    total=$((total + n))
    # -runs=0: execute every input of the folders once, no mutation. New inputs would go to the
    # first folder, a throwaway one.
    if "$BUILD/tests/fuzz/fuzz_$target" "$tmp" $(corpus_dirs "$target") "${LIMITS[@]}" -runs=0 \
        >"$BUILD/replay-$target.log" 2>&1; then
      echo "replay $target: $n inputs ok"
    else
      echo "replay $target: FAILED over $n inputs (log: $BUILD/replay-$target.log)"
      grep -E "ERROR: |BUG: |SUMMARY: |runtime error" "$BUILD/replay-$target.log" | head -5
      failed=$((failed + 1))
    fi
  done
  rm -rf "$tmp"
  echo "fuzz replay: ${#TARGETS[@]} targets, $total inputs, $failed targets failed"
  [ "$failed" = 0 ]
}

[ $# -ge 1 ] || usage
case "$1" in
  build) build ;;
  seed)
    build
    # The sweep seeds (TOML text, and docs/sweeps) and the JPEG seeds (written with Pillow) are
    # kept by hand: only the folders make_corpus writes are replaced.
    find tests/fuzz/corpus -mindepth 1 -maxdepth 1 ! -name sweep ! -name jpeg -exec rm -rf {} +
    cp docs/sweeps/*.toml tests/fuzz/corpus/sweep/
    "$BUILD/tests/fuzz/fuzz_make_corpus" tests/fuzz/corpus ;;
  replay) build && replay ;;
  triage)
    [ $# -ge 2 ] && is_target "$2" || usage
    build
    triage "$2" "${3:-$BUILD/found/$2}" ;;
  all)
    [ $# = 2 ] || usage
    build
    rc=0
    for t in "${TARGETS[@]}"; do fuzz_one "$t" "$2" || rc=1; done
    exit $rc ;;
  *)
    [ $# = 2 ] && is_target "$1" || usage
    build
    if [ -n "${FUZZ_KEEP_GOING:-}" ]; then fuzz_keep_going "$1" "$2"; else fuzz_one "$1" "$2"; fi ;;
esac
