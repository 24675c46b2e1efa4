"""No lost work, provenance and anomaly mode.

The tests run as root, which ignores permission bits, so unwritable places are real ones: a
read-only tmpfs, and a small tmpfs filled up while a run is paused (SIGSTOP) between checkpoints.
Without the right to mount (not root), those tests skip and say so.
"""
import json
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import run_cli


@contextmanager
def tmpfs(path, options):
    path.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({p.stderr.strip()}): these tests need root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)])


def test_an_unwritable_output_is_refused_before_any_work(tmp_path, pinwheel_run):
    with tmpfs(tmp_path / "ro", "ro,size=1M") as ro:
        cases = [
            ("train", "--preset", "mathieu-pinwheel", "--steps", 10, "--out", ro / "run"),
            ("reproduce", "mathieu-pinwheel", "--budget", "smoke", "--out", ro / "fig"),
            ("eval", pinwheel_run, "--budget", "smoke", "--out", ro / "m.json"),
            ("encode", pinwheel_run, "--out", ro / "codes"),
            ("figure", "traces", pinwheel_run, "--out", ro / "t.png"),
            ("export", pinwheel_run, "--to", "torch", ro / "torch"),
        ]
        for args in cases:
            t0 = time.time()
            p = run_cli(*args, check=False)
            assert p.returncode == 2, (args, p.stderr)
            assert "Read-only file system" in p.stderr and "nothing was done" in p.stderr, p.stderr
            assert p.stderr.startswith(f"error: {args[0]}"), p.stderr
            assert time.time() - t0 < 10  # refused at once, not after the work
        assert not any(ro.iterdir())


def test_a_full_disk_at_a_checkpoint_keeps_the_previous_one(tmp_path):
    with tmpfs(tmp_path / "small", "size=4M") as disk:
        run = disk / "run"
        env = dict(os.environ, OMP_NUM_THREADS="1")
        p = subprocess.Popen([os.environ["UNRAVEL_EXE"], "train", "--preset", "mathieu-pinwheel",
                              "--steps", "1000000", "--checkpoint-every", "300", "--log-every", "1000000",
                              "--no-tensorboard", "--out", str(run)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.time() + 60
        while not (run / "last.safetensors").exists() and time.time() < deadline:
            time.sleep(0.01)
        p.send_signal(signal.SIGSTOP)
        good = os.readlink(run / "last.safetensors")
        # Fill the disk to the last byte (unbuffered writes: nothing is left to flush at close).
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        for chunk in (65536, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
        os.close(fd)
        p.send_signal(signal.SIGCONT)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 2, err
        assert "the checkpoint could not be written" in err and "No space left on device" in err, err
        assert f"The previous checkpoint is intact: {run / 'last.safetensors'}" in err, err
        assert os.readlink(run / "last.safetensors") == good  # still the last good one
        assert not list(run.glob("checkpoints/*.tmp*"))  # no half-written file left behind
        (disk / "filler").unlink()
        step = int(good.split("step-")[1].split(".")[0])
        r = run_cli("train", "--resume", run, "--steps", step + 30)
        assert f"resuming {run} at step {step}" in r.stderr


def test_every_run_records_its_provenance_and_readers_warn_on_another_build(tmp_path):
    run = tmp_path / "run"
    run_cli("train", "--preset", "mathieu-pinwheel", "--steps", 20, "--out", run)
    run_cli("train", "--resume", run, "--steps", 40)
    sessions = json.loads((run / "provenance.json").read_text())
    assert [s["what"] for s in sessions] == ["train", "resume"]
    s = sessions[0]
    assert s["device"] == "cpu" and "oneDNN" in s["runtime"] and "OpenBLAS" in s["runtime"]
    assert s["build"]["code_version"] and s["build"]["buildtype"] and "cuda" in s["build"]
    # The run-time variant of the CPU loops (ops/cpu/dispatch_cpu.cpp), also in the runtime line.
    assert s["cpu_loops"] in ("base", "avx2", "avx512")
    assert f"CPU loops {s['cpu_loops']}" in s["runtime"]
    p = run_cli("encode", run, "--out", tmp_path / "c")
    assert "warning" not in p.stderr
    sessions[-1]["build"]["code_version"] = "v0.0.1-other"
    (run / "provenance.json").write_text(json.dumps(sessions))
    p = run_cli("encode", run, "--out", tmp_path / "c2")
    assert "was trained by another build: code_version \"v0.0.1-other\"" in p.stderr
    sessions[-1]["build"]["code_version"] = s["build"]["code_version"]
    sessions[-1]["cpu_loops"] = "avx1024"
    (run / "provenance.json").write_text(json.dumps(sessions))
    p = run_cli("encode", run, "--out", tmp_path / "c3")
    assert "was trained by another build: CPU loops \"avx1024\" (now \"" in p.stderr


def test_detect_anomaly_names_the_first_bad_op_and_its_place(tmp_path):
    p = run_cli("train", "--dataset", "dsprites", "--arch", "burgess", "--steps", 20, "--batch", 8,
                "--lr", "1e30", "--checkpoint-every", 1, "--detect-anomaly", "--out", tmp_path / "r",
                check=False)
    assert p.returncode == 2
    line = p.stderr.strip().splitlines()[-1]
    assert line.startswith("error: step 2: anomaly: ") and " at vae.enc.trunk." in line, line
    assert "The last good checkpoint is" in line and "(step 1)" in line
    # Without the flag the same run is stopped later, by the log step's non-finite check.
    q = run_cli("train", "--dataset", "dsprites", "--arch", "burgess", "--steps", 20, "--batch", 8,
                "--lr", "1e30", "--checkpoint-every", 1, "--log-every", 10, "--out", tmp_path / "q",
                check=False)
    assert q.returncode == 3 and "the loss is not finite" in q.stderr
