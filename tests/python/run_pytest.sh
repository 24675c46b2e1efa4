#!/usr/bin/env bash
# `meson test python`: runs tests/python with pytest in the project's venv (scripts/pyenv.sh,
# created on first use). Meson passes UNRAVEL_EXE (the CLI), UNRAVEL_PYTHONPATH (the build
# folder holding the `unravel` extension module, empty when the build has none) and
# UNRAVEL_BUILD_ROOT. Ends with pytest's own "N passed, N failed" line, which scripts/test.sh adds
# to the doctest counts.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
py="$(bash "$src/scripts/pyenv.sh")"
# Our extension and Debian's torch each bring an OpenMP runtime; tests import torch only in
# their own subprocesses, and the engine's threads sleep while waiting (2 cores, shared).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
export PYTHONDONTWRITEBYTECODE=1
cd "$src/tests/python"
exec "$py" -m pytest -p no:cacheprovider -q -rs "$@" .
