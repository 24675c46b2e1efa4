"""`import unravel` from the build folder: runs, models and metrics on NumPy arrays.

Every value is checked against the CLI that shares its code: encodings bit for bit against
`unravel encode`, metrics exactly against `unravel eval` (same budget and seed), error messages
against the CLI's `error:` line.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import read_log, run_cli

if not os.environ.get("UNRAVEL_PYTHONPATH"):
    pytest.skip("this build has no Python module (meson feature `python` found no pybind11)",
                allow_module_level=True)
sys.path.insert(0, os.environ["UNRAVEL_PYTHONPATH"])
import unravel  # noqa: E402

N = 300  # items encoded: more than one CLI batch of 256, so the batching is compared too


@pytest.fixture(scope="module")
def run(dsprites_run):
    return unravel.Run(str(dsprites_run))


@pytest.fixture(scope="module")
def cli_codes(dsprites_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("enc")
    run_cli("encode", dsprites_run, "--out", out, "--limit", N)
    return {k: np.load(out / f"{k}.npy") for k in ("mu", "logvar", "factors")}


def test_imports_from_the_build_tree():
    assert os.path.dirname(unravel.__file__) == os.environ["UNRAVEL_PYTHONPATH"]
    assert unravel.__version__ == run_cli("devices").stdout.split()[1]  # "unravel 0.1.0"


def test_run_config_log_and_checkpoints(run, dsprites_run):
    assert run.config == json.loads(Path(dsprites_run, "config.json").read_text())
    assert run.step == 40 and run.latents == 6 and run.data_shape == (1, 64, 64)
    header, rows = read_log(dsprites_run)
    log = run.log
    assert list(log.dtype.names) == header
    assert log["step"].dtype == np.int64
    np.testing.assert_array_equal(log["step"], [r[0] for r in rows])
    for j, name in enumerate(header):
        np.testing.assert_array_equal(log[name], [r[j] for r in rows])
    steps = [s for s, _ in run.checkpoints]
    assert steps == [20, 40] and all(Path(p).exists() for _, p in run.checkpoints)
    older = unravel.Run(str(dsprites_run), checkpoint=run.checkpoints[0][1])
    assert older.step == 20


def test_encode_equals_cli_encode_bit_for_bit(run, cli_codes):
    x = run.items(list(range(N)))
    assert x.dtype == np.float32 and x.shape == (N, 1, 64, 64)
    mu, logvar = run.encode(x)
    assert mu.dtype == np.float32 and mu.shape == (N, 6)
    np.testing.assert_array_equal(mu, cli_codes["mu"])
    np.testing.assert_array_equal(logvar, cli_codes["logvar"])
    np.testing.assert_array_equal(run.factors(list(range(N))), cli_codes["factors"])
    assert run.factor_names == ["shape", "scale", "orientation", "posX", "posY"]
    assert run.factor_sizes == [3, 6, 40, 32, 32]


def test_decode_sample_traverse(run):
    x = run.items([0, 1000, 5000])
    mu, _ = run.encode(x)
    img = run.decode(mu)
    assert img.shape == (3, 1, 64, 64) and img.min() >= 0 and img.max() <= 1
    logits = run.decode(mu, raw=True)  # Bernoulli: the images are sigmoid(logits)
    np.testing.assert_allclose(img, 1 / (1 + np.exp(-logits.astype(np.float64))), atol=1e-6)
    a, b, c = run.sample(4, seed=1), run.sample(4, seed=1), run.sample(4, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and a.shape == (4, 1, 64, 64)
    np.testing.assert_array_equal(run.decode(run.sample_prior(4, seed=1)), a)
    t = run.traverse(item=1000, latents=[0, 3], steps=5, range=2.0)
    assert t.shape == (2, 5, 1, 64, 64)
    z = np.repeat(mu[1:2], 5, axis=0)
    z[:, 3] = np.linspace(-2, 2, 5)
    # Ten rows decoded at once vs these five: another GEMM blocking, equal to float rounding.
    np.testing.assert_allclose(t[1], run.decode(z), atol=1e-6)
    np.testing.assert_array_equal(run.traverse(image=x[1:2], latents=[0, 3], steps=5, range=2.0), t)


def test_metrics_equal_cli_eval_on_arrays(cli_codes, tmp_path):
    paths = {}
    for k, v in cli_codes.items():
        paths[k] = tmp_path / f"{k}.npy"
        np.save(paths[k], v)
    out = tmp_path / "m.json"
    run_cli("eval", "--codes", paths["mu"], "--factors", paths["factors"], "--logvar",
            paths["logvar"], "--budget", "smoke", "--seed", "5", "--out", out)
    cli = json.loads(out.read_text())["metrics"]
    mine = unravel.metrics.score(cli_codes["mu"], cli_codes["factors"], cli_codes["logvar"],
                                 budget="smoke", seed=5)
    assert mine == cli
    one = unravel.metrics.mig_histogram(cli_codes["mu"], cli_codes["factors"], budget="smoke", seed=5)
    assert one == {k: v for k, v in cli.items() if k.startswith("mig_histogram")}
    assert set(unravel.metrics.names()) >= {"beta_vae", "factor_vae", "mig_chen", "dci", "sap"}


def test_run_evaluate_equals_cli_eval(dsprites_run, tmp_path):
    copy = tmp_path / "run"  # eval writes into a run (tb/): the session's run stays as trained
    shutil.copytree(dsprites_run, copy, symlinks=True)
    out = tmp_path / "m.json"
    run_cli("eval", copy, "--budget", "smoke", "--metrics", "mig_histogram,sap,heldout",
            "--out", out)
    cli = json.loads(out.read_text())["metrics"]
    assert unravel.Run(str(copy)).evaluate(metrics="mig_histogram,sap,heldout", budget="smoke") == cli
    assert not Path(copy, "metrics.json").exists()  # write=False by default


def test_bad_arrays_raise_clear_exceptions(run, cli_codes):
    x = run.items(list(range(4)))
    with pytest.raises(TypeError, match=r"encode: images must be float32 \(got float64\)"):
        run.encode(x.astype(np.float64))
    with pytest.raises(ValueError, match=r"must have shape \[N, 1, 64, 64\] .* got \[4, 64, 64\]"):
        run.encode(x[:, 0])
    with pytest.raises(ValueError, match=r"must be C-contiguous .*np.ascontiguousarray"):
        run.encode(x[:, :, ::2, :])
    bad = x.copy()
    bad[2, 0, 10, 11] = np.nan
    with pytest.raises(ValueError, match=r"hold NaN at index \[2, 0, 10, 11\]"):
        run.encode(bad)
    with pytest.raises(TypeError, match=r"must be a NumPy array .* got list"):
        run.encode(x.tolist())
    with pytest.raises(ValueError, match=r"decode: z must have shape \[N, 6\]"):
        run.decode(np.zeros((2, 5), np.float32))
    mu, f = cli_codes["mu"].copy(), cli_codes["factors"]
    mu[7, 1] = np.inf
    with pytest.raises(unravel.Error, match=r"eval: codes holds Inf at row 7, column 1"):
        unravel.metrics.score(mu, f)
    with pytest.raises(unravel.Error, match=r"rows of codes .* and factors .* must be aligned"):
        unravel.metrics.score(cli_codes["mu"], f[:10])
    with pytest.raises(unravel.Error, match=r"factors must hold integer class indices"):
        unravel.metrics.score(cli_codes["mu"], f.astype(np.float32))
    with pytest.raises(unravel.Error, match=r"index 10000000 is out of range"):
        run.items([10_000_000])


def test_errors_carry_the_cli_message(tmp_path):
    missing = tmp_path / "no-such-run"
    cli = run_cli("encode", missing, "--out", tmp_path / "o", check=False)
    assert cli.returncode != 0
    with pytest.raises(unravel.Error) as e:
        unravel.Run(str(missing))
    assert cli.stderr.strip() == f"error: {e.value}"


def test_dlpack_with_numpy_shares_memory():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = unravel.from_dlpack(a)
    assert t.shape == (3, 4) and t.dtype == "f32" and t.device == "cpu"
    back = np.from_dlpack(t)
    a[1, 2] = 99
    assert back[1, 2] == 99 and np.shares_memory(back, a)
    assert np.asarray(t)[1, 2] == 99


def test_dlpack_with_torch_in_its_own_process(dsprites_run):
    """torch.from_dlpack on our results and our encode on torch tensors, without copies."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.environ['UNRAVEL_PYTHONPATH']!r})
        import numpy as np, torch, unravel
        run = unravel.Run({str(dsprites_run)!r})
        x = run.items(list(range(32)))
        mu, _ = run.encode(x)
        tmu = torch.from_dlpack(mu)
        assert tmu.data_ptr() == mu.ctypes.data, "torch copied our result"
        tx = torch.from_numpy(x)
        u = unravel.from_dlpack(tx)
        assert torch.from_dlpack(u).data_ptr() == tx.data_ptr(), "the round trip copied"
        mu2, _ = run.encode(tx)
        assert np.array_equal(mu, mu2)
        print("ok")
    """)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_calls_release_the_gil(run):
    """While encode runs in a thread, this thread keeps running Python."""
    x = run.items(list(range(768)))
    gaps, done = [], threading.Event()
    t0 = time.perf_counter()

    def work():
        run.encode(x)
        done.set()

    th = threading.Thread(target=work)
    last = time.perf_counter()
    th.start()
    while not done.is_set():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        time.sleep(0.001)
    th.join()
    took = time.perf_counter() - t0
    # Holding the GIL for the whole call would leave one gap as long as the call itself.
    assert took > 0.05 and max(gaps) < took / 2, (took, max(gaps))


def test_numpy_keeps_ieee_subnormals_after_calls(run):
    """The engine flushes subnormals (FTZ + DAZ) only while it computes, not in the caller's
    thread afterwards: NumPy's arithmetic here must be unchanged."""
    run.encode(run.items([0, 1]))
    codes = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    unravel.metrics.hoyer(codes, np.zeros((64, 1), np.int64), budget="smoke")
    tiny = np.array([1e-310, 3e-320])
    assert (tiny * 1.0 > 0).all() and tiny.sum() > 1e-310


def test_point_data_run(pinwheel_run, tmp_path):
    """A run without images: the pinwheel MLP with its learned-scale Gaussian likelihood."""
    r = unravel.Run(str(pinwheel_run))
    assert r.data_shape == (2,) and r.latents == 2
    out = tmp_path / "enc"
    run_cli("encode", pinwheel_run, "--out", out, "--limit", 300)
    mu, logvar = r.encode(r.items(list(range(300))))
    np.testing.assert_array_equal(mu, np.load(out / "mu.npy"))
    np.testing.assert_array_equal(logvar, np.load(out / "logvar.npy"))
    assert r.sample(7, seed=3).shape == (7, 2)
    assert r.decode(mu[:5], raw=True).shape[0] == 5
    with pytest.raises(unravel.Error, match="has no ground-truth factors"):
        r.factors([0])


def test_readme_example_runs(dsprites_run, tmp_path):
    """The README's notebook example, as printed there, on a run of this session."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    text = readme.read_text()
    start = text.index("<!-- python-example")
    block = text[text.index("```python\n", start) + len("```python\n"):]
    block = block[:block.index("```")]
    assert block.count("\n") >= 10 and 'unravel.Run("runs/bvae")' in block
    code = f"import sys; sys.path.insert(0, {os.environ['UNRAVEL_PYTHONPATH']!r})\n"
    code += block.replace('"runs/bvae"', repr(str(dsprites_run)))
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "'mig_chen':" in p.stdout and "'sap.continuous':" in p.stdout
    import matplotlib.image as mpimg
    img = mpimg.imread(tmp_path / "traversal.png")
    assert img.shape[0] > 200 and img.shape[1] > 200 and (tmp_path / "kl.png").stat().st_size > 0
