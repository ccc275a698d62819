"""Masking, Dot (and layers.dot) and Normalization (with adapt), as Keras 3. Forward and backward against NumPy
float64 references written here; Masking's mask consumed by recurrent layers and GlobalAveragePooling1D exactly as
Embedding(mask_zero=True)'s (an LSTM on zero-padded sequences equals the LSTM on the unpadded ones, outputs and
gradients); adapt against numpy's mean and var on arrays, PyDatasets and generators; finite differences in models;
1 vs 2 threads; configs, Keras's weight layout, model files; unknown axes; bad arguments. ONNX export is checked in
test_onnx.py."""
import itertools

import numpy as np
import pytest

import nncore
from conftest import numeric_grad
from graph_helpers import gradient_errors, seeded  # noqa: F401  (autouse fixture)
from nncore import layers as L


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---- references (float64) -----------------------------------------------------------------------------------------
def masking_ref(x, value=0.0):
    x = np.asarray(x, np.float64)
    keep = np.any(x != np.float64(np.float32(value)), axis=-1)
    return x * keep[..., None], keep


def l2_normalize_ref(x, axis):
    """Keras's ops.normalize: x * min(1 / ||x||, 1 / 1e-7) along the axis."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore"):
        inv = 1.0 / np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return x * np.minimum(inv, 1e7)


def dot_ref(x1, x2, axes, normalize=False):
    """Keras's Dot: per sample, tensordot over axes (counted with the batch axis); (batch, 1) for two vectors."""
    x1, x2 = np.asarray(x1, np.float64), np.asarray(x2, np.float64)
    a = [axes, axes] if isinstance(axes, int) else list(axes)
    a = [ai % x.ndim for ai, x in zip(a, (x1, x2))]
    if normalize:
        x1, x2 = l2_normalize_ref(x1, a[0]), l2_normalize_ref(x2, a[1])
    out = np.stack([np.tensordot(x1[b], x2[b], axes=(a[0] - 1, a[1] - 1)) for b in range(x1.shape[0])])
    return out.reshape(out.shape[0], 1) if out.ndim == 1 else out


def dot_grads_ref(x1, x2, axes, dy, normalize=False):
    """d sum(dy * Dot(x1, x2)) / d x1 and / d x2, by central differences of the float64 reference (exact for the
    bilinear product but for rounding)."""
    dy = np.asarray(dy, np.float64)
    g1 = numeric_grad(lambda v: np.sum(dy * dot_ref(v, x2, axes, normalize)), x1)
    g2 = numeric_grad(lambda v: np.sum(dy * dot_ref(x1, v, axes, normalize)), x2)
    return g1, g2


def norm_ref(x, mean, var, invert=False):
    x = np.asarray(x, np.float64)
    s = np.maximum(np.sqrt(np.asarray(var, np.float64)), 1e-7)
    return x * s + mean if invert else (x - mean) / s


def kept_stats(data, keep):
    """numpy's mean and var over every axis but the kept ones (batch axis 0), in float64, kept-axes shaped."""
    data = np.asarray(data, np.float64)
    reduce = tuple(d for d in range(data.ndim) if d not in keep)
    return data.mean(axis=reduce), data.var(axis=reduce)


def broadcast_stats(stats, shape, keep):
    """Kept-axes statistics reshaped to broadcast against an input of `shape` (batch included)."""
    return np.asarray(stats).reshape([shape[d] if d in keep else 1 for d in range(len(shape))])


# ---- Masking ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,value", [((3, 6, 4), 0.0), ((2, 5, 3, 4), -1.5), ((4, 7), 2.0), ((3, 6, 1), 0.0)])
def test_masking_forward_backward(shape, value):
    rng = np.random.default_rng(1)
    x = rand(rng, *shape)
    steps = x.reshape(-1, shape[-1])
    steps[rng.random(steps.shape[0]) < 0.4] = value                   # whole steps at mask_value: masked
    steps[0, :] = value
    steps[1, :] = value
    steps[1, -1] = value + 1.0                                         # one feature differs: kept
    layer = L.Masking(value)
    y = layer.forward(x)
    want, keep = masking_ref(x, value)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(layer.compute_mask(x), keep)
    np.testing.assert_array_equal(layer._impl.output_mask, keep.astype(np.float32))
    dy = rand(rng, *shape)
    np.testing.assert_array_equal(layer.backward(dy), dy * keep[..., None])
    assert layer.get_weights() == [] and layer.mask_value == value


def test_masking_compares_in_float32():
    x = np.full((1, 2, 3), 0.1, np.float32)
    x[0, 1, 0] = 0.2
    layer = L.Masking(0.1)     # 0.1 as float32 equals the float32 data, as in Keras's backends
    np.testing.assert_array_equal(layer.compute_mask(x), [[False, True]])
    np.testing.assert_array_equal(layer.forward(x)[0, 0], 0.0)


def padded(seqs, steps, pre):
    x = np.zeros((len(seqs), steps, seqs[0].shape[1]), np.float32)
    for i, s in enumerate(seqs):
        if pre:
            x[i, steps - len(s):] = s
        else:
            x[i, :len(s)] = s
    return x


def gradients_of(model):
    return [g.copy() for layer in model.layers for g in layer.gradients]


RECURRENT_CASES = {
    "lstm": lambda x: L.LSTM(4)(x),
    "gru_sequences_pooled": lambda x: L.GlobalAveragePooling1D()(L.GRU(4, return_sequences=True)(x)),
    "dense_then_lstm": lambda x: L.LSTM(3)(L.Dense(5, activation="tanh")(x)),   # the mask passes through Dense
    "simple_rnn_backwards": lambda x: L.SimpleRNN(4, go_backwards=True)(x),
    "bidirectional": lambda x: L.Bidirectional(L.LSTM(3))(x),
}


@pytest.mark.parametrize("pre", [False, True], ids=["post_padding", "pre_padding"])
@pytest.mark.parametrize("case", sorted(RECURRENT_CASES))
def test_recurrent_after_masking_equals_unpadded(case, pre):
    """A recurrent layer after Masking on zero-padded sequences gives what it gives on each sequence unpadded:
    outputs, weight gradients and input gradients (zero on the padding)."""
    rng = np.random.default_rng(2)
    F, T = 3, 7
    lengths = [7, 4, 1, 5, 2]
    seqs = [rand(rng, n, F) for n in lengths]
    ys = rand(rng, len(seqs), 2)
    x = padded(seqs, T, pre)
    build = RECURRENT_CASES[case]
    inp = nncore.Input((T, F))
    model = nncore.Model(inp, L.Dense(2)(build(L.Masking()(inp))))
    model.compile("sgd", "mse")
    var = nncore.Input((None, F))
    ref = nncore.Model(var, L.Dense(2)(build(var)))
    ref.compile("sgd", "mse")
    ref.set_weights(model.get_weights())

    want = np.concatenate([ref.predict(s[None], verbose=0) for s in seqs])
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)

    dx = model.input_gradient(x, ys)
    grads = gradients_of(model)
    for i, s in enumerate(seqs):   # the batch's mean loss: the mean of the per-sequence gradients
        dxi = ref.input_gradient(s[None], ys[i:i + 1])[0] / len(seqs)
        gi = [g / len(seqs) for g in gradients_of(ref)]
        acc = gi if i == 0 else [a + g for a, g in zip(acc, gi)]
        span = slice(T - len(s), T) if pre else slice(0, len(s))
        np.testing.assert_allclose(dx[i, span], dxi, rtol=1e-4, atol=1e-7)
        rest = np.ones(T, bool)
        rest[span] = False
        np.testing.assert_array_equal(dx[i, rest], 0.0)
    assert len(grads) == len(acc)
    for g, a in zip(grads, acc):
        np.testing.assert_allclose(g, a, rtol=1e-4, atol=1e-7)


def test_masking_in_sequential_and_training():
    """Sequential([Masking, LSTM, Dense]) learns on padded data as the functional form; the mask is honored in fit."""
    rng = np.random.default_rng(3)
    x = rand(rng, 32, 6, 2)
    for i in range(32):
        x[i, rng.integers(1, 6):] = 0.0
    y = x.sum(axis=(1, 2))[:, None]
    model = nncore.Sequential([L.Masking(input_shape=(6, 2)), L.LSTM(8), L.Dense(1)])
    model.compile("adam", "mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    # Appending padding changes nothing.
    longer = np.concatenate([x, np.zeros((32, 3, 2), np.float32)], axis=1)
    wide = nncore.Sequential([L.Masking(input_shape=(9, 2)), L.LSTM(8), L.Dense(1)])
    wide.build((None, 9, 2))
    wide.set_weights(model.get_weights())
    np.testing.assert_allclose(wide.predict(longer, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_masking_on_unknown_lengths():
    rng = np.random.default_rng(4)
    inp = nncore.Input((None, 3))
    model = nncore.Model(inp, L.GlobalAveragePooling1D()(L.Masking(-1.0)(inp)))
    for steps in (2, 5):
        x = rand(rng, 3, steps, 3)
        x[0, -1] = -1.0
        keep = masking_ref(x, -1.0)[1]
        want = (x * keep[..., None]).sum(1) / np.maximum(keep.sum(1), 1)[:, None]
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)


# ---- Dot ----------------------------------------------------------------------------------------------------------
DOT_CASES = [   # (shape 1, shape 2, axes)
    ((4, 5), (4, 5), 1), ((4, 5), (4, 5), -1), ((3, 6), (3, 6), (1, 1)),
    ((3, 5, 4), (3, 6, 4), 2), ((3, 5, 4), (3, 5, 6), 1), ((3, 5, 4), (3, 4, 6), (2, 1)),
    ((3, 4, 5), (3, 6, 4), (1, 2)), ((3, 5, 4), (3, 6, 4), (-1, -1)),
    ((3, 4), (3, 4, 6), (1, 1)), ((3, 4), (3, 6, 4), (1, 2)), ((3, 5, 4), (3, 4), (2, 1)), ((3, 4, 5), (3, 4), (1, 1)),
    ((2, 3, 4, 5), (2, 4, 6), (2, 1)), ((2, 3, 4, 5), (2, 6, 4, 2), (2, 2)),   # middle axes (moved copies)
    ((1, 1), (1, 1), 1), ((5, 1, 3), (5, 1, 2), 1),
]


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("s1,s2,axes", DOT_CASES)
def test_dot_forward_backward(s1, s2, axes, normalize):
    rng = np.random.default_rng(5)
    x1, x2 = rand(rng, *s1), rand(rng, *s2)
    layer = L.Dot(axes=axes, normalize=normalize)
    y = layer([x1, x2])
    want = dot_ref(x1, x2, axes, normalize)
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    dy = rand(rng, *y.shape)
    dx1, dx2 = layer.backward(dy)
    g1, g2 = dot_grads_ref(x1, x2, axes, dy, normalize)
    np.testing.assert_allclose(dx1, g1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx2, g2, rtol=1e-4, atol=1e-5)
    assert layer.get_weights() == []


def test_dot_normalize_of_zero_vectors():
    """Keras's normalize on a zero vector: x * min(inf, 1e7) = 0, and the gradient through the clamp is dy * 1e7."""
    x1 = np.zeros((2, 3), np.float32)
    x1[1] = [3.0, 0.0, 4.0]
    x2 = np.ones((2, 3), np.float32)
    layer = L.Dot(axes=1, normalize=True)
    y = layer([x1, x2])
    np.testing.assert_allclose(y, [[0.0], [7.0 / 5.0 / np.sqrt(3.0)]], rtol=1e-6)
    dx1, _ = layer.backward(np.ones((2, 1), np.float32))
    np.testing.assert_allclose(dx1[0], np.full(3, 1e7 / np.sqrt(3.0)), rtol=1e-6)
    assert np.all(np.isfinite(dx1))


def test_dot_keras_examples():
    x = np.arange(10, dtype=np.float32).reshape(1, 5, 2)
    y = np.arange(10, 20, dtype=np.float32).reshape(1, 2, 5)
    np.testing.assert_array_equal(L.Dot(axes=(1, 2))([x, y]), [[[260, 360], [320, 445]]])
    a = nncore.Input((5, 8))
    b = nncore.Input((7, 8))
    assert L.Dot(axes=2)([a, b]).shape == (None, 5, 7)
    u, v = nncore.Input((16,)), nncore.Input((16,))
    assert L.Dot(axes=1, normalize=True)([u, v]).shape == (None, 1)
    assert L.dot([a, b], axes=-1).shape == (None, 5, 7)
    assert L.dot([a, nncore.Input((5, 3))], axes=1, normalize=True, name="cos").shape == (None, 8, 3)


def dot_model():
    """Dot in its forms between Dense layers (the cosine one normalizes its inputs)."""
    x = nncore.Input((5, 3))
    a = L.Dense(4, activation="tanh")(x)
    b = L.Dense(4)(x)
    s = L.Dot(axes=2)([a, b])                                 # (5, 5)
    c = L.Dot(axes=(1, 1), normalize=True)([a, b])            # (4, 4)
    u = L.Dense(6)(L.Flatten()(x))
    v = L.Dense(6)(L.Flatten()(x))
    w = L.dot([u, v], axes=1, normalize=True)                # (1,)
    t = L.Dot(axes=(2, 1))([a, L.Dense(2)(L.Reshape((4, 1))(L.Dense(4)(u)))])   # (5, 4) . (4, 2) -> (5, 2)
    h = L.Concatenate()([L.Flatten()(s), L.Flatten()(c), w, L.Flatten()(t)])
    return nncore.Model(x, L.Dense(3, activation="softmax")(h))


def test_dot_finite_differences_in_a_model():
    rng = np.random.default_rng(6)
    model = dot_model()
    model.compile("sgd", "categorical_crossentropy")
    x = rand(rng, 4, 5, 3)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 4)]
    errors = gradient_errors(model, x, y)
    assert sorted(errors) == sorted(l.name for l in model.layers if l.trainable_weights)
    assert max(errors.values()) < 1e-2, errors


def test_dot_on_unknown_lengths():
    """Attention-like scores on sequences of any length match fixed-length twins."""
    def build(q, k):
        return L.GlobalAveragePooling1D()(L.Dot(axes=2)([L.Dense(4)(q), L.Dense(4)(k)]))

    q, k = nncore.Input((None, 3)), nncore.Input((6, 3))
    var = nncore.Model([q, k], build(q, k))
    assert var.output_shape == (None, 6)
    rng = np.random.default_rng(7)
    for steps in (2, 5):
        qf = nncore.Input((steps, 3))
        kf = nncore.Input((6, 3))
        fixed = nncore.Model([qf, kf], build(qf, kf))
        fixed.set_weights(var.get_weights())
        xs = [rand(rng, 2, steps, 3), rand(rng, 2, 6, 3)]
        np.testing.assert_allclose(var.predict(xs, verbose=0), fixed.predict(xs, verbose=0), rtol=1e-5, atol=1e-6)
    a, b = nncore.Input((None, 3)), nncore.Input((None, 3))
    summed = nncore.Model([a, b], L.Dot(axes=1)([a, b]))      # the summed axis unknown: checked per batch
    np.testing.assert_allclose(summed.predict([np.ones((2, 4, 3), np.float32)] * 2, verbose=0), np.full((2, 3, 3), 4.0))
    with pytest.raises(ValueError, match=r"Dot '\w+': incompatible input shapes: axis values 4 \(at axis 1\) != 5"):
        summed.predict([np.ones((2, 4, 3), np.float32), np.ones((2, 5, 3), np.float32)], verbose=0)


# ---- Normalization --------------------------------------------------------------------------------------------------
NORM_CASES = [   # (data shape, axis, kept axes of the data)
    ((50, 4), -1, (1,)), ((50, 4), None, ()), ((30, 6, 3), -1, (2,)), ((30, 6, 3), 1, (1,)),
    ((30, 6, 3), (1, 2), (1, 2)), ((20, 4, 5, 3), (1, 3), (1, 3)), ((20, 4, 5, 3), (-1, -3), (1, 3)),
    ((20, 4, 5, 3), None, ()), ((20, 4, 5, 3), [2], (2,)),
]


@pytest.mark.parametrize("shape,axis,keep", NORM_CASES)
def test_normalization_adapt_array_matches_numpy(shape, axis, keep):
    rng = np.random.default_rng(8)
    data = (rng.standard_normal(shape) * rng.uniform(0.5, 4.0, shape[1:]) + 3.0).astype(np.float32)
    want_mean, want_var = kept_stats(data, keep)
    for batch_size in (None, 7):
        layer = L.Normalization(axis=axis)
        layer.adapt(data, batch_size=batch_size)
        mean, var, count = layer.get_weights()
        assert mean.shape == var.shape == want_mean.shape and count.shape == ()
        np.testing.assert_allclose(mean, want_mean, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(var, want_var, rtol=1e-5, atol=1e-6)
        assert count == 0.0                                   # Keras 3 keeps it at 0
        assert layer._impl.adapted_count == data.size / max(want_mean.size, 1)
    x = rand(rng, 4, *shape[1:], scale=3.0)
    m, v = broadcast_stats(mean, x.shape, keep), broadcast_stats(var, x.shape, keep)
    np.testing.assert_allclose(layer.forward(x), norm_ref(x, m, v), rtol=1e-5, atol=1e-5)
    dy = rand(rng, *x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy / np.maximum(np.sqrt(v), 1e-7), rtol=1e-6, atol=1e-7)


def test_normalization_adapt_streams_in_float64():
    """Data with a large offset and a small spread (catastrophic in float32 sums of squares) adapts to numpy's
    float64 statistics, whole or batch by batch."""
    rng = np.random.default_rng(9)
    data = (1000.0 + rng.standard_normal((4000, 3)) * 0.01).astype(np.float32)
    want_mean, want_var = kept_stats(data, (1,))
    for batch_size in (None, 1, 333):
        layer = L.Normalization()
        layer.adapt(data, batch_size=batch_size)
        mean, var, _ = layer.get_weights()
        np.testing.assert_allclose(mean, want_mean, rtol=1e-7)
        np.testing.assert_allclose(var, want_var, rtol=1e-5)


class Batches(nncore.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def test_normalization_adapt_batches():
    """PyDataset of (x, y), generators and lists of arrays, with steps; a 1-D array is one value per sample."""
    rng = np.random.default_rng(10)
    data = (rng.standard_normal((100, 6, 2)) * [2.0, 0.5] + [1.0, -3.0]).astype(np.float32)
    mean, var = kept_stats(data, (2,))
    sources = {
        "pydataset": lambda: (Batches(data, np.zeros(100), 16), None, data),
        "pydataset_steps": lambda: (Batches(data, np.zeros(100), 16), 3, data[:48]),
        "generator": lambda: ((data[i:i + 10] for i in range(0, 100, 10)), None, data),
        "generator_steps": lambda: ((data[i:i + 30] for i in range(0, 100, 30)), 2, data[:60]),
        "infinite_generator_steps": lambda: (itertools.repeat(data[:20]), 4, np.concatenate([data[:20]] * 4)),
        "list": lambda: ([data[:37], data[37:]], None, data),
        "tuples": lambda: ([(data[:50], 0), (data[50:], 1)], None, data),
    }
    for name, make in sources.items():
        source, steps, used = make()
        layer = L.Normalization()
        layer.adapt(source, steps=steps)
        want_mean, want_var = kept_stats(used, (2,))
        got_mean, got_var, _ = layer.get_weights()
        np.testing.assert_allclose(got_mean, want_mean, rtol=1e-6, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(got_var, want_var, rtol=1e-5, atol=1e-6, err_msg=name)
    flat = rng.standard_normal(40) * 3 + 2
    layer = L.Normalization(axis=None)
    layer.adapt(flat)
    np.testing.assert_allclose(layer.get_weights()[0], flat.mean(), rtol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[1], flat.var(), rtol=1e-5)
    layer.adapt(data)      # adapting again replaces the statistics (any shape: axis None keeps nothing)
    np.testing.assert_allclose(layer.get_weights()[0], data.mean(), rtol=1e-5, atol=1e-6)
    layer = L.Normalization()
    layer.adapt([flat[:15], flat[15:]])          # 1-D batches: (n,) -> (n, 1)
    assert layer.input_shape == (None, 1)
    np.testing.assert_allclose(layer.get_weights()[1], [flat.var()], rtol=1e-5)
    with pytest.raises(ValueError, match=r"adapt\(\) batch 0 must be an array of samples, got a scalar"):
        layer.adapt(list(flat))                    # a list is batches (as in Keras), not one array


def test_normalization_keras_examples():
    adapt_data = np.array([[0., 7., 4.], [2., 9., 6.], [0., 7., 4.], [2., 9., 6.]], np.float32)
    layer = L.Normalization(axis=-1)
    layer.adapt(adapt_data)
    np.testing.assert_allclose(layer.forward(np.array([[0., 7., 4.]], np.float32)), [[-1., -1., -1.]], atol=1e-6)
    layer = L.Normalization(mean=3., variance=2.)
    np.testing.assert_allclose(layer.forward(np.array([[1.], [2.], [3.]], np.float32)),
                               [[-1.4142135], [-0.70710677], [0.]], rtol=1e-6)
    layer = L.Normalization(axis=-1, invert=True)
    layer.adapt(adapt_data)
    np.testing.assert_allclose(layer.forward(np.array([[1., 2., 3.]], np.float32)), [[2., 10., 8.]], rtol=1e-6)
    layer = L.Normalization(axis=None)
    layer.adapt(np.array([1., 2., 3., 4., 5.], np.float32))   # 1-D: one value per sample, (5,) -> (5, 1)
    np.testing.assert_allclose(layer.forward(np.array([[1.], [2.], [3.]], np.float32)),
                               [[-1.4142135], [-0.70710677], [0.]], rtol=1e-6)
    inp = nncore.Input((3,))     # axis None: one mean and variance for inputs of any shape in a model
    np.testing.assert_allclose(nncore.Model(inp, layer(inp)).predict(np.array([[1., 2., 3.]], np.float32), verbose=0),
                               [[-1.4142135, -0.70710677, 0.]], rtol=1e-6)


GIVEN = [   # (input shape, axis, mean, variance)
    ((4, 3), -1, 2.0, 4.0), ((4, 3), -1, [1.0, 2.0, 3.0], [1.0, 0.25, 9.0]), ((4, 3), None, -1.0, 0.5),
    ((4, 2, 3), (1, 2), [[1.0, 2.0, 3.0]], [[4.0, 1.0, 0.0]]), ((4, 2, 3), (1, 2), [0.5, 1.5, -1.0], [1.0, 2.0, 3.0]),
    ((4, 2, 3), 1, [1.0, -1.0], [2.0, 3.0]), ((4, 5, 2, 3), (1, 3), [[0.0, 1.0, 2.0]] * 5, [[1.0, 2.0, 3.0]] * 5),
]


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("shape,axis,mean,variance", GIVEN)
def test_normalization_given_statistics(shape, axis, mean, variance, invert):
    """Keras's broadcasting of given values (numpy's rule from the right against the kept axes); no weights; a zero
    variance divides by 1e-7."""
    rng = np.random.default_rng(11)
    x = rand(rng, *shape)
    layer = L.Normalization(axis=axis, mean=mean, variance=variance, invert=invert)
    y = layer.forward(x)
    keep = [a % len(shape) for a in ([] if axis is None else [axis] if isinstance(axis, int) else axis)]
    kshape = [shape[d] for d in sorted(keep)]
    m = broadcast_stats(np.broadcast_to(np.asarray(mean, np.float64), kshape), shape, keep)
    v = broadcast_stats(np.broadcast_to(np.asarray(variance, np.float64), kshape), shape, keep)
    np.testing.assert_allclose(y, norm_ref(x, m, v, invert), rtol=1e-5, atol=1e-5)
    dy = rand(rng, *shape)
    s = np.maximum(np.sqrt(v), 1e-7)
    np.testing.assert_allclose(layer.backward(dy), dy * s if invert else dy / s, rtol=1e-5, atol=1e-6)
    assert layer.get_weights() == [] and layer.weights == []
    np.testing.assert_allclose(layer.mean, np.broadcast_to(np.asarray(mean, np.float32), kshape))
    assert layer.input_mean.tolist() == np.asarray(mean, np.float64).tolist()


def test_normalization_keras_weight_layout():
    """Keras's adapted layer: non-trainable mean, variance (the kept axes' shape) and count (a scalar); weights from
    a Keras model (count as int64) load with set_weights."""
    layer = L.Normalization(axis=(1, 2))
    layer.build((None, 4, 3))
    assert layer._impl.weight_names == ["mean", "variance", "count"]
    assert [w.shape for w in layer.get_weights()] == [(4, 3), (4, 3), ()]
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3
    assert layer.count_params() == 25
    np.testing.assert_array_equal(layer.get_weights()[1], 1.0)   # before adapt: the identity
    keras_weights = [np.full((4, 3), 2.0), np.full((4, 3), 9.0), np.array(0, np.int64)]
    layer.set_weights(keras_weights)
    np.testing.assert_allclose(layer.forward(np.full((1, 4, 3), 5.0, np.float32)), 1.0)
    model = nncore.Sequential([L.Normalization(input_shape=(5,)), L.Dense(2)])
    assert model.count_params() == 11 + 12 and sum(w.size for w in model.trainable_weights) == 12


def norm_model(adapt_on):
    """Normalization (adapted, and given with invert) between trainable layers, so gradients cross it."""
    x = nncore.Input((6, 3))
    norm = L.Normalization(axis=-1)
    norm.adapt(adapt_on)
    h = L.Dense(4, activation="tanh")(norm(L.Dense(3)(x)))
    h = L.Normalization(axis=(1, 2), mean=np.linspace(-1, 1, 24).reshape(6, 4), variance=np.full((6, 4), 2.5),
                        invert=True)(h)
    return nncore.Model(x, L.Dense(2)(L.Flatten()(h)))


def test_normalization_finite_differences_in_a_model():
    rng = np.random.default_rng(12)
    model = norm_model(rand(rng, 20, 6, 3, scale=2.0) + 1.0)
    model.compile("sgd", "mse")
    x, y = rand(rng, 4, 6, 3), rand(rng, 4, 2)
    errors = gradient_errors(model, x, y)
    assert sorted(errors) == sorted(l.name for l in model.layers if l.trainable_weights)
    assert max(errors.values()) < 1e-2, errors


def test_normalization_in_models_and_unknown_axes():
    """Adapted before the model exists (Keras's usual order); axes without statistics may have any length."""
    rng = np.random.default_rng(13)
    data = rand(rng, 64, 5, 3, scale=2.0) + 4.0
    norm = L.Normalization()
    norm.adapt(data)
    assert norm.input_shape == (None, 5, 3)
    seq = nncore.Sequential([norm, L.LSTM(4), L.Dense(1)])
    seq.compile("adam", "mse")
    seq.fit(data, data.mean(axis=(1, 2))[:, None], epochs=2, batch_size=16, verbose=0)
    inp = nncore.Input((None, 3))
    var = nncore.Model(inp, norm(inp))   # the same layer on sequences of any length
    x = rand(rng, 2, 9, 3)
    m, v = norm.mean, norm.variance
    np.testing.assert_allclose(var.predict(x, verbose=0), norm_ref(x, m, v), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"already built for input shape \(None, 5, 3\) \(statistics along axis "
                                         r"\(-1,\) of shape \(3,\)\), got \(None, None, 4\)"):
        norm(nncore.Input((None, 4)))
    with pytest.raises(ValueError, match=r"Normalization '\w+': axis 1 \(kept by axis=\(1,\)\) of its input must be "
                                         r"known"):
        L.Normalization(axis=1)(nncore.Input((None, 4)))


# ---- threads, configs, files ------------------------------------------------------------------------------------------
def test_one_and_two_threads_bit_identical(restore_threads):
    """Forward, backward and adapt on 1 and 2 threads. Over 2**21 values, so the elementwise kernels split."""
    rng = np.random.default_rng(14)
    x = rand(rng, 32, 64, 32, 34)
    x[:, ::3] = 0.0
    q, k = rand(rng, 64, 300, 48), rand(rng, 64, 200, 48)
    out = []
    for n in (1, 2):
        restore_threads(n)
        got = []
        m = L.Masking()
        got += [m.forward(x), m.backward(np.cos(x))]
        for normalize in (False, True):
            d = L.Dot(axes=2, normalize=normalize)
            y = d([q, k])
            got += [y, *d.backward(np.cos(y))]
        d = L.Dot(axes=(2, 1))                      # a middle axis: moved copies
        y = d([x[:8], rand(np.random.default_rng(1), 8, 32, 5)])
        got += [y, *d.backward(np.sin(y))]
        norm = L.Normalization(axis=(1, 3))
        norm.adapt(x, batch_size=10)
        got += [*norm.get_weights(), norm.forward(x), norm.backward(np.cos(x))]
        out.append(got)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


LAYERS = [
    lambda: L.Masking(), lambda: L.Masking(-1.5, name="pad"), lambda: L.Dot(1), lambda: L.Dot((1, 2), normalize=True),
    lambda: L.Dot(axes=[-1, -2]), lambda: L.Normalization(), lambda: L.Normalization(axis=None, invert=True),
    lambda: L.Normalization(axis=(1, 3), mean=[[1.0, 2.0]], variance=[[3.0, 4.0]]),
    lambda: L.Normalization(mean=2.5, variance=0.5)]


@pytest.mark.parametrize("make", LAYERS)
def test_config_round_trip(make):
    a = make()
    config = a.get_config()
    b = type(a).from_config(config)
    assert type(b) is type(a)
    assert b.get_config() == config


def test_keras_config_forms():
    assert L.Dot.from_config({"name": "d", "axes": [1, 2], "normalize": False}).axes == (1, 2)
    assert L.Dot.from_config({"name": "d2", "axes": -1}).axes == -1
    assert L.Dot(axes=[2, 1]).get_config()["axes"] == [2, 1] and L.Dot(2).get_config()["axes"] == 2
    n = L.Normalization.from_config({"name": "n", "trainable": True, "dtype": "float32", "axis": [-1],
                                     "invert": False, "mean": None, "variance": None})
    assert n.axis == (-1,) and n.input_mean is None
    assert L.Normalization.from_config({"name": "n2", "axis": None}).axis == ()
    assert L.Normalization.from_config({"name": "n3", "axis": 2}).axis == (2,)
    g = L.Normalization.from_config({"name": "n4", "axis": [1, 2], "mean": [[1, 2], [3, 4]],
                                     "variance": [[1, 1], [2, 2]]})
    assert g.get_config()["mean"] == [[1, 2], [3, 4]]
    assert L.Normalization(mean=3.0, variance=2.0).get_config()["mean"] == 3.0
    assert L.Masking.from_config({"name": "m", "mask_value": 0.5}).mask_value == 0.5
    assert L.Masking().name.startswith("masking") and L.Dot(1).name.startswith("dot")
    assert L.Normalization().name.startswith("normalization")


def combined_model():
    rng = np.random.default_rng(15)
    x = nncore.Input((6, 4))
    norm = L.Normalization()
    norm.adapt(rand(rng, 30, 6, 4) * 2.0 + 1.0)
    h = L.Masking()(norm(x))
    a = L.LSTM(3, return_sequences=True)(h)
    b = L.Dense(3)(h)
    s = L.Dot(axes=2)([a, b])
    c = L.Dot(axes=(1, 1), normalize=True)([a, b])
    h = L.Dense(4)(L.Concatenate()([L.Flatten()(s), L.Flatten()(c)]))
    h = L.Normalization(axis=None, mean=0.5, variance=2.0, invert=True)(h)
    return nncore.Model(x, L.Dense(3, activation="softmax")(h))


def test_save_load_model(tmp_path):
    rng = np.random.default_rng(16)
    model = combined_model()
    model.compile("adam", "categorical_crossentropy")
    x = rand(rng, 16, 6, 4)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "m.nncore")
    loaded = nncore.load_model(tmp_path / "m.nncore")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    assert {"Masking", "Dot", "Normalization"} <= {type(l).__name__ for l in loaded.layers}


# ---- bad arguments and inputs ---------------------------------------------------------------------------------------
BAD = [
    (lambda: L.Masking("0"), ValueError, r"Masking: mask_value must be a finite number, got '0'"),
    (lambda: L.Masking(float("nan")), ValueError, r"Masking: mask_value must be a finite number"),
    (lambda: L.Masking(1e39), ValueError, r"Masking '\w+': mask_value must be a finite float32 number"),
    (lambda: L.Dot(0), ValueError, r"Dot: axes must not include 0 \(the batch axis\)"),
    (lambda: L.Dot((1, 0)), ValueError, r"Dot: axes must not include 0"),
    (lambda: L.Dot((1, 2, 3)), ValueError, r"Dot: axes must be an int or a pair of ints .* got \(1, 2, 3\)"),
    (lambda: L.Dot((1, 2.0)), ValueError, r"Dot: axes must be an int or a pair of ints"),
    (lambda: L.Dot("1"), TypeError, r"Dot: axes must be an int or a pair of ints \(a list or tuple\), got '1'"),
    (lambda: L.Dot(True), TypeError, r"Dot: axes"),
    (lambda: L.Dot(1, normalize="yes"), TypeError, r"Dot: normalize must be True or False, got 'yes'"),
    (lambda: L.Dot(1, bogus=1), TypeError, r"Dot: unexpected keyword argument\(s\): bogus"),
    (lambda: L.Normalization(axis=0), ValueError, r"Normalization '\w+': axis 0 is the batch axis"),
    (lambda: L.Normalization(axis=(1, 1)), ValueError, r"Normalization '\w+': axis lists 1 twice"),
    (lambda: L.Normalization(axis="x"), ValueError, r"Normalization: axis must be an int, a tuple of ints or None"),
    (lambda: L.Normalization(axis=1.0), ValueError, r"Normalization: axis must be an int"),
    (lambda: L.Normalization(mean=1.0), ValueError, r"Normalization '\w+': give both mean and variance, or neither "
                                                    r"\(to adapt\); got mean only"),
    (lambda: L.Normalization(variance=1.0), ValueError, r"got variance only"),
    (lambda: L.Normalization(mean=[1.0, 2.0], variance=[1.0]), ValueError,
     r"mean and variance must have the same shape, got shape \(2,\) and shape \(1,\)"),
    (lambda: L.Normalization(mean=[[1.0]], variance=[[1.0]]), ValueError,
     r"mean and variance of shape \(1, 1\) have more dimensions than axis \(-1,\) keeps \(1\)"),
    (lambda: L.Normalization(mean=0.0, variance=-1.0), ValueError, r"variance must be finite and >= 0, got -1"),
    (lambda: L.Normalization(mean=np.nan, variance=1.0), ValueError, r"mean must be finite"),
    (lambda: L.Normalization(mean="a", variance=1.0), ValueError, r"Normalization: mean must be a number or an "
                                                                  r"array of numbers, got 'a'"),
    (lambda: L.Normalization(invert=1), ValueError, r"Normalization: invert must be True or False, got 1"),
    (lambda: L.Normalization(epsilon=1e-3), TypeError, r"Normalization: unexpected keyword argument\(s\): epsilon"),
]


@pytest.mark.parametrize("make,exc,match", BAD)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_inputs_name_the_layer():
    rng = np.random.default_rng(17)
    with pytest.raises(ValueError, match=r"Dot '\w+': incompatible input shapes: axis values 3 \(at axis 2\) != 4 "
                                         r"\(at axis 2\); full input shapes \(None, 5, 3\), \(None, 6, 4\)"):
        L.Dot(axes=2)([nncore.Input((5, 3)), nncore.Input((6, 4))])
    with pytest.raises(ValueError, match=r"Dot '\w+': axis 3 is out of range for input 0 of shape \(None, 5, 3\) "
                                         r"\(expected one of 1..2 or -2..-1\)"):
        L.Dot(axes=3)([nncore.Input((5, 3)), nncore.Input((5, 3, 2))])
    with pytest.raises(ValueError, match=r"Dot '\w+': expected exactly 2 inputs, got 3"):
        L.Dot(axes=1)([nncore.Input((3,))] * 3)
    with pytest.raises(ValueError, match=r"Sequential.add: Dot '\w+' merges several inputs"):
        nncore.Sequential([L.Dot(1)])
    with pytest.raises(TypeError, match=r"Layer '\w+' \(Dot\) merges several inputs: call it on a list"):
        L.Dot(1).forward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"Normalization '\w+': axis 3 is out of range for input of shape "
                                         r"\(None, 4, 2\) \(expected 1..2 or -2..-1\)"):
        L.Normalization(axis=3).forward(np.ones((2, 4, 2), np.float32))
    with pytest.raises(ValueError, match=r"Normalization '\w+': mean and variance of shape \(3,\) do not broadcast "
                                         r"to the kept axes' shape \(4,\)"):
        L.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 1.0, 1.0]).forward(np.ones((2, 4), np.float32))
    given = L.Normalization(mean=1.0, variance=1.0)
    with pytest.raises(ValueError, match=r"Normalization '\w+': adapt\(\) needs a layer without fixed statistics"):
        given.adapt(np.ones((3, 2), np.float32))
    layer = L.Normalization()
    with pytest.raises(ValueError, match=r"Normalization '\w+': adapt\(\) received no batches"):
        layer.adapt(iter([]))
    with pytest.raises(ValueError, match=r"Normalization '\w+': adapt\(\) received no data"):
        layer.adapt(np.ones((0, 3), np.float32))
    bad = rand(rng, 5, 3)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"Normalization '\w+': adapt\(\) data contains NaN or infinite values"):
        L.Normalization().adapt(bad)
    with pytest.raises(ValueError, match=r"adapt\(\) takes steps with batches .* for an array give batch_size"):
        L.Normalization().adapt(bad, steps=2)
    with pytest.raises(ValueError, match=r"adapt\(\) takes batch_size with an array"):
        L.Normalization().adapt([bad], batch_size=2)
    with pytest.raises(ValueError, match=r"Normalization '\w+': adapt\(\): batch_size must be an int >= 1, got 0"):
        L.Normalization().adapt(bad, batch_size=0)
    with pytest.raises(TypeError, match=r"adapt\(\) expected an array, a PyDataset or an iterable of batches, got int"):
        L.Normalization().adapt(5)
    built = L.Normalization()
    built.adapt(rand(rng, 4, 3))
    with pytest.raises(ValueError, match=r"Normalization '\w+': built for input shape \(None, 3\) \(statistics along "
                                         r"axis \(-1,\) of shape \(3,\)\), but adapt\(\) got data of shape \(4, 5\)"):
        built.adapt(rand(rng, 4, 5))
    with pytest.raises(TypeError, match=r"expected a numeric array"):
        L.Normalization().adapt(np.array([["a", "b"]]))
