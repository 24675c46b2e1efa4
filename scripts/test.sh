#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs missing packages, configures and builds
# (build dir: build/), runs `meson test` (the fuzz corpora replay included), then the sanitizer
# stage (scripts/sanitize.sh: every test executable again under ASan+UBSan+LSan, build-asan/,
# without CUDA; UNRAVEL_SANITIZE=0 skips it), then the ThreadSanitizer stage (scripts/tsan.sh:
# the executables whose code runs on our own threads, then the CPU loops' OpenMP regions at two
# threads through LLVM's libomp and Archer, build-tsan/; UNRAVEL_TSAN=0 skips it), and
# ends with the line "N passed, N failed" counting doctest test cases (and pytest's) over all
# stages.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s); t=$t0
stage_done() { local now; now=$(date +%s); echo "== $1: $((now - t)) s (total $((now - t0)) s)"; t=$now; }
bash scripts/deps.sh || exit 1
bash scripts/pyenv.sh >/dev/null || exit 1
stage_done "dependencies (Debian packages, .venv for the Python tests)"
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release || exit 1
fi
stage_done "configure"
ninja -C build || exit 1
stage_done "build (CUDA plugin included where nvcc is found)"
# A real single-node Slurm for the sweep tests (tests/python/test_sweep.py), stopped on exit.
slurm_dir=$(mktemp -d /tmp/unravel-slurm.XXXXXX)
trap 'bash scripts/slurm-local.sh down "$slurm_dir"; rm -rf "$slurm_dir"' EXIT
if slurm_env=$(bash scripts/slurm-local.sh up "$slurm_dir"); then
  eval "$slurm_env"
  echo "== Slurm: single-node cluster up ($SLURM_CONF)"
elif [ "$(id -u)" = 0 ]; then
  echo "scripts/test.sh: the single-node Slurm did not start (above); the sweep tests need it" >&2
  exit 1
else
  echo "== Slurm: not started (the recipe needs root); its tests will skip" >&2
fi
stage_done "services"
# Test executables run two at a time on 2 cores: OpenMP threads must sleep, not spin, while they
# wait, or each parallel region can stall for a scheduler time slice.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
summary=$(mktemp)
meson test -C build --print-errorlogs --num-processes 2 "$@" | tee "$summary"
rc=${PIPESTATUS[0]}
log=build/meson-logs/testlog.txt
# doctest's "[doctest] test cases: N | N passed | N failed" lines, plus pytest's final line
# ("3 passed, 1 failed in 2.10s"; errors count as failed) from tests/python.
read -r passed failed < <(awk -F'|' '/\[doctest\] test cases:/ {
    gsub(/[^0-9]/, "", $2); gsub(/[^0-9]/, "", $3); p += $2; f += $3; next }
  /^(=+ )?[0-9]+ (passed|failed|error|errors|skipped)(,.*)? in [0-9.]+s/ {
    n = split($0, w, /[ ,]+/)
    for (i = 2; i <= n; i++) {
      if (w[i] == "passed") p += w[i-1]
      if (w[i] == "failed" || w[i] == "error" || w[i] == "errors") f += w[i-1]
    } }
  END { printf "%d %d\n", p, f }' "$log")
# An executable that crashed or timed out prints no doctest summary: count it as a failure.
meson_failed=$(awk '/^Fail:/ {f=$2} /^Timeout:/ {t=$2} END {print f+t}' "$summary")
rm -f "$summary"
stage_done "tests"
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=$((meson_failed > 0 ? meson_failed : 1)); fi
echo "tests: ${passed} passed, ${failed} failed"
# The GPU check's stages rehearsed on the stand-in device through the bundle and its loader
# (scripts/gpu-check.sh, GPU_CHECK_DEVICE=sim), so a GPU session's few minutes are not lost to a
# broken stage, path or test filter. Needs the CUDA plugin (built where nvcc is found).
if [ "${UNRAVEL_GPU_REHEARSAL:-1}" != 0 ] && [ -f build/ops/cuda/libunravel_cuda.so ]; then
  reh=$(mktemp -d /tmp/unravel-gpu-rehearsal.XXXXXX)
  if GPU_BUNDLE="$reh/bundle.tar.xz" GPU_BUNDLE_XZ=0 bash scripts/gpu-bundle.sh >/dev/null &&
     GPU_CHECK_DEVICE=sim OUT="$reh" bash scripts/gpu-check.sh "$reh/bundle.tar.xz" "$reh/report.md" \
       > "$reh/log.txt" 2>&1; then
    passed=$((passed + 1)); sed -n "/## Summary/,\$p" "$reh/log.txt"; echo "GPU check rehearsal on sim: passed"
  else
    failed=$((failed + 1)); rc=1; echo "GPU check rehearsal on sim: FAILED"; tail -40 "$reh/log.txt"
  fi
  rm -rf "$reh"
  stage_done "GPU check rehearsed on the stand-in device (scripts/gpu-check.sh)"
else
  echo "== GPU check rehearsal: skipped (no CUDA plugin in build/, or UNRAVEL_GPU_REHEARSAL=0)"
fi
# A sanitizer stage: runs SCRIPT, which ends with "PREFIX: N passed, N failed", adds its counts
# (no such line: one failure) and names the stage.
sanitizer_stage() {
  local script=$1 prefix=$2 label=$3 log code sp sf
  log=$(mktemp)
  bash "$script" | tee "$log"
  code=${PIPESTATUS[0]}
  read -r sp sf < <(sed -n "s/^$prefix: \([0-9]*\) passed, \([0-9]*\) failed\$/\1 \2/p" "$log")
  rm -f "$log"
  if [ -z "${sp:-}" ]; then sp=0; sf=1; fi
  passed=$((passed + sp)); failed=$((failed + sf))
  [ "$code" = 0 ] || rc=1
  stage_done "$label"
}
if [ "${UNRAVEL_SANITIZE:-1}" != 0 ]; then
  sanitizer_stage scripts/sanitize.sh sanitizers \
    "sanitizers (ASan+UBSan+LSan build of every test executable)"
fi
if [ "${UNRAVEL_TSAN:-1}" != 0 ]; then
  sanitizer_stage scripts/tsan.sh tsan \
    "ThreadSanitizer (the CUDA emulation, engine and dataset threads, the CPU loops' OpenMP regions; build-tsan/)"
fi
echo "${passed} passed, ${failed} failed"
exit $rc
