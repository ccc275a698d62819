"""Tests for the model-level API (python/nncore/models.py <-> cpp/src/model/sequential.cpp).

Covers the Keras-compatible Sequential API, the checks on bad input, callbacks and reproducibility. Numbers
are checked against NumPy float64 computations on the model's own predict outputs and weights.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import nncore
from nncore.callbacks import Callback, History, LambdaCallback
from nncore.layers import Dense, Dropout, Flatten


# --------------------------------------------------------------- helpers

def mlp(n_in: int = 20, hidden: int = 16, n_out: int = 3, out_act: str = "softmax", seed: int = 0,
        dropout: float = 0.0) -> nncore.Sequential:
    """A small built MLP: n_in -> hidden (relu) [-> Dropout] -> n_out (out_act)."""
    nncore.set_random_seed(seed)
    layers = [Dense(hidden, activation="relu", input_shape=(n_in,))]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(n_out, activation=out_act))
    return nncore.Sequential(layers)


def data(n: int = 64, n_in: int = 20, n_out: int = 3, seed: int = 1):
    """Random float32 inputs and integer labels in [0, n_out)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    y = rng.integers(0, n_out, n)
    return x, y


def np_dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, act: str) -> np.ndarray:
    z = x.astype(np.float64) @ kernel.astype(np.float64) + bias.astype(np.float64)
    if act == "relu":
        return np.maximum(z, 0.0)
    if act == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    assert act == "linear"
    return z


def np_loss(name: str, y: np.ndarray, p: np.ndarray) -> float:
    """Keras losses in float64: mean over the batch of the per-sample loss."""
    p = p.astype(np.float64)
    y = np.asarray(y, np.float64)
    if name == "sparse_categorical_crossentropy":
        return float(-np.mean(np.log(p[np.arange(len(y)), y.astype(int)])))
    if name == "categorical_crossentropy":
        return float(-np.mean(np.sum(y * np.log(p), axis=1)))
    if name == "binary_crossentropy":
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    if name == "mse":
        return float(np.mean((p - y) ** 2))
    if name == "mae":
        return float(np.mean(np.abs(p - y)))
    raise AssertionError(name)


@pytest.fixture
def threads():
    """Restores the thread count a test changes."""
    before = nncore.get_num_threads()
    yield nncore.set_num_threads
    nncore.set_num_threads(before)


# --------------------------------------------------------------- structure, shapes, summary

def test_shape_inference_from_input_shape():
    model = nncore.Sequential([Dense(256, activation="relu", input_shape=(784,)), Dense(256, activation="relu"),
                               Dense(10, activation="softmax")])
    assert model.built
    assert model.input_shape == (None, 784)
    assert model.output_shape == (None, 10)
    assert [layer.output_shape for layer in model.layers] == [(None, 256), (None, 256), (None, 10)]
    assert model.count_params() == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10 == 269_322


def test_lazy_build_from_first_fit():
    model = nncore.Sequential([Dense(8, activation="relu"), Dense(3, activation="softmax")])
    assert not model.built
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data(n=40, n_in=5)
    model.fit(x, y, epochs=1, verbose=0)
    assert model.built
    assert model.input_shape == (None, 5)
    assert [w.shape for w in model.get_weights()] == [(5, 8), (8,), (8, 3), (3,)]
    # Once built, the input shape is fixed.
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 5\), got \(4, 6\)"):
        model.predict(np.zeros((4, 6)))


def test_lazy_build_from_first_predict_and_add():
    model = nncore.Sequential()
    model.add(Flatten())
    model.add(Dense(4))
    assert not model.built
    out = model.predict(np.ones((3, 2, 5), np.float32))
    assert out.shape == (3, 4)
    assert model.input_shape == (None, 2, 5)
    assert model.get_layer(index=1).get_weights()[0].shape == (10, 4)


def test_only_layers_can_be_added_once():
    with pytest.raises(TypeError, match=r"expected an nncore layer, got str"):
        nncore.Sequential(["dense"])
    layer = Dense(3, name="shared")
    model = nncore.Sequential([layer])
    with pytest.raises(ValueError, match=r"layer 'shared' is already in the model"):
        model.add(layer)
    assert len(model.layers) == 1


def test_pop_then_add_rebuilds_the_tail():
    model = nncore.Sequential([Dense(5, input_shape=(4,)), Dense(3)])
    model.pop()
    model.add(Dense(2))
    assert model.output_shape == (None, 2)
    assert model.predict(np.ones((6, 4))).shape == (6, 2)
    assert model.count_params() == 4 * 5 + 5 + 5 * 2 + 2


def test_explicit_build_with_batch_axis():
    model = nncore.Sequential([Dense(7), Dense(2)])
    model.build((None, 11))
    assert model.built and model.output_shape == (None, 2)
    assert model.count_params() == 11 * 7 + 7 + 7 * 2 + 2


def test_summary_text():
    model = nncore.Sequential([Dense(256, activation="relu", input_shape=(784,), name="hidden_a"),
                               Dense(256, activation="relu", name="hidden_b"),
                               Dense(10, activation="softmax", name="probs")], name="fmnist_mlp")
    lines: list = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "fmnist_mlp"' in text
    for layer_name, shape, params in [("hidden_a", "(None, 256)", "200,960"), ("hidden_b", "(None, 256)", "65,792"),
                                      ("probs", "(None, 10)", "2,570")]:
        row = next(line for line in text.splitlines() if layer_name in line)
        assert "Dense" in row and shape in row and row.rstrip().endswith(params), row
    assert "Total params: 269,322" in text
    assert "Trainable params: 269,322" in text
    assert "Non-trainable params: 0" in text


def test_summary_prints_to_stdout(capsys):
    mlp().summary()
    out = capsys.readouterr().out
    assert "Total params: " + f"{20 * 16 + 16 + 16 * 3 + 3:,}" in out


# --------------------------------------------------------------- weights

def test_get_set_weights_keras_layout_and_forward():
    model = mlp(n_in=6, hidden=5, n_out=4)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(6, 5), (5,), (5, 4), (4,)]  # Dense kernel is (in, out)
    assert all(w.dtype == np.float32 for w in weights)

    rng = np.random.default_rng(3)
    new = [rng.standard_normal(w.shape).astype(np.float32) for w in weights]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)

    x = rng.standard_normal((9, 6)).astype(np.float32)
    ref = np_dense(np_dense(x, new[0], new[1], "relu"), new[2], new[3], "softmax")
    np.testing.assert_allclose(model.predict(x), ref, rtol=1e-5, atol=1e-6)


def test_get_weights_returns_copies():
    model = mlp()
    w = model.get_weights()
    w[0][...] = 123.0
    assert not np.any(model.get_weights()[0] == 123.0)


def test_set_weights_transfers_predictions():
    a, b = mlp(seed=1), mlp(seed=2)
    x, _ = data()
    assert not np.array_equal(a.predict(x), b.predict(x))
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_set_weights_wrong_shape_or_count():
    model = mlp(n_in=6, hidden=5, n_out=4)
    w = model.get_weights()
    with pytest.raises(ValueError, match=r"kernel.*\(6, 5\).*got \(5, 6\)"):
        model.set_weights([w[0].T, w[1], w[2], w[3]])
    with pytest.raises(ValueError, match=r"expects 4 arrays, got 3"):
        model.set_weights(w[:3])
    with pytest.raises(ValueError, match=r"NaN or inf"):
        model.set_weights([w[0], w[1], np.full_like(w[2], np.nan), w[3]])
    # A failed set_weights leaves the weights alone.
    for got, want in zip(model.get_weights(), w):
        np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------- compile / fit / evaluate / predict

def test_fit_history_keys_and_lengths():
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data(n=80)
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.25)
    assert isinstance(history, History)
    assert model.history is history
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert all(0.0 <= a <= 1.0 for a in history.history["accuracy"] + history.history["val_accuracy"])

    history = model.fit(x, y, epochs=2, verbose=0, validation_data=(x[:10], y[:10]))
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 2 for v in history.history.values())
    # validation values are those of evaluate on the final weights of the epoch
    loss, acc = model.evaluate(x[:10], y[:10], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(loss, abs=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(acc, abs=1e-9)

    history = model.fit(x, y, epochs=2, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss"]


def test_fit_reduces_loss():
    model = mlp()
    model.compile(nncore.optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, _ = data(n=64)
    y = np.argmax(x[:, :3], axis=1)  # learnable labels
    history = model.fit(x, y, batch_size=16, epochs=30, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert history.history["accuracy"][-1] >= 0.9


def test_evaluate_return_types():
    x, y = data()
    model = mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, float)
    assert model.metrics_names == ["loss"]

    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2 and all(isinstance(v, float) for v in result)
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert as_dict == {"loss": result[0], "accuracy": result[1]}
    assert model.metrics_names == ["loss", "accuracy"]


def test_predict_shape_and_batching():
    model = mlp(n_out=5)
    x, _ = data(n=37)
    out = model.predict(x)
    assert out.shape == (37, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    # The batch size does not change the result (rows are independent).
    np.testing.assert_allclose(model.predict(x, batch_size=7), out, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict(x, batch_size=1000), out, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(model(x), out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8, np.int32, np.bool_])
def test_numeric_dtypes_are_converted(dtype):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 2, (12, 20))  # values exact in every dtype
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    want = model.predict(raw.astype(np.float32))
    np.testing.assert_array_equal(model.predict(raw.astype(dtype)), want)
    labels = np.array([0, 1, 2] * 4)
    want_eval = model.evaluate(raw.astype(np.float32), labels, verbose=0)
    assert model.evaluate(raw.astype(dtype), labels.astype(np.uint8), verbose=0) == want_eval
    model.fit(raw.astype(dtype), labels.astype(np.int64), epochs=1, verbose=0)  # accepted


def test_noncontiguous_input():
    model = mlp()
    x, _ = data(n=16, n_in=40)
    view = x[:, ::2]  # strided
    np.testing.assert_array_equal(model.predict(view), model.predict(np.ascontiguousarray(view)))


def test_train_on_batch_and_test_on_batch():
    model = mlp()
    model.compile(nncore.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data(n=32)
    before = model.test_on_batch(x, y)
    assert isinstance(before, list) and len(before) == 2
    assert before == pytest.approx(model.evaluate(x, y, batch_size=32, verbose=0), abs=1e-9)
    w0 = model.get_weights()
    trained = model.train_on_batch(x, y)
    # train_on_batch reports the loss of the weights before its update
    assert trained[0] == pytest.approx(before[0], abs=1e-6)
    assert trained[1] == pytest.approx(before[1], abs=1e-9)
    assert not np.array_equal(model.get_weights()[0], w0[0])
    for _ in range(20):
        model.train_on_batch(x, y)
    assert model.test_on_batch(x, y)[0] < before[0]
    assert model.test_on_batch(x, y, return_dict=True).keys() == {"loss", "accuracy"}


def test_train_on_batch_sgd_step_matches_numpy():
    # One SGD step on a linear layer with MSE: W -= lr * x^T (2 (xW + b - y) / (B * out)).
    nncore.set_random_seed(4)
    model = nncore.Sequential([Dense(3, input_shape=(5,))])
    lr = 0.05
    model.compile(nncore.optimizers.SGD(learning_rate=lr), "mse")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    W, b = (w.astype(np.float64) for w in model.get_weights())
    p = x @ W + b
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(np.mean((p - y) ** 2), rel=1e-5)
    g = 2.0 * (p - y) / p.size
    W_new, b_new = model.get_weights()
    np.testing.assert_allclose(W_new, W - lr * x.T.astype(np.float64) @ g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b_new, b - lr * g.sum(axis=0), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------- metrics and losses against NumPy

def _one_hot(y: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[y]


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_accuracy_and_loss_match_numpy_categorical(loss):
    model = mlp(n_out=4)
    model.compile("adam", loss, metrics=["accuracy"])
    x, y = data(n=100, n_out=4)
    targets = y if loss.startswith("sparse") else _one_hot(y, 4)
    model.fit(x, targets, epochs=3, batch_size=16, verbose=0)  # move away from the initial weights
    p = model.predict(x)
    ev_loss, ev_acc = model.evaluate(x, targets, batch_size=32, verbose=0)
    assert ev_acc == pytest.approx(np.mean(np.argmax(p, axis=1) == y), abs=1e-12)
    assert ev_loss == pytest.approx(np_loss(loss, targets, p), abs=1e-4)
    assert 0.0 < ev_acc < 1.0  # not a trivial value that any wrong metric would also give


def test_binary_accuracy_and_loss_match_numpy():
    model = mlp(n_out=1, out_act="sigmoid")
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    x, y = data(n=100, n_out=2)
    y = y.astype(np.float32).reshape(-1, 1)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    p = model.predict(x)
    ev_loss, ev_acc = model.evaluate(x, y, verbose=0)
    assert ev_acc == pytest.approx(np.mean((p > 0.5) == (y > 0.5)), abs=1e-12)
    assert ev_loss == pytest.approx(np_loss("binary_crossentropy", y, p), abs=1e-4)
    assert 0.0 < ev_acc < 1.0


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_regression_losses_match_numpy(loss):
    model = mlp(n_out=2, out_act="linear")
    model.compile("adam", loss, metrics=["mae"])
    rng = np.random.default_rng(7)
    x = rng.standard_normal((50, 20)).astype(np.float32)
    y = rng.standard_normal((50, 2)).astype(np.float32)
    model.fit(x, y, epochs=2, verbose=0)
    p = model.predict(x)
    ev_loss, ev_mae = model.evaluate(x, y, batch_size=16, verbose=0)
    assert ev_loss == pytest.approx(np_loss(loss, y, p), abs=1e-4)
    assert ev_mae == pytest.approx(np_loss("mae", y, p), abs=1e-4)


def test_from_logits_loss_matches_numpy():
    model = mlp(n_out=4, out_act="linear")
    model.compile("adam", nncore.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x, y = data(n=60, n_out=4)
    logits = model.predict(x).astype(np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    ev_loss, ev_acc = model.evaluate(x, y, verbose=0)
    assert ev_loss == pytest.approx(np_loss("sparse_categorical_crossentropy", y, probs), abs=1e-4)
    assert ev_acc == pytest.approx(np.mean(np.argmax(logits, axis=1) == y), abs=1e-12)


def test_validation_split_uses_last_fraction():
    # One epoch, no shuffle, one full batch of SGD: training sees exactly x[:60]; validation is x[60:].
    x, y = data(n=80)
    model = mlp(seed=3)
    w0 = model.get_weights()
    model.compile(nncore.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=60, epochs=1, shuffle=False, validation_split=0.25, verbose=0)

    ref = mlp(seed=99)
    ref.set_weights(w0)
    ref.compile(nncore.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    first = ref.train_on_batch(x[:60], y[:60])
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert history.history["loss"][0] == pytest.approx(first[0], abs=1e-6)

    val_loss, val_acc = model.evaluate(x[60:], y[60:], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(val_loss, abs=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(val_acc, abs=1e-12)
    head_loss = model.evaluate(x[:20], y[:20], verbose=0)[0]
    assert head_loss != pytest.approx(val_loss, abs=1e-3)


def test_validation_data_overrides_validation_split():
    # As in Keras: with validation_data, validation_split is ignored and every sample trains.
    class Batches(Callback):
        def __init__(self):
            super().__init__()
            self.n = 0

        def on_batch_end(self, batch, logs=None):
            self.n += 1

    x, y = data(n=100)
    model = _compiled()
    counter = Batches()
    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0, validation_split=0.5,
                        validation_data=(x[:7], y[:7]), callbacks=[counter])
    assert counter.n == 10
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x[:7], y[:7], verbose=0)[0], abs=1e-6)


def test_initial_epoch():
    model = _compiled()
    x, y = data()
    rec = Recorder()
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0, callbacks=[rec])
    assert history.epoch == [3, 4]
    assert len(history.history["loss"]) == 2
    assert rec.events == ["train_begin", "epoch_begin 3", "epoch_end 3", "epoch_begin 4", "epoch_end 4",
                          "train_end"]


def test_dropout_is_off_in_predict_and_evaluate():
    model = mlp(hidden=64, dropout=0.5)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data()
    first = model.predict(x)
    np.testing.assert_array_equal(model.predict(x), first)
    w = model.get_weights()  # Dropout has no weights: same arrays as the MLP without it
    ref = np_dense(np_dense(x, w[0], w[1], "relu"), w[2], w[3], "softmax")
    np.testing.assert_allclose(first, ref, rtol=1e-5, atol=1e-6)
    assert model.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


# --------------------------------------------------------------- verbose output

def _compiled(**kw) -> nncore.Sequential:
    model = mlp(**kw)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_verbose_0_prints_nothing(capsys):
    model = _compiled()
    x, y = data()
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    model.evaluate(x, y, verbose=0)
    model.predict(x)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_2_one_line_per_epoch(capsys):
    model = _compiled()
    x, y = data()
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=2, validation_split=0.25)
    out = capsys.readouterr().out
    assert "\r" not in out and "[" not in out  # no progress bar
    result_lines = [line for line in out.splitlines() if "loss:" in line]
    assert len(result_lines) == 3
    # Apart from the "Epoch i/n" headers (as Keras prints them), nothing else: no per-batch lines.
    assert [line for line in out.splitlines() if line and "loss:" not in line] == ["Epoch 1/3", "Epoch 2/3",
                                                                                  "Epoch 3/3"]
    for line, loss, val_acc in zip(result_lines, history.history["loss"], history.history["val_accuracy"]):
        assert f"loss: {loss:.4f}" in line
        assert f"val_accuracy: {val_acc:.4f}" in line


def test_verbose_1_progress_bar(capsys):
    model = _compiled()
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=8, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "loss:" in out and "accuracy:" in out
    assert re.search(r"8/8 \[=+\]", out), out  # a finished bar: 64 samples / batch 8
    model.evaluate(x, y)  # verbose='auto' is 1
    assert "loss:" in capsys.readouterr().out


def test_verbose_invalid():
    model = _compiled()
    x, y = data()
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=3)


# --------------------------------------------------------------- callbacks

class Recorder(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.events: list = []
        self.epoch_logs: list = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch}")
        self.epoch_logs.append(dict(logs))

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_callback_hooks_in_order():
    model = _compiled()
    x, y = data()
    rec = Recorder()
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[rec], validation_split=0.25)
    assert rec.events == ["train_begin", "epoch_begin 0", "epoch_end 0", "epoch_begin 1", "epoch_end 1",
                          "train_end"]
    assert rec.model is model
    assert rec.params["epochs"] == 2
    assert [logs["loss"] for logs in rec.epoch_logs] == history.history["loss"]
    assert [logs["val_accuracy"] for logs in rec.epoch_logs] == history.history["val_accuracy"]
    assert all(set(logs) == {"loss", "accuracy", "val_loss", "val_accuracy"} for logs in rec.epoch_logs)


def test_stop_training_from_on_epoch_end():
    class StopAfterFirst(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    model = _compiled()
    x, y = data()
    rec = Recorder()
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[StopAfterFirst(), rec])
    assert len(history.history["loss"]) == 1
    assert history.epoch == [0]
    assert rec.events == ["train_begin", "epoch_begin 0", "epoch_end 0", "train_end"]
    # The flag does not leak into the next fit.
    assert len(model.fit(x, y, epochs=2, verbose=0).history["loss"]) == 2


def test_on_batch_end_called_once_per_batch():
    class Batches(Callback):
        def __init__(self):
            super().__init__()
            self.calls: list = []

        def on_batch_end(self, batch, logs=None):
            self.calls.append((batch, logs["loss"]))

    model = _compiled()
    x, y = data(n=50)
    cb = Batches()
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    assert [b for b, _ in cb.calls] == [0, 1, 2, 3] * 2  # ceil(50 / 16) = 4 batches per epoch
    assert all(math.isfinite(v) for _, v in cb.calls)
    # The last batch of an epoch reports the running mean, which is the epoch's loss.
    assert cb.calls[3][1] == pytest.approx(history.history["loss"][0], abs=1e-12)
    assert cb.calls[7][1] == pytest.approx(history.history["loss"][1], abs=1e-12)


def test_stop_training_from_on_batch_end():
    class StopAtBatch1(Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_batch_end(self, batch, logs=None):
            self.batches += 1
            if batch == 1:
                self.model.stop_training = True

    model = _compiled()
    x, y = data(n=64)
    cb = StopAtBatch1()
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[cb])
    assert cb.batches == 2
    assert len(history.history["loss"]) == 1


def test_lambda_callback():
    events: list = []
    cb = LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                        on_epoch_begin=lambda epoch, logs: events.append(("epoch", epoch)),
                        on_epoch_end=lambda epoch, logs: events.append(("loss", logs["loss"])),
                        on_batch_end=lambda batch, logs: events.append(("batch", batch)),
                        on_train_end=lambda logs: events.append("end"))
    model = _compiled()
    x, y = data(n=20)
    history = model.fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[cb])
    loss = history.history["loss"]
    assert events == ["begin", ("epoch", 0), ("batch", 0), ("batch", 1), ("loss", loss[0]),
                      ("epoch", 1), ("batch", 0), ("batch", 1), ("loss", loss[1]), "end"]


def test_callback_must_be_a_callback():
    model = _compiled()
    x, y = data()
    with pytest.raises(TypeError, match="Callback"):
        model.fit(x, y, verbose=0, callbacks=[lambda *a: None])


def test_exception_in_callback_propagates_and_model_stays_usable():
    class Boom(Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise ZeroDivisionError("boom")

    model = _compiled()
    x, y = data()
    with pytest.raises(ZeroDivisionError, match="boom"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[Boom()])
    assert np.all(np.isfinite(model.predict(x)))
    assert len(model.fit(x, y, epochs=1, verbose=0).history["loss"]) == 1


# --------------------------------------------------------------- bad input

def _fmnist_shaped() -> nncore.Sequential:
    nncore.set_random_seed(0)
    model = nncore.Sequential([Dense(32, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_wrong_input_shape_names_first_layer():
    model = _fmnist_shaped()
    first = model.layers[0].name
    x = np.zeros((5, 100), np.float32)
    y = np.zeros(5)
    pattern = rf"layer '{first}' \(Dense\) expected input of shape \(None, 784\), got \(5, 100\)"
    with pytest.raises(ValueError, match=r"fit: x: " + pattern):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: x: " + pattern):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"predict: x: " + pattern):
        model.predict(x)
    with pytest.raises(ValueError, match=pattern):
        model.train_on_batch(x, y)
    with pytest.raises(ValueError, match=pattern):
        model.test_on_batch(x, y)
    with pytest.raises(ValueError, match=r"validation x: " + pattern):
        model.fit(np.zeros((5, 784)), y, verbose=0, validation_data=(x, y))


def test_wrong_rank_input():
    model = _fmnist_shaped()
    with pytest.raises(ValueError, match=r"\(None, 784\), got \(5, 28, 28\)"):
        model.predict(np.zeros((5, 28, 28)))
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*got shape \(784,\)"):
        model.predict(np.zeros(784))
    with pytest.raises(ValueError, match=r"at least 2 dimensions"):
        model.evaluate(np.zeros(784), np.zeros(1), verbose=0)


def test_flatten_input_shape_mismatch():
    model = nncore.Sequential([Flatten(input_shape=(28, 28), name="flat"), Dense(10, activation="softmax")])
    assert model.predict(np.zeros((2, 28, 28), np.uint8)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"layer 'flat' \(Flatten\) expected input of shape \(None, 28, 28\), "
                                         r"got \(2, 784\)"):
        model.predict(np.zeros((2, 784)))


@pytest.mark.parametrize("bad", [np.array([["a"] * 784] * 3), np.zeros((3, 784), dtype=object),
                                 np.zeros((3, 784), dtype=np.complex64)], ids=["str", "object", "complex"])
def test_non_numeric_dtype_is_type_error(bad):
    model = _fmnist_shaped()
    with pytest.raises(TypeError, match=r"fit: x: expected a numeric array"):
        model.fit(bad, np.zeros(3), verbose=0)
    with pytest.raises(TypeError, match=r"predict: x: expected a numeric array"):
        model.predict(bad)
    with pytest.raises(TypeError, match=r"evaluate: x"):
        model.evaluate(bad, np.zeros(3), verbose=0)
    with pytest.raises(TypeError, match=r"fit: y: expected a numeric array"):
        model.fit(np.zeros((3, 784)), np.array(["0", "1", "2"]), verbose=0)


def test_python_lists_are_accepted_and_ragged_lists_rejected():
    model = nncore.Sequential([Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse")
    assert model.predict([[1, 2, 3], [4, 5, 6]]).shape == (2, 2)
    with pytest.raises((TypeError, ValueError)):
        model.predict([[1, 2, 3], [4, 5]])


def test_large_integers_are_type_error():
    model = _fmnist_shaped()
    with pytest.raises(TypeError, match=r"2\*\*24"):
        model.predict(np.full((2, 784), 2**25, dtype=np.int64))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs(value):
    model = _fmnist_shaped()
    x = np.zeros((4, 784))
    x[2, 100] = value
    y = np.zeros(4)
    with pytest.raises(ValueError, match=r"fit: x contains 1 non-finite"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: x contains 1 non-finite"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"predict: x contains 1 non-finite"):
        model.predict(x)
    with pytest.raises(ValueError, match=r"non-finite"):
        model.train_on_batch(x, y)
    with pytest.raises(ValueError, match=r"validation x contains 1 non-finite"):
        model.fit(np.zeros((4, 784)), y, verbose=0, validation_data=(x, y))
    y_bad = y.copy()
    y_bad[1] = value
    with pytest.raises(ValueError, match=r"y contains 1 non-finite"):
        model.fit(np.zeros((4, 784)), y_bad, verbose=0)


def test_non_finite_inputs_are_counted(isa):
    # The input scan (vectorized per ISA: 8, 16, 32 or 64 floats a step, then a tail) counts NaN, inf and -inf and
    # passes the largest finite values, wherever they are.
    rng = np.random.default_rng(4)
    for n in (1, 7, 8, 9, 15, 16, 17, 33, 100, 351):
        model = nncore.Sequential([Dense(2, input_shape=(n,))])
        x = rng.standard_normal((3, n)).astype(np.float32)
        x[0, 0] = np.finfo(np.float32).max
        x[1, -1] = -np.finfo(np.float32).max
        model.predict(x, verbose=0)  # finite: no error
        flat = x.reshape(-1)
        spots = sorted({0, 7, 8, 15, 16, flat.size - 1, flat.size // 2} & set(range(flat.size)))
        for k, i in enumerate(spots):
            flat[i] = (np.nan, np.inf, -np.inf)[k % 3]
        with pytest.raises(ValueError, match=rf"predict: x contains {len(spots)} non-finite"):
            model.predict(x, verbose=0)


def test_a_single_non_finite_input_is_found_anywhere(isa):
    # One NaN or inf at a time, at every position of 200 floats (three 64-float steps of the AVX-512 scan, eight
    # rounds of 32 on AVX2, and their tails): the vectorized scan must see each one by itself.
    model = nncore.Sequential([Dense(1, input_shape=(200,))])
    x = np.zeros((1, 200), np.float32)
    model.predict(x, verbose=0)
    for i in range(200):
        x[0, i] = (np.nan, np.inf, -np.inf)[i % 3]
        with pytest.raises(ValueError, match=r"predict: x contains 1 non-finite"):
            model.predict(x, verbose=0)
        x[0, i] = 0.0


@pytest.mark.parametrize("label", [10, -1, 1.5, 100])
def test_sparse_labels_out_of_range(label):
    model = _fmnist_shaped()
    x = np.zeros((4, 784))
    y = np.array([0, 1, label, 3])
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: y must hold integer class labels in "
                                         r"\[0, 10\).*index 2"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        model.train_on_batch(x, y)
    with pytest.raises(ValueError, match=r"validation y must hold integer class labels"):
        model.fit(x, np.zeros(4), verbose=0, validation_data=(x, y))


def test_binary_targets_out_of_range():
    nncore.set_random_seed(0)
    model = nncore.Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    x = np.ones((3, 4))
    for y in (np.array([0.0, 2.0, 1.0]), np.array([0.0, -1.0, 1.0])):
        with pytest.raises(ValueError, match=r"binary_crossentropy: y must hold target probabilities in \[0, 1\]"):
            model.fit(x, y, verbose=0)


def test_target_shape_must_match_loss():
    nncore.set_random_seed(0)
    model = nncore.Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    with pytest.raises(ValueError, match=r"categorical_crossentropy: expected y of shape \(None, 3\).*got \(2,\)"):
        model.fit(np.ones((2, 4)), np.array([1, 2]), verbose=0)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    with pytest.raises(ValueError,
                       match=r"sparse_categorical_crossentropy: expected y of shape \(None,\).*got \(2, 3\)"):
        model.fit(np.ones((2, 4)), np.eye(3)[[1, 2]], verbose=0)


def test_mismatched_lengths():
    model = _fmnist_shaped()
    x = np.zeros((8, 784))
    y = np.zeros(7)
    with pytest.raises(ValueError, match=r"fit: x and y must have the same number of samples, got 8 and 7"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: x and y .* got 8 and 7"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"train_on_batch: x and y .* got 8 and 7"):
        model.train_on_batch(x, y)
    with pytest.raises(ValueError, match=r"8 and 7"):
        model.test_on_batch(x, y)
    with pytest.raises(ValueError, match=r"validation x and y .* got 8 and 7"):
        model.fit(x, np.zeros(8), verbose=0, validation_data=(x, y))
    with pytest.raises(ValueError, match=r"validation_data must be a tuple"):
        model.fit(x, np.zeros(8), verbose=0, validation_data=(x,))


def test_empty_arrays():
    model = _fmnist_shaped()
    x = np.zeros((0, 784))
    y = np.zeros(0)
    with pytest.raises(ValueError, match=r"fit: x: expected at least one sample.*\(0, 784\)"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: x: expected at least one sample"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"predict: x: expected at least one sample"):
        model.predict(x)
    with pytest.raises(ValueError, match=r"at least one sample"):
        model.train_on_batch(x, y)
    with pytest.raises(ValueError, match=r"at least one sample"):
        model.test_on_batch(x, y)


@pytest.mark.parametrize("arg", ["batch_size", "epochs"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_batch_size_and_epochs_must_be_positive_ints(arg, value):
    model = _fmnist_shaped()
    x = np.zeros((4, 784))
    y = np.zeros(4)
    with pytest.raises(ValueError, match=rf"fit: {arg} must be an int >= 1, got {value!r}"):
        model.fit(x, y, verbose=0, **{arg: value})


def test_evaluate_and_predict_batch_size_must_be_positive():
    model = _fmnist_shaped()
    x = np.zeros((4, 784))
    with pytest.raises(ValueError, match=r"evaluate: batch_size must be an int >= 1, got 0"):
        model.evaluate(x, np.zeros(4), batch_size=0, verbose=0)
    with pytest.raises(ValueError, match=r"predict: batch_size must be an int >= 1, got -2"):
        model.predict(x, batch_size=-2)


@pytest.mark.parametrize("split", [-0.1, 1.0, 1.5, 0.95])
def test_bad_validation_split(split):
    model = _fmnist_shaped()
    with pytest.raises(ValueError, match=r"validation_split"):
        model.fit(np.zeros((10, 784)), np.zeros(10), verbose=0, validation_split=split)


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match=r"unknown activation 'relux'; valid activations: .*relu.*softmax"):
        Dense(3, activation="relux")
    model = _fmnist_shaped()
    with pytest.raises(ValueError, match=r"unknown loss 'crossentropy'; valid losses: .*mse.*"
                                         r"sparse_categorical_crossentropy"):
        model.compile("adam", "crossentropy")
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamx'; valid optimizers: sgd, adam, adamw, adagrad, rmsprop"):
        model.compile("adamx", "mse")
    with pytest.raises(ValueError, match=r"unknown metric 'acuracy'.*valid metrics: accuracy"):
        model.compile("adam", "mse", metrics=["acuracy"])
    with pytest.raises(ValueError, match=r"a loss is required"):
        model.compile("adam")
    # A failed compile keeps the previous configuration.
    assert model.metrics_names == ["loss", "accuracy"]
    assert model.loss.name == "sparse_categorical_crossentropy"


def test_use_before_compile_is_runtime_error():
    model = nncore.Sequential([Dense(2, input_shape=(3,))])
    x, y = np.ones((2, 3)), np.ones((2, 2))
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.train_on_batch(x, y), lambda: model.test_on_batch(x, y)):
        with pytest.raises(RuntimeError, match=r"must be compiled"):
            call()
    assert model.predict(x).shape == (2, 2)  # as in Keras, predict needs no compile


def test_fit_without_layers():
    model = nncore.Sequential()
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"no layers"):
        model.fit(np.ones((2, 3)), np.ones((2, 1)), verbose=0)


# --------------------------------------------------------------- reproducibility

def _train_run(seed: int = 123) -> tuple:
    """Build, compile and fit under a seed (init, shuffle and Dropout all draw from it).

    Sized so that with 2+ threads the GEMMs, the element-wise kernels (256 x 512 activations), the bias
    reductions and the Adam update (131k weights) all take their parallel paths.
    """
    nncore.set_random_seed(seed)
    model = nncore.Sequential([Dense(512, activation="relu", input_shape=(64,)), Dropout(0.3),
                               Dense(256, activation="tanh"), Dense(7, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1000, 64)).astype(np.float32)
    y = rng.integers(0, 7, 1000)
    history = model.fit(x, y, batch_size=256, epochs=2, verbose=0, validation_split=0.2)
    return model.get_weights(), history.history, model.predict(x)


def _assert_runs_identical(a: tuple, b: tuple) -> None:
    for wa, wb in zip(a[0], b[0]):
        np.testing.assert_array_equal(wa, wb)
    assert a[1] == b[1]  # losses and metrics bit-identical
    np.testing.assert_array_equal(a[2], b[2])


def test_same_seed_gives_bit_identical_training():
    first, second = _train_run(), _train_run()
    _assert_runs_identical(first, second)
    third = _train_run(seed=124)
    assert not np.array_equal(first[0][0], third[0][0])


def test_thread_count_does_not_change_results(threads):
    threads(1)
    one = _train_run()
    for n in (2, 3):
        threads(n)
        _assert_runs_identical(one, _train_run())
