"""Tests for the non-recurrent sequence layers (cpp/src/layers/sequence.cpp, cpp/src/kernels/embedding.cpp, and the
2-D convolution/pooling kernels they reuse): Embedding (with mask_zero), Conv1D, MaxPooling1D, AveragePooling1D,
GlobalAveragePooling1D, GlobalMaxPooling1D, TimeDistributed.

The oracles are NumPy float64 loops written here, from Keras's definitions: Conv1D's kernel is
(kernel_size, in, filters); 'same' pads so the output is ceil(T / stride) with the odd step after; 'causal' pads
dilation * (kernel_size - 1) steps before. GlobalAveragePooling1D under a mask averages over the valid steps.
"""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from conftest import gemm_tol, np_activation, np_activation_backward, numeric_grad, numeric_grad_inplace
from nncore import Sequential
from nncore.layers import (AveragePooling1D, Conv1D, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D,
                           GlobalMaxPooling1D, LayerNormalization, MaxPooling1D, TimeDistributed)


def random_ids(rng, shape, vocab, zero_fraction=0.0):
    ids = rng.integers(1 if zero_fraction else 0, vocab, size=shape)
    if zero_fraction:
        ids[rng.random(shape) < zero_fraction] = 0
    return ids.astype(np.float32)


# --------------------------------------------------------------- Embedding


@pytest.mark.parametrize("B,T,V,D", [(1, 1, 1, 1), (3, 7, 11, 5), (4, 13, 50, 33), (2, 5, 3, 17)])
def test_embedding_forward_backward_matches_numpy(B, T, V, D, threads):
    rng = np.random.default_rng(B * 100 + T)
    layer = Embedding(V, D)
    ids = random_ids(rng, (B, T), V)
    y = layer.forward(ids)
    E = layer.get_weights()[0].astype(np.float64)
    assert y.shape == (B, T, D)
    np.testing.assert_array_equal(y, E[ids.astype(int)].astype(np.float32))  # a gather: exact
    dy = rng.standard_normal((B, T, D)).astype(np.float32)
    layer.zero_grad()
    dx = layer.backward(dy)
    ref = np.zeros((V, D))
    np.add.at(ref, ids.astype(int).reshape(-1), dy.reshape(-1, D).astype(np.float64))
    np.testing.assert_allclose(layer.gradients[0], ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(dx, np.zeros((B, T)))  # ids are not differentiable
    layer.backward(dy)  # accumulates
    np.testing.assert_allclose(layer.gradients[0], 2 * ref, rtol=1e-6, atol=1e-5)


def test_embedding_any_per_sample_shape():
    layer = Embedding(10, 3)
    ids = np.arange(24, dtype=np.float32).reshape(2, 3, 4) % 10
    y = layer.forward(ids)
    assert y.shape == (2, 3, 4, 3)
    np.testing.assert_array_equal(y, layer.get_weights()[0][ids.astype(int)])


def test_embedding_finite_differences():
    rng = np.random.default_rng(1)
    layer = Embedding(6, 4)
    ids = random_ids(rng, (3, 5), 6)
    target = rng.standard_normal((3, 5, 4))
    layer.build((None, 5))
    E = layer.weights[0]

    def loss():
        return 0.5 * float(np.sum((layer.forward(ids).astype(np.float64) - target) ** 2))

    y = layer.forward(ids)
    layer.zero_grad()
    layer.backward((y - target).astype(np.float32))
    num = numeric_grad_inplace(loss, E)
    np.testing.assert_allclose(layer.gradients[0], num, rtol=1e-3, atol=1e-3)


def test_embedding_backward_bit_identical_across_threads(restore_threads):
    rng = np.random.default_rng(2)
    ids = random_ids(rng, (64, 40), 30, zero_fraction=0.3)  # many repeated ids: order of summation matters
    dy = rng.standard_normal((64, 40, 200)).astype(np.float32)
    grads = []
    for n in (1, 2):
        restore_threads(n)
        layer = Embedding(30, 200, name=f"emb_threads_{n}")
        layer.forward(ids)
        layer.backward(dy)
        grads.append(layer.gradients[0].copy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_embedding_default_initializer_is_keras_uniform():
    nncore.set_random_seed(3)
    layer = Embedding(500, 40)
    layer.build((None, 4))
    w = layer.get_weights()[0]
    assert w.shape == (500, 40)
    assert np.abs(w).max() <= 0.05 and np.abs(w).max() > 0.045  # RandomUniform(-0.05, 0.05)
    assert abs(float(w.mean())) < 0.003


def test_embedding_set_weights_keras_layout():
    layer = Embedding(4, 2, input_length=3)
    assert layer.input_shape == (None, 3) or not layer.built
    layer.build((None, 3))
    E = np.arange(8, dtype=np.float32).reshape(4, 2)
    layer.set_weights([E])
    np.testing.assert_array_equal(layer.forward(np.array([[3, 0, 1]])), E[[[3, 0, 1]]])


@pytest.mark.parametrize("bad,shown", [(7, "7"), (-1, "-1"), (2.5, "2.5"), (np.nan, "nan"), (1e6, "1e\\+06")])
def test_embedding_rejects_bad_ids(bad, shown):
    layer = Embedding(7, 3, name="words")
    ids = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    ids[1, 2] = bad
    with pytest.raises(ValueError, match=rf"Embedding 'words': ids must be integers in \[0, input_dim=7\), got "
                                         rf"{shown} \(sample 1, position 2\)"):
        layer.forward(ids)


def test_embedding_bad_ids_in_fit_and_predict():
    model = Sequential([Embedding(5, 3, input_length=4, name="tok"), nncore.layers.Flatten(),
                        Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.array([[1, 2, 3, 4], [0, 1, 5, 2]], np.float32)
    with pytest.raises(ValueError, match=r"Embedding 'tok'.*got 5 \(sample 1, position 2\)"):
        model.predict(x)
    with pytest.raises(ValueError, match=r"Embedding 'tok'.*got 5"):
        model.fit(x, np.array([0, 1]), epochs=1, verbose=0)


def test_embedding_constructor_errors():
    with pytest.raises(TypeError, match="Embedding: input_dim must be a positive int"):
        Embedding(0, 3)
    with pytest.raises(TypeError, match="Embedding: output_dim must be a positive int"):
        Embedding(3, 2.5)
    with pytest.raises(ValueError, match="embeddings_initializer: unknown initializer 'bogus'"):
        Embedding(3, 2, embeddings_initializer="bogus")
    layer = Embedding(3, 2, input_length=5, name="e_len")
    with pytest.raises(ValueError, match=r"Embedding 'e_len': input_length is 5 but the input has shape \(None, 4\)"):
        layer.build((None, 4))


def test_embedding_mask_zero_emits_mask():
    layer = Embedding(9, 2, mask_zero=True)
    ids = np.array([[3, 0, 1, 0], [0, 0, 0, 8]], np.float32)
    layer.forward(ids)
    np.testing.assert_array_equal(layer._impl.output_mask, (ids != 0).astype(np.float32))
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    plain = Embedding(9, 2)
    plain.forward(ids)
    assert plain._impl.output_mask is None and plain.compute_mask(ids) is None


def test_embedding_model_input_gradient_is_zero_and_trains_weights():
    rng = np.random.default_rng(4)
    model = Sequential([Embedding(10, 4, input_length=6), nncore.layers.Flatten(),
                        Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = random_ids(rng, (5, 6), 10)
    y = rng.integers(0, 3, 5)
    np.testing.assert_array_equal(model.input_gradient(x, y), np.zeros((5, 6), np.float32))
    before = model.get_weights()[0].copy()
    model.fit(x, y, epochs=1, verbose=0)
    after = model.get_weights()[0]
    used = np.unique(x.astype(int))
    unused = np.setdiff1d(np.arange(10), used)
    assert np.all(np.any(after[used] != before[used], axis=1))
    np.testing.assert_array_equal(after[unused], before[unused])  # rows never looked up get no gradient


def test_embedding_regularizer_applies_to_embeddings():
    model = Sequential([Embedding(4, 2, input_length=3, embeddings_regularizer=nncore.regularizers.l2(0.1)),
                        nncore.layers.Flatten(), Dense(2, activation="softmax", kernel_initializer="zeros")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    E = np.arange(8, dtype=np.float32).reshape(4, 2) / 10
    model.layers[0].set_weights([E])
    loss = model.compute_gradients(np.array([[1, 2, 3]], np.float32), np.array([0]))
    assert loss == pytest.approx(np.log(2) + 0.1 * float(np.sum(E.astype(np.float64) ** 2)), rel=1e-5)


# --------------------------------------------------------------- NumPy float64 references for the 1-D layers


def axis(T: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """(output steps, zero steps before) of a window of k taps spaced by dilation, Keras's rules."""
    span = (k - 1) * dilation + 1
    if padding == "valid":
        return (T - span) // stride + 1, 0
    if padding == "causal":
        return (T - 1) // stride + 1, span - 1
    out = -(-T // stride)
    return out, max((out - 1) * stride + span - T, 0) // 2


def ref_conv1d(x, w, b, stride, padding, dilation, dy=None):
    """y = conv1d(x, w) + b, and for dy also (dx, dw, db); x (B, T, C), w (K, C, F), float64 loops over taps."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    B, T, C = x.shape
    K, _, F = w.shape
    OT, pb = axis(T, K, stride, dilation, padding)
    y = np.zeros((B, OT, F)) + (0.0 if b is None else np.asarray(b, np.float64))
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for o in range(OT):
        for k in range(K):
            t = o * stride - pb + k * dilation
            if 0 <= t < T:
                y[:, o] += x[:, t] @ w[k]
                if dy is not None:
                    dx[:, t] += dy[:, o] @ w[k].T
                    dw[k] += x[:, t].T @ dy[:, o]
    if dy is None:
        return y
    return y, dx, dw, np.asarray(dy, np.float64).sum(axis=(0, 1))


def ref_pool1d(x, dy, mode, pool, stride, padding):
    """Max or average pooling over steps (padding never wins the max and is not counted in the average)."""
    x = np.asarray(x, np.float64)
    B, T, C = x.shape
    OT, pb = axis(T, pool, stride, 1, padding)
    y = np.zeros((B, OT, C))
    dx = np.zeros_like(x)
    for o in range(OT):
        steps = [t for t in range(o * stride - pb, o * stride - pb + pool) if 0 <= t < T]
        win = x[:, steps]
        if mode == "max":
            y[:, o] = win.max(axis=1)
            first = win.argmax(axis=1)  # backward routes to the first maximum
            for bi in range(B):
                for c in range(C):
                    dx[bi, steps[first[bi, c]], c] += dy[bi, o, c]
        else:
            y[:, o] = win.mean(axis=1)
            dx[:, steps] += dy[:, o][:, None] / len(steps)
    return y, dx


CONV_CASES = [  # B, T, C, F, K, stride, padding, dilation
    (1, 1, 1, 1, 1, 1, "valid", 1),
    (2, 7, 3, 5, 3, 1, "valid", 1),
    (3, 10, 4, 7, 3, 2, "same", 1),
    (2, 11, 5, 3, 4, 1, "same", 1),
    (2, 9, 2, 6, 3, 1, "causal", 2),
    (3, 13, 7, 17, 5, 3, "causal", 1),
    (1, 8, 3, 4, 2, 2, "causal", 3),
    (2, 17, 9, 33, 3, 1, "same", 2),
    (4, 20, 16, 8, 5, 2, "valid", 2),
    (2, 5, 1, 2, 5, 1, "same", 1),
    (5, 31, 33, 19, 7, 1, "causal", 1),
]


@pytest.mark.parametrize("B,T,C,F,K,s,padding,d", CONV_CASES)
def test_conv1d_forward_backward_match_numpy(B, T, C, F, K, s, padding, d, isa, threads):
    rng = np.random.default_rng(T * 31 + K)
    layer = Conv1D(F, K, strides=s, padding=padding, dilation_rate=d, bias_initializer="glorot_uniform")
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    y = layer.forward(x)
    w, b = layer.get_weights()
    assert w.shape == (K, C, F) and b.shape == (F,)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    ry, rdx, rdw, rdb = ref_conv1d(x, w, b, s, padding, d, dy)
    assert y.shape == ry.shape
    np.testing.assert_allclose(y, ry, atol=gemm_tol(K * C), rtol=0)
    layer.zero_grad()
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, rdx, atol=gemm_tol(K * F), rtol=0)
    np.testing.assert_allclose(layer.gradients[0], rdw, atol=gemm_tol(B * y.shape[1]), rtol=0)
    np.testing.assert_allclose(layer.gradients[1], rdb, atol=gemm_tol(B * y.shape[1]), rtol=0)


def test_conv1d_causal_output_never_sees_the_future():
    rng = np.random.default_rng(5)
    layer = Conv1D(3, 4, padding="causal", dilation_rate=2)
    x = rng.standard_normal((1, 12, 2)).astype(np.float32)
    y = layer.forward(x)
    x2 = x.copy()
    x2[:, 7:] = 100.0  # change steps 7..11
    y2 = layer.forward(x2)
    np.testing.assert_array_equal(y[:, :7], y2[:, :7])
    assert np.all(np.abs(y[:, 7:] - y2[:, 7:]).max(axis=-1) > 0)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "softmax"])
def test_conv1d_activation_forward_backward(activation):
    rng = np.random.default_rng(6)
    layer = Conv1D(5, 3, padding="same", activation=activation)
    x = rng.standard_normal((3, 8, 4)).astype(np.float32)
    y = layer.forward(x)
    w, b = layer.get_weights()
    z = ref_conv1d(x, w, b, 1, "same", 1)
    np.testing.assert_allclose(y, np_activation(activation, z), atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dz = np_activation_backward(activation, dy, z)
    _, rdx, rdw, rdb = ref_conv1d(x, w, b, 1, "same", 1, dz)
    layer.zero_grad()
    np.testing.assert_allclose(layer.backward(dy), rdx, atol=1e-4)
    np.testing.assert_allclose(layer.gradients[0], rdw, atol=1e-4)
    np.testing.assert_allclose(layer.gradients[1], rdb, atol=1e-4)


@pytest.mark.parametrize("padding,s,d", [("valid", 1, 1), ("same", 2, 1), ("causal", 1, 2)])
def test_conv1d_finite_differences(padding, s, d):
    rng = np.random.default_rng(7)
    layer = Conv1D(3, 3, strides=s, padding=padding, dilation_rate=d, activation="tanh")
    x = rng.standard_normal((2, 7, 2))
    layer.build((None, 7, 2))
    target = rng.standard_normal(layer.forward(x).shape)

    def loss_of_x(xx):
        return 0.5 * float(np.sum((layer.forward(xx).astype(np.float64) - target) ** 2))

    def loss():
        return loss_of_x(x)

    y = layer.forward(x)
    layer.zero_grad()
    dx = layer.backward((y - target).astype(np.float32))
    np.testing.assert_allclose(dx, numeric_grad(loss_of_x, x, eps=1e-2), rtol=2e-2, atol=2e-3)
    for grad, weight in zip(layer.gradients, layer.weights):
        np.testing.assert_allclose(grad, numeric_grad_inplace(loss, weight), rtol=2e-2, atol=2e-3)


def test_conv1d_one_and_two_threads_bit_identical(restore_threads):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((16, 64, 24)).astype(np.float32)
    dy = None
    results = []
    for n in (1, 2):
        restore_threads(n)
        nncore.set_random_seed(9)
        layer = Conv1D(40, 5, strides=2, padding="causal", dilation_rate=2, activation="relu")
        y = layer.forward(x)
        if dy is None:
            dy = rng.standard_normal(y.shape).astype(np.float32)
        dx = layer.backward(dy)
        results.append([y, dx] + [g.copy() for g in layer.gradients])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_conv1d_accepts_keras_forms_and_reports_them():
    layer = Conv1D(4, (3,), strides=(2,), padding="SAME", dilation_rate=1)
    assert layer.kernel_size == (3,) and layer.strides == (2,) and layer.padding == "same"
    assert layer.dilation_rate == (1,) and layer.filters == 4
    assert layer.forward(np.zeros((1, 9, 2), np.float32)).shape == (1, 5, 4)
    assert layer.name.startswith("conv1d")


def test_conv1d_rejects_bad_input():
    with pytest.raises(ValueError, match=r"Conv1D 'c1': expected input of shape \(batch, steps, channels\), got "
                                         r"\(None, 10\)"):
        Conv1D(2, 3, name="c1").forward(np.zeros((4, 10), np.float32))
    with pytest.raises(ValueError, match=r"Conv1D 'c2': expected input of shape \(batch, steps, channels\)"):
        Conv1D(2, 3, name="c2").forward(np.zeros((4, 10, 3, 1), np.float32))
    layer = Conv1D(2, 3, name="c3")
    layer.forward(np.zeros((1, 10, 4), np.float32))
    with pytest.raises(ValueError, match=r"Layer 'c3' \(Conv1D\): expected input shape \(None, 10, 4\), got "
                                         r"\(1, 10, 3\)"):
        layer.forward(np.zeros((1, 10, 3), np.float32))
    with pytest.raises(ValueError, match=r"Conv1D 'c4': kernel_size 5 \(dilation_rate 2\) is longer than the "
                                         r"valid-padded input of 8 steps"):
        Conv1D(2, 5, dilation_rate=2, name="c4").forward(np.zeros((1, 8, 1), np.float32))
    with pytest.raises(ValueError, match=r"Conv1D 'c5': padding must be 'valid', 'same' or 'causal', got 'full'"):
        Conv1D(2, 3, padding="full", name="c5")
    with pytest.raises(ValueError, match=r"Conv1D kernel_size: expected a positive int"):
        Conv1D(2, 0)
    with pytest.raises(ValueError, match=r"padding must be 'valid' or 'same', got 'causal'"):
        nncore.layers.Conv2D(2, 3, padding="causal")


def test_conv1d_model_rejects_wrong_channel_count():
    model = Sequential([Conv1D(4, 3, input_shape=(10, 5), name="cc"), GlobalMaxPooling1D(), Dense(2)])
    with pytest.raises(ValueError, match=r"layer 'cc' \(Conv1D\) expected input of shape \(None, 10, 5\), got "
                                         r"\(3, 10, 4\)"):
        model.predict(np.zeros((3, 10, 4), np.float32))


# --------------------------------------------------------------- 1-D pooling


POOL_CASES = [  # B, T, C, pool, stride (None: pool), padding
    (1, 1, 1, 1, None, "valid"),
    (2, 7, 3, 2, None, "valid"),
    (3, 9, 5, 3, 2, "same"),
    (2, 10, 17, 4, 1, "same"),
    (4, 13, 8, 2, 3, "valid"),
    (2, 5, 33, 5, None, "same"),
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("B,T,C,pool,stride,padding", POOL_CASES)
def test_pooling1d_matches_numpy(mode, B, T, C, pool, stride, padding, isa, threads):
    rng = np.random.default_rng(T * 7 + C)
    cls = MaxPooling1D if mode == "max" else AveragePooling1D
    layer = cls(pool, strides=stride, padding=padding)
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    ry, rdx = ref_pool1d(x, dy, mode, pool, stride or pool, padding)
    np.testing.assert_allclose(y, ry, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(layer.backward(dy), rdx, atol=1e-6, rtol=1e-6)
    assert layer.pool_size == (pool,) and layer.strides == (stride or pool,)


def test_pooling1d_names_and_errors():
    assert MaxPooling1D().name.startswith("max_pooling1d") and AveragePooling1D().name.startswith("average_pooling1d")
    with pytest.raises(ValueError, match=r"MaxPooling1D 'mp': expected input of shape \(batch, steps, channels\), "
                                         r"got \(None, 6\)"):
        MaxPooling1D(name="mp").forward(np.zeros((2, 6), np.float32))
    with pytest.raises(ValueError, match=r"AveragePooling1D 'ap': pool_size 5 is longer than the input of 3 steps"):
        AveragePooling1D(5, name="ap").forward(np.zeros((2, 3, 1), np.float32))
    with pytest.raises(ValueError, match=r"padding must be 'valid' or 'same', got 'causal'"):
        MaxPooling1D(padding="causal")


@pytest.mark.parametrize("B,T,C", [(1, 1, 1), (3, 7, 5), (2, 40, 33)])
def test_global_pooling1d_matches_numpy(B, T, C, threads):
    rng = np.random.default_rng(B + T + C)
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    dy = rng.standard_normal((B, C)).astype(np.float32)
    avg, mx = GlobalAveragePooling1D(), GlobalMaxPooling1D()
    np.testing.assert_allclose(avg.forward(x), x.astype(np.float64).mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(avg.backward(dy), np.repeat(dy[:, None] / T, T, axis=1), atol=1e-7)
    np.testing.assert_array_equal(mx.forward(x), x.max(axis=1))
    rdx = np.zeros_like(x)
    first = x.argmax(axis=1)
    for b in range(B):
        rdx[b, first[b], np.arange(C)] = dy[b]
    np.testing.assert_array_equal(mx.backward(dy), rdx)
    with pytest.raises(ValueError, match=r"GlobalAveragePooling1D 'g1': expected input of shape "
                                         r"\(batch, steps, features\), got \(None, 2, 3, 4\)"):
        GlobalAveragePooling1D(name="g1").forward(np.zeros((1, 2, 3, 4), np.float32))


# --------------------------------------------------------------- TimeDistributed


def test_time_distributed_dense_matches_numpy_and_shares_weights(threads):
    rng = np.random.default_rng(10)
    inner = Dense(6, activation="tanh", bias_initializer="glorot_uniform")
    td = TimeDistributed(inner)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    y = td.forward(x)
    W, b = inner.get_weights()
    z = x.astype(np.float64) @ W + b
    np.testing.assert_allclose(y, np.tanh(z), atol=1e-5)
    assert td.layer is inner and [w.shape for w in td.get_weights()] == [(4, 6), (6,)]
    dy = rng.standard_normal(y.shape).astype(np.float32)
    td.zero_grad()
    dx = td.backward(dy)
    dz = dy * (1 - np.tanh(z) ** 2)
    np.testing.assert_allclose(dx, dz @ W.T, atol=1e-4)
    np.testing.assert_allclose(td.gradients[0], np.einsum("btk,btu->ku", x, dz), atol=1e-4)
    np.testing.assert_allclose(inner.gradients[1], dz.sum(axis=(0, 1)), atol=1e-4)  # the same storage
    td.set_weights([np.ones((4, 6)), np.zeros(6)])
    np.testing.assert_array_equal(inner.get_weights()[0], np.ones((4, 6)))


def test_time_distributed_folds_any_inner_layer():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 6, 4)).astype(np.float32)  # (batch, time, steps, channels)
    conv = Conv1D(5, 3, padding="same", name="inner_conv")
    td = TimeDistributed(conv)
    y = td.forward(x)
    assert y.shape == (2, 3, 6, 5)
    w, b = conv.get_weights()
    ref = ref_conv1d(x.reshape(6, 6, 4), w, b, 1, "same", 1).reshape(2, 3, 6, 5)
    np.testing.assert_allclose(y, ref, atol=gemm_tol(12))
    ln = TimeDistributed(LayerNormalization())
    x2 = rng.standard_normal((2, 4, 7)).astype(np.float32)
    ref_ln = (x2 - x2.mean(-1, keepdims=True)) / np.sqrt(x2.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(ln.forward(x2), ref_ln, atol=1e-5)


def test_time_distributed_finite_differences():
    rng = np.random.default_rng(12)
    td = TimeDistributed(Dense(3, activation="sigmoid"))
    x = rng.standard_normal((2, 4, 3))
    td.build((None, 4, 3))
    target = rng.standard_normal((2, 4, 3))

    def loss_of_x(xx):
        return 0.5 * float(np.sum((td.forward(xx).astype(np.float64) - target) ** 2))

    y = td.forward(x)
    td.zero_grad()
    dx = td.backward((y - target).astype(np.float32))
    np.testing.assert_allclose(dx, numeric_grad(loss_of_x, x, eps=1e-2), rtol=1e-2, atol=1e-3)
    for grad, weight in zip(td.gradients, td.weights):
        np.testing.assert_allclose(grad, numeric_grad_inplace(lambda: loss_of_x(x), weight), rtol=1e-2, atol=1e-3)


def test_time_distributed_softmax_output_trains_per_step():
    # Per-step labels through TimeDistributed(Dense(softmax)): the loss fuses with the inner softmax.
    rng = np.random.default_rng(13)
    nncore.set_random_seed(13)
    x = random_ids(rng, (256, 8), 6)
    y = (x.astype(int) % 3).astype(np.float32)  # each step's class from its own token
    model = Sequential([Embedding(6, 8, input_length=8), TimeDistributed(Dense(3, activation="softmax"))])
    model.compile(nncore.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.99


def test_time_distributed_errors():
    with pytest.raises(TypeError, match="TimeDistributed: expected an nncore layer to wrap"):
        TimeDistributed("dense")
    with pytest.raises(ValueError, match=r"TimeDistributed 'td1': expected input of shape \(batch, time, "
                                         r"features...\), got \(None, 5\)"):
        TimeDistributed(Dense(2), name="td1").forward(np.zeros((3, 5), np.float32))


# --------------------------------------------------------------- masks


def ref_masked_mean(h, mask):
    m = mask.astype(np.float64)[..., None]
    n = m.sum(axis=1)
    return np.where(n > 0, (h * m).sum(axis=1) / np.maximum(n, 1), 0.0)


def test_mask_flows_through_dropout_and_time_distributed_into_average(threads):
    rng = np.random.default_rng(14)
    emb = Embedding(12, 5, mask_zero=True, input_length=9)
    td = TimeDistributed(Dense(4, activation="relu", bias_initializer="glorot_uniform"))
    model = Sequential([emb, Dropout(0.5), td, GlobalAveragePooling1D()])
    model.compile("sgd", "mse")
    x = random_ids(rng, (6, 9), 12, zero_fraction=0.4)
    x[0, :] = 0  # a sample that is all padding: averages to 0
    x[1, :] = 0
    x[1, 3] = 5  # one valid step
    out = model.predict(x)
    E = emb.get_weights()[0].astype(np.float64)
    W, b = [w.astype(np.float64) for w in td.layer.get_weights()]
    h = np.maximum(E[x.astype(int)] @ W + b, 0)
    ref = ref_masked_mean(h, x != 0)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    np.testing.assert_array_equal(out[0], 0)
    np.testing.assert_allclose(out[1], h[1, 3], atol=1e-5)

    # Backward: padded steps get no gradient, so the embeddings of id 0 never change.
    target = rng.standard_normal(out.shape).astype(np.float32)
    model.compute_gradients(x, target)
    dout = 2 * (ref - target) / out.size
    m = (x != 0).astype(np.float64)[..., None]
    n = np.maximum(m.sum(axis=1), 1)
    dh = dout[:, None, :] * m / n[:, None, :] * (h > 0)
    dW = np.einsum("btk,btu->ku", E[x.astype(int)], dh)
    dE = np.zeros_like(E)
    np.add.at(dE, x.astype(int).reshape(-1), (dh @ W.T).reshape(-1, 5))
    np.testing.assert_allclose(td.gradients[0], dW, atol=1e-5)
    np.testing.assert_allclose(emb.gradients[0], dE, atol=1e-5)
    np.testing.assert_array_equal(emb.gradients[0][0], 0)


def test_unmasked_average_is_the_plain_mean():
    rng = np.random.default_rng(15)
    x = random_ids(rng, (4, 6), 7, zero_fraction=0.5)
    model = Sequential([Embedding(7, 3, input_length=6), GlobalAveragePooling1D()])
    E = model.layers[0].get_weights()[0].astype(np.float64)
    np.testing.assert_allclose(model.predict(x), E[x.astype(int)].mean(axis=1), atol=1e-6)


def test_conv1d_and_pooling_drop_the_mask():
    emb = Embedding(5, 3, mask_zero=True, input_length=6)
    model = Sequential([emb, Conv1D(2, 3, padding="same"), GlobalAveragePooling1D()])
    x = np.array([[1, 2, 0, 0, 0, 0]], np.float32)
    out = model.predict(x)
    conv_out = model.layers[1].forward(model.layers[0].forward(x))
    np.testing.assert_allclose(out, conv_out.mean(axis=1), atol=1e-6)  # all 6 steps: no mask after Conv1D
    pool_model = Sequential([Embedding(5, 3, mask_zero=True, input_length=6), MaxPooling1D(1),
                             GlobalAveragePooling1D()])
    E = pool_model.layers[0].get_weights()[0]
    np.testing.assert_allclose(pool_model.predict(x), E[x.astype(int)].mean(axis=1), atol=1e-6)  # no mask either


def test_masked_model_trains():
    # Padded variable-length sequences; the label is whether token 1 occurs. Padding (id 0) is most of each row, so
    # the masked mean is what keeps the signal from being diluted by the padding.
    rng = np.random.default_rng(16)
    nncore.set_random_seed(16)
    N, T = 1024, 20
    lengths = rng.integers(2, T + 1, N)
    x = np.zeros((N, T), np.float32)
    for i, n in enumerate(lengths):
        x[i, :n] = rng.integers(2, 10, n)
    y = rng.integers(0, 2, N)
    pos = rng.integers(0, lengths)
    x[np.arange(N)[y == 1], pos[y == 1]] = 1
    model = Sequential([Embedding(10, 8, mask_zero=True, input_length=T), Dropout(0.1),
                        TimeDistributed(Dense(8, activation="relu")), GlobalAveragePooling1D(),
                        Dense(2, activation="softmax")])
    model.compile(nncore.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert model.evaluate(x, y, verbose=0)[1] > 0.95


# --------------------------------------------------------------- a small Conv1D text model


def test_conv1d_text_model_learns_a_token_rule():
    # Label 1 when the bigram (3, 7) occurs anywhere in the sequence: a local pattern that a width-2 convolution
    # followed by a max over time detects, and that no bag-of-words model can (both tokens occur in every class).
    rng = np.random.default_rng(17)
    nncore.set_random_seed(17)
    N, T, V = 2000, 24, 20

    def make(n):
        x = rng.integers(1, V, (n, T))
        x[(x == 3) | (x == 7)] = 5  # 3 and 7 appear only where placed below
        y = rng.integers(0, 2, n)
        p = rng.integers(0, T - 1, n)  # the 3
        q = np.where(y == 1, p + 1, (p + 2 + rng.integers(0, T - 2, n)) % T)  # the 7: right after, or not
        x[np.arange(n), p] = 3
        x[np.arange(n), q] = 7
        return x.astype(np.float32), y

    x, y = make(N)
    xt, yt = make(500)
    model = Sequential([Embedding(V, 16, input_length=T), Conv1D(32, 2, activation="relu"), GlobalMaxPooling1D(),
                        Dense(2, activation="softmax")])
    model.compile(nncore.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    assert model.evaluate(xt, yt, verbose=0)[1] > 0.97


# --------------------------------------------------------------- configs (model files)


@pytest.mark.parametrize("make,shape", [
    (lambda: Embedding(11, 4, mask_zero=True, input_length=5, embeddings_initializer="glorot_uniform"), (3, 5)),
    (lambda: Conv1D(4, 3, strides=2, padding="causal", dilation_rate=2, activation="relu", use_bias=False), (2, 9, 3)),
    (lambda: MaxPooling1D(3, strides=2, padding="same"), (2, 8, 3)),
    (lambda: AveragePooling1D(2), (2, 8, 3)),
    (lambda: GlobalAveragePooling1D(), (2, 8, 3)),
    (lambda: GlobalMaxPooling1D(), (2, 8, 3)),
    (lambda: TimeDistributed(Dense(3, activation="tanh", kernel_regularizer="l2")), (2, 4, 5)),
    (lambda: TimeDistributed(Conv1D(2, 2, padding="same")), (2, 3, 6, 4)),
])
def test_layer_config_round_trip_gives_identical_outputs(make, shape):
    rng = np.random.default_rng(18)
    layer = make()
    x = np.floor(rng.random(shape) * 10).astype(np.float32)
    y = layer.forward(x)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer) and clone.get_config() == config
    clone.build((None, *shape[1:]))
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone.forward(x), y)


def test_configs_use_keras_names_and_forms():
    c = Conv1D(4, 3, padding="causal").get_config()
    assert (c["kernel_size"], c["strides"], c["dilation_rate"], c["padding"]) == ([3], [1], [1], "causal")
    p = MaxPooling1D(2).get_config()
    assert (p["pool_size"], p["strides"], p["padding"]) == ([2], [2], "valid")
    e = Embedding(7, 3, mask_zero=True, input_length=4).get_config()
    assert {k: e[k] for k in ("input_dim", "output_dim", "mask_zero", "input_length", "embeddings_initializer")} == \
        {"input_dim": 7, "output_dim": 3, "mask_zero": True, "input_length": 4, "embeddings_initializer": "uniform"}
    t = TimeDistributed(Dense(2, name="inner_dense")).get_config()
    assert t["layer"]["class_name"] == "Dense" and t["layer"]["config"]["name"] == "inner_dense"


def test_loaded_time_distributed_exposes_its_inner_layer(tmp_path):
    model = Sequential([Embedding(5, 3, input_length=4), TimeDistributed(Dense(2)), GlobalMaxPooling1D()])
    model.compile("sgd", "mse")
    x = np.array([[1, 2, 3, 4]], np.float32)
    model.save(tmp_path / "td.nncore")
    loaded = nncore.load_model(tmp_path / "td.nncore")
    inner = loaded.layers[1].layer
    assert isinstance(inner, Dense) and inner.units == 2
    np.testing.assert_array_equal(inner.get_weights()[0], model.layers[1].layer.get_weights()[0])
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
