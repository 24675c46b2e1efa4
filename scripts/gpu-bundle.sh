#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a lent GPU machine into one compressed, git-ignored
# archive (.carry/gpu-bundle.tar.xz, well under the 64 MiB that may travel): our executables,
# libunravel.so, the CUDA plugin, and every non-system library they load (oneDNN, OpenBLAS, fmt,
# libpng, ... and this machine's glibc, libstdc++ and loader, so they run on any x86-64 Linux),
# never the CUDA libraries (cudart, cuBLAS, cuDNN, the driver), which that machine has.
# Usage: scripts/gpu-bundle.sh [build-dir]   (default: build; configured with the cuda feature)
# GPU_BUNDLE=path writes the archive elsewhere, GPU_BUNDLE_XZ=N sets xz's level (default 6; the
# rehearsal in scripts/test.sh uses 0: fast, larger, never travels).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
[ -f "$B/build.ninja" ] || { echo "gpu-bundle: $B is not a configured build directory" >&2; exit 1; }
[ -f "$B/ops/cuda/build.ninja" ] || true
ninja -C "$B" >/dev/null
[ -f "$B/ops/cuda/libunravel_cuda.so" ] || { echo "gpu-bundle: $B has no CUDA plugin (configure with -Dcuda=enabled where nvcc, cuBLAS and cuDNN are installed)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
exes=("$B/apps/unravel" "$B/bench/bench_train_step" "$B"/tests/test_*)
for e in "${exes[@]}"; do [ -x "$e" ] && [ -f "$e" ] && cp "$e" "$stage/bin/"; done
cp "$B/libunravel.so" "$B/ops/cuda/libunravel_cuda.so" "$stage/lib/"
# Every library the executables and the plugin load, minus CUDA's own and the kernel's vDSO.
for f in "$stage"/bin/* "$stage"/lib/*.so; do
  LD_LIBRARY_PATH="$B:$B/ops/cuda" ldd "$f" 2>/dev/null | awk '/=>/ {print $3} /ld-linux/ {print $1}'
done | sort -u | grep -v -E 'libcuda\.so|libcudart|libcublas|libcudnn|libnv|^$|not' |
  while read -r lib; do
    [ -f "$lib" ] || continue
    case "$(basename "$lib")" in libunravel*) continue ;; esac
    cp -L "$lib" "$stage/lib/"
  done
# plplot loads its output drivers at run time; the GPU check writes no figures, so none travel.
strip --strip-unneeded "$stage"/bin/* "$stage"/lib/libunravel*.so 2>/dev/null || true
git rev-parse HEAD > "$stage/COMMIT" 2>/dev/null || echo unknown > "$stage/COMMIT"
out=${GPU_BUNDLE:-.carry/gpu-bundle.tar.xz}
mkdir -p "$(dirname "$out")"
tar -C "$stage" -cf - . | xz -T2 "-${GPU_BUNDLE_XZ:-6}" > "$out"
size=$(stat -c %s "$out")
echo "gpu-bundle: $out $((size / 1024 / 1024)) MiB ($(ls "$stage/bin" | wc -l) executables, $(ls "$stage/lib" | wc -l) libraries)"
[ "$size" -lt $((60 * 1024 * 1024)) ] || [ -n "${GPU_BUNDLE:-}" ] ||
  { echo "gpu-bundle: over 60 MiB: cannot travel" >&2; exit 1; }
