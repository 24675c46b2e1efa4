#!/usr/bin/env bash
# Installs the Debian packages unravel needs, only those missing. Root or sudo required when
# something is missing. Used by scripts/run.sh and scripts/test.sh.
set -euo pipefail
# The Python module and its tests (issue 23) need the build's Python: Debian's /usr/bin/python3.
PKGS=(meson ninja-build pkg-config g++ libopenblas-dev libdnnl-dev libfmt-dev doctest-dev
      libcli11-dev nlohmann-json3-dev libpng-dev libzip-dev zlib1g-dev
      libjpeg62-turbo-dev libhdf5-dev
      libplplot-dev plplot-driver-cairo dataset-fashion-mnist libtomlplusplus-dev
      # A real single-node Slurm for the sweep tests (scripts/slurm-local.sh).
      slurm-wlm munge
      # Data-parallel training (`mpirun -np N unravel train`, engine/dist) and its tests.
      openmpi-bin libopenmpi-dev
      # The Python module and its tests (scripts/pyenv.sh adds tensorboard and safetensors).
      python3-dev python3-venv pybind11-dev libdlpack-dev python3-numpy python3-pytest
      python3-torch python3-matplotlib
      # ThreadSanitizer on the CPU loops' OpenMP regions (scripts/tsan.sh): LLVM's libomp and
      # its Archer tool stand in for libgomp, which TSan cannot see into.
      libomp-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "unravel: installing missing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
