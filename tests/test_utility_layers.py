"""The Keras utility layers: ReLU, LeakyReLU, ELU, Softmax, PReLU (activations with arguments); RepeatVector, Permute,
Cropping1D, Cropping2D (reshaping); Maximum, Minimum (merges); Rescaling; GaussianNoise, GaussianDropout,
ActivityRegularization (regularization). Forward and backward against NumPy float64 references written here,
finite differences in a small model, configs and model files, 1 vs 2 threads, unknown axes, the training-only
behaviour and reproducibility of the noise layers, the activity penalty in the loss, and bad arguments. ONNX export
is checked in test_onnx.py."""
import numpy as np
import pytest

import nncore
from graph_helpers import gradient_errors, seeded  # noqa: F401  (autouse fixture)
from nncore import layers as L


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---- references (float64) -----------------------------------------------------------------------------------------
def relu_ref(x, max_value=None, negative_slope=0.0, threshold=0.0):
    x = np.asarray(x, np.float64)
    cap = np.inf if max_value is None else max_value
    return np.where(x > threshold, np.minimum(x, cap), negative_slope * (x - threshold))


def relu_grad_ref(dy, x, max_value=None, negative_slope=0.0, threshold=0.0):
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    cap = np.inf if max_value is None else max_value
    return np.where(x > threshold, np.where(x < cap, dy, 0.0), negative_slope * dy)


def leaky_ref(x, slope):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, slope * x)


def leaky_grad_ref(dy, x, slope):
    return np.where(np.asarray(x) > 0, dy, slope * np.asarray(dy, np.float64))


def elu_ref(x, alpha):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_grad_ref(dy, x, alpha):
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    return np.where(x > 0, dy, dy * alpha * np.exp(np.minimum(x, 0.0)))


def softmax_ref(x):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_grad_ref(dy, x):
    y = softmax_ref(x)
    dy = np.asarray(dy, np.float64)
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def prelu_alpha_shape(shape, shared_axes):
    s = list(shape)
    for a in shared_axes or []:
        s[a - 1] = 1
    return tuple(s)


def prelu_ref(x, alpha):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, np.asarray(alpha, np.float64) * x)   # alpha broadcasts over the batch and shared axes


def prelu_grads_ref(dy, x, alpha):
    """dx, and dalpha summed over the batch and the shared axes (where alpha has length 1)."""
    x, dy, alpha = (np.asarray(a, np.float64) for a in (x, dy, alpha))
    dx = np.where(x > 0, dy, alpha * dy)
    full = np.where(x > 0, 0.0, dy * x)
    axes = (0,) + tuple(i + 1 for i, n in enumerate(alpha.shape) if n == 1 and x.shape[i + 1] != 1)
    return dx, full.sum(axis=axes, keepdims=True).reshape(alpha.shape)


def crop2d_ref(x, top, bottom, left, right):
    x = np.asarray(x, np.float64)
    return x[:, top:x.shape[1] - bottom, left:x.shape[2] - right, :]


def uncrop2d_ref(dy, top, bottom, left, right):
    """The adjoint of cropping: dy padded back with zeros."""
    return np.pad(np.asarray(dy, np.float64), ((0, 0), (top, bottom), (left, right), (0, 0)))


def penalty_ref(x, l1, l2):
    """l1 * sum|x| + l2 * sum x^2 per sample, averaged over the batch."""
    x = np.asarray(x, np.float64)
    return (l1 * np.abs(x).sum() + l2 * (x * x).sum()) / x.shape[0]


def away_from(x, points, gap=1e-2):
    """x nudged so that no entry lies within gap of a kink (the derivatives differ on either side)."""
    x = np.asarray(x, np.float32).copy()
    for p in points:
        near = np.abs(x - p) < gap
        x[near] = p + gap * np.where(x[near] >= p, 2.0, -2.0)
    return x


# ---- activation layers ----------------------------------------------------------------------------------------------
RELU_CASES = [dict(), dict(max_value=6.0), dict(negative_slope=0.1), dict(threshold=0.5),
              dict(max_value=1.5, negative_slope=0.2, threshold=0.3), dict(max_value=0.0),
              dict(max_value=0.2, threshold=0.5, negative_slope=0.05)]   # threshold above the cap, as Keras allows


@pytest.mark.parametrize("kwargs", RELU_CASES)
def test_relu_forward_backward(kwargs):
    rng = np.random.default_rng(1)
    kinks = [kwargs.get("threshold", 0.0)] + ([kwargs["max_value"]] if "max_value" in kwargs else [])
    x = away_from(rand(rng, 4, 3, 7, scale=3.0), kinks)
    layer = L.ReLU(**kwargs)
    y = layer.forward(x)
    np.testing.assert_allclose(y, relu_ref(x, **kwargs), rtol=1e-6, atol=1e-6)
    dy = rand(rng, *x.shape)
    np.testing.assert_allclose(layer.backward(dy), relu_grad_ref(dy, x, **kwargs), rtol=1e-6, atol=1e-7)
    assert layer.get_weights() == []


@pytest.mark.parametrize("slope", [0.3, 0.01, 0.0, 1.7])
def test_leaky_relu(slope):
    rng = np.random.default_rng(2)
    x = rand(rng, 5, 9)
    layer = L.LeakyReLU(slope) if slope != 0.3 else L.LeakyReLU()
    assert layer.negative_slope == pytest.approx(slope)
    np.testing.assert_allclose(layer.forward(x), leaky_ref(x, slope), rtol=1e-6, atol=1e-7)
    dy = rand(rng, *x.shape)
    np.testing.assert_allclose(layer.backward(dy), leaky_grad_ref(dy, x, slope), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.5, -0.3])
def test_elu(alpha):
    rng = np.random.default_rng(3)
    x = rand(rng, 3, 4, 5, scale=2.0)
    layer = L.ELU(alpha) if alpha != 1.0 else L.ELU()
    np.testing.assert_allclose(layer.forward(x), elu_ref(x, alpha), rtol=1e-5, atol=1e-6)
    dy = rand(rng, *x.shape)
    np.testing.assert_allclose(layer.backward(dy), elu_grad_ref(dy, x, alpha), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,axis", [((6, 10), -1), ((3, 4, 7), -1), ((3, 4, 7), 2), ((2, 3, 2, 5), 3)])
def test_softmax(shape, axis):
    rng = np.random.default_rng(4)
    x = rand(rng, *shape, scale=4.0)
    layer = L.Softmax(axis=axis)
    np.testing.assert_allclose(layer.forward(x), softmax_ref(x), rtol=1e-5, atol=1e-7)
    dy = rand(rng, *shape)
    np.testing.assert_allclose(layer.backward(dy), softmax_grad_ref(dy, x), rtol=1e-4, atol=1e-6)


def test_softmax_other_axis_raises_at_build():
    with pytest.raises(ValueError, match=r"Softmax '\w+': only the last axis \(axis=-1\) is supported, got axis=1"):
        L.Softmax(axis=1).forward(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="Softmax"):
        nncore.Sequential([L.Softmax(axis=1, input_shape=(3, 4))])


def test_final_softmax_fuses_with_cross_entropy():
    """A final Softmax layer trains like Dense(activation='softmax'): same weights give the same loss and gradients."""
    rng = np.random.default_rng(5)
    x, y = rand(rng, 16, 6), rng.integers(0, 4, 16).astype(np.float32)
    a = nncore.Sequential([L.Dense(4, input_shape=(6,)), L.Softmax()])
    b = nncore.Sequential([L.Dense(4, activation="softmax", input_shape=(6,))])
    b.set_weights(a.get_weights())
    for m in (a, b):
        m.compile("sgd", "sparse_categorical_crossentropy")
    assert a.compute_gradients(x, y) == pytest.approx(b.compute_gradients(x, y), rel=1e-6)
    for ga, gb in zip(a.layers[0].gradients, b.layers[0].gradients):
        np.testing.assert_allclose(ga, gb, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape,shared_axes", [((7,), None), ((4, 5), None), ((4, 5), [1]), ((4, 5), 2),
                                               ((3, 4, 2), [1, 2]), ((3, 4, 2), [2]), ((3, 4, 2), [1, 2, 3]),
                                               ((3, 4, 2), [3, 1])])
def test_prelu_forward_backward(shape, shared_axes):
    rng = np.random.default_rng(6)
    x = away_from(rand(rng, 5, *shape), [0.0])
    layer = L.PReLU(shared_axes=shared_axes)
    y = layer.forward(x)
    axes = [shared_axes] if isinstance(shared_axes, int) else shared_axes
    alpha_shape = prelu_alpha_shape(shape, axes)
    assert layer._impl.weight_names == ["alpha"] and layer.get_weights()[0].shape == alpha_shape
    np.testing.assert_array_equal(layer.get_weights()[0], 0.0)      # alpha_initializer 'zeros': a ReLU at first
    np.testing.assert_allclose(y, np.maximum(x, 0))
    alpha = rand(rng, *alpha_shape, scale=0.5)
    layer.set_weights([alpha])
    np.testing.assert_allclose(layer.forward(x), prelu_ref(x, alpha), rtol=1e-6, atol=1e-7)
    dy = rand(rng, *x.shape)
    layer.zero_grad()
    dx = layer.backward(dy)
    dx_ref, da_ref = prelu_grads_ref(dy, x, alpha)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layer.gradients[0], da_ref, rtol=1e-5, atol=1e-6)
    layer.backward(dy)   # accumulates
    np.testing.assert_allclose(layer.gradients[0], 2 * da_ref, rtol=1e-5, atol=1e-6)


def test_prelu_initializer_and_regularizer():
    layer = L.PReLU(alpha_initializer="Ones", alpha_regularizer=nncore.regularizers.l2(0.5))
    layer.forward(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(layer.get_weights()[0], 1.0)
    assert layer.get_config()["alpha_regularizer"] == {"l1": 0.0, "l2": 0.5}
    assert layer.get_config()["alpha_initializer"] == "ones"


# ---- reshaping ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,features", [(1, 5), (3, 4), (7, 1)])
def test_repeat_vector(n, features):
    rng = np.random.default_rng(7)
    x = rand(rng, 3, features)
    layer = L.RepeatVector(n)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, np.repeat(x[:, None, :], n, axis=1))
    dy = rand(rng, 3, n, features)
    np.testing.assert_allclose(layer.backward(dy), dy.astype(np.float64).sum(axis=1), rtol=1e-6, atol=1e-6)
    assert layer.output_shape == (None, n, features)


@pytest.mark.parametrize("shape,dims", [((4, 5), (2, 1)), ((4, 5), (1, 2)), ((2, 3, 4), (3, 1, 2)),
                                        ((2, 3, 4), (2, 3, 1)), ((2, 3, 4, 5), (4, 2, 1, 3)), ((6,), (1,))])
def test_permute(shape, dims):
    rng = np.random.default_rng(8)
    x = rand(rng, 3, *shape)
    layer = L.Permute(dims)
    perm = (0,) + tuple(dims)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, np.transpose(x, perm))
    assert layer.output_shape == (None, *np.transpose(x, perm).shape[1:])
    dy = rand(rng, *y.shape)
    np.testing.assert_array_equal(layer.backward(dy), np.transpose(dy, np.argsort(perm)))


@pytest.mark.parametrize("cropping,expect", [(1, (1, 1)), ((0, 2), (0, 2)), ([3, 0], (3, 0)), ((0, 0), (0, 0))])
def test_cropping1d(cropping, expect):
    rng = np.random.default_rng(9)
    x = rand(rng, 2, 8, 3)
    layer = L.Cropping1D(cropping)
    assert layer.cropping == expect
    a, b = expect
    y = layer.forward(x)
    np.testing.assert_array_equal(y, x[:, a:8 - b, :])
    dy = rand(rng, *y.shape)
    np.testing.assert_array_equal(layer.backward(dy), np.pad(dy, ((0, 0), (a, b), (0, 0))))
    assert L.Cropping1D().cropping == (1, 1)


@pytest.mark.parametrize("cropping,expect", [
    (2, ((2, 2), (2, 2))), ((1, 3), ((1, 1), (3, 3))), (((0, 2), (1, 0)), ((0, 2), (1, 0))),
    (((1, 1), 2), ((1, 1), (2, 2))), (None, ((0, 0), (0, 0)))])
def test_cropping2d(cropping, expect):
    rng = np.random.default_rng(10)
    x = rand(rng, 2, 7, 9, 3)
    layer = L.Cropping2D() if cropping is None else L.Cropping2D(cropping)
    assert layer.cropping == expect
    (t, b), (l, r) = expect
    y = layer.forward(x)
    np.testing.assert_array_equal(y, crop2d_ref(x, t, b, l, r))
    dy = rand(rng, *y.shape)
    np.testing.assert_array_equal(layer.backward(dy), uncrop2d_ref(dy, t, b, l, r))


# ---- merges ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,fn,np_fn", [(L.Maximum, L.maximum, np.maximum), (L.Minimum, L.minimum, np.minimum)])
@pytest.mark.parametrize("k", [2, 3])
def test_maximum_minimum(cls, fn, np_fn, k):
    rng = np.random.default_rng(11)
    xs = [rand(rng, 4, 3, 5) for _ in range(k)]
    xs[1][0] = xs[0][0]                 # ties between inputs 0 and 1 on sample 0
    if k == 3:
        xs[2][1] = xs[1][1]             # ties between inputs 1 and 2 on sample 1
    layer = cls()
    y = layer(xs)
    want = xs[0].astype(np.float64)
    for x in xs[1:]:
        want = np_fn(want, x)
    np.testing.assert_array_equal(y, want)
    dy = rand(rng, *y.shape)
    dxs = layer.backward(dy)
    # The gradient goes to the first input holding the extremum (TensorFlow's tie rule).
    chosen = np.argmax(np.stack([x == want for x in xs]), axis=0)
    for i, dx in enumerate(dxs):
        np.testing.assert_array_equal(dx, np.where(chosen == i, dy, 0.0))
    total = sum(dxs)
    np.testing.assert_array_equal(total, dy)
    # The functional form, next to layers.add.
    a, b = nncore.Input((3, 5)), nncore.Input((3, 5))
    model = nncore.Model([a, b], fn([a, b]))
    assert type(model.layers[-1]) is cls
    np.testing.assert_array_equal(model.predict(xs[:2], verbose=0), np_fn(xs[0], xs[1]))


def test_merge_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"Maximum '\w+': inputs must have the same shape"):
        L.Maximum()([nncore.Input((3,)), nncore.Input((4,))])
    with pytest.raises(ValueError, match="at least 2 inputs"):
        L.Minimum()([nncore.Input((3,))])


# ---- preprocessing and regularization ---------------------------------------------------------------------------
@pytest.mark.parametrize("scale,offset", [(1 / 255, 0.0), (1 / 127.5, -1.0), (-2.0, 0.5)])
def test_rescaling(scale, offset):
    rng = np.random.default_rng(12)
    x = rng.uniform(0, 255, (3, 4, 4, 2)).astype(np.float32)
    layer = L.Rescaling(scale, offset=offset)
    np.testing.assert_allclose(layer.forward(x), x.astype(np.float64) * np.float32(scale) + offset, rtol=1e-6,
                               atol=1e-6)
    dy = rand(rng, *x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * np.float32(scale), rtol=1e-6)


NOISE = [lambda **kw: L.GaussianNoise(0.4, **kw), lambda **kw: L.GaussianDropout(0.3, **kw)]


@pytest.mark.parametrize("make", NOISE)
def test_noise_layers_are_identity_outside_training(make):
    rng = np.random.default_rng(13)
    x = rand(rng, 6, 10)
    layer = make()
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    dy = rand(rng, *x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy)
    model = nncore.Sequential([L.Dense(4, input_shape=(10,)), make(), L.Dense(2)])
    model.compile("sgd", "mse")
    p = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), p)
    y = rand(rng, 6, 2)
    e1 = model.evaluate(x, y, verbose=0)
    assert model.evaluate(x, y, verbose=0) == e1
    plain = nncore.Sequential([L.Dense(4, input_shape=(10,)), L.Dense(2)])
    plain.set_weights(model.get_weights())
    np.testing.assert_array_equal(plain.predict(x, verbose=0), p)
    # Zero noise is the identity in training too.
    zero = L.GaussianNoise(0.0) if isinstance(layer, L.GaussianNoise) else L.GaussianDropout(0.0)
    np.testing.assert_array_equal(zero.forward(x, training=True), x)


def test_gaussian_noise_statistics_and_backward():
    x = np.full((200, 500), 3.0, np.float32)
    layer = L.GaussianNoise(0.5)
    y = layer.forward(x, training=True)
    noise = y.astype(np.float64) - 3.0
    assert abs(noise.mean()) < 0.008 and abs(noise.std() - 0.5) < 0.006   # 5 standard errors of 10^5 draws
    # Roughly normal: the share within one standard deviation.
    assert abs(np.mean(np.abs(noise) < 0.5) - 0.6827) < 0.01
    dy = np.random.default_rng(14).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dy), dy)   # d(x + noise)/dx = 1


def test_gaussian_dropout_statistics_and_backward():
    rate = 0.3
    x = np.random.default_rng(15).uniform(0.5, 1.5, (200, 500)).astype(np.float32)
    layer = L.GaussianDropout(rate)
    y = layer.forward(x, training=True)
    factor = y.astype(np.float64) / x
    assert abs(factor.mean() - 1.0) < 0.011                               # 5 standard errors of 10^5 draws
    assert abs(factor.std() - np.sqrt(rate / (1 - rate))) < 0.008
    dy = np.random.default_rng(16).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(dy), dy * factor, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", NOISE)
def test_noise_is_seeded_and_fresh_each_step(make):
    x = np.ones((4, 50), np.float32)
    nncore.set_random_seed(42)
    a = make()
    a1, a2 = a.forward(x, training=True).copy(), a.forward(x, training=True).copy()
    nncore.set_random_seed(42)
    b = make()
    np.testing.assert_array_equal(b.forward(x, training=True), a1)
    np.testing.assert_array_equal(b.forward(x, training=True), a2)
    assert not np.array_equal(a1, a2)   # new noise every step
    nncore.set_random_seed(43)
    assert not np.array_equal(make().forward(x, training=True), a1)
    # The layer's own seed: the same draws whatever the global seed.
    nncore.set_random_seed(1)
    s1 = make(seed=7).forward(x, training=True).copy()
    nncore.set_random_seed(2)
    s2 = make(seed=7)
    assert s2.seed == 7
    np.testing.assert_array_equal(s2.forward(x, training=True), s1)


def noisy_model():
    return nncore.Sequential([
        L.Dense(8, activation="tanh", input_shape=(6,)), L.GaussianNoise(0.2), L.Dense(8), L.GaussianDropout(0.2),
        L.PReLU(), L.ActivityRegularization(l1=1e-3, l2=1e-2), L.Dense(2)])


def test_fit_with_noise_layers_reruns_bit_identically():
    rng = np.random.default_rng(17)
    x, y = rand(rng, 64, 6), rand(rng, 64, 2)
    runs = []
    for _ in range(2):
        nncore.set_random_seed(11)
        model = noisy_model()
        model.compile("adam", "mse")
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        runs.append((history.history["loss"], model.get_weights(), model.predict(x, verbose=0)))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


def test_noise_only_in_training():
    """train_on_batch sees noise (its loss differs from a noise-free twin's); test_on_batch and predict do not."""
    rng = np.random.default_rng(18)
    x, y = rand(rng, 32, 6), rand(rng, 32, 2)
    nncore.set_random_seed(3)
    noisy = nncore.Sequential([L.Dense(8, input_shape=(6,)), L.GaussianNoise(0.5), L.GaussianDropout(0.4),
                               L.Dense(2)])
    plain = nncore.Sequential([L.Dense(8, input_shape=(6,)), L.Dense(2)])
    plain.set_weights(noisy.get_weights())
    for m in (noisy, plain):
        m.compile("sgd", "mse")
    assert noisy.test_on_batch(x, y) == pytest.approx(plain.test_on_batch(x, y), rel=1e-6)
    np.testing.assert_array_equal(noisy.predict(x, verbose=0), plain.predict(x, verbose=0))
    assert noisy.train_on_batch(x, y) != pytest.approx(plain.train_on_batch(x, y), rel=1e-3)


@pytest.mark.parametrize("l1,l2", [(0.01, 0.0), (0.0, 0.05), (0.02, 0.03), (0.0, 0.0)])
def test_activity_regularization_loss_and_gradient(l1, l2):
    rng = np.random.default_rng(19)
    x, y = rand(rng, 12, 5), rand(rng, 12, 3)
    np.testing.assert_array_equal(L.ActivityRegularization(l1=l1, l2=l2).forward(x, training=True), x)   # identity
    layer = L.ActivityRegularization(l1=l1, l2=l2)
    dense = L.Dense(4, input_shape=(5,))
    model = nncore.Sequential([dense, layer, L.Dense(3)])
    plain = nncore.Sequential([L.Dense(4, input_shape=(5,)), L.Dense(3)])
    plain.set_weights(model.get_weights())
    for m in (model, plain):
        m.compile("sgd", "mse")
    h = x.astype(np.float64) @ model.get_weights()[0] + model.get_weights()[1]   # what the layer sees
    penalty = penalty_ref(h, l1, l2)
    base = plain.evaluate(x, y, verbose=0)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(base + penalty, rel=1e-5)
    assert model.compute_gradients(x, y) == pytest.approx(base + penalty, rel=1e-5)
    # The gradient reaching the first Dense holds the penalty's: (l1 sign(h) + 2 l2 h) / batch through its kernel.
    plain.compute_gradients(x, y)
    extra = (l1 * np.sign(h) + 2 * l2 * h) / len(x)
    np.testing.assert_allclose(dense.gradients[0], plain.layers[0].gradients[0] + x.T.astype(np.float64) @ extra,
                               rtol=1e-4, atol=1e-6)
    assert model._impl.adds_losses == bool(l1 or l2)


# ---- models: finite differences, threads, files, unknown axes ---------------------------------------------------------
def utility_model(steps=6):
    """Every layer here in one functional model (configs, files, threads, summary)."""
    x = nncore.Input((steps, 3))
    h = L.Dense(4, activation="tanh")(x)
    h = L.ReLU(max_value=0.6, negative_slope=0.1)(h)   # continuous (a threshold > 0 jumps from 0 to threshold)
    h = L.PReLU(shared_axes=[1])(L.Dense(4)(h))
    h = L.LeakyReLU(0.2)(h)
    h = L.ELU(0.7)(L.Dense(4)(h))
    h = L.Permute((2, 1))(h)                                # (4, steps)
    h = L.Cropping1D((1, 0))(L.Dense(5)(h))                 # (3, 5)
    h = L.Rescaling(0.5, offset=0.1)(h)
    img = L.Reshape((3, 5, 1))(h)
    img = L.Cropping2D(((1, 0), (1, 2)))(L.Conv2D(2, 2, padding="same")(img))   # (2, 2, 2)
    flat = L.Flatten()(img)
    a, b, c = (L.Dense(6)(flat) for _ in range(3))
    m = L.Maximum()([a, b, c])
    n = L.Minimum()([a, b])
    h = L.Add()([m, n])
    h = L.GaussianNoise(0.1)(h)
    h = L.GaussianDropout(0.1)(h)
    h = L.ActivityRegularization(l1=0.01, l2=0.02)(h)
    seq = L.RepeatVector(3)(L.Dense(2)(h))
    out = L.Softmax()(L.Dense(3)(L.Flatten()(seq)))
    return nncore.Model(x, out)


def smooth_model():
    """The layers with continuous derivatives in one chain (ELU with alpha 1, the l2 penalty alone; the noise layers
    are the identity outside training), for finite differences in a model at any seed."""
    x = nncore.Input((6, 3))
    h = L.Dense(4, activation="tanh")(x)
    h = L.Permute((2, 1))(h)                                # (4, 6)
    h = L.Cropping1D((1, 0))(L.Dense(5)(h))                 # (3, 5)
    h = L.Rescaling(0.5, offset=0.1)(h)
    img = L.Reshape((3, 5, 1))(h)
    img = L.Cropping2D(((1, 0), (1, 2)))(L.Conv2D(2, 2, padding="same")(img))   # (2, 2, 2)
    h = L.ELU()(L.Dense(6)(L.Flatten()(img)))
    h = L.ActivityRegularization(l2=0.05)(L.GaussianDropout(0.1)(L.GaussianNoise(0.1)(h)))
    seq = L.RepeatVector(3)(L.Dense(2)(h))
    return nncore.Model(x, L.Softmax()(L.Dense(3)(L.Flatten()(seq))))


def test_finite_differences_in_a_model():
    rng = np.random.default_rng(20)
    model = smooth_model()
    model.compile("sgd", "categorical_crossentropy")
    x = rand(rng, 4, 6, 3)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 4)]
    errors = gradient_errors(model, x, y)
    trainable = [l.name for l in model.layers if l.trainable_weights]
    assert sorted(errors) == sorted(trainable)
    assert max(errors.values()) < 1e-2, errors


# The piecewise-linear layers, each between Dense layers: the Dense before it ("pre", one per input of a merge) gets
# small kernels and a bias per unit that keeps every value far from the layer's kinks, on both sides of them, so no
# finite-difference step crosses one (the derivatives differ on either side).
KINKED = {
    "relu": (lambda: L.ReLU(), [[1.5, -1.5, 1.2, -1.0]]),
    "relu_capped": (lambda: L.ReLU(max_value=1.0, negative_slope=0.1), [[0.5, -1.5, 2.5, -0.8]]),
    "relu_threshold": (lambda: L.ReLU(max_value=2.0, negative_slope=0.2, threshold=0.5), [[1.2, -1.0, 3.0, -0.3]]),
    "leaky_relu": (lambda: L.LeakyReLU(0.2), [[1.0, -1.0, 0.8, -0.8]]),
    "elu": (lambda: L.ELU(0.7), [[1.0, -1.0, 0.8, -0.8]]),
    "prelu": (lambda: L.PReLU(), [[1.0, -1.0, 0.8, -0.8]]),
    "prelu_shared": (lambda: L.PReLU(shared_axes=[1]), [[1.0, -1.0, 0.8, -0.8]]),
    "activity_l1": (lambda: L.ActivityRegularization(l1=0.05, l2=0.01), [[1.0, -1.0, 0.8, -0.8]]),
    # Per unit one clear maximum (minimum) of the inputs, each input winning somewhere.
    "maximum": (lambda: L.Maximum(), [[2.0, 0.0, -2.0, 1.0], [0.0, 2.0, 1.0, -2.0], [-2.0, -1.0, 2.0, 2.0]]),
    "minimum": (lambda: L.Minimum(), [[2.0, -2.0, 0.0, 1.5], [-1.0, 2.0, 1.5, 0.0]]),
}


@pytest.mark.parametrize("kind", sorted(KINKED))
def test_finite_differences_of_piecewise_layers(kind):
    make, biases = KINKED[kind]
    rng = np.random.default_rng(25)
    x = nncore.Input((5, 3))
    pres = [L.Dense(4, name=f"pre_{k}") for k in range(len(biases))]
    hs = [p(x) for p in pres]
    layer = make()
    h = layer(hs if len(hs) > 1 else hs[0])
    model = nncore.Model(x, L.Dense(2)(L.Flatten()(h)))
    model.compile("sgd", "mse")
    for p, bias in zip(pres, biases):
        p.set_weights([rand(rng, 3, 4, scale=0.05), np.asarray(bias, np.float32)])
    if isinstance(layer, L.PReLU):
        layer.set_weights([rand(rng, *layer.get_weights()[0].shape, scale=0.5)])
    xs, ys = rand(rng, 4, 5, 3), rand(rng, 4, 2)
    # Steps of 1e-2 (gradient_errors takes 1e-3): the loss is piecewise quadratic in each weight here (ELU aside), so
    # central differences are exact but for float32 rounding, which a larger step divides down; the steps move the
    # pinned values by 0.05 at most, far less than their distance to a kink.
    errors = nncore.gradient_check(model, xs, ys, epsilon=1e-2, floor=1e-2)
    assert sorted(errors) == sorted(l.name for l in model.layers if l.trainable_weights)
    assert max(errors.values()) < 1e-2, errors


def test_input_gradient_by_finite_differences():
    """d(loss)/d(x) through the smooth chain against central differences of a few inputs."""
    rng = np.random.default_rng(21)
    model = smooth_model()
    model.compile("sgd", "categorical_crossentropy")
    x = rand(rng, 3, 6, 3)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 3)]
    dx = model.input_gradient(x, y)
    eps = 1e-2
    worst = 0.0
    for flat in rng.choice(x.size, 12, replace=False):
        i = np.unravel_index(flat, x.shape)
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        numeric = (model.compute_gradients(xp, y) - model.compute_gradients(xm, y)) / (2 * eps)
        worst = max(worst, abs(numeric - dx[i]) / max(abs(numeric) + abs(dx[i]), 1e-2))
    assert worst < 1e-2, worst


def test_one_and_two_threads_bit_identical(restore_threads):
    """Each layer's forward, backward and weight gradients on 1 and on 2 threads. The inputs hold over 2**21 values,
    so even the cheapest kernels (about one operation per value) split their work over both threads."""
    rng = np.random.default_rng(22)
    x = rand(rng, 34, 64, 64, 16)

    def run(make, inputs):
        out = []
        for n in (1, 2):
            restore_threads(n)
            nncore.set_random_seed(5)
            layer = make()
            if isinstance(layer, L.PReLU):
                layer.build((None, *inputs[0].shape[1:]))
                layer.set_weights([rand(np.random.default_rng(1), *layer.get_weights()[0].shape)])
            if len(inputs) > 1:
                y = layer(inputs)
                out.append([y, *layer.backward(np.cos(y))])
            else:
                y = layer.forward(inputs[0], training=True)
                out.append([y, layer.backward(np.cos(y))] + [g.copy() for g in layer.gradients])
        for a, b in zip(*out):
            np.testing.assert_array_equal(a, b)

    for make in (lambda: L.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2), lambda: L.LeakyReLU(),
                 lambda: L.ELU(), lambda: L.Softmax(), lambda: L.PReLU(shared_axes=[1, 2]), lambda: L.PReLU(),
                 lambda: L.Permute((3, 1, 2)), lambda: L.Cropping2D(((1, 2), (3, 0))), lambda: L.Rescaling(0.5, 1.0),
                 lambda: L.GaussianNoise(0.3), lambda: L.GaussianDropout(0.3), lambda: L.ActivityRegularization(0.1, 0.1)):
        run(make, [x])
    run(lambda: L.RepeatVector(2), [x.reshape(34 * 64, 1024)])
    run(lambda: L.Cropping1D((2, 3)), [x.reshape(34, 4096, 16)])
    for make in (L.Maximum, L.Minimum):
        run(make, [x, np.flip(x, 0).copy(), np.sin(x)])
    out = []
    for n in (1, 2):
        restore_threads(n)
        nncore.set_random_seed(5)
        model = utility_model(8)
        model.compile("adam", "categorical_crossentropy")
        xm = rand(np.random.default_rng(9), 64, 8, 3)
        ym = np.eye(3, dtype=np.float32)[np.arange(64) % 3]
        model.fit(xm, ym, epochs=2, batch_size=32, verbose=0)
        out.append([model.predict(xm, verbose=0), *model.get_weights()])
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


LAYERS = [
    lambda: L.ReLU(), lambda: L.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5, name="relu6"),
    lambda: L.LeakyReLU(), lambda: L.LeakyReLU(0.05), lambda: L.ELU(), lambda: L.ELU(0.4), lambda: L.Softmax(),
    lambda: L.Softmax(axis=3), lambda: L.PReLU(), lambda: L.PReLU(alpha_initializer="ones", shared_axes=[1, 2]),
    lambda: L.RepeatVector(4), lambda: L.Permute((3, 1, 2)), lambda: L.Cropping1D(), lambda: L.Cropping1D((0, 3)),
    lambda: L.Cropping2D(), lambda: L.Cropping2D(((1, 2), (0, 4))), lambda: L.Maximum(), lambda: L.Minimum(),
    lambda: L.Rescaling(1 / 255), lambda: L.Rescaling(2.0, offset=-1.0), lambda: L.GaussianNoise(0.1),
    lambda: L.GaussianNoise(0.2, seed=3), lambda: L.GaussianDropout(0.4), lambda: L.GaussianDropout(0.1, seed=0),
    lambda: L.ActivityRegularization(), lambda: L.ActivityRegularization(l1=0.1, l2=0.2)]


@pytest.mark.parametrize("make", LAYERS)
def test_config_round_trip(make):
    a = make()
    config = a.get_config()
    b = type(a).from_config(config)
    assert type(b) is type(a)
    assert b.get_config() == config


def test_keras_config_forms():
    assert L.LeakyReLU.from_config({"name": "lr", "alpha": 0.1}).negative_slope == pytest.approx(0.1)   # Keras 2
    assert L.LeakyReLU.from_config({"name": "lr2"}).negative_slope == pytest.approx(0.3)
    relu = L.ReLU.from_config({"name": "r", "max_value": None, "negative_slope": 0.0, "threshold": 0.0})
    assert relu.max_value is None and relu.get_config()["max_value"] is None
    assert L.ReLU(max_value=6).max_value == 6.0
    c2 = L.Cropping2D.from_config({"name": "c", "cropping": 2, "data_format": "channels_last"})
    assert c2.cropping == ((2, 2), (2, 2))
    assert L.Cropping2D.from_config({"name": "c2", "cropping": [[1, 0], 3]}).cropping == ((1, 0), (3, 3))
    assert L.Cropping1D.from_config({"name": "c1", "cropping": 2}).cropping == (2, 2)
    assert L.PReLU.from_config({"name": "p", "shared_axes": 2}).shared_axes == [2]
    assert L.PReLU.from_config({"name": "p2", "shared_axes": None}).shared_axes is None
    assert L.GaussianNoise.from_config({"name": "g", "stddev": 0.1, "seed": None}).seed is None
    assert L.Rescaling.from_config({"name": "s", "scale": 0.5}).offset == 0.0
    assert L.Permute.from_config({"name": "pm", "dims": [2, 1]}).dims == (2, 1)
    assert L.RepeatVector.from_config({"name": "rv", "n": 5}).n == 5


def test_save_load_model(tmp_path):
    rng = np.random.default_rng(23)
    model = utility_model()
    model.compile("adam", "categorical_crossentropy")
    x = rand(rng, 16, 6, 3)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "utility.nncore")
    loaded = nncore.load_model(tmp_path / "utility.nncore")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)   # the activity penalty included
    classes = {type(l).__name__ for l in model.layers}
    assert {"ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU", "RepeatVector", "Permute", "Cropping1D", "Cropping2D",
            "Maximum", "Minimum", "Rescaling", "GaussianNoise", "GaussianDropout", "ActivityRegularization"} <= classes


def test_summary_shapes_and_names():
    model = utility_model()
    shapes = {type(l).__name__: l.output_shape for l in model.layers}
    assert shapes["Permute"] == (None, 4, 6)
    assert shapes["Cropping1D"] == (None, 3, 5)
    assert shapes["Cropping2D"] == (None, 2, 2, 2)
    assert shapes["RepeatVector"] == (None, 3, 2)
    prelu = next(l for l in model.layers if isinstance(l, L.PReLU))
    assert prelu.get_weights()[0].shape == (1, 4) and prelu.count_params() == 4
    assert L.ReLU().name.startswith("re_lu") and L.PReLU().name.startswith("p_re_lu")
    assert L.LeakyReLU().name.startswith("leaky_re_lu") and L.Cropping2D().name.startswith("cropping2d")


def test_unknown_axes():
    """Input((None, 4)): the layers that allow it run on any length, and match fixed-length twins."""
    def build(x):
        h = L.Dense(4)(x)
        h = L.PReLU(shared_axes=[1])(h)          # alpha (1, 4): the unknown axis is shared
        h = L.ReLU(max_value=1.0, negative_slope=0.1)(h)
        h = L.Cropping1D((1, 1))(h)
        h = L.Softmax()(h)
        h = L.Rescaling(2.0)(h)
        h = L.ActivityRegularization(l2=0.1)(h)
        h = L.Permute((2, 1))(h)                  # (4, None)
        h = L.Permute((2, 1))(L.ELU()(h))         # back to (None, 4)
        return L.Dense(2)(L.GlobalAveragePooling1D()(h))

    x = nncore.Input((None, 4))
    var = nncore.Model(x, build(x))
    crop1d = next(l for l in var.layers if isinstance(l, L.Cropping1D))
    assert crop1d.output_shape == (None, None, 4)   # the length stays unknown
    var.compile("sgd", "mse")
    rng = np.random.default_rng(24)
    for steps in (3, 5, 9):
        xf = nncore.Input((steps, 4))
        fixed = nncore.Model(xf, build(xf))
        fixed.set_weights(var.get_weights())
        fixed.compile("sgd", "mse")
        xs, ys = rand(rng, 2, steps, 4), rand(rng, 2, 2)
        np.testing.assert_allclose(var.predict(xs, verbose=0), fixed.predict(xs, verbose=0), rtol=1e-5, atol=1e-6)
        assert var.compute_gradients(xs, ys) == pytest.approx(fixed.compute_gradients(xs, ys), rel=1e-5)
    with pytest.raises(ValueError, match=r"Cropping1D '\w+': cropping \(1, 1\) leaves nothing of steps 2"):
        var.predict(rand(rng, 2, 2, 4), verbose=0)
    with pytest.raises(ValueError, match=r"PReLU '\w+': axis 1 \(not in shared_axes\) of its input must be known"):
        L.PReLU()(nncore.Input((None, 4)))
    img = nncore.Input((None, None, 3))   # Cropping2D on images of unknown size
    crop = nncore.Model(img, L.Cropping2D(((1, 0), (0, 2)))(img))
    im = rand(rng, 2, 5, 6, 3)
    np.testing.assert_array_equal(crop.predict(im, verbose=0), im[:, 1:, :4, :])


BAD = [
    (lambda: L.ReLU(max_value=-1.0), r"ReLU: max_value must be a finite number >= 0"),
    (lambda: L.ReLU(negative_slope=-0.1), r"ReLU: negative_slope must be a finite number >= 0"),
    (lambda: L.ReLU(threshold=-1), r"ReLU: threshold must be a finite number >= 0"),
    (lambda: L.ReLU(max_value="6"), r"ReLU: max_value"),
    (lambda: L.LeakyReLU(negative_slope=-1.0), r"LeakyReLU: negative_slope"),
    (lambda: L.LeakyReLU(negative_slope=None), r"LeakyReLU: negative_slope"),
    (lambda: L.ELU(alpha=float("nan")), r"ELU: alpha must be a finite number"),
    (lambda: L.Softmax(axis=0), r"Softmax: axis"),
    (lambda: L.Softmax(axis=(1, 2)), r"Softmax: axis"),
    (lambda: L.PReLU(shared_axes=[0]), r"PReLU: shared_axes"),
    (lambda: L.PReLU(shared_axes="1"), r"PReLU: shared_axes"),
    (lambda: L.PReLU(alpha_initializer="bogus"), r"PReLU '\w+' alpha_initializer: unknown initializer 'bogus'"),
    (lambda: L.PReLU(alpha_constraint="non_neg"), r"PReLU: alpha_constraint"),
    (lambda: L.RepeatVector(0), r"RepeatVector: n must be an int >= 1"),
    (lambda: L.RepeatVector(2.5), r"RepeatVector: n"),
    (lambda: L.Permute((1, 3)), r"Permute: dims must be a permutation of 1..rank"),
    (lambda: L.Permute((0, 1)), r"Permute: dims"),
    (lambda: L.Permute(5), r"Permute: dims"),
    (lambda: L.Cropping1D(-1), r"Cropping1D: cropping must be an int or a pair of ints >= 0"),
    (lambda: L.Cropping1D((1, 2, 3)), r"Cropping1D: cropping"),
    (lambda: L.Cropping2D(((1, 2, 3), (0, 0))), r"Cropping2D: cropping"),
    (lambda: L.Cropping2D((1, 2, 3)), r"Cropping2D: cropping must be an int, a pair or a pair of pairs"),
    (lambda: L.Cropping2D(data_format="channels_first"), r"Cropping2D: only data_format='channels_last'"),
    (lambda: L.Rescaling(float("inf")), r"Rescaling: scale must be a finite number"),
    (lambda: L.Rescaling("x"), r"Rescaling: scale"),
    (lambda: L.Rescaling(1.0, offset=None), r"Rescaling: offset"),
    (lambda: L.GaussianNoise(-0.1), r"GaussianNoise: stddev must be a finite number in \[0, 1\]"),
    (lambda: L.GaussianNoise(1.5), r"GaussianNoise: stddev"),
    (lambda: L.GaussianNoise(0.1, seed=-2), r"GaussianNoise: seed must be an int >= 0"),
    (lambda: L.GaussianDropout(1.0), r"GaussianDropout: rate must be a finite number in \[0, 1\)"),
    (lambda: L.GaussianDropout(-0.2), r"GaussianDropout: rate"),
    (lambda: L.GaussianDropout(0.2, seed=1.5), r"GaussianDropout: seed"),
    (lambda: L.ActivityRegularization(l1=-1.0), r"ActivityRegularization: l1 must be a finite number >= 0"),
    (lambda: L.ActivityRegularization(l2="big"), r"ActivityRegularization: l2"),
]


@pytest.mark.parametrize("make,match", BAD)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_name_the_layer():
    with pytest.raises(ValueError, match=r"RepeatVector '\w+': expected input of shape \(batch, features\)"):
        L.RepeatVector(2).forward(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"Permute '\w+': dims \(2, 1\) permute 2 per-sample axes"):
        L.Permute((2, 1)).forward(np.ones((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"Cropping2D '\w+': cropping \(3, 3\) leaves nothing of height 5"):
        L.Cropping2D(3).forward(np.ones((2, 5, 9, 1), np.float32))
    with pytest.raises(ValueError, match=r"Cropping2D '\w+': expected input of shape \(batch, height, width"):
        L.Cropping2D(1).forward(np.ones((2, 5, 9), np.float32))
    with pytest.raises(ValueError, match=r"Cropping1D '\w+': expected input of shape \(batch, steps, features\)"):
        L.Cropping1D(1).forward(np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"PReLU '\w+': shared_axes \(3,\) do not fit input"):
        L.PReLU(shared_axes=3).forward(np.ones((2, 5), np.float32))
    layer = L.ReLU()
    layer.forward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"Layer '\w+' \(ReLU\): expected input shape \(None, 3\), got \(2, 4\)"):
        layer.forward(np.ones((2, 4), np.float32))
