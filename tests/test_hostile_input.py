"""Hostile and careless input found by probing the public API (issue 11): metrics reading targets laid out for another
loss, forged model files that ask the loader for too much, read-only input arrays, and allocations that cannot be
had. Each test failed on the main branch before its fix (out-of-bounds read, a hang, a ValueError, a bare
std::bad_alloc)."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

import nncore
from model_files import forge, split_file
from nncore import Input, Model, Sequential
from nncore.layers import Activation, Conv2D, Dense, Embedding, Flatten, LSTM

LOSSES = ["mse", "mae", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]
METRICS = ["accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy", "mse", "mae",
           "mean_squared_error", "mean_absolute_error", "top_k_categorical_accuracy",
           "sparse_top_k_categorical_accuracy"]
SPARSE_METRICS = {"sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"}
# Wall-clock bounds are for the release build; tools/sanitizer_tests.sh sets NNCORE_TIME_SCALE for its -O1 build.
TIME_SCALE = float(os.environ.get("NNCORE_TIME_SCALE", "1"))


def test_every_mean_metric_name_is_covered():
    # The names of per-sample metrics; the confusion-matrix ones (precision, auc, ...) are tested in test_metrics.py.
    assert set(METRICS) <= set(nncore._core.metric_names())


# ---- 1. a metric reads the targets its loss validated --------------------------------------------------------

def _targets(loss: str, n: int, c: int, rng) -> np.ndarray:
    t = rng.integers(0, c, n)
    return t.astype(np.float32) if loss == "sparse_categorical_crossentropy" else np.eye(c, dtype=np.float32)[t]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("metric", METRICS)
def test_metric_and_loss_target_layouts_agree_or_compile_refuses(loss, metric):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = _targets(loss, 8, 3, rng)
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    sparse_loss = loss == "sparse_categorical_crossentropy"
    if (metric in SPARSE_METRICS) != sparse_loss and metric not in ("accuracy", "acc"):
        # Keras: "Incompatible shapes: [8] vs. [8,3]" on the first batch; nncore at compile, naming both shapes.
        full = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}.get(loss, loss)
        with pytest.raises(ValueError, match=rf"metric '{metric}'.*loss '{full}'.*incompatible shapes "
                                             rf"\(None,\) vs \(None, 3\)"):
            model.compile("sgd", loss, metrics=[metric])
        return
    model.compile("sgd", loss, metrics=[metric])
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    loss_value, value = model.evaluate(x, y, batch_size=5, verbose=0)
    p = model.predict(x).astype(np.float64)
    if metric in ("mse", "mean_squared_error"):
        assert value == pytest.approx(np.mean((p - y) ** 2), rel=1e-5)
    elif metric in ("mae", "mean_absolute_error"):
        assert value == pytest.approx(np.mean(np.abs(p - y)), rel=1e-5)
    else:
        assert 0.0 <= value <= 1.0


def test_sparse_loss_with_mae_is_refused_for_an_unbuilt_model_too():
    model = Sequential([Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match=r"metric 'mae'.*'sparse_categorical_crossentropy' takes integer labels of "
                                         r"shape \(None, \.\.\.\)"):
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["mae"])


def test_refusal_names_what_to_use_instead():
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    with pytest.raises(ValueError, match="use 'sparse_categorical_accuracy'"):
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["categorical_accuracy"])
    with pytest.raises(ValueError, match="use 'categorical_accuracy'"):
        model.compile("adam", "categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    with pytest.raises(ValueError, match="use 'top_k_categorical_accuracy'"):
        model.compile("adam", "mse", metrics=["sparse_top_k_categorical_accuracy"])


def test_per_output_metrics_of_a_two_output_model():
    x = Input((4,))
    cls = Dense(3, activation="softmax", name="cls")(x)
    reg = Dense(2, name="reg")(x)
    model = Model(x, [cls, reg])
    with pytest.raises(ValueError, match=r"metric 'mae'.*incompatible shapes \(None,\) vs \(None, 3\)"):
        model.compile("adam", ["sparse_categorical_crossentropy", "mse"], metrics=["mae"])
    model.compile("adam", ["sparse_categorical_crossentropy", "mse"], metrics=["accuracy"])
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((6, 4)).astype(np.float32)
    model.fit(xs, [rng.integers(0, 3, 6), rng.standard_normal((6, 2))], epochs=1, verbose=0)


# ---- 2. forged model files: bounded, linear-time loading ----------------------------------------------------

def _base_file(tmp_path, functional: bool):
    if functional:
        x = Input((4,), name="in")
        model = Model(x, Activation("relu", name="act")(Dense(3, name="d")(x)))
    else:
        model = Sequential([Dense(3, input_shape=(4,), name="d"), Activation("relu", name="act")])
    model.save(tmp_path / "base.nncore")
    header, data = split_file((tmp_path / "base.nncore").read_bytes())
    del header["__metadata__"]["nncore_checksum"]
    return header, data, json.loads(header["__metadata__"]["model_config"])


def _with_layers(header, data, config, n: int, functional: bool, named: bool = True) -> bytes:
    """The base model with `n` more relu Activation layers in a chain after it."""
    layers = list(config["layers"])
    nodes = list(config.get("nodes", []))
    prev = layers[-1]["config"]["name"]
    for i in range(n):
        spec = {"class_name": "Activation", "config": {"activation": "relu"}}
        if named:
            spec["config"]["name"] = f"a{i}"
        if functional:
            nodes.append({"layer": f"a{i}", "inbound": [prev]})  # a bare name: call 0, output 0
            prev = f"a{i}"
        layers.append(spec)
    c = dict(config, layers=layers)
    if functional:
        c["nodes"] = nodes
        c["outputs"] = [[prev, 0, 0]]
    h = json.loads(json.dumps(header))
    h["__metadata__"]["model_config"] = json.dumps(c, separators=(",", ":"))
    return forge(h, data)


def _load_time(path) -> float:
    t0 = time.perf_counter()
    try:
        nncore.load_model(path)
    except nncore.ModelFileError:
        pass
    return time.perf_counter() - t0


@pytest.mark.parametrize("functional", [False, True])
def test_too_many_layers_are_refused_up_front(tmp_path, functional):
    header, data, config = _base_file(tmp_path, functional)
    # 150,000 layers in ~6 MB (~15 MB with a functional model's list of calls): the probe's file (200,000 layers)
    # hung the loader (quadratic Sequential.add); now refused at once.
    blob = _with_layers(header, data, config, 150_000, functional, named=False)
    (tmp_path / "big.nncore").write_bytes(blob)
    t0 = time.perf_counter()
    with pytest.raises(nncore.ModelFileError, match=r"150002 layers .* exceed the limit of 100000 layers per model "
                                                     r"\(nncore::kMaxModelLayers\)|150002 layers and 1 inputs exceed"):
        nncore.load_model(tmp_path / "big.nncore")
    assert time.perf_counter() - t0 < 5.0 * TIME_SCALE


def test_oversized_config_is_refused_naming_the_limit(tmp_path):
    header, data, config = _base_file(tmp_path, False)
    h = json.loads(json.dumps(header))
    h["__metadata__"]["model_config"] = json.dumps(dict(config, padding="x" * (17 << 20)))
    (tmp_path / "big.nncore").write_bytes(forge(h, data))
    with pytest.raises(nncore.ModelFileError, match=r"model_config is \d+ bytes, over the limit of 16777216 bytes "
                                                     r"\(nncore::kMaxConfigBytes\)"):
        nncore.load_model(tmp_path / "big.nncore")


def test_deeply_nested_config_is_refused(tmp_path):
    header, data, config = _base_file(tmp_path, False)
    deep = {}
    for _ in range(100):
        deep = {"x": deep}
    c = json.loads(json.dumps(config))
    c["layers"][1]["config"]["extra"] = deep
    h = json.loads(json.dumps(header))
    h["__metadata__"]["model_config"] = json.dumps(c)
    (tmp_path / "deep.nncore").write_bytes(forge(h, data))
    with pytest.raises(nncore.ModelFileError, match="nesting deeper than 64"):
        nncore.load_model(tmp_path / "deep.nncore")


@pytest.mark.parametrize("functional", [False, True])
def test_a_one_megabyte_file_loads_within_a_second(tmp_path, functional):
    header, data, config = _base_file(tmp_path, functional)
    # As many layers as fit in 1 MB (the cheapest spec the loader accepts), loaded for real: linear time.
    n = 1
    while len(_with_layers(header, data, config, n * 2, functional, named=functional)) <= 1 << 20:
        n *= 2
    lo, hi = n, n * 2
    while hi - lo > 64:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if len(_with_layers(header, data, config, mid, functional, named=functional)) <= 1 << 20 \
            else (lo, mid)
    blob = _with_layers(header, data, config, lo, functional, named=functional)
    assert len(blob) <= 1 << 20
    path = tmp_path / "mb.nncore"
    path.write_bytes(blob)
    model = nncore.load_model(path)
    assert len(model.layers) == lo + 2 + (1 if functional else 0)  # a functional model lists its InputLayer
    x = np.ones((2, 4), np.float32)
    first = model.layers[1 if functional else 0]
    np.testing.assert_array_equal(model.predict(x), np.maximum(x @ first.get_weights()[0] + first.get_weights()[1], 0))
    assert min(_load_time(path) for _ in range(3)) < 1.0 * TIME_SCALE  # best of three: the machine is shared


def test_a_long_functional_chain_builds_and_releases_without_deep_recursion(tmp_path):
    # 100,000 layers: the graph walk and the release of the symbolic tensors were recursive (60,000 overflowed the
    # stack). One more than a file may hold with its input, so save refuses it rather than write an unloadable file.
    x = Input((2,))
    h = x
    for _ in range(100_000):
        h = Activation("relu")(h)
    model = Model(x, h)
    np.testing.assert_array_equal(model.predict(np.array([[1.0, -1.0]], np.float32)), [[1.0, 0.0]])
    with pytest.raises(ValueError, match=r"100000 layers and 1 inputs, over the limit of 100000 per model file "
                                         r"\(nncore::kMaxModelLayers\)"):
        model.save(tmp_path / "long.nncore")
    assert not (tmp_path / "long.nncore").exists()
    del model, h, x


def test_a_file_with_compile_settings_refused_today_still_loads_without_them(tmp_path):
    # Files written before the metric check may pair a sparse loss with 'mae': the architecture and weights load,
    # the compile settings are refused with the way out.
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,), name="d")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.save(tmp_path / "m.nncore")
    header, data = split_file((tmp_path / "m.nncore").read_bytes())
    del header["__metadata__"]["nncore_checksum"]
    compile_config = json.loads(header["__metadata__"]["compile_config"])
    compile_config["metrics"] = ["mae"]
    header["__metadata__"]["compile_config"] = json.dumps(compile_config)
    (tmp_path / "old.nncore").write_bytes(forge(header, data))
    with pytest.raises(nncore.ModelFileError, match=r"compile settings are refused: compile: metric 'mae'.*load with "
                                                     r"compile=False"):
        nncore.load_model(tmp_path / "old.nncore")
    loaded = nncore.load_model(tmp_path / "old.nncore", compile=False)
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


# ---- 3. read-only input arrays ------------------------------------------------------------------------------

def _readonly_variants(a: np.ndarray, tmp_path, name: str):
    frozen = a.copy()
    frozen.setflags(write=False)
    np.save(tmp_path / f"{name}.npy", a)
    mapped = np.load(tmp_path / f"{name}.npy", mmap_mode="r")  # PROT_READ pages: any write would fault
    assert not mapped.flags.writeable and not frozen.flags.writeable
    return {"frozen": frozen, "mmap": mapped, "broadcast": np.broadcast_to(a[:1], a.shape)}


def test_predict_fit_evaluate_accept_read_only_arrays(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 5)).astype(np.float32)
    y = rng.integers(0, 3, 12).astype(np.float32)
    nncore.set_random_seed(3)
    model = Sequential([Dense(8, activation="relu", input_shape=(5,)), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    xs, ys = _readonly_variants(x, tmp_path, "x"), _readonly_variants(y, tmp_path, "y")
    want = model.predict(x)
    for kind in ("frozen", "mmap"):
        np.testing.assert_array_equal(model.predict(xs[kind]), want)
        np.testing.assert_array_equal(model.evaluate(xs[kind], ys[kind], verbose=0), model.evaluate(x, y, verbose=0))
    np.testing.assert_array_equal(model.predict(xs["broadcast"]), np.broadcast_to(want[:1], want.shape))
    model.fit(xs["mmap"], ys["mmap"], epochs=2, batch_size=4, verbose=0,
              validation_data=(xs["frozen"], ys["frozen"]))
    model.train_on_batch(xs["mmap"], ys["mmap"])
    model.test_on_batch(xs["frozen"], ys["frozen"])
    np.testing.assert_array_equal(xs["mmap"], x)  # never written
    np.testing.assert_array_equal(ys["mmap"], y)


def test_layers_and_ops_accept_read_only_arrays(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    ro = _readonly_variants(x, tmp_path, "img")["mmap"]
    conv = Conv2D(4, 3)
    np.testing.assert_array_equal(conv.forward(ro), conv.forward(x))
    dy = np.ones((2, 4, 4, 4), np.float32)
    dy.setflags(write=False)
    assert conv.backward(dy).shape == x.shape
    a = rng.standard_normal((5, 7)).astype(np.float32)
    a.setflags(write=False)
    np.testing.assert_allclose(nncore.ops.matmul(a, a.T), a.astype(np.float64) @ a.T, rtol=1e-5, atol=1e-5)
    seq = _readonly_variants(rng.standard_normal((2, 4, 3)).astype(np.float32), tmp_path, "seq")["mmap"]
    assert LSTM(5).forward(seq).shape == (2, 5)
    ids = np.array([[1, 2, 0]], np.float32)
    ids.setflags(write=False)
    assert Embedding(4, 2).forward(ids).shape == (1, 3, 2)


# ---- 4. allocations that cannot be had ----------------------------------------------------------------------

# Every request below is larger than the 128 TiB a process can address, so it fails whatever the kernel's overcommit
# policy (a smaller one could be granted under vm.overcommit_memory=1 and then kill the process when touched).

def test_out_of_memory_names_the_layer_weight_shape_and_bytes():
    with pytest.raises(MemoryError, match=r"Dense 'huge': out of memory for weight 'kernel' of shape "
                                          r"\(4, 100000000000000\): it needs 1\.6 PB \(1600000000000000 bytes\)"):
        Sequential([Dense(10**14, input_shape=(4,), name="huge")])
    x = Input((4,))
    with pytest.raises(MemoryError, match=r"Dense 'big'.*weight 'kernel' of shape \(4, 100000000000000\)"):
        Dense(10**14, name="big")(x)
    with pytest.raises(MemoryError, match=r"Conv2D 'c'.*weight 'kernel' of shape \(3, 3, 2, 10000000000000\)"):
        Sequential([Conv2D(10**13, 3, input_shape=(8, 8, 2), name="c")])


def test_a_build_that_runs_out_of_memory_leaves_no_weights_behind():
    # The kernel (1, 4u) fits; the recurrent kernel (u, 4u) = 2**46 floats does not.
    layer = LSTM(2**22, name="wide")
    with pytest.raises(MemoryError, match=r"LSTM 'wide'.*weight 'recurrent_kernel' of shape \(4194304, 16777216\)"):
        layer.forward(np.zeros((1, 2, 1), np.float32))
    assert layer.weights == []
    with pytest.raises(MemoryError, match="recurrent_kernel"):  # the same error again, not a duplicate 'kernel'
        layer.forward(np.zeros((1, 2, 1), np.float32))


def test_out_of_memory_for_activations_says_how_much():
    model = Sequential([Flatten(input_shape=(1,)), Dense(2**24)])  # 64 MB of kernel: allocates
    x = np.zeros((2**22, 1), np.float32)  # 2**46 floats of output (281 TB): cannot
    with pytest.raises(MemoryError, match=r"cannot allocate 281\.5 TB .* for a float32 tensor of shape "
                                          r"\(4194304, 16777216\)"):
        model.predict(x, batch_size=2**22)
