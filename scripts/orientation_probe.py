#!/usr/bin/env python3
"""Where does a dSprites run's encoder lose the way a heart points?

For a run on dSprites with a conv trunk and linear layers (burgess, broadcast, …), reads the
angle of hearts (full turn, cos/sin θ, and half turn, 2θ) and of ellipses (half turn) out of
the input of every linear layer of the encoder and out of the posterior means, each with a ridge
regression (linear) and a small MLP (nonlinear), trained on all but the last 2 000 sprites (a quarter of them where there are fewer than 8 000) and
scored by held-out R². Sprites of the upper three scales, drawn at random (seed 0): 16 000
hearts, 6 000 ellipses (--hearts, --ellipses). This process draws the sprites with the `unravel`
Python module (PYTHONPATH=build/apps/python) and exports the run; a second process, which imports
torch and not our engine (each brings an OpenMP runtime, as in tests/python/test_export.py), runs
the export's `model.py` and the readouts. Measured with it: docs/main-job-research.md, "Where the
direction is lost".

Usage: scripts/orientation_probe.py RUN [--unravel build/apps/unravel] [--epochs 40]
"""
import argparse, os, subprocess, sys, tempfile

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--unravel", default="build/apps/unravel")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--hearts", type=int, default=16000)
    ap.add_argument("--ellipses", type=int, default=6000)
    ap.add_argument("--readout", help=argparse.SUPPRESS)  # internal: the torch process's folder
    a = ap.parse_args()
    if a.readout:
        return readout(a)
    import unravel
    run = unravel.Run(a.run)
    names = list(run.factor_names)
    if names != ["shape", "scale", "orientation", "posX", "posY"]:
        sys.exit(f"{a.run}: not a dSprites run (factors {names})")
    tmp = tempfile.mkdtemp(prefix="orientation-probe-")
    subprocess.run([a.unravel, "export", a.run, "--to", "torch", tmp], check=True,
                   stdout=subprocess.DEVNULL)
    rng = np.random.default_rng(0)

    def pick(shape, n):  # the official order: shape, scale, orientation, posX, posY
        scale, ori = rng.integers(3, 6, n), rng.integers(0, 40, n)
        x, y = rng.integers(0, 32, n), rng.integers(0, 32, n)
        return ((((shape * 6 + scale) * 40 + ori) * 32 + x) * 32 + y).astype(np.int64)

    for shape, name, n in [(2, "heart", a.hearts), (1, "ellipse", a.ellipses)]:
        idx = pick(shape, n)
        np.save(os.path.join(tmp, f"{name}_x.npy"), np.ascontiguousarray(run.items(idx), dtype=np.float32))
        np.save(os.path.join(tmp, f"{name}_theta.npy"), run.factors(idx)[:, 2] * 2 * np.pi / 39)  # linspace(0, 2π, 40)
    args = [sys.executable, os.path.abspath(__file__), a.run, "--readout", tmp, "--epochs", str(a.epochs)]
    sys.exit(subprocess.run(args).returncode)


def readout(a):
    import torch
    sys.path.insert(0, a.readout)
    import model  # the export's torch.nn modules
    vae = model.load()
    lins = [m for m in vae.encoder.modules() if isinstance(m, torch.nn.Linear)]
    feats = {}
    for i, m in enumerate(lins):
        m.register_forward_hook(
            lambda mod, inp, out, i=i: feats.__setitem__(i, inp[0].reshape(inp[0].shape[0], -1).numpy().copy()))
    torch.manual_seed(0)

    def standard(tr, te):  # columns constant in training (dead units) are dropped
        keep = tr.std(0) > 1e-6
        tr, te = tr[:, keep], te[:, keep]
        mu, sd = tr.mean(0), tr.std(0)
        return (tr - mu) / sd, (te - mu) / sd

    def r2(p, y):
        return 1 - ((p - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum()

    def ridge(xtr, ytr, xte, yte, lam=1e-3):
        a_, b_ = standard(xtr, xte)
        a_ = np.hstack([a_, np.ones((len(a_), 1))])
        b_ = np.hstack([b_, np.ones((len(b_), 1))])
        w = np.linalg.solve(a_.T @ a_ + lam * len(a_) * np.eye(a_.shape[1]), a_.T @ ytr)
        return r2(b_ @ w, yte)

    def mlp(xtr, ytr, xte, yte):
        a_, b_ = (torch.tensor(v, dtype=torch.float32) for v in standard(xtr, xte))
        yt = torch.tensor(ytr, dtype=torch.float32)
        net = torch.nn.Sequential(torch.nn.Linear(a_.shape[1], 256), torch.nn.ReLU(),
                                  torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 2))
        opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
        for _ in range(a.epochs):
            perm = torch.randperm(len(a_))
            for s in range(0, len(a_), 128):
                j = perm[s:s + 128]
                loss = ((net(a_[j]) - yt[j]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            return r2(net(b_).numpy(), yte)

    print(f"{'sprite':8s} {'angle':10s} {'read from':24s} {'ridge':>6s} {'mlp':>6s}")
    for name, turns in [("heart", [1, 2]), ("ellipse", [2])]:
        x = torch.from_numpy(np.load(os.path.join(a.readout, f"{name}_x.npy"))).reshape(-1, 1, 64, 64)
        theta = np.load(os.path.join(a.readout, f"{name}_theta.npy"))
        n = len(x)
        layers, mus = {}, []
        with torch.no_grad():
            for s in range(0, n, 1000):
                mu, _ = vae.encode(x[s:s + 1000])
                mus.append(mu.numpy())
                for i, v in feats.items():
                    layers.setdefault(i, []).append(v)
        cols = {f"linear {i} input ({v[0].shape[1]})": np.concatenate(v) for i, v in sorted(layers.items())}
        cols[f"code mu ({mus[0].shape[1]})"] = np.concatenate(mus)
        m = n - min(2000, n // 4)
        for k in turns:
            y = np.stack([np.cos(k * theta), np.sin(k * theta)], 1)
            for col, v in cols.items():
                print(f"{name:8s} {'full turn' if k == 1 else 'half turn':10s} {col:24s} "
                      f"{ridge(v[:m], y[:m], v[m:], y[m:]):6.3f} {mlp(v[:m], y[:m], v[m:], y[m:]):6.3f}",
                      flush=True)


if __name__ == "__main__":
    main()
