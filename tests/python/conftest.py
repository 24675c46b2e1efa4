"""Shared fixtures of the Python tests (run by tests/python/run_pytest.sh under `meson test`).

The runs here are trained once per session by the `unravel` CLI into a temporary folder: a small
burgess β-VAE on dSprites (images, factors) and a pinwheel MLP run (learned-scale Gaussian).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _exe():
    exe = os.environ.get("UNRAVEL_EXE")
    if not exe or not Path(exe).exists():
        pytest.exit("UNRAVEL_EXE is not set to the built `unravel` CLI (run through `meson test`)", 2)
    return exe


@pytest.fixture(scope="session")
def unravel_exe():
    return _exe()


def run_cli(*args, check=True, env=None, cwd=None):
    """Runs the CLI; returns the CompletedProcess (text). Fails the test with its stderr."""
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    if env:
        e.update(env)
    p = subprocess.run([_exe(), *map(str, args)], capture_output=True, text=True, env=e, cwd=cwd)
    if check and p.returncode != 0:
        pytest.fail(f"unravel {' '.join(map(str, args))} exited {p.returncode}:\n{p.stderr}")
    return p


@pytest.fixture(scope="session")
def dsprites_run(tmp_path_factory):
    """A burgess β-VAE trained 40 steps on dSprites (batch 16), checkpoint every 20 steps."""
    out = tmp_path_factory.mktemp("runs") / "bvae"
    run_cli("train", "--dataset", "dsprites", "--arch", "burgess", "--beta", "4", "--latents", "6",
            "--steps", "40", "--batch", "16", "--log-every", "5", "--checkpoint-every", "20",
            "--seed", "3", "--out", out)
    return out


@pytest.fixture(scope="session")
def pinwheel_run(tmp_path_factory):
    """The pinwheel MLP (learned-scale Gaussian likelihood) trained 60 steps."""
    out = tmp_path_factory.mktemp("runs") / "pinwheel"
    run_cli("train", "--preset", "mathieu-pinwheel", "--steps", "60", "--log-every", "10",
            "--seed", "2", "--out", out)
    return out


def read_log(run):
    """log.csv as (header, rows of floats)."""
    lines = Path(run, "log.csv").read_text().strip().splitlines()
    header = lines[0].split(",")
    return header, [[float(v) for v in l.split(",")] for l in lines[1:]]
