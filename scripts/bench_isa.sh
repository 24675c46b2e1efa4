#!/usr/bin/env bash
# The ISA variants of the CPU loops side by side (engine/README.md "CPU instruction sets"):
#  1. bench_ops --isa: hot loops (ReLU grad, Adam, exp, softplus...) under every variant this CPU
#     runs, interleaved in one process; µs per call and the speed-ups.
#  2. the conv64 (Burgess) training step at batch 64, one process per variant
#     (UNRAVEL_CPU_ISA=base|avx2|avx512), the variants interleaved for ROUNDS rounds; steps/s
#     median per variant over the rounds and the ratios, with the machine's steal time.
# Never run by the tests: the machines are shared, quote medians and ratios only.
# Usage: scripts/bench_isa.sh [BUILD_DIR] [ROUNDS]   (default build, 3)
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print "CPU: " $2}'
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bench/bench_ops" --isa "$out/ops.csv" > /dev/null
echo "== hot loops (bench_ops --isa; 1M f32 elements; µs per call, medians of 3 rounds × 7)"
column -s, -t < "$out/ops.csv"

isas=$(UNRAVEL_CPU_ISA=auto "$build/bench/bench_train_step" --first-step --model pinwheel 2>&1 >/dev/null |
  sed -n 's/.*this CPU runs \(.*\))/\1/p' | tr -d ',')
read_stat() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t}' /proc/stat; }
s0=$(read_stat)
for r in $(seq "$rounds"); do
  for isa in $isas; do
    UNRAVEL_CPU_ISA=$isa "$build/bench/bench_train_step" --model conv64 --batch 64 --reps 3 \
      --peak 1 --csv "$out/train_${isa}_$r.csv" > /dev/null 2>&1
  done
done
s1=$(read_stat)
steal=$(echo "$s0 $s1" | awk '{d = $4 - $2; printf "%.1f", (d > 0) ? 100 * ($3 - $1) / d : 0}')
echo "== conv64 (Burgess) batch 64 training step, steps/s: median over $rounds rounds (each the"
echo "   median of 3 reps), variants interleaved, one process each; steal over the runs: $steal%;"
echo "   load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "$rounds" $isas <<'PY'
import csv, statistics, sys
out, rounds, isas = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
med = {}
for isa in isas:
    v = []
    for r in range(1, rounds + 1):
        with open(f"{out}/train_{isa}_{r}.csv") as f:
            row = next(csv.DictReader(f))
            assert row["cpu_isa"] == isa, (row["cpu_isa"], isa)
            v.append(float(row["steps_s_median"]))
    med[isa] = statistics.median(v)
    print(f"  {isa:7s} {med[isa]:7.2f} steps/s  (rounds: {', '.join(f'{x:.2f}' for x in v)})")
for a, b in (("avx2", "base"), ("avx512", "base"), ("avx512", "avx2")):
    if a in med and b in med:
        print(f"  {a}/{b}: {med[a] / med[b]:.3f}")
PY
