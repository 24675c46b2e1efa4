#!/usr/bin/env python3
"""GPU training speed, side by side: unravel's bench_train_step --device cuda against PyTorch.

The PyTorch models, loss and batch are compare_pytorch.py's (torch_models(): the identical
conv64 Burgess 64x64 beta-VAE and pinwheel MLP VAE, beta = 4, Adam lr 1e-3, a fixed random
batch), so both sides run the same full step: forward, loss, backward, optimiser step.
Configurations: conv64 at batch 64 and 256, pinwheel at batch 128 (bench_train_step's default).
PyTorch variants: eager fp32, torch.compile (default mode; the forward and loss are compiled,
backward through AOTAutograd, Adam stays eager with its CUDA default foreach kernels), eager
bf16 autocast. Ours: fp32, and --precision bf16 (reported as "refused: ..." where ours says it
cannot). Nothing is read back from the device in the timed steps on either side: PyTorch ends
each repetition with torch.cuda.synchronize(); ours reads the loss only at log steps too (none
while timing) and synchronises the device at the end of each repetition.

The whole run aims at --budget seconds (from start-up): the fp32/bf16 measurements come first,
sized to leave a share for torch.compile, whose configurations run last and are skipped
("skipped: budget") when too little time is left; a compile still running at the end of the
budget is interrupted. Inductor / Triton caches go to /tmp.

Usage (scripts/gpu-check.sh): bench/gpu_compare_pytorch.py --bench "LOADER --library-path LP
  .../bench_train_step" [--budget 120] [--csv out.csv] [--json out.json] [--only conv64-64,...]
Exit status: 77 without torch or CUDA; 1 when our fp32 benchmark failed; 0 otherwise.
"""
import argparse
import csv
import io
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import time
import warnings

T0 = time.monotonic()
HERE = os.path.dirname(os.path.abspath(__file__))
for _k, _v in (("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_unravel"),
               ("TRITON_CACHE_DIR", "/tmp/triton_unravel")):
    os.environ.setdefault(_k, _v)

CONFIGS = [("conv64-64", "conv64", 64), ("conv64-256", "conv64", 256), ("pinwheel-128", "pinwheel", 128)]
LABELS = {"conv64": "conv64 β-VAE", "pinwheel": "pinwheel MLP"}
VARIANTS = ["ours", "ours-graph", "ours-bf16", "eager", "compile", "bf16"]
PAPER_STEPS = 300000      # Higgins et al.'s training length; the issue asks for under 5 minutes
TORCH_REPS = 3
OURS_OVERHEAD, TORCH_OVERHEAD = 3.0, 1.0   # rough seconds of start-up / warm-up per measurement
COMPILE_NEED = {"conv64": 25.0, "pinwheel": 12.0}   # least budget left to try a compile
COMPILE_SHARE = 0.45      # of the budget kept for the torch.compile configurations
COMPILE_ORDER = ["conv64-64", "pinwheel-128", "conv64-256"]   # pinwheel's compile is the quick one


class BudgetExceeded(BaseException):   # not an Exception: torch's handlers must not wrap it
    pass


def left(deadline):
    return deadline - time.monotonic()


def result(status, msg="", rates=None, steps=0, reps=0):
    r = dict(status=status, msg=msg, median=None, min=None, max=None, steps=steps, reps=reps)
    if rates:
        r.update(median=statistics.median(rates), min=min(rates), max=max(rates))
    return r


def error_text(text, n=220):
    """What to show of a failed program's stderr: an uncaught exception's what(), or its tail."""
    if "what():" in text:   # an uncaught exception: its message, from the start
        msg = " ".join(l.strip() for l in text.split("what():", 1)[1].splitlines() if l.strip())
        msg = msg.replace("|", "/")
        return msg if len(msg) <= n else msg[:n] + "…"
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    msg = " ".join(lines[-4:]).replace("|", "/")
    return msg if len(msg) <= n else "…" + msg[-n:]


def run_ours(bench, device, model, batch, precision, reps, timeout, graph=False):
    cmd = bench + ["--model", model, "--batch", str(batch), "--device", device, "--precision", precision,
                   "--reps", str(reps), "--peak", "1"] + (["--graph"] if graph else [])   # --peak: skip the CPU sgemm peak measurement
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return result("failed", "timed out after %.0f s" % timeout)
    except OSError as e:
        return result("failed", "%s: %s" % (cmd[0], e))
    if p.returncode != 0:
        msg = error_text(p.stderr or p.stdout)
        if precision != "fp32" and "precision" in p.stderr and ("cannot" in p.stderr or "unknown" in p.stderr):
            return result("refused", msg)
        try:
            how = "exit %d" % p.returncode if p.returncode > 0 else signal.Signals(-p.returncode).name
        except ValueError:
            how = "exit %d" % p.returncode
        return result("failed", "%s: %s" % (how, msg or "nothing on stderr"))
    lines = p.stdout.splitlines()
    head = [i for i, l in enumerate(lines) if l.startswith("model,mode,")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[head[0]:])))) if head else []
    if not rows:
        return result("failed", "no CSV row in its output: " + error_text(p.stdout + p.stderr))
    r = rows[0]
    return dict(status="ok", msg="", median=float(r["steps_s_median"]), min=float(r["steps_s_min"]),
                max=float(r["steps_s_max"]), steps=int(r["steps_per_rep"]), reps=int(r["reps"]))


def run_torch(torch, dev, models, model_name, batch, variant, slice_fn):
    """Builds a fresh model, warms up (20 steps, which must lower the loss; the compile happens in
    the first), then times TORCH_REPS repetitions sized so that together they last slice_fn()."""
    Vae, make_batch = models
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.manual_seed(42)
    model = Vae(model_name).to(dev)
    x = make_batch(model, batch).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss_fn(x):
        return model.step_loss(x, read_kl=False)   # no host read of the KL (ours has none either)
    if variant == "compile":
        torch._dynamo.reset()
        loss_fn = torch.compile(loss_fn)
    if variant == "bf16":
        def step():
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                loss = loss_fn(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
    else:
        def step():
            loss = loss_fn(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
    first = step().item()
    for _ in range(19):
        last = step()
    last = last.item()
    if not (math.isfinite(last) and last < first):
        return result("failed", "loss did not decrease over 20 steps (%.5g -> %.5g)" % (first, last))
    slice_s = slice_fn()
    sync()
    k = 1
    while True:   # calibration: k steps long enough to time
        t = time.perf_counter()
        for _ in range(k):
            step()
        sync()
        dt = time.perf_counter() - t
        if dt >= min(0.1, slice_s / 10) or k >= 1 << 16:
            break
        k *= 4
    n = max(3, int(slice_s / TORCH_REPS / (dt / k)))
    rates = []
    for _ in range(TORCH_REPS):   # the timed loop: no host reads, one synchronize at the end
        t = time.perf_counter()
        for _ in range(n):
            loss = step()
        sync()
        rates.append(n / (time.perf_counter() - t))
    if not math.isfinite(loss.item()):
        return result("failed", "loss became %s" % loss.item())
    return result("ok", rates=rates, steps=n, reps=TORCH_REPS)


def fmt_rate(v):
    return "%.0f" % v if v >= 1000 else "%.1f" % v if v >= 100 else "%.2f" % v


def cell(r):
    if r is None:
        return "—"
    if r["status"] == "ok":
        return fmt_rate(r["median"]) + (" (%s)" % r["msg"] if r["msg"] else "")
    return "%s: %s" % (r["status"], r["msg"]) if r["msg"] else r["status"]


def cell_bf16(r, fp32):   # ours bf16: "as fp32" rather than the same failure twice
    if r and fp32 and r["status"] == fp32["status"] == "failed" and r["msg"] == fp32["msg"]:
        return "failed, as fp32"
    return cell(r)


def ratio(a, b):
    if a and b and a["status"] == "ok" and b["status"] == "ok":
        return "%.2f×" % (a["median"] / b["median"])
    return "—"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(HERE, "..", "build", "bench", "bench_train_step"),
                    help="command (prefix) that runs bench_train_step; split like a shell would")
    ap.add_argument("--budget", type=float, default=120.0, help="total seconds to aim for (default 120)")
    ap.add_argument("--only", default="", help="comma-separated configs: " + ",".join(c[0] for c in CONFIGS))
    ap.add_argument("--csv", default="", help="write the measurements here")
    ap.add_argument("--json", default="", help="write the measurements and versions here")
    ap.add_argument("--torch-tf32", action="store_true",
                    help="leave PyTorch's TF32 defaults (convolutions in TF32); default: strict fp32 on "
                         "both sides, as ours computes without UNRAVEL_ALLOW_TF32=1")
    ap.add_argument("--our-device", default="cuda", help="--device for bench_train_step (default cuda)")
    ap.add_argument("--torch-device", default="cuda", help=argparse.SUPPRESS)   # cpu: to test this script
    a = ap.parse_args()
    deadline = T0 + a.budget
    bench = shlex.split(a.bench)
    cfgs = [c for c in CONFIGS if not a.only or c[0] in a.only.split(",")]
    if not cfgs:
        sys.exit("--only selects none of " + ",".join(c[0] for c in CONFIGS))
    try:
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        import torch
    except ImportError as e:
        print("gpu_compare_pytorch: PyTorch is not importable (%s): nothing to compare against" % e)
        sys.exit(77)
    if a.torch_device == "cuda" and not torch.cuda.is_available():
        print("gpu_compare_pytorch: torch %s sees no CUDA device (torch.cuda.is_available() is False): "
              "nothing to measure" % torch.__version__)
        sys.exit(77)
    sys.path.insert(0, HERE)
    from compare_pytorch import torch_models
    models = torch_models()
    dev = torch.device(a.torch_device)
    if dev.type == "cuda":
        torch.zeros(1, device=dev)   # CUDA context up front, not inside the first measurement
        device_name = torch.cuda.get_device_name(dev)
    else:
        device_name = "CPU (%s), a test of this script only" % (platform.processor() or platform.machine())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not a.torch_tf32:   # the same arithmetic as ours: fp32 products, no TF32 tensor cores
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        tf32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    meta = dict(device=device_name, torch=torch.__version__, cuda=torch.version.cuda,
                cudnn=torch.backends.cudnn.version() if dev.type == "cuda" else None,
                python=platform.python_version(), budget_s=a.budget, bench=a.bench, our_device=a.our_device,
                cudnn_allow_tf32=tf32[0], matmul_allow_tf32=tf32[1])
    print("# %s; torch %s (CUDA %s, cuDNN %s); startup %.1f s of a %.0f s budget" % (
        device_name, meta["torch"], meta["cuda"], meta["cudnn"], time.monotonic() - T0, a.budget), flush=True)

    res = {}   # (config name, variant) -> result

    def note(name, variant, r):
        res[(name, variant)] = r
        print("# %-13s %-9s %s" % (name, variant, cell(r) + (" [%s–%s], %d reps × %d steps" % (
            fmt_rate(r["min"]), fmt_rate(r["max"]), r["reps"], r["steps"]) if r["status"] == "ok" else "")),
            flush=True)

    # Phase 1: ours and PyTorch eager fp32 for every config, then bf16 (PyTorch's, ours); each
    # measurement sized to share the budget less the compile share.
    basic = [(c, v) for group in (("ours", "ours-graph", "eager"), ("bf16", "ours-bf16")) for c in cfgs
             for v in group]
    reserve = COMPILE_SHARE * max(0.0, left(deadline))

    def slice_for(i):
        rest = basic[i:]
        overhead = sum(OURS_OVERHEAD if v.startswith("ours") else TORCH_OVERHEAD for _, v in rest)
        return min(3.0, max(0.25, (left(deadline) - reserve - overhead) / len(rest)))

    def on_alarm(signum, frame):
        raise BudgetExceeded()
    signal.signal(signal.SIGALRM, on_alarm)

    def guarded(model, batch, variant, slice_fn):   # a PyTorch measurement, stopped at the deadline
        t = time.monotonic()
        signal.alarm(max(1, int(left(deadline))))
        try:
            r = run_torch(torch, dev, models, model, batch, variant, slice_fn)
            if variant == "compile" and r["status"] == "ok":
                r["msg"] = "compile + warm-up %.0f s" % (time.monotonic() - t)
        except BudgetExceeded:
            r = result("skipped", "budget (stopped at the deadline after %.0f s)" % (time.monotonic() - t))
        except Exception as e:   # e.g. an op without a bf16 kernel, a compiler error: its first lines
            lines = [l.strip() for l in str(e).splitlines() if l.strip()][:2]
            r = result("failed", error_text("%s: %s" % (type(e).__name__, " ".join(lines)), 300))
            if left(deadline) < 1:   # the alarm, wrapped by torch
                r = result("skipped", "budget (stopped at the deadline after %.0f s)" % (time.monotonic() - t))
        finally:
            signal.alarm(0)
        return r

    slices = []
    for i, ((name, model, batch), variant) in enumerate(basic):
        need = OURS_OVERHEAD if variant.startswith("ours") else TORCH_OVERHEAD
        if left(deadline) < need:
            note(name, variant, result("skipped", "budget"))
            continue
        s = slice_for(i)
        slices.append(s)
        if variant.startswith("ours"):
            reps = min(9, max(3, round(s / 0.5)))   # bench_train_step calibrates each rep to >= 0.5 s
            note(name, variant, run_ours(bench, a.our_device, model, batch,
                                         "bf16" if variant == "ours-bf16" else "fp32", reps,
                                         max(1.0, min(left(deadline), max(20.0, 4 * (s + need)))),
                                         graph=variant == "ours-graph"))
        else:
            note(name, variant, guarded(model, batch, variant, lambda: s))
    slice_basic = statistics.median(slices) if slices else 1.0

    # Phase 2: torch.compile, last, each only when enough budget is left; interrupted at the deadline.
    for name, model, batch in sorted(cfgs, key=lambda c: COMPILE_ORDER.index(c[0])):
        if left(deadline) < COMPILE_NEED[model]:
            note(name, "compile", result("skipped", "budget"))
            continue
        note(name, "compile", guarded(model, batch, "compile",
                                      lambda: min(slice_basic, max(0.25, left(deadline) - 3.0))))

    # Report.
    elapsed = time.monotonic() - T0
    print("\n## unravel vs PyTorch, training steps/s on %s\n" % device_name)
    print("torch %s, CUDA %s, cuDNN %s, Python %s; ours: `bench_train_step --device %s`; %.0f s of a %.0f s "
          "budget. PyTorch: Adam foreach, cudnn.allow_tf32=%s (True: its fp32 convolutions run in TF32), "
          "matmul allow_tf32=%s; torch.compile default mode on forward + loss. Medians over the reps; the "
          "same full step on a fixed random batch, nothing read back while timing.\n" % (
              meta["torch"], meta["cuda"], meta["cudnn"], meta["python"], a.our_device, elapsed, a.budget,
              tf32[0], tf32[1]))
    print("| config | ours steps/s | ours CUDA graph | torch eager | torch.compile | torch bf16 | ours bf16 | "
          "ours/eager | ours graph/eager | ours graph/compile |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, model, batch in cfgs:
        g = lambda v: res.get((name, v))
        print("| %s, batch %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABELS[model], batch, cell(g("ours")), cell(g("ours-graph")), cell(g("eager")), cell(g("compile")),
            cell(g("bf16")), cell_bf16(g("ours-bf16"), g("ours")), ratio(g("ours"), g("eager")),
            ratio(g("ours-graph"), g("eager")), ratio(g("ours-graph"), g("compile"))))
    extrapolation = None
    for name, model, batch in cfgs:
        o, e = res.get((name, "ours-graph")), res.get((name, "eager"))
        if not o or o["status"] != "ok":
            o = res.get((name, "ours"))
        if model != "pinwheel" or not o or o["status"] != "ok":
            continue
        extrapolation = PAPER_STEPS / o["median"] / 60
        print("\npinwheel MLP, batch %d (an extrapolation from the steady-state steps/s above, no data loading, "
              "logging or evaluation): %s steps at ours' %s steps/s would take %.2f min; the paper's %s steps "
              "under 5 min needs ≥ %.0f steps/s: %s.%s" % (
                  batch, "300 000", fmt_rate(o["median"]), extrapolation, "300 000", PAPER_STEPS / 300,
                  "met" if extrapolation < 5 else "not met", "" if not e or e["status"] != "ok" else
                  " (PyTorch eager: %.2f min.)" % (PAPER_STEPS / e["median"] / 60)))
    meta.update(elapsed_s=round(elapsed, 1), pinwheel_300k_steps_minutes=extrapolation)
    rows = [dict(config=n, model=m, batch=b, variant=v, **res[(n, v)]) for n, m, b in cfgs for v in VARIANTS
            if (n, v) in res]
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["config", "model", "batch", "variant", "status", "steps_s_median", "steps_s_min",
                        "steps_s_max", "steps_per_rep", "reps", "message"])
            for r in rows:
                w.writerow([r["config"], r["model"], r["batch"], r["variant"], r["status"],
                            *("" if r[k] is None else "%.4f" % r[k] for k in ("median", "min", "max")),
                            r["steps"], r["reps"], r["msg"]])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(meta, results=rows), f, indent=1)
    return 1 if any(res.get((n, "ours"), {}).get("status") == "failed" for n, _, _ in cfgs) else 0


if __name__ == "__main__":
    sys.exit(main())
