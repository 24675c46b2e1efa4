"""`unravel sweep` (local worker pool and a real Slurm), run-directory locks, and resuming.

The Slurm tests need the single-node cluster that scripts/test.sh starts (scripts/slurm-local.sh;
SLURM_CONF in the environment); without it they skip and say so.
"""
import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import run_cli

BETAS, SEEDS, LATENTS = ["1.0", "2.0"], [1, 2, 3], [2, 3]


def sweep_file(path, out, steps=60, extra=""):
    path.write_text(f"""# 12 tiny pinwheel runs
name = "t"
out = "{out}"
[base]
preset = "mathieu-pinwheel"
steps = {steps}
log_every = 10
checkpoint_every = {max(steps // 6, 1)}
[grid]
beta = [{", ".join(BETAS)}]
seed = [{", ".join(map(str, SEEDS))}]
[[zip]]
latents = [{", ".join(map(str, LATENTS))}]
prior = ["iso", "iso"]
{extra}""")
    return path


def collect(out):
    run_cli("sweep", "collect", out, check=False)  # exit code 1 while runs are unfinished
    with open(Path(out) / "collect.csv") as f:
        return {r["run"]: r for r in csv.DictReader(f)}


def finals(rows):
    """The columns that must not depend on how a run was scheduled (not its wall time)."""
    return {name: {k: v for k, v in r.items() if k != "seconds"} for name, r in rows.items()}


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    f = sweep_file(d / "s.toml", "out")
    p = run_cli("sweep", "run", f, "--no-measure")
    return f, d / "out", p


def test_local_sweep_equals_training_by_hand(local_sweep, tmp_path):
    f, out, p = local_sweep
    assert "12 of 12 runs done" in p.stderr
    rows = collect(out)
    assert len(rows) == 12 and all(r["state"] == "done" for r in rows.values())
    by_hand = {}
    for r in rows.values():
        d = tmp_path / r["run"]
        run_cli("train", "--preset", "mathieu-pinwheel", "--steps", 60, "--log-every", 10,
                "--checkpoint-every", 10, "--beta", r["beta"], "--seed", r["seed"],
                "--latents", r["latents"], "--prior", r["prior"], "--out", d)
        by_hand[r["run"]] = json.loads((d / "summary.json").read_text())["final"]
    for name, r in rows.items():
        for k, v in by_hand[name].items():
            assert r[f"final.{k}"] == f"{v:.9g}", (name, k)


def test_resubmitting_a_finished_sweep_trains_nothing(local_sweep):
    f, out, _ = local_sweep
    before = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/summary.json")}
    p = run_cli("sweep", "run", f, "--no-measure")
    assert "12 already done, 0 to train" in p.stderr
    assert before == {p: p.stat().st_mtime_ns for p in out.glob("runs/*/summary.json")}
    status = run_cli("sweep", "status", out).stdout
    assert "12 runs: 12 done, 0 running, 0 partial, 0 pending, 0 failed" in status


def test_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path):
    full = sweep_file(tmp_path / "full.toml", "full", steps=1200)
    run_cli("sweep", "run", full, "--no-measure")
    f = sweep_file(tmp_path / "killed.toml", "killed", steps=1200)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    parent = subprocess.Popen([os.environ["UNRAVEL_EXE"], "sweep", "run", str(f), "--no-measure"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    runs = tmp_path / "killed" / "runs"
    deadline = time.time() + 60
    # Kill once some runs have finished and others are mid-way (a checkpoint, no summary).
    while time.time() < deadline:
        done = list(runs.glob("*/summary.json"))
        mid = [d for d in runs.glob("*") if list(d.glob("checkpoints/*")) and not (d / "summary.json").exists()]
        if done and mid:
            break
        time.sleep(0.02)
    holders = [json.loads((d / ".lock").read_text())["pid"] for d in runs.glob("*") if (d / ".lock").exists()]
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert holders, "no task was running when the sweep was killed"
    time.sleep(0.5)
    for pid in holders:  # the workers died with their parent (PR_SET_PDEATHSIG)
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    status = run_cli("sweep", "status", tmp_path / "killed").stdout
    assert "partial" in status and "done" in status
    p = run_cli("sweep", "run", f, "--no-measure")
    assert "12 of 12 runs done" in p.stderr
    got, want = finals(collect(tmp_path / "killed")), finals(collect(tmp_path / "full"))
    assert got == want, run_cli("sweep", "status", tmp_path / "killed").stdout + p.stderr


def test_a_failing_task_is_reported_and_the_others_finish(tmp_path):
    f = sweep_file(tmp_path / "s.toml", "out", extra="[[override]]\nwhere = { seed = 3 }\nlr = 1e30\n")
    p = run_cli("sweep", "run", f, "--no-measure", check=False)
    assert p.returncode == 1
    assert "8 of 12 runs done, 4 failed" in p.stderr  # the 4 runs of seed 3
    assert p.stderr.count("sweep: failed:") == 4 and "exit code 3; log " in p.stderr
    log = p.stderr.split("exit code 3; log ")[1].split()[0]
    assert "the loss is not finite" in Path(log).read_text()
    assert "8 done, 0 running, 0 partial, 0 pending, 4 failed" in run_cli("sweep", "status", tmp_path / "out").stdout


@pytest.mark.parametrize("body, message", [
    ("[base]\nstepz = 3\n[grid]\nseed = [1]\n", r"line 2: unknown key 'stepz'"),
    ("[base]\nsteps = 3\n[grid]\nseed = []\n", r"line 4: axis 'seed' is empty"),
    ("[base]\nsteps = \"ten\"\n[grid]\nseed = [1]\n", r"line 2: steps must be an integer, got a string"),
    ("[grid]\nseed = [1, 1]\n", r"runs \{seed=1\} and \{seed=1\} have the same effective configuration"),
    ("[grid]\nseed = [1]\n[[zip]]\nlr = [1e-3]\nbatch = [16, 32]\n", r"line 5: zip axis 'batch' has 2 values but 'lr' has 1"),
    ("[grid]\nseed = 1\n", r"line 2: axis 'seed' must be a list"),
    ("colour = 3\n", r"line 1: unknown key 'colour'"),
    ("[base]\nsteps = 3\n[grid\n", r"line 3"),
    ("[grid]\nseed = [1]\n[[override]]\nwhere = { beta = 2 }\nsteps = 5\n", r"line 4: override where 'beta' is not an axis"),
    ("[base]\nlatents = 0\n[grid]\nseed = [1]\n", r"line 2: latents must be an integer of at least 1, got 0"),
    ("[base]\nmicro_shards = 0\n[grid]\nseed = [1]\n", r"line 2: micro_shards must be an integer of at least 1, got 0"),
    ("[base]\nbeta = -1\n[grid]\nseed = [1]\n", r"run \{seed=1\}: constant: beta must be >= 0"),
    ("[base]\ndata_seed = -1\n[grid]\nseed = [1]\n", r"line 2: data_seed must be a whole number >= 0, got -1"),
])
def test_bad_sweep_files_are_refused_naming_the_line(tmp_path, body, message):
    import re
    f = tmp_path / "bad.toml"
    f.write_text('out = "o"\n' + body if not body.startswith("colour") else body)
    p = run_cli("sweep", "plan", f, "--no-measure", check=False)
    assert p.returncode == 2, p.stderr
    # the first line of the file is `out = ...`: line numbers count it
    want = message if body.startswith("colour") else re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) + 1}", message)
    assert re.search(want, p.stderr), p.stderr
    assert not (tmp_path / "o").exists()  # nothing planned, nothing submitted


def test_run_names_persist_and_a_schedule_is_part_of_them(tmp_path):
    """Run names are hashes of the effective config: the names below were printed by the version
    before `lr_schedule` existed (5d1dd9d), so a sweep submitted then still finds its runs; a
    schedule, given as a table like the other parameter maps, names other runs."""
    body = '[base]\npreset = "mathieu-pinwheel"\nsteps = 60\n{}[grid]\nseed = [1, 2]\n'

    def names(extra):
        f = tmp_path / "s.toml"
        f.write_text('name = "g"\nout = "o"\n' + body.format(extra))
        out = run_cli("sweep", "plan", f, "--no-measure").stdout
        return [line.split()[1] for line in out.splitlines() if line.split()[-1:] == ["pending"]]

    assert names("") == ["5a28fdfec4", "1afd68635d"]
    cosine = names('lr_schedule = "cosine"\nlr_schedule_params.min = 1e-5\n')
    assert len(cosine) == 2 and not set(cosine) & {"5a28fdfec4", "1afd68635d"}
    assert names('lr_schedule = "cosine"\n[base.lr_schedule_params]\nmin = 1e-5\n') == cosine
    # data_seed (the batch order alone) is part of a name only where it differs from the seed.
    assert names('data_seed = 1\n') == ["5a28fdfec4", names('data_seed = 1\n')[1]]
    assert names('data_seed = 1\n')[1] != "1afd68635d"


def test_two_writers_of_one_run_directory_are_refused(tmp_path):
    d = tmp_path / "r"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = subprocess.Popen([os.environ["UNRAVEL_EXE"], "train", "--preset", "mathieu-pinwheel",
                              "--steps", "400000", "--checkpoint-every", "100", "--out", str(d)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 30
        while not list(d.glob("checkpoints/*")) and time.time() < deadline:
            time.sleep(0.05)
        p = run_cli("train", "--resume", d, check=False)
        assert p.returncode == 2
        assert f"is being written by another process (host {os.uname().nodename}, pid {first.pid})" in p.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The holder is dead now: its lock is stale and is taken over with a message.
    p = run_cli("train", "--resume", d, "--steps", 300, check=False)
    assert f"taking over the stale lock of {d} (its holder, host {os.uname().nodename}, pid {first.pid}" in p.stderr
    assert p.returncode == 0 and not (d / ".lock").exists()


def test_killed_reproduce_resumes_to_the_same_result(tmp_path):
    run_cli("reproduce", "mathieu-pinwheel", "--budget", "smoke", "--out", tmp_path / "a")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # SIGKILL at a moment when a run has a checkpoint and no summary; the moment is found by
    # polling, so a try that lands elsewhere (between runs) is repeated in a fresh folder.
    for attempt in range(20):
        out = tmp_path / f"b{attempt}"
        cmd = [os.environ["UNRAVEL_EXE"], "reproduce", "mathieu-pinwheel", "--budget", "smoke", "--out", str(out)]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None and not any(
                (d / "last.safetensors").exists() and not (d / "summary.json").exists()
                for d in (out / "runs").glob("*")):
            time.sleep(0.002)
        p.send_signal(signal.SIGKILL)
        p.wait()
        mid = [d.name for d in (out / "runs").glob("*")
               if (d / "last.safetensors").exists() and not (d / "summary.json").exists()]
        if mid:
            break
    assert mid, "never caught reproduce with an unfinished run"
    again = run_cli("reproduce", "mathieu-pinwheel", "--budget", "smoke", "--out", out)
    assert f"resuming the unfinished run {out / 'runs' / mid[0]}" in again.stderr
    for s in (tmp_path / "a" / "runs").glob("*/summary.json"):
        a = json.loads(s.read_text())["final"]
        b = json.loads((out / "runs" / s.parent.name / "summary.json").read_text())["final"]
        assert a == b, s.parent.name


slurm = pytest.mark.skipif(not os.environ.get("SLURM_CONF"),
                           reason="no Slurm: scripts/test.sh starts a single-node cluster "
                                  "(scripts/slurm-local.sh) and sets SLURM_CONF")


@slurm
def test_slurm_sweep_equals_the_local_one(local_sweep, tmp_path):
    f = sweep_file(tmp_path / "s.toml", "out")
    p = run_cli("sweep", "run", f, "--executor", "slurm", "--no-measure", "--wait")
    assert "0 tasks failed; gather job" in p.stdout and "completed" in p.stdout, p.stdout + p.stderr
    script = next((tmp_path / "out" / "slurm").glob("sweep-*.sbatch")).read_text()
    assert "#SBATCH --array=0-11" in script and "sweep task" in script
    assert finals(collect(tmp_path / "out")) == finals(collect(local_sweep[1]))
    gather = next((tmp_path / "out" / "slurm").glob("collect-*.out")).read_text()
    assert "collected 12 finished runs of 12" in gather
    p = run_cli("sweep", "run", f, "--executor", "slurm", "--no-measure")
    assert "nothing submitted" in p.stdout


@slurm
def test_scancelled_tasks_are_resubmitted_alone(tmp_path):
    f = sweep_file(tmp_path / "s.toml", "out", steps=1200)
    p = run_cli("sweep", "run", f, "--executor", "slurm", "--no-measure", "--max-parallel", "2")
    array = p.stdout.split("submitted job array ")[1].split()[0]
    subprocess.run(["scancel", f"{array}_[6-11]"], check=True)
    subprocess.run(["bash", "-c", f"while squeue -h -j {array} | grep -q .; do sleep 0.5; done"], timeout=120)
    rows = collect(tmp_path / "out")
    assert 0 < sum(r["state"] == "done" for r in rows.values()) < 12
    p = run_cli("sweep", "run", f, "--executor", "slurm", "--no-measure", "--wait")
    assert "0 tasks failed" in p.stdout, p.stdout + p.stderr
    resubmitted = p.stdout.split("submitted job array ")[1].split(")")[0]
    assert "tasks: 0-11" not in resubmitted  # only what was not done
    full = sweep_file(tmp_path / "full.toml", "full", steps=1200)
    run_cli("sweep", "run", full, "--no-measure")
    assert finals(collect(tmp_path / "out")) == finals(collect(tmp_path / "full"))


@slurm
def test_two_slurm_tasks_of_one_run_are_refused(tmp_path):
    f = sweep_file(tmp_path / "s.toml", "out", steps=400000)
    run_cli("sweep", "plan", f, "--no-measure")
    exe, out = os.environ["UNRAVEL_EXE"], tmp_path / "out"
    ids = [subprocess.run(["sbatch", "--parsable", "-o", str(tmp_path / f"t{i}.out"), "--wrap",
                           f"{exe} sweep task {out} 0"], capture_output=True, text=True, check=True)
           .stdout.strip() for i in range(2)]
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            texts = [(tmp_path / f"t{i}.out").read_text() if (tmp_path / f"t{i}.out").exists() else "" for i in range(2)]
            if any("being written by another process" in t for t in texts):
                break
            time.sleep(0.2)
        refused = next(t for t in texts if "being written by another process" in t)
        assert "Slurm job" in refused
    finally:
        subprocess.run(["scancel", *ids])


def figure_finals(out):
    return {s.parent.name: json.loads(s.read_text())["final"] for s in (Path(out) / "runs").glob("*/summary.json")}


@pytest.fixture(scope="module")
def pinwheel_in_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "in-process"
    run_cli("reproduce", "mathieu-pinwheel", "--budget", "smoke", "--out", out)
    return out


def test_reproduce_through_the_local_executor_equals_in_process(pinwheel_in_process, tmp_path):
    out = tmp_path / "pool"
    p = run_cli("reproduce", "mathieu-pinwheel", "--budget", "smoke", "--out", out,
                "--executor", "local", "--jobs", "2")
    assert "8 runs as a sweep (local executor" in p.stderr, p.stderr
    # The workers trained every run; the drawing pass only reused them.
    assert p.stderr.count("reproduce: reusing the finished run") == 8, p.stderr
    assert "training it" not in p.stderr
    assert (out / "pinwheel_densities.png").stat().st_size > 0
    assert (out / "mathieu-pinwheel.csv").read_text() == (pinwheel_in_process / "mathieu-pinwheel.csv").read_text()
    assert figure_finals(out) == figure_finals(pinwheel_in_process)
    status = run_cli("sweep", "status", out)
    assert "8 done" in status.stdout or status.stdout.count("done") >= 8, status.stdout
    # Again: nothing to train, the figure drawn again from the same runs.
    again = run_cli("reproduce", "mathieu-pinwheel", "--budget", "smoke", "--out", out,
                    "--executor", "local", "--jobs", "2")
    assert again.stderr.count("reproduce: reusing the finished run") == 8


def test_reproduce_collect_refuses_unfinished_runs(pinwheel_in_process, tmp_path):
    p = run_cli("reproduce", "mathieu-pinwheel", "--budget", "smoke", "--out", tmp_path / "none",
                "--collect", check=False)
    assert p.returncode != 0
    assert "--collect: run 'alpha0-beta0.01'" in p.stderr and "is not finished" in p.stderr, p.stderr
    assert not (tmp_path / "none" / "runs").exists()  # nothing trained
    p = run_cli("reproduce", "mathieu-pinwheel", "--budget", "smoke", "--out", pinwheel_in_process,
                "--collect")
    assert p.stderr.count("reproduce: reusing the finished run") == 8
    p = run_cli("reproduce", "mathieu-pinwheel", "--out", tmp_path / "x", "--collect",
                "--executor", "local", check=False)
    assert p.returncode != 0 and "give one of them" in p.stderr


@slurm
def test_reproduce_through_slurm_draws_in_the_gather_job(pinwheel_in_process, tmp_path):
    out = tmp_path / "slurm-fig"
    p = run_cli("reproduce", "mathieu-pinwheel", "--budget", "smoke", "--out", out,
                "--executor", "slurm", "--no-measure", "--wait")
    assert "0 tasks failed; gather job" in p.stdout and "completed" in p.stdout, p.stdout + p.stderr
    script = next((out / "slurm").glob("sweep-*.sbatch")).read_text()
    assert "#SBATCH --array=0-7" in script
    gather = next((out / "slurm").glob("collect-*.out")).read_text()
    assert "reproduce mathieu-pinwheel (smoke budget) done" in gather, gather
    assert gather.count("reproduce: reusing the finished run") == 8, gather
    assert (out / "mathieu-pinwheel.csv").read_text() == (pinwheel_in_process / "mathieu-pinwheel.csv").read_text()
    assert figure_finals(out) == figure_finals(pinwheel_in_process)


@pytest.mark.parametrize("figure,runs", [
    ("higgins-traversal", 2), ("burgess-capacity", 1), ("chen-tcvae", 1),
    ("controlvae-linear-vs-adaptive", 2), ("mathieu-pinwheel", 8), ("higgins-metric", 4),
    ("mathieu-priors", 45), ("mathieu-sparsity", 12), ("higgins-celeba", 1)])
def test_every_figure_plans_its_paper_runs_as_a_slurm_array(figure, runs, tmp_path):
    """Planning runs each figure's own code without training (no Slurm needed for --dry-run)."""
    (tmp_path / "celeba" / "img_align_celeba").mkdir(parents=True)
    p = run_cli("reproduce", figure, "--budget", "paper", "--out", tmp_path / "out", "--data",
                tmp_path / "celeba", "--executor", "slurm", "--dry-run", "--no-measure")
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert len(plan["runs"]) == runs
    assert f"#SBATCH --array=0-{runs - 1}" in p.stdout if runs > 1 else "#SBATCH --array=0\n" in p.stdout
    assert not (tmp_path / "out" / "runs").exists() or not any((tmp_path / "out" / "runs").glob("*/log.csv"))


def mpi_sweep_file(path, out, micro_shards=2):
    """4 pinwheel β-VAE runs whose batches are cut into `micro_shards` micro-shards."""
    path.write_text(f"""name = "mp"
out = "{out}"
[base]
dataset = "pinwheel"
arch = "pinwheel-mlp"
objective = "beta-vae"
latents = 2
batch = 64
micro_shards = {micro_shards}
steps = 60
log_every = 10
checkpoint_every = 20
[grid]
beta = [1.0, 2.0]
seed = [1, 2]
""")
    return path


def needs_mpi(p):
    if "built without MPI" in p.stderr:
        pytest.skip("this unravel was built without MPI (Debian libopenmpi-dev; meson feature mpi)")


@pytest.fixture(scope="module")
def one_process_sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("mpisweep")
    run_cli("sweep", "run", mpi_sweep_file(d / "s.toml", "out"), "--no-measure")
    return finals(collect(d / "out"))


def test_a_sweep_over_mpi_processes_equals_one_process(one_process_sweep, tmp_path):
    # Each run trained by `mpirun -n 2` inside its task: the same bits as one process (the
    # micro-shards' gradients are summed in a fixed order).
    f = mpi_sweep_file(tmp_path / "s.toml", "out")
    p = run_cli("sweep", "run", f, "--no-measure", "--processes", "2", check=False)
    needs_mpi(p)
    assert p.returncode == 0, p.stderr
    assert "workers of 2 processes" in p.stderr
    log = next((tmp_path / "out" / "runs").glob("*/task.log")).read_text()
    assert "on 2 processes (2 micro-shards" in log
    assert finals(collect(tmp_path / "out")) == one_process_sweep


def test_processes_that_cannot_share_the_micro_shards_are_refused(tmp_path):
    p = run_cli("sweep", "run", mpi_sweep_file(tmp_path / "s.toml", "out", micro_shards=1),
                "--no-measure", "--processes", "2", check=False)
    needs_mpi(p)
    assert p.returncode != 0
    assert "has micro_shards 1, which 2 processes cannot share" in p.stderr
    assert not (tmp_path / "out" / "runs").exists()  # nothing started


@slurm
def test_a_slurm_sweep_over_mpi_processes_equals_one_process(one_process_sweep, tmp_path):
    # --ntasks=2 per array task, started by `srun --mpi=pmix` inside the task's allocation.
    f = mpi_sweep_file(tmp_path / "s.toml", "out")
    p = run_cli("sweep", "run", f, "--executor", "slurm", "--no-measure", "--processes", "2",
                "--wait", check=False)
    needs_mpi(p)
    script = next((tmp_path / "out" / "slurm").glob("sweep-*.sbatch")).read_text()
    assert "#SBATCH --ntasks=2" in script and "srun --mpi=pmix " in script
    assert "#SBATCH --mem=8G" in script  # per node: twice one process's (4G unmeasured)
    logs = "".join(t.read_text() for t in (tmp_path / "out" / "slurm").glob("task-*.out"))
    assert p.returncode == 0, p.stdout + p.stderr + logs
    assert "on 2 processes (2 micro-shards" in logs
    assert finals(collect(tmp_path / "out")) == one_process_sweep
