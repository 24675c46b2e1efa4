"""TensorBoard event files written by `unravel train` (RUN/tb), read back with TensorBoard's own
EventAccumulator: the scalars equal log.csv's columns at its steps, KL per latent, images and
histograms at checkpoints, `unravel eval`'s metrics at the checkpoint's step, and a run killed
past its last checkpoint then resumed shows exactly the rows of the truncated-and-continued
log.csv. --no-tensorboard writes nothing; an unwritable RUN/tb stops a run before it starts.
"""
import io
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import matplotlib.image
import pytest
from tensorboard.backend.event_processing import event_accumulator as ea

from conftest import _exe, read_log, run_cli

# log.csv holds %.6g text (seconds: %.3f, ctl.*: %.9g) and TensorBoard a float32 of the same
# double: they agree to 5e-6 relative (+ 6e-8 of float32), seconds to 5e-4 absolute.
REL = 1e-5
SECONDS_ABS = 5e-4


def load(run):
    acc = ea.EventAccumulator(
        str(Path(run, "tb")),
        size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0},
        purge_orphaned_data=True)
    acc.Reload()
    return acc


def assert_scalars_match_log(run, acc):
    header, rows = read_log(run)
    steps = [int(r[0]) for r in rows]
    tags = set(acc.Tags()["scalars"])
    columns = header[1:]  # every column but step
    assert set(columns) <= tags, f"missing tags: {set(columns) - tags}"
    for j, col in enumerate(columns, start=1):
        events = acc.Scalars(col)
        assert [e.step for e in events] == steps, col
        for e, row in zip(events, rows):
            want = row[j]
            tol = SECONDS_ABS if col == "seconds" else REL * abs(want) + 1e-30
            assert abs(e.value - want) <= tol, (col, e.step, e.value, want)
    return header, rows, steps


def kl_tags(acc):
    return sorted((t for t in acc.Tags()["scalars"] if t.startswith("kl/z")),
                  key=lambda t: int(t[4:]))


def tile_grid_size(n, tile):
    """Size of a composed grid of n tiles of `tile` px with 2 px separators around and between."""
    return 2 + n * (tile + 2)


def test_dsprites_run_scalars_kl_images_histograms(dsprites_run):
    acc = load(dsprites_run)
    header, rows, steps = assert_scalars_match_log(dsprites_run, acc)
    assert steps == [5, 10, 15, 20, 25, 30, 35, 40]

    # KL per latent at every log step; with the isotropic prior it splits the logged kl.
    kls = kl_tags(acc)
    assert kls == [f"kl/z{d}" for d in range(6)]
    per_step = [[e.value for e in acc.Scalars(t)] for t in kls]
    for t in kls:
        assert [e.step for e in acc.Scalars(t)] == steps
    kl_col = header.index("kl")
    for i, row in enumerate(rows):
        total = sum(v[i] for v in per_step)
        assert total == pytest.approx(row[kl_col], rel=1e-4, abs=1e-6)

    # Checkpoints at 20 and 40: reconstructions (8 items over their reconstructions) and the
    # traversal grid (6 latents x 9 values, rows labelled z0 … z5 in a 112-px column) as PNG, and
    # histograms of 256 posterior means.
    tags = acc.Tags()
    assert sorted(tags["images"]) == ["reconstructions", "traversals"]
    want = {"reconstructions": (tile_grid_size(2, 64), tile_grid_size(8, 64)),
            "traversals": (tile_grid_size(6, 64), 112 + tile_grid_size(9, 64))}
    for tag, (h, w) in want.items():
        events = acc.Images(tag)
        assert [e.step for e in events] == [20, 40]
        for e in events:
            assert (e.height, e.width) == (h, w)
            img = matplotlib.image.imread(io.BytesIO(e.encoded_image_string), format="png")
            assert img.shape[:2] == (h, w)
            assert img.max() > img.min()  # not blank
    assert sorted(tags["histograms"]) == [f"posterior_mean/z{d}" for d in range(6)]
    for d in range(6):
        hs = acc.Histograms(f"posterior_mean/z{d}")
        assert [h.step for h in hs] == [20, 40]
        for h in hs:
            v = h.histogram_value
            assert v.num == 256 and sum(v.bucket) == 256
            assert v.min <= v.max and v.bucket_limit[-1] == v.max


def test_pinwheel_run_scalars_and_histograms_no_images(pinwheel_run):
    acc = load(pinwheel_run)
    assert_scalars_match_log(pinwheel_run, acc)
    assert kl_tags(acc) == ["kl/z0", "kl/z1"]  # mixture prior: KL to N(0, 1) per latent
    tags = acc.Tags()
    assert tags["images"] == []
    assert sorted(tags["histograms"]) == ["posterior_mean/z0", "posterior_mean/z1"]


def test_eval_adds_its_metrics_at_the_checkpoint_step(dsprites_run, tmp_path):
    run = tmp_path / "evaluated"
    shutil.copytree(dsprites_run, run, symlinks=True)  # the session's run stays as trained
    run_cli("eval", run, "--budget", "smoke", "--metrics", "sap,heldout", "--heldout", "32")
    metrics = json.loads(Path(run, "metrics.json").read_text())["metrics"]
    acc = load(run)
    assert_scalars_match_log(run, acc)  # the training curves are unchanged
    tags = sorted(t for t in acc.Tags()["scalars"] if t.startswith("metrics/"))
    assert tags == sorted("metrics/" + k for k in metrics)
    for name, value in metrics.items():
        (e,) = acc.Scalars("metrics/" + name)
        assert e.step == 40
        assert e.value == pytest.approx(value, rel=1e-6)  # float32 of the JSON's double


def _newest_checkpoint(run):
    link = Path(run, "last.safetensors")
    if not link.is_symlink():
        return 0
    return int(os.readlink(link).split("step-")[1].split(".")[0])


def _logged_steps(run):
    p = Path(run, "log.csv")
    if not p.exists():
        return []
    lines = p.read_text().splitlines()[1:]
    return [int(l.split(",")[0]) for l in lines if l.endswith(tuple("0123456789"))]


def test_resume_after_kill_purges_the_orphaned_steps(tmp_path):
    run = tmp_path / "killed"
    args = ["train", "--dataset", "dsprites", "--arch", "burgess", "--latents", "4", "--batch",
            "8", "--steps", "400", "--log-every", "5", "--checkpoint-every", "20", "--seed", "4",
            "--out", str(run)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.Popen([_exe(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=env)
    # Stop the process once log.csv has rows past its newest checkpoint, check that while it is
    # stopped (it may have checkpointed in between), then kill it: no chance to clean up.
    deadline = time.time() + 120
    try:
        while True:
            assert p.poll() is None, p.stderr.read().decode()
            assert time.time() < deadline, "the run did not log past a checkpoint in time"
            ckpt, logged = _newest_checkpoint(run), _logged_steps(run)
            if ckpt > 0 and logged and logged[-1] > ckpt:
                p.send_signal(signal.SIGSTOP)
                ckpt, logged = _newest_checkpoint(run), _logged_steps(run)
                if logged[-1] > ckpt:
                    break
                p.send_signal(signal.SIGCONT)
            time.sleep(0.01)
    finally:
        p.kill()
        p.wait()
    orphans = [s for s in logged if s > ckpt]
    assert orphans
    # TensorBoard is written before log.csv's row: it holds every orphaned row (maybe one more).
    before = [e.step for e in load(run).Scalars("total")]
    assert set(orphans) <= {s for s in before if s > ckpt}

    # A config.json from before the `tensorboard` field: still loads, and writes RUN/tb.
    cfg = json.loads(Path(run, "config.json").read_text())
    assert cfg.pop("tensorboard") is True
    Path(run, "config.json").write_text(json.dumps(cfg, indent=2))

    final = ckpt + 15
    run_cli("train", "--resume", run, "--steps", final)
    assert len(list(Path(run, "tb").glob("events.out.tfevents.*"))) == 2
    acc = load(run)
    _, _, steps = assert_scalars_match_log(run, acc)
    assert steps == list(range(5, final + 1, 5))
    for t in kl_tags(acc):
        assert [e.step for e in acc.Scalars(t)] == steps
    image_steps = sorted(set(range(20, final + 1, 20)) | {final})
    assert [e.step for e in acc.Images("traversals")] == image_steps
    assert [h.step for h in acc.Histograms("posterior_mean/z0")] == image_steps


def test_no_tensorboard_writes_nothing_and_resume_keeps_it(tmp_path):
    run = tmp_path / "quiet"
    run_cli("train", "--preset", "mathieu-pinwheel", "--steps", "4", "--log-every", "2",
            "--no-tensorboard", "--out", run)
    assert not Path(run, "tb").exists()
    assert json.loads(Path(run, "config.json").read_text())["tensorboard"] is False
    run_cli("train", "--resume", run, "--steps", "6")
    assert not Path(run, "tb").exists()
    assert len(read_log(run)[1]) == 3
    p = run_cli("train", "--resume", run, "--no-tensorboard", check=False)
    assert p.returncode != 0 and "--no-tensorboard cannot be combined" in p.stderr


def test_an_unwritable_tb_folder_stops_the_run_before_it_writes_anything(tmp_path):
    run = tmp_path / "blocked"
    run.mkdir()
    Path(run, "tb").write_text("a file where the folder should be")
    p = run_cli("train", "--preset", "mathieu-pinwheel", "--steps", "4", "--out", run, check=False)
    assert p.returncode == 2
    assert f"cannot create the TensorBoard folder '{run}/tb'" in p.stderr
    assert not Path(run, "config.json").exists()  # the same --out works once tb is fixed
