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
from conftest import numeric_grad_inplace
from nncore import Sequential
from nncore.layers import Dense, Dropout, Embedding


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
