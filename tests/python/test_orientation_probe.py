"""scripts/orientation_probe.py: the readout of dSprites angles from every encoder layer.

Run on the shared 40-step burgess run with few sprites and epochs: every layer gets a row per
angle, R² values are at most 1, and the angles are the right ones — the ellipse's axis is read
linearly from the conv features (untrained conv features already hold it: R² 0.68 at the
script's defaults), and a heart's direction (full turn) is harder to read there than its axis
(half turn). A wrong factor column or angle scale makes both readouts ~0.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

if not os.environ.get("UNRAVEL_PYTHONPATH"):
    pytest.skip("UNRAVEL_PYTHONPATH is not set (run through meson test)", allow_module_level=True)
pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "orientation_probe.py"


def test_orientation_probe_reads_the_angles_from_every_layer(dsprites_run, unravel_exe):
    env = dict(os.environ, PYTHONPATH=os.environ["UNRAVEL_PYTHONPATH"], OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, str(SCRIPT), str(dsprites_run), "--unravel", unravel_exe,
                        "--hearts", "2000", "--ellipses", "2000", "--epochs", "2"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = {}
    for line in p.stdout.splitlines()[1:]:
        sprite, turn, _, rest = line[:8].strip(), line[9:19].strip(), line[20:44], line[44:].split()
        layer = line[20:44].strip()
        rows[(sprite, turn, layer)] = (float(rest[0]), float(rest[1]))
    layers = sorted({k[2] for k in rows})
    assert any(l.startswith("code mu (6)") for l in layers), layers
    assert len([l for l in layers if l.startswith("linear")]) >= 2, layers
    assert len(rows) == 3 * len(layers), p.stdout
    for k, (ridge, mlp) in rows.items():
        assert ridge <= 1 and mlp <= 1, (k, ridge, mlp)
    conv = next(l for l in layers if l.startswith("linear 0"))
    assert rows[("ellipse", "half turn", conv)][0] > 0.5, p.stdout
    assert rows[("heart", "full turn", conv)][0] < rows[("heart", "half turn", conv)][0], p.stdout
