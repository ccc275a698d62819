"""Custom layers by subclassing (the patterns of Keras's "making new layers and models via subclassing" guide):
weights from add_weight, eager calls on arrays, tracing into C++ graphs that train, nested custom layers,
a call that branches on `training`, get_config/from_config, saving with registration, loading in C++."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

import nncore
from nncore import ops
from nncore.layers import Dense, Layer, Lambda
from graph_helpers import gradient_errors, seeded  # noqa: F401 - seeded: an autouse fixture


class Linear(Layer):
    """The guide's first example: weights created in __init__."""

    def __init__(self, units=32, input_dim=32, **kwargs):
        super().__init__(**kwargs)
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True, name="w")
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True, name="b")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class LazyLinear(Layer):
    """Weights created in build(), once the input shape is known; a get_config for from_config."""

    def __init__(self, units=32, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = activation

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        y = ops.matmul(inputs, self.w) + self.b
        return ops.relu(y) if self.activation == "relu" else y

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation}


class MLPBlock(Layer):
    """Nested custom layers: sublayers assigned as attributes are tracked."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.linear_1 = LazyLinear(8, activation="relu")
        self.linear_2 = LazyLinear(4, activation="relu")
        self.linear_3 = LazyLinear(1)

    def call(self, inputs):
        return self.linear_3(self.linear_2(self.linear_1(inputs)))


class NoisyScale(Layer):
    """A call that branches on `training` (traced once per mode) and a non-trainable weight."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scale = self.add_weight(shape=(), initializer="ones", trainable=False, name="scale")

    def call(self, inputs, training=None):
        if training:
            return inputs * 0.5
        return inputs * self.scale


def test_linear_eager_matches_numpy_and_weights_are_views():
    nncore.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    layer = Linear(4, 3)
    assert [w.shape for w in layer.weights] == [(3, 4), (4,)]
    assert layer.w.shape == (3, 4) and layer.w.path.endswith("/w")
    w, b = layer.get_weights()
    assert 0.02 < w.std() < 0.08  # RandomNormal(stddev=0.05)
    np.testing.assert_allclose(layer(x), x @ w + b, rtol=1e-6)
    layer.b.assign(np.ones(4))
    np.testing.assert_allclose(layer(x), x @ w + 1, rtol=1e-6)
    assert len(layer.trainable_weights) == 2 and not layer.non_trainable_weights


def test_custom_layer_in_a_model_trains_like_dense_and_gradients_check():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 5)).astype(np.float32)
    y = (x @ rng.standard_normal((5, 1))).astype(np.float32)
    inp = nncore.Input((5,))
    layer = LazyLinear(1, name="lin")
    model = nncore.Model(inp, layer(inp))
    assert model.output_shape == (None, 1) and [w.shape for w in layer.weights] == [(5, 1), (1,)]
    model.compile(nncore.optimizers.Adam(0.05), "mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=20, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.01 * before, (before, after)
    errors = gradient_errors(model, x[:6], y[:6])
    assert max(errors.values()) < 1e-2, errors
    # The trained weights are the layer's: its eager call agrees with the model.
    np.testing.assert_allclose(layer(x[:3]), model.predict(x[:3]), rtol=1e-5, atol=1e-6)


def test_nested_custom_layers():
    nncore.set_random_seed(2)
    rng = np.random.default_rng(2)
    block = MLPBlock()
    x = rng.standard_normal((4, 6)).astype(np.float32)
    eager = block(x)  # builds the sublayers eagerly
    assert eager.shape == (4, 1) and len(block.weights) == 6
    inp = nncore.Input((6,))
    model = nncore.Model(inp, block(inp))
    np.testing.assert_allclose(model.predict(x), eager, rtol=1e-5, atol=1e-6)
    model.compile("sgd", "mse")
    errors = gradient_errors(model, x, rng.standard_normal((4, 1)).astype(np.float32))
    assert max(errors.values()) < 1e-2, errors
    assert model.count_params() == 6 * 8 + 8 + 8 * 4 + 4 + 4 + 1


def test_training_branch_and_non_trainable_weight():
    inp = nncore.Input((3,))
    layer = NoisyScale()
    model = nncore.Model(inp, Dense(2, name="head")(layer(inp)))
    x = np.ones((4, 3), np.float32)
    layer.scale.assign(3.0)
    W, b = model.get_layer("head").get_weights()
    np.testing.assert_allclose(model.predict(x), (3 * x) @ W + b, rtol=1e-5)  # inference branch
    model.compile("sgd", "mse")
    model.train_on_batch(x, np.zeros((4, 2), np.float32))
    assert float(layer.scale.numpy()) == 3.0  # not trainable: unchanged by the step
    assert layer.non_trainable_weights and not layer.trainable_weights


def test_get_config_from_config_round_trip():
    layer = LazyLinear(7, activation="relu", name="ll")
    config = layer.get_config()
    assert config == {"name": "ll", "trainable": True, "dtype": "float32", "units": 7, "activation": "relu"}
    clone = LazyLinear.from_config({**config, "name": "ll_clone"})
    assert clone.units == 7 and clone.activation == "relu" and clone.name == "ll_clone"


def test_lambda_layer():
    inp = nncore.Input((4,))
    out = Lambda(lambda t: ops.square(t) - t)(inp)
    model = nncore.Model(inp, out)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(model.predict(x), x ** 2 - x)


def _model_with_custom_layers():
    nncore.set_random_seed(3)
    inp = nncore.Input((5,))
    h = nncore.saving.register_keras_serializable("tests")(LazyLinear)(6, activation="relu", name="custom_lin")(inp)
    h = NoisyScale(name="noisy")(h)
    return nncore.Model(inp, Dense(2)(h + ops.tanh(h)))


def test_save_load_needs_registration(tmp_path):
    rng = np.random.default_rng(4)
    model = _model_with_custom_layers()
    model.compile("adam", "mse")
    x = rng.standard_normal((16, 5)).astype(np.float32)
    model.fit(x, rng.standard_normal((16, 2)).astype(np.float32), epochs=2, verbose=0)
    path = tmp_path / "custom.nncore"
    model.save(path)
    with pytest.raises(ValueError, match=r"custom layer 'noisy' of class 'NoisyScale'.*register_keras_serializable.*"
                                         r"custom_objects=\{'NoisyScale': NoisyScale\}"):
        nncore.load_model(path)
    loaded = nncore.load_model(path, custom_objects={"NoisyScale": NoisyScale})
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert isinstance(loaded.get_layer("custom_lin"), LazyLinear)  # found by its registered name
    with nncore.saving.custom_object_scope({"NoisyScale": NoisyScale}):
        again = nncore.load_model(path)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    # Training resumes on the loaded model (the traced graphs and variables came from the file).
    again.fit(x, np.zeros((16, 2), np.float32), epochs=1, verbose=0)


@pytest.fixture
def infer_exe(tmp_path_factory):
    """examples/cpp's infer, built against the installed package (test_cpp_example's fixture, called directly)."""
    import test_cpp_example
    return test_cpp_example.examples_build.__wrapped__(tmp_path_factory) / "infer"


def test_cpp_infer_runs_custom_layers(infer_exe, tmp_path):
    rng = np.random.default_rng(5)
    model = _model_with_custom_layers()
    x = rng.standard_normal((3, 5)).astype(np.float32)
    model.save(tmp_path / "m.nncore")
    x.tofile(tmp_path / "x.f32")
    result = subprocess.run([str(infer_exe), str(tmp_path / "m.nncore"), str(tmp_path / "x.f32")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if re.fullmatch(r"[-0-9.e ]+", line.strip() or "x")]
    got = np.array([[float(v) for v in r.split()] for r in rows[-3:]], np.float32)
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-6)
    assert "TracedLayer" in result.stdout


def test_bad_custom_layers_say_what_is_wrong():
    class ReturnsNothing(Layer):
        def call(self, x):
            ops.relu(x)

    class ValueBranch(Layer):
        def call(self, x):
            if ops.sum(x, axis=1):
                return x
            return -x

    inp = nncore.Input((3,))
    with pytest.raises(TypeError, match=r"ReturnsNothing 'returns_nothing.*': call\(\) must return a tensor"):
        ReturnsNothing()(inp)
    with pytest.raises(TypeError, match=r"ValueBranch '.*': call\(\) uses a tensor's value in Python control flow"):
        ValueBranch()(inp)
    layer = LazyLinear(2)
    layer(inp)
    with pytest.raises(ValueError, match=r"add_weight\('late'\) after the layer was built"):
        layer.add_weight(shape=(2,), name="late")
    with pytest.raises(ValueError, match=r"unknown initializer 'nope'"):
        LazyLinear(2).add_weight(shape=(2,), initializer="nope")


class Classifier(nncore.Model):
    """A subclassed model (the guide's pattern): layers in __init__, call with a training branch."""

    def __init__(self, num_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden = Dense(16, activation="relu")
        self.dropout = nncore.layers.Dropout(0.3)
        self.block = MLPBlock()
        self.out = Dense(num_classes, activation="softmax")

    def call(self, inputs, training=None):
        h = self.hidden(inputs)
        if training:
            h = self.dropout(h, training=training)
        return self.out(ops.concatenate([h, self.block(h)], axis=-1))


def test_subclassed_model_trains_saves_and_nests(tmp_path):
    nncore.set_random_seed(6)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((400, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32) + (x[:, 1] > 0.5)
    model = Classifier()
    assert not model.built
    with pytest.raises(ValueError, match="has not seen data yet"):
        model.summary()
    model.compile(nncore.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)  # traced on the first batch, compiled then
    assert model.built and model.evaluate(x, y, verbose=0)[1] > 0.85
    assert [l.name for l in model.layers][:2] == [model.hidden.name, model.dropout.name]
    np.testing.assert_allclose(model(x[:4]), model.predict(x[:4]))
    fresh = Classifier()
    fresh.build((None, 5))
    fresh.compile("sgd", "sparse_categorical_crossentropy")
    errors = gradient_errors(fresh, x[:6], y[:6])
    assert max(errors.values()) < 1e-2, errors
    model.save(tmp_path / "sub.nncore")
    loaded = nncore.load_model(tmp_path / "sub.nncore", custom_objects={"Classifier": Classifier})
    assert isinstance(loaded, Classifier)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    inp = nncore.Input((5,))  # a subclassed model as a layer of a functional one
    outer = nncore.Model(inp, Dense(1)(model(inp)))
    assert outer.predict(x[:3]).shape == (3, 1)


class ActivityRegularization(Layer):
    """The guide's add_loss example."""

    def __init__(self, rate=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


class Outer(Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.activity_reg = ActivityRegularization(1e-2)
        self.dense = Dense(4, kernel_regularizer=nncore.regularizers.l2(1e-3))

    def call(self, inputs):
        return self.dense(self.activity_reg(inputs))


def test_weights_are_the_variables_and_losses_reset_per_call():
    layer = Linear(4, 2)
    assert layer.weights == [layer.w, layer.b]  # the guide's assertion
    outer = Outer()
    assert len(outer.losses) == 0
    x = np.ones((2, 3), np.float32)
    outer(x)
    assert len(outer.losses) == 2  # the added loss and the Dense kernel's penalty
    np.testing.assert_allclose(outer.losses[0], 1e-2, rtol=1e-6)
    k = outer.dense.get_weights()[0].astype(np.float64)
    np.testing.assert_allclose(outer.losses[1], 1e-3 * np.square(k).sum(), rtol=1e-5)
    outer(x)
    assert len(outer.losses) == 2  # reset at each top-level call


def test_add_loss_joins_the_training_loss_and_its_gradient():
    inputs = nncore.Input((3,))
    model = nncore.Model(inputs, ActivityRegularization(0.5)(Dense(3, name="d")(inputs)))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(7)
    x, y = rng.random((4, 3)).astype(np.float32), rng.random((4, 3)).astype(np.float32)
    out = model.predict(x).astype(np.float64)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), np.mean((out - y) ** 2) + 0.5 * out.mean(), rtol=1e-5)
    errors = gradient_errors(model, x, y)
    assert max(errors.values()) < 1e-2, errors
    with pytest.raises(ValueError, match=r"add_loss needs one number for the batch"):
        class Bad(Layer):
            def call(self, t):
                self.add_loss(ops.square(t))
                return t
        Bad()(inputs)
    with pytest.raises(ValueError, match=r"can only go into self.add_loss"):
        class Misuse(Layer):
            def call(self, t):
                return t - ops.mean(t)
        Misuse()(inputs)


class RunningMean(Layer):
    """Keeps the running mean of its inputs' features (updated in training) and centers by it."""

    def __init__(self, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def build(self, input_shape):
        self.mean = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False, name="mean")
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, x, training=None):
        if training:
            self.mean.assign(self.momentum * self.mean + (1 - self.momentum) * ops.mean(x, axis=0))
            self.count.assign_add(ops.sum(ops.ones_like(x[:, 0]), axis=0))
        return x - self.mean


def test_variable_updates_in_a_traced_call_run_once_per_step(tmp_path):
    rng = np.random.default_rng(11)
    inp = nncore.Input((3,))
    rm = RunningMean(0.8)
    model = nncore.Model(inp, nncore.layers.Dense(1)(rm(inp)))
    model.compile(nncore.optimizers.SGD(0.0), "mse")  # no weight moves: only the running mean does
    batches = [rng.normal(loc=2.0, size=(8, 3)).astype(np.float32) for _ in range(4)]
    want = np.zeros(3)
    for xb in batches:
        model.train_on_batch(xb, np.zeros((8, 1), np.float32))
        want = 0.8 * want + 0.2 * xb.astype(np.float64).mean(0)
    np.testing.assert_allclose(rm.mean.numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(rm.count.numpy(), 32.0)
    # Inference does not update (call branches on training); predict centers by the running mean.
    x = batches[0]
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(rm.mean.numpy(), want, rtol=1e-5)
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(out, (x - want) @ kernel + bias, rtol=1e-4, atol=1e-5)
    # The updates are part of the saved layer: a loaded model (no Python class needed for C++) keeps updating.
    path = str(tmp_path / "running.nncore")
    model.save(path)
    loaded = nncore.load_model(path, custom_objects={"RunningMean": RunningMean})
    loaded.train_on_batch(batches[1], np.zeros((8, 1), np.float32))
    got = loaded.layers[1].get_weights()[0]
    np.testing.assert_allclose(got, 0.8 * want + 0.2 * batches[1].astype(np.float64).mean(0), rtol=1e-5)


def test_bad_variable_updates_say_what_is_wrong():
    class PerSample(Layer):
        def build(self, input_shape):
            self.v = self.add_weight(shape=(input_shape[-1],), trainable=False)

        def call(self, x):
            self.v.assign(x * 2.0)
            return x

    class SumPlusConstant(Layer):
        def build(self, input_shape):
            self.v = self.add_weight(shape=(input_shape[-1],), trainable=False)

        def call(self, x):
            self.v.assign(ops.sum(x, axis=0) + 1.0)
            return x

    with pytest.raises(ValueError, match=r"needs one value for the whole batch.*ops.mean\(x, axis=0\)"):
        PerSample()(nncore.Input((3,)))
    with pytest.raises(ValueError, match="over the batch axis gives a value over the whole batch"):
        SumPlusConstant()(nncore.Input((3,)))
