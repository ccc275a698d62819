"""Integer and boolean results on KerasTensors: comparisons, argmax/argmin, one_hot, cast, rounding, take, and the
dtypes Keras gives them. nncore stores them as float32 holding exact integers; no gradient flows through them."""
import numpy as np
import pytest

import nncore
from nncore import layers, ops

from graph_helpers import seeded  # noqa: F401  (autouse fixture)

RNG = np.random.default_rng(0)
X = np.round(RNG.normal(size=(6, 4, 5)) * 3, 1).astype(np.float32)
X[0, 0, :2] = 7.0  # a tie: the first wins


def run(fn, x=X, shape=None):
    inp = nncore.Input(shape or x.shape[1:])
    out = fn(inp)
    return out, nncore.Model(inp, out).predict(x, verbose=0)


@pytest.mark.parametrize("name", ["equal", "not_equal", "greater", "greater_equal", "less", "less_equal"])
def test_comparisons(name):
    t, got = run(lambda v: getattr(ops, name)(v, 0.5))
    assert t.dtype == "bool"
    np.testing.assert_array_equal(got, getattr(np, name)(X, 0.5).astype(np.float32))
    # a constant on the left
    _, got = run(lambda v: getattr(ops, name)(0.5, v))
    np.testing.assert_array_equal(got, getattr(np, name)(0.5, X).astype(np.float32))


def test_operators_and_logical_ops():
    _, got = run(lambda v: ops.logical_and(v > 0, ~(v > 2)))
    np.testing.assert_array_equal(got, np.logical_and(X > 0, ~(X > 2)).astype(np.float32))
    _, got = run(lambda v: ops.logical_or(v <= -1, v >= 1))
    np.testing.assert_array_equal(got, ((X <= -1) | (X >= 1)).astype(np.float32))


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_argmax_argmin(axis):
    for name in ("argmax", "argmin"):
        t, got = run(lambda v: getattr(ops, name)(v, axis=axis))
        assert t.dtype == "int32"
        np.testing.assert_array_equal(got, getattr(np, name)(X, axis=axis).astype(np.float32))
    _, got = run(lambda v: ops.argmax(v, axis=axis, keepdims=True))
    np.testing.assert_array_equal(got, np.argmax(X, axis=axis, keepdims=True).astype(np.float32))
    with pytest.raises(ValueError, match="axis=None"):
        ops.argmax(nncore.Input((3,)))


def test_cast_and_rounding():
    vals = np.array([[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.7, -2.7]], np.float32)
    t, got = run(lambda v: ops.cast(v, "int32"), vals)
    assert t.dtype == "int32"
    np.testing.assert_array_equal(got, vals.astype(np.int32).astype(np.float32))  # toward zero, as astype
    for name, ref in [("floor", np.floor), ("ceil", np.ceil), ("round", np.round), ("trunc", np.trunc)]:
        _, got = run(getattr(ops, name), vals)
        np.testing.assert_array_equal(got, ref(vals))  # round: half to even, as numpy
    t, got = run(lambda v: ops.cast(v, "bool"), vals)
    assert t.dtype == "bool"
    t, _ = run(lambda v: ops.cast(ops.cast(v, "int32"), "float32"), vals)
    assert t.dtype == "float32"


def test_integer_arithmetic_keeps_its_dtype():
    ids = nncore.Input((5,), dtype="int32")
    assert (ids + 1).dtype == "int32" and (ids * ids).dtype == "int32"
    assert (ids / 2).dtype == "float32" and (ids + 0.5).dtype == "float32"
    assert ids[:, 1:3].dtype == "int32" and ops.reshape(ids, (-1, 5, 1)).dtype == "int32"
    assert ops.cast(ids, "float32").dtype == "float32"


def test_one_hot_on_ids_and_no_gradient_into_them():
    ids = np.array([[0, 3, 1], [2, 9, -1]], np.float32)  # 9 and -1 are outside [0, 4): rows of zeros (Keras)
    t, got = run(lambda v: ops.one_hot(ops.cast(v, "int32"), 4), ids)
    assert t.dtype == "float32" and got.shape == (2, 3, 4)
    want = np.zeros((2, 3, 4), np.float32)
    for b in range(2):
        for i in range(3):
            if 0 <= ids[b, i] < 4:
                want[b, i, int(ids[b, i])] = 1
    np.testing.assert_array_equal(got, want)
    # A model whose output reaches its Dense only through argmax: no gradient reaches the Dense.
    inp = nncore.Input((4,))
    d = layers.Dense(3)
    out = ops.one_hot(ops.argmax(d(inp), axis=-1), 3) * 2.0
    m = nncore.Model(inp, out)
    m.compile("sgd", "mse")
    m.compute_gradients(RNG.normal(size=(5, 4)).astype(np.float32), np.ones((5, 3), np.float32))
    for g in d.gradients:
        assert not np.any(g)


def test_take_with_constant_positions():
    _, got = run(lambda v: ops.take(v, [4, 0, 2], axis=2))
    np.testing.assert_array_equal(got, np.take(X, [4, 0, 2], axis=2))
    _, got = run(lambda v: ops.take(v, [3, 1], axis=1))
    np.testing.assert_array_equal(got, np.take(X, [3, 1], axis=1))
    _, got = run(lambda v: ops.take(v, 2, axis=-1))
    np.testing.assert_array_equal(got, X[:, :, 2])


def test_take_rows_of_a_variable_table_trains_like_an_embedding():
    class Lookup(layers.Layer):
        def build(self, input_shape):
            self.table = self.add_weight(shape=(10, 4), initializer="random_normal", name="table")

        def call(self, ids):
            return ops.take(self.table, ops.cast(ids, "int32"), axis=0)

    ids = RNG.integers(0, 10, size=(32, 3)).astype(np.float32)
    y = RNG.normal(size=(32, 3, 4)).astype(np.float32)
    inp = nncore.Input((3,), dtype="int32")
    lk = Lookup()
    m = nncore.Model(inp, lk(inp))
    emb = layers.Embedding(10, 4)
    m2 = nncore.Model(inp, emb(inp))
    emb.set_weights([lk.table.numpy()])
    np.testing.assert_allclose(m.predict(ids, verbose=0), m2.predict(ids, verbose=0), rtol=1e-6)
    for model in (m, m2):
        model.compile(nncore.optimizers.SGD(0.5), "mse")
        model.fit(ids, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(lk.table.numpy(), emb.get_weights()[0], rtol=1e-4, atol=1e-6)
