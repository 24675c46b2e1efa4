"""`unravel export RUN --to torch DIR`, checked in PyTorch.

For each architecture a tiny run is encoded by the CLI (`unravel encode --limit 64 --items
--recon`: mu.npy, logvar.npy, the items as the encoder saw them in x.npy and the decoder's output
at mu in recon.npy) and exported; a separate Python process that sees only the export folder,
torch and safetensors (python -I, sys.path[0] = DIR, and `unravel` must not be importable) loads
DIR/model.py and runs the encoder on x.npy and the decoder on mu.npy in eval mode.

Why x.npy: it holds the items exactly as our encoder saw them (dSprites rendered, Fashion-MNIST
resized to 32x32 and clamped), so the comparison cannot be blurred by a second implementation of
a dataset pipeline. Why a subprocess: torch and our engine each bring an OpenMP runtime; this
process never imports torch.

Tolerance 1e-5 (absolute; the decoder's output relative to its largest value, logits can reach
tens): both sides compute the same float32 formulas, so only the summation order of the GEMM and
convolution kernels differs (oneDNN / OpenBLAS here, torch's own there): a few float32 ulps per
layer, ~1e-7..1e-6 measured on values of order 1. A real mismatch (a transposed weight, BatchNorm
in training mode, a missing bias, another sigma parameterisation) is 1e-3 or more.
"""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

TOL = 1e-5

# Runs in the subprocess: argv = export dir, encode dir. Prints the max |diff| of each output.
CHECK = r"""
import importlib.util, json, sys
exp, enc = sys.argv[1], sys.argv[2]
sys.path.insert(0, exp)
assert importlib.util.find_spec("unravel") is None, "the unravel module must not be reachable"
import numpy as np
import torch
import model
torch.set_num_threads(1)
vae = model.load(exp)
assert not vae.training
arr = lambda name: torch.from_numpy(np.load(f"{enc}/{name}.npy"))
with torch.no_grad():
    mu, logvar = vae.encode(arr("x"))
    out = vae.decode(arr("mu"))
res = {"mu": (mu - arr("mu")).abs().max().item(),
       "logvar": (logvar - arr("logvar")).abs().max().item()}
if isinstance(out, tuple):
    out, log_scale = out
    res["log_scale"] = (log_scale - arr("log_scale")).abs().max().item()
res["recon"] = (out - arr("recon")).abs().max().item()
res["recon_max"] = arr("recon").abs().max().item()
res["bn_batches"] = [int(m.num_batches_tracked) for m in vae.modules()
                     if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
print(json.dumps(res))
"""


# Tiny runs of the architectures the shared fixtures (conftest.py) do not cover, trained on
# first use: (dataset, latents, steps). dcgan32 (BatchNorm, LeakyReLU, no biases) runs 3 steps, so
# its running statistics have moved from their initial values; mathieu-dsprites has two heads and
# sigma = exp(h/2) + 1e-6; konny-h a valid 4x4 convolution to 1x1 and a ReLU after Unflatten;
# broadcast the spatial broadcast (latents tiled with coordinate planes, a helper class in torch).
TINY = {
    "higgins-mlp": ("dsprites", 4, 2),
    "dcgan32": ("fashion-mnist", 4, 3),
    "mathieu-dsprites": ("dsprites", 4, 2),
    "konny-h": ("dsprites", 4, 2),
    "broadcast": ("dsprites", 4, 2),
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    made = {}

    def make(arch):
        if arch not in made:
            dataset, latents, steps = TINY[arch]
            out = tmp_path_factory.mktemp("runs") / arch
            run_cli("train", "--dataset", dataset, "--arch", arch, "--latents", latents,
                    "--steps", steps, "--batch", "4", "--log-every", "1", "--seed", "4",
                    "--out", out)
            made[arch] = out
        return made[arch]

    return make


def export_and_check(run, tmp_path):
    enc, exp = tmp_path / "enc", tmp_path / "torch"
    run_cli("encode", run, "--out", enc, "--limit", "64", "--items", "--recon")
    p = run_cli("export", run, "--to", "torch", exp)
    assert "exported" in p.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["OMP_NUM_THREADS"] = "1"
    c = subprocess.run([sys.executable, "-I", "-c", CHECK, str(exp), str(enc)],
                       capture_output=True, text=True, env=env)
    assert c.returncode == 0, c.stderr
    return exp, json.loads(c.stdout.strip().splitlines()[-1])


# arch → (latents, the batches each BatchNorm layer's statistics saw)
CASES = {
    "burgess": (6, []),  # conftest's dsprites_run
    "pinwheel-mlp": (2, []),  # conftest's pinwheel_run: learned-scale Gaussian, mixture prior
    "higgins-mlp": (4, []),
    "dcgan32": (4, [3] * 5),
    "mathieu-dsprites": (4, []),
    "konny-h": (4, []),
    "broadcast": (4, []),
}


@pytest.mark.parametrize("arch", list(CASES))
def test_torch_export_matches_encode(arch, request, tiny_run, tmp_path):
    latents, bn_batches = CASES[arch]
    shared = {"burgess": "dsprites_run", "pinwheel-mlp": "pinwheel_run"}
    run = request.getfixturevalue(shared[arch]) if arch in shared else tiny_run(arch)
    exp, d = export_and_check(run, tmp_path)
    print(f"\n{arch}: max |diff| " + ", ".join(f"{k} {v:.3g}" for k, v in d.items()
                                             if k not in ("recon_max", "bn_batches")))
    assert d["mu"] <= TOL and d["logvar"] <= TOL, d
    assert d["recon"] <= TOL * max(1.0, d["recon_max"]), d
    if arch == "pinwheel-mlp":  # the learned-scale likelihood: the decoder's second output
        assert d["log_scale"] <= TOL, d
    else:
        assert "log_scale" not in d
    assert d["bn_batches"] == bn_batches  # eval mode on the trained running statistics

    cfg = json.loads((exp / "config.json").read_text())
    assert cfg["architecture"] == arch and cfg["latents"] == latents
    assert cfg["learned_scale"] == (arch == "pinwheel-mlp")
    assert cfg["source"]["run"] == str(Path(run).resolve())
    assert cfg["source"]["step"] == json.loads(Path(run, "summary.json").read_text())["steps"]
    # model.py imports torch (and os; safetensors inside load()) and nothing else.
    tree = ast.parse((exp / "model.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"os", "collections", "torch", "torch.nn", "torch.nn.functional",
                        "safetensors.torch"}, imported
    # The pinwheel's mixture prior has tensors: written beside the model, named as in the run.
    assert (exp / "prior.safetensors").exists() == (arch == "pinwheel-mlp")


def test_export_refuses_bad_arguments(dsprites_run, tmp_path):
    p = run_cli("export", dsprites_run, "--to", "onnx", tmp_path / "a", check=False)
    assert p.returncode != 0 and "unknown target 'onnx' for --to (valid: torch)" in p.stderr
    assert not (tmp_path / "a").exists()

    notrun = tmp_path / "notrun"
    notrun.mkdir()
    p = run_cli("export", notrun, "--to", "torch", tmp_path / "b", check=False)
    assert p.returncode != 0 and "is not a run directory" in p.stderr

    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    p = run_cli("export", dsprites_run, "--to", "torch", full, check=False)
    assert p.returncode != 0 and "is not empty; pass --force" in p.stderr
    assert sorted(os.listdir(full)) == ["keep.txt"]
    run_cli("export", dsprites_run, "--to", "torch", full, "--force")
    assert sorted(os.listdir(full)) == ["config.json", "keep.txt", "model.py", "model.safetensors"]

    # Never into the run itself, --force or not: its config.json would be replaced.
    before = Path(dsprites_run, "config.json").read_text()
    p = run_cli("export", dsprites_run, "--to", "torch", dsprites_run, "--force", check=False)
    assert p.returncode != 0 and "is the run directory itself" in p.stderr
    assert Path(dsprites_run, "config.json").read_text() == before
