"""Unknown axes: Input(shape=(None, ...)), batch_shape and integer inputs. A model with an axis of unknown length
runs on batches of any length on it, and gives what a model built for that exact length gives (same weights)."""
import numpy as np
import pytest

import nncore
from nncore import layers, ops

from graph_helpers import gradient_errors, seeded  # noqa: F401  (autouse fixture)


def twin(build, shape, dtype=None):
    """The same architecture built for `shape` (which may hold None)."""
    x = nncore.Input(shape, dtype=dtype)
    return nncore.Model(x, build(x))


def same_weights(dst, src):
    dst.set_weights(src.get_weights())


def check_lengths(build, shape_of, lengths, make_x, compile_loss="mse", atol=1e-5):
    """The variable-length model against a fixed-length twin at each length: predict and gradients."""
    var = twin(build, shape_of(None))
    var.compile("sgd", compile_loss)
    for n in lengths:
        fixed = twin(build, shape_of(n))
        same_weights(fixed, var)
        fixed.compile("sgd", compile_loss)
        x = make_x(n)
        yv = var.predict(x, verbose=0)
        yf = fixed.predict(x, verbose=0)
        assert yv.shape == yf.shape
        np.testing.assert_allclose(yv, yf, rtol=1e-5, atol=atol)
        y = np.random.default_rng(n).normal(size=yf.shape).astype(np.float32)
        lv = var.compute_gradients(x, y)
        lf = fixed.compute_gradients(x, y)
        np.testing.assert_allclose(lv, lf, rtol=1e-5)
        gv = [g.copy() for l in var.layers for g in l.gradients]
        gf = [g.copy() for l in fixed.layers for g in l.gradients]
        assert len(gv) == len(gf) > 0
        for a, b in zip(gv, gf):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_shapes_show_none_and_dtype():
    x = nncore.Input((None, 8))
    assert x.shape == (None, None, 8)
    assert x.dtype == "float32"
    ids = nncore.Input((None,), dtype="int32")
    assert ids.shape == (None, None) and ids.dtype == "int32"
    b = nncore.Input(batch_shape=(32, 10))
    assert b.shape == (32, 10)
    h = layers.Dense(4)(b)
    assert h.shape == (32, 4)
    e = layers.Embedding(50, 6)(ids)
    assert e.shape == (None, None, 6) and e.dtype == "float32"
    m = nncore.Model(ids, layers.GlobalAveragePooling1D()(e))
    assert m.input_shape == (None, None)
    assert m.output_shape == (None, 6)
    assert m.layers[0].output_shape == (None, None) and m.layers[1].output_shape == (None, None, 6)


def test_bad_input_arguments():
    with pytest.raises(ValueError, match="shape or batch_shape"):
        nncore.Input((3,), batch_shape=(2, 3))
    with pytest.raises(ValueError, match="dtype"):
        nncore.Input((3,), dtype="complex64")
    with pytest.raises(ValueError, match="positive"):
        nncore.Input((0, 3))


def test_embedding_lstm_dense_any_length():
    def build(x):
        h = layers.Embedding(30, 6, mask_zero=True)(x)
        h = layers.LSTM(5, return_sequences=True)(h)
        h = layers.GRU(4)(h)
        return layers.Dense(3)(h)

    rng = np.random.default_rng(0)

    def make_x(n):
        x = rng.integers(1, 30, size=(6, n)).astype(np.float32)
        x[:2, n // 2:] = 0  # padded tails (masked)
        return x

    check_lengths(build, lambda n: (n,), [4, 11, 7], make_x)


def test_conv1d_pooling_any_length():
    def build(x):
        h = layers.Conv1D(5, 3, padding="same", activation="relu")(x)
        h = layers.Conv1D(4, 2, padding="causal", dilation_rate=2)(h)
        h = layers.MaxPooling1D(2)(h)
        h = layers.Conv1D(3, 3, padding="valid", strides=2)(h)
        h2 = layers.GlobalMaxPooling1D()(h)
        h1 = layers.GlobalAveragePooling1D()(h)
        return layers.Concatenate()([h1, h2])

    rng = np.random.default_rng(1)
    check_lengths(build, lambda n: (n, 4), [9, 16, 12], lambda n: rng.normal(size=(5, n, 4)).astype(np.float32))


def test_fully_convolutional_images_any_size():
    def build(x):
        h = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
        h = layers.MaxPooling2D(2)(h)
        h = layers.ZeroPadding2D(1)(h)
        h = layers.Conv2D(3, 3, strides=2)(h)
        h = layers.BatchNormalization()(h)
        return layers.Dense(2)(layers.GlobalAveragePooling2D()(h))

    rng = np.random.default_rng(2)
    sizes = {8: (8, 8), 11: (11, 7), 14: (14, 10)}
    check_lengths(build, lambda n: (None, None, 3) if n is None else (*sizes[n], 3), list(sizes),
                  lambda n: rng.normal(size=(4, *sizes[n], 3)).astype(np.float32))


def test_time_distributed_bidirectional_and_ops_any_length():
    def build(x):
        h = layers.TimeDistributed(layers.Dense(6, activation="tanh"))(x)
        h = layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True))(h)
        h = layers.LayerNormalization()(h)
        last = h[:, -1]                       # index on the unknown axis
        first = h[:, 0, :2]
        avg = ops.mean(h, axis=1)             # reduce over it
        t = ops.transpose(h, (0, 2, 1))       # move it
        s = ops.sum(t * 0.5, axis=2)
        w = layers.Add()([h, h * 2.0])
        pooled = layers.GlobalMaxPooling1D()(ops.relu(w) + 1.0)
        return ops.concatenate([last, first, avg, s, pooled], axis=-1)

    rng = np.random.default_rng(3)
    check_lengths(build, lambda n: (n, 5), [3, 8, 5], lambda n: rng.normal(size=(4, n, 5)).astype(np.float32))


def test_concatenate_along_unknown_axis_and_self_attention_shape():
    x = nncore.Input((None, 4))
    y = nncore.Input((None, 4))
    c = layers.Concatenate(axis=1)([x, y])
    assert c.shape == (None, None, 4)
    scores = ops.softmax(ops.matmul(x, ops.transpose(y, (0, 2, 1))), axis=-1)  # (None, Tx, Ty)
    att = ops.matmul(scores, y)
    m = nncore.Model([x, y], [layers.GlobalAveragePooling1D()(c), att])
    rng = np.random.default_rng(4)
    a = rng.normal(size=(3, 5, 4)).astype(np.float32)
    b = rng.normal(size=(3, 7, 4)).astype(np.float32)
    out_c, out_att = m.predict([a, b], verbose=0)
    np.testing.assert_allclose(out_c, np.concatenate([a, b], 1).mean(1), rtol=1e-5, atol=1e-6)
    s = np.einsum("btd,bsd->bts", a.astype(np.float64), b)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(out_att, p @ b, rtol=1e-4, atol=1e-5)
    assert out_att.shape == (3, 5, 4)


def test_fit_on_one_length_predict_on_others_and_train_on_batches_of_any_length():
    ids = nncore.Input((None,), dtype="int32")
    h = layers.Embedding(20, 8)(ids)
    h = layers.Conv1D(16, 3, padding="same", activation="relu")(h)
    h = layers.GlobalMaxPooling1D()(h)
    out = layers.Dense(1, activation="sigmoid")(h)
    m = nncore.Model(ids, out)
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(5)

    def data(n, length):  # label: does token 7 occur in the sequence?
        x = rng.integers(1, 20, size=(n, length))
        x[x == 7] = 8
        y = rng.integers(0, 2, size=n)
        pos = rng.integers(0, length, size=n)
        x[np.arange(n), pos] = np.where(y == 1, 7, x[np.arange(n), pos])
        return x.astype(np.int32), y.astype(np.float32)

    x, y = data(512, 12)
    m.fit(x, y, epochs=12, batch_size=32, verbose=0)
    for length in (6, 20, 12):
        xt, yt = data(200, length)
        acc = ((m.predict(xt, verbose=0)[:, 0] > 0.5) == yt).mean()
        assert acc > 0.9, (length, acc)
    # Batches of different lengths, one after another (what a bucketed data pipeline gives).
    for length in (5, 9, 14, 9):
        xb, yb = data(16, length)
        loss = m.train_on_batch(xb, yb)
        assert np.isfinite(loss).all()


def test_gradient_check_on_unknown_axis():
    def build(x):
        h = layers.Conv1D(3, 2, padding="same", activation="tanh")(x)
        h = layers.SimpleRNN(4, return_sequences=True)(h)
        return layers.Dense(2)(layers.GlobalAveragePooling1D()(h))

    m = twin(build, (None, 3))
    m.compile("sgd", "mse")
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 6, 3)).astype(np.float32)
    y = rng.normal(size=(3, 2)).astype(np.float32)
    assert max(gradient_errors(m, x, y).values()) < 1e-2


def test_dense_after_flatten_of_unknown_axis_raises_at_build():
    x = nncore.Input((None, 4))
    f = layers.Flatten()(x)
    assert f.shape == (None, None)
    with pytest.raises(ValueError, match=r"Dense 'dense_unknown'.*last axis.*must be known.*\(None, None\)"):
        layers.Dense(3, name="dense_unknown")(f)
    with pytest.raises(ValueError, match=r"Conv1D.*channel axis.*must be known"):
        layers.Conv1D(2, 3)(nncore.Input((8, None)))
    with pytest.raises(ValueError, match=r"LSTM.*features axis.*must be known"):
        layers.LSTM(2)(nncore.Input((5, None)))


def test_wrong_length_on_known_axis_still_raises():
    x = nncore.Input((None, 4))
    m = nncore.Model(x, layers.Dense(2)(x))
    with pytest.raises(ValueError, match=r"expected input of shape \(None, None, 4\), got \(2, 3, 5\)"):
        m.predict(np.zeros((2, 3, 5), np.float32), verbose=0)


def test_save_load_and_nested_model_keep_unknown_axes(tmp_path):
    x = nncore.Input((None, 3))
    inner = nncore.Model(x, layers.Conv1D(4, 3, padding="same")(x), name="inner")
    z = nncore.Input((None, 3))
    h = inner(z)
    out = layers.Dense(2)(layers.GlobalAveragePooling1D()(h))
    m = nncore.Model(z, out)
    m.compile("adam", "mse")
    rng = np.random.default_rng(7)
    a = rng.normal(size=(2, 9, 3)).astype(np.float32)
    b = rng.normal(size=(2, 4, 3)).astype(np.float32)
    path = str(tmp_path / "var.nncore")
    m.save(path)
    m2 = nncore.load_model(path)
    assert m2.input_shape == (None, None, 3)
    for v in (a, b):
        np.testing.assert_allclose(m2.predict(v, verbose=0), m.predict(v, verbose=0), rtol=1e-6)


def test_custom_layer_traced_on_unknown_axis():
    class Gate(layers.Layer):
        def build(self, input_shape):
            assert input_shape[1] is None
            self.w = self.add_weight(shape=(input_shape[-1], input_shape[-1]), initializer="glorot_uniform")

        def call(self, x):
            return x * ops.sigmoid(ops.matmul(x, self.w))

    x = nncore.Input((None, 5))
    m = nncore.Model(x, layers.GlobalAveragePooling1D()(Gate()(x)))
    rng = np.random.default_rng(8)
    for n in (3, 10):
        v = rng.normal(size=(2, n, 5)).astype(np.float32)
        w = m.layers[1].get_weights()[0].astype(np.float64)
        ref = (v * (1 / (1 + np.exp(-(v @ w))))).mean(1)
        np.testing.assert_allclose(m.predict(v, verbose=0), ref, rtol=1e-5, atol=1e-6)


def test_onnx_export_of_unknown_axes_says_what_to_do():
    pytest.importorskip("onnx")
    x = nncore.Input((None, 3))
    m = nncore.Model(x, layers.Dense(2)(x))
    with pytest.raises(ValueError, match=r"unknown length \(None, None, 3\).*set_weights"):
        m.export_onnx("/tmp/never_written.onnx")
