#!/usr/bin/env bash
# The main job from a fresh clone: installs missing packages, builds, trains a β-TCVAE (Chen et
# al. 2018) on the built-in procedural dSprites, and writes the figures (latent traversals,
# reconstructions, training traces, a heat map of which latent carries which factor) and the
# tables behind them (CSV) to out/.
# At --budget quick (the default) that is Burgess et al.'s encoder with a spatial broadcast
# decoder for about 4 minutes on two cores; --budget paper trains the paper's MLP at batch 2048
# for 50 epochs.
# Usage: scripts/run.sh [--budget smoke|quick|paper] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
budget=quick
out=out
while (($#)); do
  case "$1" in
    --budget) budget="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: scripts/run.sh [--budget smoke|quick|paper] [--out DIR]" >&2; exit 2 ;;
  esac
done
bash scripts/deps.sh
if [ ! -f build/build.ninja ]; then meson setup build --buildtype=release; fi
ninja -C build
mkdir -p "$out"
start=$(date +%s)
for fig in chen-tcvae; do
  echo "== unravel reproduce $fig --budget $budget --out $out/$fig"
  ./build/apps/unravel reproduce "$fig" --budget "$budget" --out "$out/$fig"
done
echo "done in $(( $(date +%s) - start )) s; figures and tables in $out/"
ls -1 "$out"/*/*.png
