#!/usr/bin/env bash
# The project's Python environment for the Python tests: .venv/ in the source root, a venv of
# Debian's /usr/bin/python3 with --system-site-packages (numpy, pytest, matplotlib and Debian's
# CPU-only python3-torch 1.13 come from Debian: PyPI's Linux torch wheels are CUDA builds of
# several GB) plus two small PyPI packages that Debian lacks in a usable version: tensorboard
# (its event reader checks our event files) and safetensors (the exported model's loader).
# Kept between runs; rebuilt only when a package is missing. Prints the interpreter's path.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
need=(tensorboard safetensors)
if [ ! -x "$py" ] || ! "$py" -c "import tensorboard, safetensors, numpy, pytest" 2>/dev/null; then
  echo "unravel: creating .venv (Debian python3 + pip: ${need[*]})" >&2
  /usr/bin/python3 -m venv --system-site-packages .venv >&2
  "$py" -m pip install -q --disable-pip-version-check "${need[@]}" >&2
fi
echo "$PWD/$py"
