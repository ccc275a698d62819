"""Custom losses as in Keras: a function loss(y_true, y_pred) of ops, or a Loss subclass with call(); traced into C++
ops at compile and trained in the C++ loop; saved with the model."""
import numpy as np
import pytest

import nncore
from nncore import layers, ops

from graph_helpers import gradient_errors, seeded  # noqa: F401  (autouse fixture)


def my_mse(y_true, y_pred):
    return ops.mean(ops.square(y_pred - y_true), axis=-1)


class Huber(nncore.losses.Loss):
    def __init__(self, delta=1.0, name="my_huber"):
        super().__init__(name=name)
        self.delta = delta

    def call(self, y_true, y_pred):
        err = ops.abs(y_pred - y_true)
        quad = ops.minimum(err, self.delta)
        return ops.mean(0.5 * quad * quad + self.delta * (err - quad), axis=-1)


def huber_ref(y, p, delta):
    e = np.abs(p.astype(np.float64) - y)
    q = np.minimum(e, delta)
    return (0.5 * q * q + delta * (e - q)).mean(-1)


def regression(seed=0, n=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = np.stack([x[:, 0] * 2 - x[:, 1], np.sin(x[:, 2])], 1).astype(np.float32)
    return x, y


def mlp():
    x = nncore.Input((5,))
    h = layers.Dense(16, activation="tanh")(x)
    return nncore.Model(x, layers.Dense(2)(h))


def test_function_loss_trains_like_the_built_in():
    x, y = regression()
    a, b = mlp(), mlp()
    b.set_weights(a.get_weights())
    a.compile(nncore.optimizers.SGD(0.05), loss="mse")
    b.compile(nncore.optimizers.SGD(0.05), loss=my_mse)
    assert b.loss.name == "my_mse"
    ha = a.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    hb = b.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=1e-5)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wb, wa, rtol=1e-4, atol=1e-6)


def test_loss_subclass_value_weights_and_gradients():
    x, y = regression(1)
    m = mlp()
    m.compile(nncore.optimizers.Adam(0.01), loss=Huber(delta=0.5))
    p = m.predict(x, verbose=0)
    ref = huber_ref(y, p, 0.5)
    np.testing.assert_allclose(m.evaluate(x, y, verbose=0), ref.mean(), rtol=1e-5)
    w = np.random.default_rng(2).uniform(0, 2, size=len(x)).astype(np.float32)
    np.testing.assert_allclose(m.evaluate(x, y, sample_weight=w, verbose=0), (w * ref).sum() / len(x), rtol=1e-5)
    assert max(gradient_errors(m, x[:8], y[:8]).values()) < 1e-2
    before = m.evaluate(x, y, verbose=0)
    m.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert m.evaluate(x, y, verbose=0) < 0.5 * before


def test_targets_shaped_otherwise_are_traced_for_their_shape():
    # A hinge-like loss of labels y in {-1, 1} of shape (batch, 1) against 3 scores: y broadcasts over the scores.
    def margin(y_true, y_pred):
        return ops.mean(ops.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)

    rng = np.random.default_rng(3)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = np.where(x[:, :1] + x[:, 1:2] > 0, 1.0, -1.0).astype(np.float32)
    inp = nncore.Input((4,))
    m = nncore.Model(inp, layers.Dense(3)(inp))
    m.compile(nncore.optimizers.Adam(0.02), loss=margin)
    p = m.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(m.evaluate(x, y, verbose=0), np.maximum(1 - y * p, 0).mean(), rtol=1e-5)
    m.fit(x, y, epochs=60, batch_size=16, verbose=0)
    p = m.predict(x, verbose=0)
    assert ((p.mean(1) > 0) == (y[:, 0] > 0)).mean() > 0.9


def test_batch_sum_loss_is_the_sum_over_the_batch():
    def total_sq(y_true, y_pred):
        return ops.sum(ops.square(y_pred - y_true))  # over every axis, the batch too (as Keras reads it)

    x, y = regression(4, n=16)
    m = mlp()
    m.compile("sgd", loss=total_sq)
    p = m.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=16, verbose=0), ((p - y) ** 2).sum(), rtol=1e-5)


def test_save_and_load_keep_the_traced_loss(tmp_path):
    x, y = regression(5)
    m = mlp()
    m.compile(nncore.optimizers.SGD(0.05), loss=Huber(0.7))
    m.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "custom_loss.nncore")
    m.save(path)
    loaded = nncore.load_model(path)  # no custom_objects: the loss's graph is in the file
    assert loaded.loss.name == "my_huber"
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), m.evaluate(x, y, verbose=0), rtol=1e-6)
    h1 = m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    h2 = loaded.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=1e-5)


def test_registered_loss_function_by_name():
    @nncore.saving.register_keras_serializable(package="tests")
    def scaled_mae(y_true, y_pred):
        return 2.0 * ops.mean(ops.abs(y_pred - y_true), axis=-1)

    x, y = regression(6)
    m = mlp()
    m.compile("adam", loss="scaled_mae")
    p = m.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(m.evaluate(x, y, verbose=0), 2 * np.abs(p - y).mean(), rtol=1e-5)


def test_bad_custom_losses_say_what_is_wrong():
    m = mlp()
    with pytest.raises(TypeError, match="custom loss 'returns_number'.*nncore.ops"):
        def returns_number(y_true, y_pred):
            return 1.0
        m.compile("adam", loss=returns_number)
    with pytest.raises(ValueError, match="not with arrays"):
        def with_array(y_true, y_pred):
            return ops.mean(ops.square(y_pred - y_true) * np.array([1.0, 2.0], np.float32), axis=-1)
        m.compile("adam", loss=with_array)
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        m.compile("adam", loss="nope")


def test_compile_without_a_loss_trains_on_added_losses():
    class Shrink(nncore.layers.Layer):
        def call(self, x):
            self.add_loss(ops.mean(ops.square(x)))
            return x

    inp = nncore.Input((3,))
    dense = layers.Dense(3)
    m = nncore.Model(inp, Shrink()(dense(inp)))
    m.compile(nncore.optimizers.SGD(0.1))
    x = np.random.default_rng(7).normal(size=(32, 3)).astype(np.float32)
    before = m.evaluate(x, verbose=0)
    np.testing.assert_allclose(before, (m.predict(x, verbose=0).astype(np.float64) ** 2).mean(), rtol=1e-5)
    m.fit(x, epochs=20, verbose=0)                          # no targets at all
    m.fit(x, np.zeros((32, 3), np.float32), epochs=1, verbose=0)  # targets given are not read
    assert m.evaluate(x, verbose=0) < 0.2 * before
    assert m.loss is None
    plain = nncore.Model(inp, layers.Dense(2)(inp))
    with pytest.raises(ValueError, match="a loss is required"):
        plain.compile("adam")
    with pytest.raises(ValueError, match="y is required"):
        mlp_ = mlp()
        mlp_.compile("adam", "mse")
        mlp_.fit(x[:, :2].repeat(3, 1)[:, :5], epochs=1, verbose=0)
