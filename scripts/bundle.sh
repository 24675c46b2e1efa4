#!/usr/bin/env bash
# A relocatable copy of `unravel` for the compute nodes of a cluster, which lack Debian's oneDNN,
# OpenBLAS, fmt, libpng, plplot ...: DEST/bin/unravel and DEST/lib/ with libunravel, the CUDA
# plugin where built, and every library they load except the C library family (libc, libm,
# libdl, libpthread, librt, the loader), which the node's own glibc provides (it must be at least
# as new as this machine's: $(ldd --version | head -1)). RUNPATH is set to $ORIGIN/../lib with
# patchelf, so the folder works from any path (a shared file system), and
# `unravel sweep run --executor slurm --unravel DEST/bin/unravel` makes the tasks use it.
# plplot's pngcairo driver is copied too, so figures (collect --plot) work on a node.
# Usage: scripts/bundle.sh DEST [build-dir]   (default build dir: build)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:?usage: scripts/bundle.sh DEST [build-dir]}
B=${2:-build}
[ -f "$B/build.ninja" ] || { echo "bundle: $B is not a configured build directory" >&2; exit 1; }
command -v patchelf >/dev/null || { echo "bundle: patchelf is missing (apt-get install patchelf)" >&2; exit 1; }
ninja -C "$B" apps/unravel >/dev/null
mkdir -p "$DEST/bin" "$DEST/lib"
cp "$B/apps/unravel" "$DEST/bin/"
cp "$B/libunravel.so" "$DEST/lib/"
[ -f "$B/ops/cuda/libunravel_cuda.so" ] && cp "$B/ops/cuda/libunravel_cuda.so" "$DEST/lib/"
drivers=$(pkg-config --variable=drvdir plplot 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/plplot5.15.0/drivers)
if [ -d "$drivers" ]; then
  mkdir -p "$DEST/lib/plplot-drivers"
  cp "$drivers"/cairo.* "$DEST/lib/plplot-drivers/" 2>/dev/null || true
fi
for f in "$DEST"/bin/unravel "$DEST"/lib/*.so "$DEST"/lib/plplot-drivers/*.so; do
  [ -f "$f" ] || continue
  LD_LIBRARY_PATH="$B:$B/ops/cuda" ldd "$f" 2>/dev/null | awk '/=>/ {print $3}'
done | sort -u | grep -v -E '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*)\.so|libcuda\.so|libcudart|libcublas|libcudnn|libnv|^$|not' |
  while read -r lib; do
    [ -f "$lib" ] || continue
    case "$(basename "$lib")" in libunravel*) continue ;; esac
    cp -L "$lib" "$DEST/lib/"
  done
patchelf --set-rpath '$ORIGIN/../lib' "$DEST/bin/unravel"
for l in "$DEST"/lib/*.so*; do patchelf --set-rpath '$ORIGIN' "$l" 2>/dev/null || true; done
git rev-parse HEAD > "$DEST/COMMIT" 2>/dev/null || echo unknown > "$DEST/COMMIT"
echo "bundle: $DEST ($(du -sh "$DEST" | cut -f1), $(ls "$DEST/lib" | wc -l) libraries); run $DEST/bin/unravel"
