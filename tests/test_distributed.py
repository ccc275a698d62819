"""Data-parallel training over MPI (nncore.distributed): tests/distributed_worker.py under ``mpiexec -n 2``, against
the same script alone. Equivalence with one process at twice the batch, bit-identical ranks after every step
(BatchNormalization's statistics included), sharding that covers every sample once per epoch (global and local
data), averaged metrics and a common EarlyStopping, rank-0-only files, a clear error when ranks disagree, and a job
that ends (with its last checkpoint whole and resumable) when a rank dies or stalls. Skipped, with the reason, when
mpi4py or an MPI launcher is missing (``pip install "nncore[mpi]"``; the test extra installs them)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nncore

WORKER = Path(__file__).with_name("distributed_worker.py")


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install \"nncore[mpi]\")")
    here = Path(sys.executable).with_name("mpiexec")
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no MPI launcher (mpiexec) found (pip install mpich, or the system's MPI)")
    return found


def run(scenario: str, out: Path, ranks: int = 2, timeout: float = 120, env: dict = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(WORKER), scenario, str(out)]
    if ranks > 1:
        cmd = [_mpiexec(), "-n", str(ranks)] + cmd
    else:
        cmd.append("alone")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=environment)


def load(out: Path, name: str, rank: int) -> dict:
    with np.load(out / f"{name}_{rank}.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def mpiexec():
    return _mpiexec()


def test_two_ranks_equal_one_process_at_twice_the_batch(tmp_path, mpiexec):
    alone, two = tmp_path / "alone", tmp_path / "two"
    alone.mkdir()
    two.mkdir()
    r = run("equivalence", alone, ranks=1)
    assert r.returncode == 0, r.stderr
    r = run("equivalence", two)
    assert r.returncode == 0, r.stdout + r.stderr
    one, r0, r1 = load(alone, "equivalence", 0), load(two, "equivalence", 0), load(two, "equivalence", 1)
    # Every step leaves the ranks bit-identical (rank 1 started from other weights: fit broadcast rank 0's).
    np.testing.assert_array_equal(r0["hashes"], r1["hashes"])
    np.testing.assert_array_equal(r0["weights"], r1["weights"])
    assert len(r0["hashes"]) == len(one["hashes"])  # the same number of steps: global batches of 32
    # The same training up to the order of float sums (each rank's gradient is a mean over 16 samples, then the
    # two are averaged: the gradient of the 32 in another order).
    np.testing.assert_allclose(r0["weights"], one["weights"], rtol=1e-5, atol=1e-6)
    for key in ("loss", "val_loss", "val_accuracy"):  # metrics averaged over the ranks: the global ones
        np.testing.assert_array_equal(r0[key], r1[key])
        np.testing.assert_allclose(r0[key], one[key], rtol=1e-5)
    b0, b1 = load(two, "batchnorm", 0), load(two, "batchnorm", 1)
    np.testing.assert_array_equal(b0["hashes"], b1["hashes"])


@pytest.mark.parametrize("scenario", ["coverage", "local"])
def test_every_sample_trains_once_per_epoch(tmp_path, mpiexec, scenario):
    r = run(scenario, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    k0, k1 = load(tmp_path, scenario, 0)["kernel"], load(tmp_path, scenario, 1)["kernel"]
    np.testing.assert_array_equal(k0, k1)
    # 53 samples, global batches of 2 x 4: six of 8 samples (weight 2 / 8 each) and a last one of 5 (2 / 5).
    values, counts = np.unique(np.round(k0, 5), return_counts=True)  # (a share of 3/5 or 2/5: the last ulp differs)
    np.testing.assert_allclose(values, [0.25, 0.4], rtol=1e-6)
    assert counts.tolist() == [48, 5]


def test_metrics_are_averaged_and_early_stopping_stops_every_rank(tmp_path, mpiexec):
    r = run("callbacks", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    c0, c1 = load(tmp_path, "callbacks", 0), load(tmp_path, "callbacks", 1)
    assert int(c0["epochs"]) == int(c1["epochs"]) < 20
    np.testing.assert_array_equal(c0["loss"], c1["loss"])
    np.testing.assert_array_equal(c0["val_loss"], c1["val_loss"])
    # Goyal et al.'s rule on 2 ranks: twice the rate, reached by a linear warm-up.
    np.testing.assert_allclose(c0["lr"], [0.2, 0.1, 0.15, 0.2, 0.2], rtol=1e-6)
    # Files: rank 0's folder has them all, rank 1's none.
    assert sorted(os.listdir(tmp_path / "files_0")) == ["ckpt.nncore", "final.nncore", "log.csv"]
    assert os.listdir(tmp_path / "files_1") == []
    assert len(open(tmp_path / "files_0" / "log.csv").read().splitlines()) == int(c0["epochs"]) + 1


def test_ranks_that_disagree_raise_together(tmp_path, mpiexec):
    r = run("mismatch", tmp_path, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    m0, m1 = str(load(tmp_path, "mismatch", 0)["message"]), str(load(tmp_path, "mismatch", 1)["message"])
    assert "the ranks disagree" in m0 and "the ranks disagree" in m1
    assert "batch_size 17 (rank 0: 16)" in m1


def test_a_dying_rank_ends_the_job_and_the_checkpoint_resumes(tmp_path, mpiexec):
    t0 = time.monotonic()
    r = run("die", tmp_path, timeout=90)
    assert r.returncode != 0
    assert time.monotonic() - t0 < 60
    model = nncore.load_model(tmp_path / "ckpt.nncore")  # rank 0's last checkpoint is whole
    rng = np.random.default_rng(0)
    x = rng.standard_normal((160, 10)).astype(np.float32)
    h = model.fit(x, np.argmax(x[:, :3], 1), batch_size=8, epochs=4, initial_epoch=2, verbose=0)
    assert len(h.history["loss"]) == 2 and np.isfinite(h.history["loss"]).all()


def test_a_stalled_rank_is_aborted_after_the_timeout(tmp_path, mpiexec):
    t0 = time.monotonic()
    r = run("stall", tmp_path, timeout=90, env={"NNCORE_DISTRIBUTED_TIMEOUT": "3"})
    assert r.returncode != 0
    assert time.monotonic() - t0 < 45
    assert "waited 3 s in allreduce" in r.stderr


def test_without_init_everything_is_one_process():
    assert nncore.distributed.rank() == 0 and nncore.distributed.size() == 1 and nncore.distributed.is_main()
    assert nncore.distributed.scaled_learning_rate(0.1) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="data must be 'global'"):
        nncore.distributed.init(data="everywhere")
