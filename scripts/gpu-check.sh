#!/usr/bin/env bash
# Everything that needs a GPU, in one run of under 4 minutes, on a lent GPU machine that has the
# NVIDIA driver and PyTorch's CUDA libraries but none of our Debian libraries: unpacks the
# bundle that scripts/gpu-bundle.sh made here, runs our executables through the bundle's own
# loader (so its glibc and libraries are used, whatever the machine's), with the machine's CUDA
# libraries (PyTorch's nvidia-* packages) on the library path, and prints one report:
#   device, parity suite (every op on cuda against the CPU, forward and gradients, float64
#   gradchecks on the device), CUDA-vs-CPU training, compute-sanitizer memcheck / racecheck on a
#   subset, 500 training steps of the Burgess beta-VAE, and the benchmark beside PyTorch.
# Exits 77 without a GPU; otherwise 0 when every stage ran (within the 4 minutes) and passed.
# Usage: scripts/gpu-check.sh [bundle.tar.xz] [report.md]
# Rehearsal without a GPU: GPU_CHECK_DEVICE=sim scripts/gpu-check.sh runs the same stages on the
# stand-in device `sim` through the same bundle and loader (no PyTorch benchmark, no sanitizer,
# time limits ×GPU_CHECK_SLOW, default 6 there), so a broken stage, filter or path shows up
# here and not in a GPU session's few minutes. Its report proves nothing about CUDA.
set -uo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${1:-.carry/gpu-bundle.tar.xz}
REPORT=${2:-${OUT:-/tmp}/gpu-report.md}
T0=$(date +%s)
exec > >(tee "$REPORT") 2>&1
TEE=$!
# bash does not wait for a process substitution: close our ends and wait for tee, so the report
# file and the captured output keep their last lines (the Summary) whatever way the script ends.
trap 'exec >&- 2>&-; wait "$TEE" 2>/dev/null' EXIT
DEV=${GPU_CHECK_DEVICE:-cuda}
case "$DEV" in
  cuda) SLOW=1 ;;
  sim) SLOW=${GPU_CHECK_SLOW:-6}; GPU_CHECK_BENCH=0
       echo "gpu-check: REHEARSAL on the stand-in device sim (GPU_CHECK_DEVICE=sim): checks the"
       echo "script, the bundle and the test filters; nothing here is a GPU result" ;;
  *) echo "gpu-check: GPU_CHECK_DEVICE must be cuda or sim, got '$DEV'"; exit 2 ;;
esac
# The whole check ends within 4 minutes of its start: each stage's limit is cut to what is left
# of DEADLINE, and a stage with under 3 s left is not run (and makes the check fail: incomplete),
# so a hung stage cannot take the device command's own limit and lose the Summary. The benchmark
# beside PyTorch uses what the other stages leave, up to BENCH_END. GPU_CHECK_SECONDS (235) moves
# the deadline (the rehearsal: ×GPU_CHECK_SLOW).
DEADLINE=$(( T0 + ${GPU_CHECK_SECONDS:-235} * SLOW ))
BENCH_END=$(( DEADLINE - 10 * SLOW ))

if [ "$DEV" = cuda ] && { ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; }; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi finds none): nothing to check"
  echo "(GPU_CHECK_DEVICE=sim rehearses the stages on the stand-in device)"
  exit 77
fi
[ -f "$BUNDLE" ] || { echo "gpu-check: no bundle at $BUNDLE (run scripts/gpu-bundle.sh where the project builds)"; exit 1; }

D=/tmp/unravel-gpu
rm -rf "$D"; mkdir -p "$D"; tar -C "$D" -xJf "$BUNDLE"
BIN=$D/bin; LIB=$D/lib
# CUDA runtime, cuBLAS and cuDNN from PyTorch's wheels; the driver from the system.
CUDALIBS=$(python3 - <<'PY'
import glob, os, importlib.util
dirs = []
try:
    import nvidia
    for root in list(nvidia.__path__):
        dirs += sorted(glob.glob(os.path.join(root, "*", "lib")))
        dirs += sorted(glob.glob(os.path.join(root, "cu13", "lib")))
except Exception:
    pass
spec = importlib.util.find_spec("torch")
if spec and spec.origin:
    dirs.append(os.path.join(os.path.dirname(spec.origin), "lib"))
print(":".join(d for d in dirs if os.path.isdir(d)))
PY
)
DRV=$(dirname "$(ldconfig -p | awk '/libcuda\.so\.1 .*x86-64/ {print $NF; exit}')" 2>/dev/null)
LP="$LIB:$CUDALIBS:${DRV:-/usr/lib/x86_64-linux-gnu}:/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib64"
export UNRAVEL_CUDA_PLUGIN=$LIB/libunravel_cuda.so
run() { "$LIB/ld-linux-x86-64.so.2" --library-path "$LP" "$@"; }
RUN="$LIB/ld-linux-x86-64.so.2 --library-path $LP"
export RUN BIN

# A doctest binary whose filter matches no test case exits 0: run them through `dt`, which fails
# then (and on a GPU, when they asserted nothing), so a renamed test or a GPU the plugin does not
# see cannot turn a stage into a vacuous pass.
dt() {
  local out rc log
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}  # streamed: a stage that times out keeps its output
  out=$(cat "$log"); rm -f "$log"
  if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q -E '\[doctest\] test cases: +0 \|'; then
    echo "gpu-check: the filter matched no test case"; return 1
  fi
  # On a GPU the stages' tests must check something: one that skipped for want of a device
  # (0 assertions) means the plugin did not see the GPU.
  if [ $rc -eq 0 ] && [ "$DEV" = cuda ] && printf '%s\n' "$out" | grep -q -E '\[doctest\] assertions: +0 \|'; then
    echo "gpu-check: the tests checked nothing (skipped: no usable GPU?)"; return 1
  fi
  return $rc
}
export -f dt
export DEV

declare -a SUMMARY
stage() {  # stage NAME TIMEOUT CMD...: runs with a time limit, records pass / fail and seconds
  local name=$1 limit=$(( $2 * SLOW )); shift 2
  local t=$(date +%s)
  local left=$(( DEADLINE - t ))
  if [ $left -lt 3 ]; then
    SUMMARY+=("| $name | NOT RUN (the check's time was spent) | 0s |")
    echo; echo "-> $name: NOT RUN (the check's time was spent)"
    return
  fi
  [ $limit -le $left ] || limit=$left
  echo; echo "## $name"; echo '```'
  timeout --kill-after=2 "$limit" "$@"; local rc=$?
  echo '```'
  local dt=$(( $(date +%s) - t ))
  local verdict=passed
  [ $rc -eq 0 ] || verdict="FAILED (exit $rc)"
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && verdict="TIMED OUT after ${limit}s"
  [ $rc -eq 77 ] && verdict="skipped"
  SUMMARY+=("| $name | $verdict | ${dt}s |")
  echo "-> $name: $verdict (${dt}s)"
}

echo "# unravel GPU check"
echo "bundle commit $(cat "$D/COMMIT"), $(date -u +%FT%TZ)"
[ "$DEV" = cuda ] && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())" 2>/dev/null
echo "CUDA libraries from: $CUDALIBS"

stage "plugin loads, device visible" 20 $RUN "$BIN/unravel" devices --require $DEV
stage "parity suite: every op on $DEV vs cpu (forward, gradients, f64 gradchecks)" 60 \
  bash -c 'dt "$@"' _ $RUN "$BIN/test_engine" -ts='device parity'
# The convolution cases again with cuDNN switched off: our direct kernels (the fallback where
# cuDNN cannot run a case) on every one of them, values and gradients (no effect on sim).
stage "parity suite: convolutions through our direct kernels (UNRAVEL_CUDA_CONV=direct)" 30 \
  bash -c 'dt "$@"' _ env UNRAVEL_CUDA_CONV=direct UNRAVEL_PARITY_ONLY=conv $RUN "$BIN/test_engine" \
  -tc='device parity: every op*'
# Again with the convolution algorithms chosen by timing each candidate (cudnn.benchmark's
# counterpart, ops/cuda/conv.cu): other algorithms, the same results within the suite's tolerance.
stage "parity suite: convolutions with timed cuDNN choice (UNRAVEL_CUDNN_BENCHMARK=1)" 30 \
  bash -c 'dt "$@"' _ env UNRAVEL_CUDNN_BENCHMARK=1 UNRAVEL_PARITY_ONLY=conv $RUN "$BIN/test_engine" \
  -tc='device parity: every op*'
stage "parity suite: optimiser steps on $DEV vs cpu" 20 \
  bash -c 'dt "$@"' _ $RUN "$BIN/test_objectives" -ts='device parity'
stage "cuda plugin test" 20 $RUN "$BIN/test_cuda_plugin"
stage "training step: cuda vs cpu, first steps" 60 bash -c 'dt "$@"' _ $RUN "$BIN/test_train_step" -tc='*cuda*'
stage "bf16 on cuda: convolutions and products on bf16-rounded operands, f32 accumulation" 30 \
  bash -c 'dt "$@"' _ $RUN "$BIN/test_ops_conv" -tc='*bf16 precision on CUDA*'
rm -rf /tmp/gpu-run-bf16
stage "200 training steps in bf16 on $DEV (conv64, dSprites)" 30 \
  $RUN "$BIN/unravel" train --dataset dsprites --arch conv64 --steps 200 --batch 64 --device $DEV \
  --precision bf16 --log-every 50 --out /tmp/gpu-run-bf16
# Micro-shards in one process: their gradients cross through NCCL (one rank; a second process
# would need a second GPU) and must give the bits of the same run through host copies
# (UNRAVEL_COLLECTIVES=host): the log's rows and every tensor of the last checkpoint.
nccl_equal() {
  local a=/tmp/gpu-nccl-device b=/tmp/gpu-nccl-host
  rm -rf "$a" "$b"
  local args=(train --dataset dsprites --arch burgess --steps 20 --batch 32 --micro-shards 4
              --device $DEV --log-every 5 --checkpoint-every 20 --seed 3 --no-tensorboard)
  $RUN "$BIN/unravel" "${args[@]}" --out "$a" > /tmp/gpu-nccl-a.txt 2>&1 || { tail /tmp/gpu-nccl-a.txt; return 1; }
  UNRAVEL_COLLECTIVES=host $RUN "$BIN/unravel" "${args[@]}" --out "$b" > /tmp/gpu-nccl-b.txt 2>&1 ||
    { tail /tmp/gpu-nccl-b.txt; return 1; }
  grep -h -m1 "micro-shards" /tmp/gpu-nccl-a.txt /tmp/gpu-nccl-b.txt
  local want=NCCL; [ "$DEV" = sim ] && want="MPI in the sim device queue"
  grep -q "gradients through $want" /tmp/gpu-nccl-a.txt || { echo "the gradients did not go through $want"; return 1; }
  grep -A6 '"data_parallel"' "$a/summary.json"
  grep -q "\"collectives\": \"$want" "$a/summary.json" || { echo "summary.json does not name $want"; return 1; }
  python3 - "$a" "$b" <<'PY'
import json, struct, sys
def rows(run):
    return [",".join(c for i, c in enumerate(l.rstrip("\n").split(",")) if i != 2)
            for l in open(f"{run}/log.csv")]
def tensors(run):
    raw = open(f"{run}/checkpoints/step-000000020.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    return {k: raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
            for k, v in head.items() if k != "__metadata__"}
a, b = sys.argv[1:3]
ra, rb = rows(a), rows(b)
ta, tb = tensors(a), tensors(b)
diff = [k for k in ta if ta[k] != tb.get(k)]
print(f"log rows {len(ra)}, equal: {ra == rb}; checkpoint tensors {len(ta)}, differing: {diff[:5]}")
sys.exit(0 if ra == rb and not diff and ta.keys() == tb.keys() else 1)
PY
}
export -f nccl_equal
stage "micro-shards through NCCL ($DEV) equal them through host copies (bits)" 60 bash -c nccl_equal
if [ "$DEV" = cuda ] && command -v compute-sanitizer >/dev/null; then
  stage "compute-sanitizer memcheck (parity subset)" 45 bash -c 'dt "$@"' _ \
    compute-sanitizer --tool memcheck --error-exitcode 3 $RUN "$BIN/test_engine" -tc='*finite-difference*'
  stage "compute-sanitizer racecheck (parity subset)" 60 bash -c 'dt "$@"' _ \
    compute-sanitizer --tool racecheck --error-exitcode 3 $RUN "$BIN/test_engine" -tc='*finite-difference*'
else
  SUMMARY+=("| compute-sanitizer | unavailable (not on PATH, or a rehearsal) | 0s |")
fi
rm -rf /tmp/gpu-run
stage "500 training steps, Burgess beta-VAE (dSprites, capacity gamma|KL-C|, batch 64), $DEV graph" 45 \
  $RUN "$BIN/unravel" train --preset burgess-dsprites --steps 500 --batch 64 --device $DEV --graph \
  --log-every 100 --checkpoint-every 500 --out /tmp/gpu-run
[ -f /tmp/gpu-run/log.csv ] && cat /tmp/gpu-run/log.csv
# dSprites stayed resident on the GPU bit-packed in the run above; Chen's MIG sums on the device
# must equal the CPU kernel's on that run's codes.
mig_on() {  # mig_on DEVICE: the run's mig_chen values as JSON on stdout
  $RUN "$BIN/unravel" eval /tmp/gpu-run --metrics mig_chen --budget smoke --device "$1" \
    --out "/tmp/gpu-mig-$1.json" >/dev/null && cat "/tmp/gpu-mig-$1.json"
}
mig_equal() {
  python3 - "$(mig_on "$DEV")" "$(mig_on cpu)" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
a, b = a.get("metrics", a), b.get("metrics", b)
keys = [k for k in b if k.startswith("mig_chen")]
bad = [k for k in keys if abs(a[k] - b[k]) > 1e-4 * max(1.0, abs(b[k]))]
print("mig_chen on the device vs cpu:", {k: (a[k], b[k]) for k in keys})
sys.exit(1 if bad or not keys else 0)
PY
}
export -f mig_on mig_equal
[ -f /tmp/gpu-run/summary.json ] && stage "MIG (Chen) on $DEV equals cpu on that run" 40 bash -c mig_equal
for b in 64 256; do
stage "GPU time per kernel family, conv64 batch $b eager (UNRAVEL_CUDA_TIMING=1)" 40 \
  env UNRAVEL_CUDA_TIMING=1 $RUN "$BIN/bench_train_step" --model conv64 --batch $b --device $DEV \
  --reps 2 --steps 20 --peak 1
done
# Does cuDNN's heuristic leave speed on the table? The same graph-replayed step with the
# heuristic's algorithms and with timed ones, side by side; the timed run prints each
# convolution's candidates and their times (UNRAVEL_CONV_VERBOSE=1).
bsteps=100 breps=3
[ "$DEV" = sim ] && bsteps=5 breps=1  # the rehearsal checks the stage runs, not its speed
for v in 0 1; do
stage "conv64 batch 64 $DEV graph, cuDNN algorithms $([ $v = 1 ] && echo timed || echo by heuristic)" 30 \
  env UNRAVEL_CUDNN_BENCHMARK=$v UNRAVEL_CONV_VERBOSE=$v $RUN "$BIN/bench_train_step" --model conv64 \
  --batch 64 --device $DEV --graph --reps $breps --steps $bsteps --peak 1
done
if [ "${GPU_CHECK_BENCH:-1}" != 0 ]; then
left=$(( BENCH_END - $(date +%s) ))
if [ $left -lt 20 ]; then
  SUMMARY+=("| benchmark beside PyTorch | NOT RUN (${left}s of the check's time left) | 0s |")
else
  stage "benchmark beside PyTorch (budget ${left}s)" $((left + 8)) \
    python3 bench/gpu_compare_pytorch.py --bench "$RUN $BIN/bench_train_step" --budget "$left" \
    --csv "${OUT:-/tmp}/gpu-bench.csv"
fi

fi
echo; echo "## Summary ($(( $(date +%s) - T0 ))s)"
echo "| stage | result | time |"; echo "|---|---|---|"
printf '%s\n' "${SUMMARY[@]}"
printf '%s\n' "${SUMMARY[@]}" | grep -q -E "FAILED|TIMED OUT|NOT RUN" && exit 1
exit 0
