"""Tests for the runtime controls (cpp/src/runtime.cpp, cpp/src/kernels/cpu.cpp) and Ctrl-C during fit.

Environment variables are read once, when the library loads, so those tests run in a child interpreter.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import nncore

ISAS = ("generic", "avx2", "avx512")


def run_child(code: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter with ``env`` added to (or, for None values, removed from) ours."""
    full_env = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            full_env.pop(k, None)
        else:
            full_env[k] = v
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env, capture_output=True,
                          text=True, timeout=timeout)


# --------------------------------------------------------------- threads

def test_set_num_threads_rejects_non_positive():
    before = nncore.get_num_threads()
    for bad in (0, -1):
        with pytest.raises(ValueError, match=rf"set_num_threads: expected n >= 1, got {bad}"):
            nncore.set_num_threads(bad)
    assert nncore.get_num_threads() == before


def test_set_num_threads_round_trip():
    before = nncore.get_num_threads()
    try:
        nncore.set_num_threads(3)
        assert nncore.get_num_threads() == 3
        nncore.set_num_threads(1)
        assert nncore.get_num_threads() == 1
    finally:
        nncore.set_num_threads(before)


@pytest.mark.parametrize("value", ["1", "3"])
def test_default_threads_follow_omp_num_threads(value):
    proc = run_child("import nncore; print(nncore.get_num_threads())", env={"OMP_NUM_THREADS": value})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == value


def test_default_threads_without_omp_num_threads():
    proc = run_child("import os, nncore; print(nncore.get_num_threads(), len(os.sched_getaffinity(0)))",
                     env={"OMP_NUM_THREADS": None})
    assert proc.returncode == 0, proc.stderr
    n, available = map(int, proc.stdout.split())
    assert n == available


# --------------------------------------------------------------- ISA selection

def test_set_isa_rejects_unknown_names():
    before = nncore.get_isa()
    with pytest.raises(ValueError, match=r"expected one of generic, avx2, avx512; got 'bogus'"):
        nncore.set_isa("bogus")
    assert nncore.get_isa() == before


def test_set_isa_generic_round_trip():
    before = nncore.get_isa()
    assert before in ISAS
    try:
        nncore.set_isa("generic")
        assert nncore.get_isa() == "generic"
    finally:
        nncore.set_isa(before)
    assert nncore.get_isa() == before


# Trains a tiny classifier and reports the ISA in use and the results as JSON.
TINY_TRAINING = """
    import json
    import numpy as np
    import nncore
    from nncore.layers import Dense

    nncore.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.float32)  # a non-linear rule
    model = nncore.Sequential([Dense(32, activation="relu", input_shape=(8,)), Dense(32, activation="relu"),
                               Dense(1, activation="sigmoid")])
    model.compile(nncore.optimizers.Adam(learning_rate=0.01), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=60, verbose=0)
    loss, acc = model.evaluate(x, y, verbose=0)
    print(json.dumps({"isa": nncore.get_isa(), "loss": loss, "acc": acc, "first_loss": history.history["loss"][0]}))
"""


def test_nncore_isa_generic_env_trains_like_the_default():
    generic = run_child(TINY_TRAINING, env={"NNCORE_ISA": "generic"})
    assert generic.returncode == 0, generic.stderr
    default = run_child(TINY_TRAINING, env={"NNCORE_ISA": None})
    assert default.returncode == 0, default.stderr
    g, d = json.loads(generic.stdout), json.loads(default.stdout)

    assert g["isa"] == "generic"
    assert d["isa"] == nncore._core.best_isa()
    assert g["acc"] >= 0.95 and d["acc"] >= 0.95
    # Same math on another SIMD path: the first epoch agrees closely (later ones may drift apart in rounding).
    assert g["first_loss"] == pytest.approx(d["first_loss"], rel=1e-4)
    assert abs(g["acc"] - d["acc"]) <= 0.03


def test_nncore_isa_env_with_unknown_value_still_loads():
    # A bad NNCORE_ISA must not make the library unusable: it falls back to the best path of this CPU.
    proc = run_child("import nncore; print(nncore.get_isa())", env={"NNCORE_ISA": "bogus"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == nncore._core.best_isa()


@pytest.mark.parametrize("isa", ISAS)
def test_nncore_isa_env_never_exceeds_the_cpu(isa):
    proc = run_child("import nncore; print(nncore.get_isa())", env={"NNCORE_ISA": isa})
    assert proc.returncode == 0, proc.stderr
    best = nncore._core.best_isa()
    assert proc.stdout.strip() == (isa if ISAS.index(isa) <= ISAS.index(best) else best)


# --------------------------------------------------------------- Ctrl-C

CTRL_C_CHILD = """
    import signal, sys
    import numpy as np
    import nncore
    from nncore.callbacks import Callback
    from nncore.layers import Dense

    class Ready(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                print("READY", flush=True)

    nncore.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16384, 64)).astype(np.float32)  # ~0.1 s per epoch: SIGINT lands mid-epoch
    y = rng.integers(0, 10, 16384)
    model = nncore.Sequential([Dense(256, activation="relu", input_shape=(64,)), Dense(256, activation="relu"),
                               Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    try:
        model.fit(x, y, batch_size=32, epochs=100000, verbose=0, callbacks=[Ready()])
    except KeyboardInterrupt:
        weights = model.get_weights()
        assert all(np.all(np.isfinite(w)) for w in weights), "non-finite weights after Ctrl-C"
        p = model.predict(x[:50])
        assert p.shape == (50, 10) and np.all(np.isfinite(p)), "predict broken after Ctrl-C"
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
        n = len(model.history.history["loss"])
        assert model.history.epoch == list(range(n)), (model.history.epoch, n)
        # Python's own handler is back, and the model trains again.
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, repr(signal.getsignal(signal.SIGINT))
        assert len(model.fit(x[:64], y[:64], epochs=1, verbose=0).history["loss"]) == 1
        print("CLEAN", n, flush=True)
        sys.exit(0)
    print("NOT INTERRUPTED", flush=True)
    sys.exit(1)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX-only")
def test_ctrl_c_stops_fit_cleanly():
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CTRL_C_CHILD)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(60, proc.kill)  # never hang the suite
    killer.start()
    try:
        first = proc.stdout.readline()
        assert first.strip() == "READY", first + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"rc={proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    words = out.split()
    assert words[0] == "CLEAN", out
    n_epochs = int(words[1])
    assert 1 <= n_epochs < 100000


SIGINT_RESTORED_CHILD = """
    import os, signal, time
    import numpy as np
    import nncore
    from nncore.callbacks import Callback
    from nncore.layers import Dense

    def sigint_raises() -> bool:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(2)  # Python runs its handler at the next bytecode; this sleep is cut short by it
        except KeyboardInterrupt:
            return True
        return False

    class Boom(Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise ZeroDivisionError("boom")

    model = nncore.Sequential([Dense(2, activation="softmax", input_shape=(3,))])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.ones((8, 3)), np.zeros(8)
    model.fit(x, y, epochs=2, verbose=0)
    after_fit = sigint_raises()
    try:
        model.fit(x, y, epochs=2, verbose=0, callbacks=[Boom()])
    except ZeroDivisionError:
        pass
    after_error = sigint_raises()
    print(after_fit, after_error)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_python_sigint_handler_is_restored_after_fit():
    # fit installs its own SIGINT handler; afterwards (also after an exception) Ctrl-C must raise again.
    proc = run_child(SIGINT_RESTORED_CHILD)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]
