"""nncore's worker pool (cpp/src/kernels/thread_pool.cpp), which runs every parallel region of the kernels: the same
results with workers that spin or sleep at once (NNCORE_SPIN_US=0), with 1, 2 and more threads than cores, from
several Python threads at once (a busy pool runs a caller's region on the caller alone), and in a forked child
(which has none of its parent's workers and must start its own rather than wait on them)."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import nncore
from nncore.layers import Conv2D, Dense, Flatten, MaxPooling2D

SCRIPT = r"""
import sys
import numpy as np
import nncore
from nncore.layers import Dense
nncore.set_random_seed(3)
nncore.set_num_threads(int(sys.argv[1]))
rng = np.random.default_rng(0)
x = rng.standard_normal((512, 64)).astype(np.float32)
y = (x[:, :8].sum(axis=1) > 0).astype(np.int64)
m = nncore.Sequential([Dense(256, activation="relu", input_shape=(64,)), Dense(256, activation="relu"), Dense(2)])
m.compile("adam", nncore.losses.SparseCategoricalCrossentropy(from_logits=True))
m.fit(x, y, epochs=2, batch_size=64, verbose=0)
np.save(sys.argv[2], m.predict(x, verbose=0))
"""


def run_script(tmp_path, name: str, threads: int, env: dict) -> np.ndarray:
    out = tmp_path / f"{name}.npy"
    subprocess.run([sys.executable, "-c", SCRIPT, str(threads), str(out)], check=True, timeout=120,
                   env={**os.environ, **env})
    return np.load(out)


def test_training_gives_the_same_bits_whether_workers_spin_or_sleep(tmp_path):
    spinning = run_script(tmp_path, "spin", 2, {})
    np.testing.assert_array_equal(run_script(tmp_path, "sleep", 2, {"NNCORE_SPIN_US": "0"}), spinning)
    np.testing.assert_array_equal(run_script(tmp_path, "one", 1, {}), spinning)
    np.testing.assert_array_equal(run_script(tmp_path, "four", 4, {"NNCORE_SPIN_US": "50"}), spinning)


def small_cnn() -> nncore.Model:
    nncore.set_random_seed(5)
    m = nncore.Sequential([Conv2D(16, 3, activation="relu", input_shape=(16, 16, 3)), MaxPooling2D(), Flatten(),
                           Dense(10)])
    m.compile("sgd", "mse")
    return m


def test_predict_from_several_threads_while_the_pool_is_busy(restore_threads):
    restore_threads(2)
    m = small_cnn()
    x = np.random.default_rng(1).standard_normal((64, 16, 16, 3)).astype(np.float32)
    want = m.predict(x, verbose=0)
    errors, results = [], []

    def work():
        try:
            for _ in range(20):
                results.append(m.predict_on_batch(x))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 80
    for r in results:
        np.testing.assert_array_equal(r, want)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_runs_parallel_regions(restore_threads):
    restore_threads(2)
    m = small_cnn()
    x = np.random.default_rng(2).standard_normal((128, 16, 16, 3)).astype(np.float32)
    want = m.predict(x, verbose=0)  # the parent's workers exist now
    pid = os.fork()
    if pid == 0:  # child: its own workers, or it would wait forever on the parent's
        code = 1
        try:
            code = 0 if np.array_equal(m.predict(x, verbose=0), want) else 2
        finally:
            os._exit(code)
    deadline_ok = False
    for _ in range(600):  # up to 60 s
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            deadline_ok = True
            break
        threading.Event().wait(0.1)
    if not deadline_ok:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung in a parallel region")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
