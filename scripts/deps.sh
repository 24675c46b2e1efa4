#!/usr/bin/env bash
# Installs the Debian packages unravel needs, only those missing. Root or sudo required when
# something is missing. Used by scripts/run.sh and scripts/test.sh.
set -euo pipefail
PKGS=(meson ninja-build pkg-config g++ libopenblas-dev libdnnl-dev libfmt-dev doctest-dev
      libcli11-dev nlohmann-json3-dev libpng-dev libzip-dev zlib1g-dev
      libplplot-dev plplot-driver-cairo dataset-fashion-mnist)
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
