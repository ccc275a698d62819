"""Shared fixtures and helpers for the kernel and layer tests.

Fixtures:
    isa      runs a test under each SIMD path this CPU has worth testing ('generic' and the best one, plus
             'avx2' when the best is 'avx512'), restoring the active path afterwards.
    threads  runs a test with 1 and with 2 threads, restoring the previous count afterwards.

Helpers (import with ``from conftest import ...``):
    numeric_grad(f, x)          central differences of a scalar function of one float64 array
    numeric_grad_inplace(f, a)  the same, perturbing a (float32) array in place, e.g. a layer's weight view
    gemm_tol(k)                 absolute tolerance of a float32 dot product of length k with O(1) entries
    np_activation(name, x), np_activation_backward(name, dy, x)
                                the activations and dy * act'(x) in NumPy float64
"""
from __future__ import annotations

import math
import os
from typing import Callable, Optional

import numpy as np
import pytest

# Every inference that reads a Dense kernel's packed copy first checks it against the kernel (a writer that forgot
# Param::changed() then fails here instead of predicting with old weights). Before nncore loads: read once.
os.environ["NNCORE_CHECK_PACKED"] = "1"

import nncore  # noqa: E402


def _isas() -> list:
    best = nncore._core.best_isa()
    isas = ["generic"]
    if best == "avx512":
        isas.append("avx2")
    if best not in isas:
        isas.append(best)
    return isas


ISAS = _isas()


@pytest.fixture(params=ISAS)
def isa(request) -> str:
    """The SIMD path under test, made active for the test's duration."""
    before = nncore.get_isa()
    nncore.set_isa(request.param)
    assert nncore.get_isa() == request.param
    yield request.param
    nncore.set_isa(before)


@pytest.fixture(params=[1, 2])
def threads(request) -> int:
    """The thread count under test, made active for the test's duration."""
    before = nncore.get_num_threads()
    nncore.set_num_threads(request.param)
    yield request.param
    nncore.set_num_threads(before)


@pytest.fixture
def restore_threads():
    """Restores the thread count for tests that switch it themselves (1 vs 2 comparisons)."""
    before = nncore.get_num_threads()
    yield nncore.set_num_threads
    nncore.set_num_threads(before)


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, in float64; ``f`` takes an array shaped like ``x``."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gflat = g.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        fp = float(f(x))
        flat[i] = orig - eps
        fm = float(f(x))
        flat[i] = orig
        gflat[i] = (fp - fm) / (2.0 * eps)
    return g


def numeric_grad_inplace(f: Callable[[], float], a: np.ndarray, eps: float = 1e-2) -> np.ndarray:
    """d f / d a by central differences, perturbing ``a`` in place (for float32 weight views that a layer
    reads). ``f`` takes no argument and should accumulate in float64; ``eps`` is large because ``a`` is
    float32: keep the function smooth (or quadratic) over +-eps."""
    g = np.zeros(a.shape, dtype=np.float64)
    flat = a.reshape(-1)  # a view: ``a`` is C-contiguous
    assert np.shares_memory(flat, a)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + np.float32(eps)
        fp = float(f())
        up = float(flat[i]) - float(orig)
        flat[i] = orig - np.float32(eps)
        fm = float(f())
        down = float(orig) - float(flat[i])
        flat[i] = orig
        g.reshape(-1)[i] = (fp - fm) / (up + down)  # the steps actually taken in float32
    return g


def gemm_tol(k: int) -> float:
    """Absolute tolerance for a float32 dot product of length ``k`` of standard-normal entries.

    Rounding grows like eps32 * k here (|result| ~ sqrt(k), about sqrt(k) roundings of that size); the worst
    seen over all tested shapes and ISAs is about 3.5 * eps32 * k, so this leaves a 4x margin while a wrong
    tile or edge (errors of order 1) still fails."""
    return 16 * float(np.finfo(np.float32).eps) * (k + 4)


DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}  # Keras 3's defaults

_erf = np.vectorize(math.erf, otypes=[np.float64])


def np_activation(name: str, x: np.ndarray, alpha: Optional[float] = None) -> np.ndarray:
    """act(x) in float64; softmax over the last axis; gelu in the exact erf form."""
    x = np.asarray(x, np.float64)
    a = DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha
    if name == "linear":
        return x.copy()
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        e = np.exp(-np.abs(x))  # stable on both tails
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == "leaky_relu":
        return np.where(x > 0, x, a * x)
    if name == "gelu":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if name == "elu":
        return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0)))
    raise AssertionError(name)


def np_activation_backward(name: str, dy: np.ndarray, x: np.ndarray, alpha: Optional[float] = None) -> np.ndarray:
    """dy * act'(x) in float64 from the analytic derivatives (softmax: Jacobian-vector product per row)."""
    dy = np.asarray(dy, np.float64)
    x = np.asarray(x, np.float64)
    a = DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha
    if name == "linear":
        return dy.copy()
    if name == "relu":
        return np.where(x > 0, dy, 0.0)
    if name == "sigmoid":
        s = np_activation("sigmoid", x)
        return dy * s * (1.0 - s)
    if name == "tanh":
        return dy * (1.0 - np.tanh(x) ** 2)
    if name == "softmax":
        y = np_activation("softmax", x)
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
    if name == "leaky_relu":
        return np.where(x > 0, dy, a * dy)
    if name == "gelu":
        cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return dy * (cdf + x * pdf)
    if name == "elu":
        return np.where(x > 0, dy, dy * a * np.exp(np.minimum(x, 0.0)))
    raise AssertionError(name)


def kill_during_saves(tmp_path, script_text: str, target, trials: int, seed: int = 0):
    """Kills a writer process at `trials` random points inside its saves (SIGKILL: no handler, no cleanup).

    The writer script (argv[1] is `target`) saves once, prints "ready <seconds that save took>", then for every line
    it reads on stdin prints "saving <marker>", saves, and prints "saved <marker>"; the marker is a number the saved
    file carries (a weight value, the optimizer's iteration count). Each trial starts a writer, lets it complete 0-2
    further saves, starts one more and kills the writer after a uniformly random delay of 0 to 1.2 times a save's
    duration. Yields (old, new, finished) after each kill: the marker of the last complete save, the marker of the
    save that was hit, and whether that save had finished before the kill."""
    import random
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "writer_script.py"
    script.write_text(script_text)
    rnd = random.Random(seed)
    for _ in range(trials):
        proc = subprocess.Popen([sys.executable, str(script), str(target)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, bufsize=1)
        try:
            word, seconds = proc.stdout.readline().split()
            assert word == "ready", word
            old = None
            for _ in range(rnd.randrange(3)):
                proc.stdin.write("go\n")
                proc.stdin.flush()
                proc.stdout.readline()  # saving
                old = proc.stdout.readline().split()[1]  # saved
            proc.stdin.write("go\n")
            proc.stdin.flush()
            word, new = proc.stdout.readline().split()
            assert word == "saving", word
            time.sleep(rnd.random() * 1.2 * float(seconds))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            finished = f"saved {new}" in proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdin.close()
            proc.stdout.close()
        yield old, new, finished
