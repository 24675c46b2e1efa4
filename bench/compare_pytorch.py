#!/usr/bin/env python3
"""Side-by-side training speed: unravel's bench_train_step against PyTorch (issue 7).

PyTorch is a benchmark comparison only, never a dependency. This script builds the IDENTICAL
models in PyTorch (layer for layer: models/architectures.cpp "conv64", "fashion28", "broadcast",
"pinwheel-mlp" with a fixed-scale N(·, 1) likelihood), the same loss (beta-vae objective, β = 4:
mean over the batch of β·KL(q‖N(0, I)) − log p(x|z), Bernoulli logits summed over pixels), the
same step (forward, KL read back, loss read back, zero_grad, backward, Adam lr 1e-3) on a fixed
random batch, and runs both in alternation in one invocation: every configuration, every thread
count, for --rounds rounds, each measurement in a fresh process (so peak RSS and start-up are
per configuration). The table compares each side's median over rounds: ours at the engine's
default thread count (OMP_NUM_THREADS unset) and at 1 thread, PyTorch at 1 and 2 threads, and
the ratio ours-default / PyTorch's best thread count. Per workload it also prints PyTorch's
achieved GFLOP/s (its best rate × the FLOPs per step that bench_train_step reports in its CSV)
as a fraction of the sgemm peak, and the ceiling ratio = peak / PyTorch's GFLOP/s: the best ratio
any engine could reach running at 100% of the peak. A target above its ceiling cannot be met on
this machine, and the script says so.

Environment, as in /shared/reference/baseline.md: both sides run with
MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296; PyTorch runs with
OPENBLAS_CORETYPE unset (its best), unravel with the caller's environment (what users have).

Usage: bench/compare_pytorch.py [--bench build-i/bench/bench_train_step] [--python PY]
                                 [--rounds 3] [--reps 3] [--only conv64-64,...] [--csv out.csv]
                                 [--extra compile,bf16]
The script itself needs no torch: it looks for a python with torch in --python, $TORCH_PYTHON,
.venv-bench/bin/python, /usr/bin/python3, in that order.
"""
import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import time

# name, model, mode, batch, target ratio (ours / PyTorch best), target fraction of sgemm peak
CONFIGS = [
    ("conv64-64", "conv64", "train", 64, 4.0, 0.45),
    ("conv64-256", "conv64", "train", 256, 5.0, None),
    ("fashion28-128", "fashion28", "train", 128, 3.0, None),
    ("broadcast-64", "broadcast", "train", 64, 1.0, None),  # the main job's net
    ("pinwheel-128", "pinwheel", "train", 128, 5.0, None),
    ("conv64-encode-1024", "conv64", "encode", 1024, 1.5, 0.60),
]
# FLOPs per step come from bench_train_step's CSV (column flops_per_step), one source of truth.

# --------------------------------------------------------------------------------------------
# The PyTorch models (layer for layer as models/architectures.cpp), their loss and the fixed batch,
# as source text that needs torch, nn and F in scope: the worker below runs it in its child
# process, bench/gpu_compare_pytorch.py gets the same definitions through torch_models().
MODELS = r'''
def conv(i, o): return nn.Conv2d(i, o, 4, 2, 1)
def deconv(i, o): return nn.ConvTranspose2d(i, o, 4, 2, 1)

class SpatialBroadcast(nn.Module):
    def __init__(self, h, w):
        super().__init__()
        xs, ys = torch.linspace(-1.0, 1.0, w), torch.linspace(-1.0, 1.0, h)
        self.register_buffer("coords", torch.stack([xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w)])[None])

    def forward(self, z):
        n, d = z.shape
        h, w = self.coords.shape[2], self.coords.shape[3]
        return torch.cat([z[:, :, None, None].expand(n, d, h, w), self.coords.expand(n, 2, h, w)], 1)

class Vae(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.name = name
        if name == "conv64":
            self.D = 10
            self.trunk = nn.Sequential(conv(1, 32), nn.ReLU(), conv(32, 32), nn.ReLU(), conv(32, 64), nn.ReLU(),
                                       conv(64, 64), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(),
                                       nn.Linear(256, 256), nn.ReLU())
            self.head = nn.Linear(256, 2 * self.D)
            self.dec = nn.Sequential(nn.Linear(10, 256), nn.ReLU(), nn.Linear(256, 1024), nn.ReLU(),
                                     nn.Unflatten(1, (64, 4, 4)), deconv(64, 64), nn.ReLU(), deconv(64, 32),
                                     nn.ReLU(), deconv(32, 32), nn.ReLU(), deconv(32, 1))
            self.shape = (1, 64, 64)
        elif name == "broadcast":  # Burgess et al.'s encoder, spatial broadcast decoder
            self.D = 10
            self.trunk = nn.Sequential(conv(1, 32), nn.ReLU(), conv(32, 32), nn.ReLU(), conv(32, 32), nn.ReLU(),
                                       conv(32, 32), nn.ReLU(), nn.Flatten(), nn.Linear(512, 256), nn.ReLU(),
                                       nn.Linear(256, 256), nn.ReLU())
            self.head = nn.Linear(256, 2 * self.D)
            self.dec = nn.Sequential(SpatialBroadcast(16, 16), nn.Conv2d(12, 32, 3, 1, 1), nn.ReLU(),
                                     nn.Conv2d(32, 32, 3, 1, 1), nn.ReLU(), deconv(32, 32), nn.ReLU(),
                                     deconv(32, 1))
            self.shape = (1, 64, 64)
        elif name == "fashion28":
            self.D = 50
            self.trunk = nn.Sequential(conv(1, 32), nn.ReLU(), conv(32, 64), nn.ReLU(), nn.Flatten(),
                                       nn.Linear(3136, 256), nn.ReLU())
            self.head = nn.Linear(256, 2 * self.D)
            self.dec = nn.Sequential(nn.Linear(50, 256), nn.ReLU(), nn.Linear(256, 3136), nn.ReLU(),
                                     nn.Unflatten(1, (64, 7, 7)), deconv(64, 32), nn.ReLU(), deconv(32, 1))
            self.shape = (1, 28, 28)
        else:  # pinwheel-mlp, fixed-scale Gaussian decoder
            self.D = 2
            self.trunk = nn.Sequential(nn.Linear(2, 100), nn.ReLU())
            self.head = nn.Linear(100, 2)
            self.scale_head = nn.Linear(100, 2)
            self.dec = nn.Sequential(nn.Linear(2, 100), nn.ReLU(), nn.Linear(100, 2))
            self.shape = (2,)

    def encode(self, x):
        h = self.trunk(x)
        if self.name == "pinwheel":
            mu = self.head(h)
            scale = F.softplus(self.scale_head(h)) + 1e-6
            return mu, 2.0 * torch.log(scale), scale
        both = self.head(h)
        mu, logvar = both[:, :self.D], both[:, self.D:]
        return mu, logvar, torch.exp(0.5 * logvar)

    def step_loss(self, x, beta=4.0, read_kl=True):
        mu, logvar, scale = self.encode(x)
        z = mu + scale * torch.randn_like(mu)
        out = self.dec(z)
        kl = 0.5 * (mu * mu + scale * scale - 1.0 - logvar).sum(1)
        if read_kl:  # the controller reads the batch KL, as unravel's train loop does
            with torch.no_grad():
                kl.mean().item()
        if self.name == "pinwheel":
            rec = (-0.5 * (x - out) ** 2 - 0.5 * 1.8378770664093453).sum(1)
        else:
            rec = -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum((1, 2, 3))
        return (beta * kl - rec).mean()

def make_batch(model, batch):
    """The fixed random batch: N(0, 1) points for pinwheel, Bernoulli(0.5) pixels otherwise."""
    gen = torch.Generator().manual_seed(7)
    shape = (batch,) + model.shape
    return torch.randn(shape, generator=gen) if model.name == "pinwheel" else torch.bernoulli(torch.full(shape, 0.5), generator=gen)
'''


def torch_models():
    """(Vae, make_batch) from MODELS, for a caller that can import torch."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    ns = {"torch": torch, "nn": nn, "F": F}
    exec(MODELS, ns)
    return ns["Vae"], ns["make_batch"]


# --------------------------------------------------------------------------------------------
# The PyTorch side (runs in a child process with torch importable).
WORKER = r'''
import os, sys, time, resource
T0 = time.monotonic()
def since_process_start():
    with open("/proc/self/stat") as f:
        s = f.read()
    start_ticks = int(s[s.rfind(")") + 2:].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
import torch
import torch.nn as nn
import torch.nn.functional as F

model_name, mode, batch, threads, reps, first_only = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
variant = sys.argv[7] if len(sys.argv) > 7 else "eager"   # eager | compile | autocast
torch.set_num_threads(threads)
torch.manual_seed(42)
''' + MODELS + r'''
model = Vae(model_name)
x = make_batch(model, batch)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)

loss_fn = torch.compile(model.step_loss) if variant == "compile" else model.step_loss

def step():
    if variant == "autocast":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(x)
    else:
        loss = loss_fn(x)
    v = loss.item()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return v

def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

if first_only:
    step()
    print("first,%.3f,%.4f,%.1f" % (since_process_start(), time.monotonic() - T0, rss_mib()))
    sys.exit(0)

if mode == "train":
    first = step()
    for _ in range(19):
        last = step()
    assert last < first, "loss did not decrease: %g -> %g" % (first, last)
    fn = step
else:
    model.eval()
    enc = torch.compile(model.encode) if variant == "compile" else model.encode
    def fn():
        with torch.no_grad():
            if variant == "autocast":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return enc(x)[0]
            return enc(x)[0]
    for _ in range(2):
        fn()
t = time.perf_counter(); fn(); dt = time.perf_counter() - t
steps = max(3, int(0.5 / max(dt, 1e-6)) + 1)
rates = []
for _ in range(reps):
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    rates.append(steps / (time.perf_counter() - t))
rates.sort()
print("rate,%.4f,%.4f,%.4f,%.1f,%d,%s" % (rates[len(rates) // 2], rates[0], rates[-1], rss_mib(), steps, torch.__version__))
'''


def find_torch_python(explicit):
    cands = [explicit, os.environ.get("TORCH_PYTHON"),
             os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".venv-bench", "bin", "python"),
             "/usr/bin/python3"]
    for c in cands:
        if not c or not os.path.exists(c):
            continue
        if subprocess.run([c, "-c", "import torch"], capture_output=True).returncode == 0:
            return c
    return None


def child_env(torch_side, threads):
    env = dict(os.environ)
    env["MALLOC_MMAP_THRESHOLD_"] = "1073741824"
    env["MALLOC_TRIM_THRESHOLD_"] = "4294967296"
    if torch_side:
        env.pop("OPENBLAS_CORETYPE", None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    else:
        env.pop("OMP_NUM_THREADS", None)
    return env


def run(cmd, env):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p.stdout


def ours(bench, cfg, threads, reps, peak, first=False, precision="fp32"):
    name, model, mode, batch = cfg[:4]
    cmd = [bench, "--model", model, "--batch", str(batch), "--reps", str(reps), "--precision", precision]
    if first:
        out = run([bench, "--first-step", "--model", model, "--batch", str(batch)], child_env(False, threads))
        row = list(csv.DictReader(io.StringIO(out)))[0]
        return float(row["first_step_s_since_process_start"]), float(row["peak_rss_mib"])
    if mode == "encode":
        cmd.append("--encode")
    if peak:
        cmd += ["--peak", str(peak)]
    out = run(cmd, child_env(False, threads))
    row = list(csv.DictReader(io.StringIO(out)))[0]
    return dict(rate=float(row["steps_s_median"]), rss=float(row["peak_rss_mib"]),
                peak=float(row["sgemm_peak_gflops"]), flops=float(row["flops_per_step"]))


def theirs(py, cfg, threads, reps, first=False, variant="eager"):
    name, model, mode, batch = cfg[:4]
    out = run([py, "-c", WORKER, model, mode, str(batch), str(threads), str(reps), "1" if first else "0", variant],
              child_env(True, threads))
    f = out.strip().splitlines()[-1].split(",")
    if first:
        return float(f[1]), float(f[3])
    return dict(rate=float(f[1]), rss=float(f[4]), version=f[6])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "bench", "bench_train_step"))
    ap.add_argument("--python", default=None, help="python with torch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated config names")
    ap.add_argument("--csv", default="", help="write every measurement here")
    ap.add_argument("--extra", default="", help="comma-separated extra columns, at the engine's default "
                    "threads and PyTorch's 2: compile (torch.compile of the step), bf16 (ours --precision "
                    "bf16 and PyTorch's torch.autocast('cpu', torch.bfloat16); needs AVX512-BF16 or AMX)")
    a = ap.parse_args()
    extra = [e for e in a.extra.split(",") if e]
    for e in extra:
        if e not in ("compile", "bf16"):
            sys.exit("--extra: unknown column '%s' (valid: compile, bf16)" % e)
    py = find_torch_python(a.python)
    if py is None:
        sys.exit("no python with torch found (try: python3 -m venv .venv-bench && .venv-bench/bin/pip install torch, "
                 "or apt install python3-torch)")
    if not os.path.exists(a.bench):
        sys.exit("bench_train_step not found at %s (build it, or pass --bench)" % a.bench)
    cfgs = [c for c in CONFIGS if not a.only or c[0] in a.only.split(",")]
    load0 = os.getloadavg()
    print("# torch python: %s; bench: %s; load average at start %.2f %.2f %.2f" % ((py, a.bench) + load0),
          flush=True)
    peak, peaks = None, []   # the sgemm peak: best over rounds (a loaded round measures low)
    # (side, cfg name, threads) -> list of per-round median rates; rss likewise
    rates, rss = {}, {}
    flops = {}                # cfg name -> FLOPs per step (from bench_train_step)
    version = "?"
    ours_threads = [0, 1]     # 0 = the engine's default (OMP_NUM_THREADS unset)
    torch_threads = [1, 2]
    for r in range(a.rounds):
        for cfg in cfgs:
            for t in ours_threads:
                m = ours(a.bench, cfg, t, a.reps, None)
                if t == 0:
                    peaks.append(m["peak"])
                flops[cfg[0]] = m["flops"]
                rates.setdefault(("ours", cfg[0], t), []).append(m["rate"])
                rss.setdefault(("ours", cfg[0], t), []).append(m["rss"])
            for t in torch_threads:
                m = theirs(py, cfg, t, a.reps)
                version = m["version"]
                rates.setdefault(("torch", cfg[0], t), []).append(m["rate"])
                rss.setdefault(("torch", cfg[0], t), []).append(m["rss"])
            if "compile" in extra:
                rates.setdefault(("torch-compile", cfg[0], 2), []).append(theirs(py, cfg, 2, a.reps, variant="compile")["rate"])
            if "bf16" in extra:
                rates.setdefault(("ours-bf16", cfg[0], 0), []).append(ours(a.bench, cfg, 0, a.reps, None, precision="bf16")["rate"])
                rates.setdefault(("torch-autocast", cfg[0], 2), []).append(theirs(py, cfg, 2, a.reps, variant="autocast")["rate"])
            print("# round %d %s: ours %s | torch %s" % (
                r + 1, cfg[0],
                " ".join("%s=%.2f" % ("default" if t == 0 else "%dt" % t, rates[("ours", cfg[0], t)][-1]) for t in ours_threads),
                " ".join("%dt=%.2f" % (t, rates[("torch", cfg[0], t)][-1]) for t in torch_threads)), flush=True)
    peak = max(peaks) if peaks else None
    # Start-up: a fresh process to the first finished step (conv64, batch 64).
    first_ours = [ours(a.bench, CONFIGS[0], 0, 1, None, first=True)[0] for _ in range(a.rounds)]
    first_torch = [theirs(py, CONFIGS[0], 1, 1, first=True)[0] for _ in range(a.rounds)]
    load1 = os.getloadavg()

    med = statistics.median
    rows = []
    out = sys.stdout
    print("\n## unravel vs PyTorch %s (medians over %d rounds; load average %.2f at start, %.2f at end)\n"
          % (version, a.rounds, load0[0], load1[0]))
    print("| workload | ours default (steps/s) | ours 1 thread | PyTorch 1 thread | PyTorch 2 threads | "
          "ratio (ours default / PyTorch best) | target | met? | ours % of sgemm peak | "
          "PyTorch best GFLOP/s (% of peak) | ceiling ratio (peak / PyTorch) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    over_ceiling = []
    for cfg in cfgs:
        name, model, mode, batch, target, peak_target = cfg
        od, o1 = med(rates[("ours", name, 0)]), med(rates[("ours", name, 1)])
        t1, t2 = med(rates[("torch", name, 1)]), med(rates[("torch", name, 2)])
        best = max(t1, t2)
        ratio = od / best
        frac = od * flops[name] * 1e-9 / peak if peak else 0.0
        torch_gflops = best * flops[name] * 1e-9
        ceiling = peak / torch_gflops if peak and torch_gflops > 0 else float("inf")
        met = ratio >= target and (peak_target is None or frac >= peak_target)
        tgt = "≥ %.1f×" % target + (" and ≥ %d%% peak" % round(100 * peak_target) if peak_target else "")
        print("| %s | %.2f [%s] | %.2f | %.2f | %.2f | %.2f× | %s | %s | %.1f%% | %.1f (%.1f%%) | %.2f× |" % (
            name, od, ", ".join("%.2f" % v for v in rates[("ours", name, 0)]), o1, t1, t2, ratio, tgt,
            "yes" if met else "no", 100 * frac, torch_gflops, 100 * torch_gflops / peak if peak else 0.0,
            ceiling))
        if target > ceiling:
            over_ceiling.append((name, target, ceiling))
        rows.append((name, od, o1, t1, t2, ratio, frac, torch_gflops, ceiling))
    r_ours = max(med(rss[("ours", c[0], 0)]) for c in cfgs if c[0] == "conv64-64") if any(
        c[0] == "conv64-64" for c in cfgs) else None
    if r_ours is not None:
        r_torch = min(med(rss[("torch", "conv64-64", t)]) for t in torch_threads)
        print("| peak RSS conv64 batch 64 (MiB) | %.0f | %.0f | %.0f | %.0f | %.2f× | ≤ 0.5× | %s | |" % (
            r_ours, med(rss[("ours", "conv64-64", 1)]), med(rss[("torch", "conv64-64", 1)]),
            med(rss[("torch", "conv64-64", 2)]), r_ours / r_torch, "yes" if r_ours <= 0.5 * r_torch else "no"))
    print("| first step from process start, conv64 b64 (s) | %.3f | | %.3f | | %.2f× | ≤ 0.2 s | %s | |" % (
        med(first_ours), med(first_torch), med(first_ours) / med(first_torch),
        "yes" if med(first_ours) <= 0.2 else "no"))
    if extra:
        print("\n| workload | ours fp32 | PyTorch eager (best) | %s |" % " | ".join(
            (["torch.compile 2 threads", "ours / compile"] if "compile" in extra else []) +
            (["ours bf16", "PyTorch autocast bf16 2 threads", "ours bf16 / autocast", "ours bf16 / ours fp32"]
             if "bf16" in extra else [])))
        print("|---|---|---|%s" % ("---|" * ((2 if "compile" in extra else 0) + (4 if "bf16" in extra else 0))))
        for cfg in cfgs:
            name = cfg[0]
            od = med(rates[("ours", name, 0)])
            best = max(med(rates[("torch", name, t)]) for t in torch_threads)
            cells = []
            if "compile" in extra:
                tc = med(rates[("torch-compile", name, 2)])
                cells += ["%.2f" % tc, "%.2f×" % (od / tc)]
            if "bf16" in extra:
                ob, ta = med(rates[("ours-bf16", name, 0)]), med(rates[("torch-autocast", name, 2)])
                cells += ["%.2f" % ob, "%.2f" % ta, "%.2f× (target ≥ 2×)" % (ob / ta), "%.2f× (target ≥ 2×)" % (ob / od)]
            print("| %s | %.2f | %.2f | %s |" % (name, od, best, " | ".join(cells)))
    print("\nsgemm peak (1024³ dnnl_sgemm, default threads, best over rounds): %.1f GFLOP/s" % (peak or 0))
    for name, target, ceiling in over_ceiling:
        print("%s: the target %.1f× exceeds the ceiling %.2f× (peak / PyTorch's GFLOP/s): not reachable "
              "here even at 100%% of the sgemm peak" % (name, target, ceiling))
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("side,config,threads,round,steps_s,peak_rss_mib\n")
            for (side, name, t), v in sorted(rates.items()):
                mib = rss.get((side, name, t), [])  # the extra columns record no RSS
                for i, x in enumerate(v):
                    f.write("%s,%s,%s,%d,%.4f,%s\n" % (side, name, t if t else "default", i + 1, x,
                                                     "%.1f" % mib[i] if i < len(mib) else ""))


if __name__ == "__main__":
    main()
