"""DepthwiseConv2D and SeparableConv2D: the depthwise kernel against a NumPy float64 reference written here (a loop
over taps with explicit padding), against its plain-loop twin and on every ISA path; the layers' outputs and
gradients against float64 references and finite differences; 1 vs 2 threads bit-identical; output sizes equal
Keras's formula over a grid; configs, model files and Keras's own layers (where Keras is importable); bad arguments.
ONNX export is checked in test_onnx.py."""
import numpy as np
import pytest

import nncore
from conftest import np_activation
from graph_helpers import gradient_errors, seeded  # noqa: F401  (autouse fixture)
from nncore import _core
from nncore import layers as L


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def out_length(n, k, s, d, padding):
    """Keras's output length (keras/src/ops/operation_utils.py compute_conv_output_shape)."""
    span = d * (k - 1) + 1
    return (n - span) // s + 1 if padding == "valid" else (n + s - 1) // s


def pads(n, k, s, d, padding):
    """TensorFlow's 'same' padding before the axis (the odd pixel goes after)."""
    if padding == "valid":
        return 0
    total = max((out_length(n, k, s, d, "same") - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2


def depthwise_ref(x, w, strides=1, padding="valid", dilation=1):
    """x (B, H, W, C) float64, w (KH, KW, C, M) -> (B, OH, OW, C * M) by a loop over taps."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilation)
    B, H, W, C = x.shape
    KH, KW, _, M = w.shape
    OH, OW = out_length(H, KH, sh, dh, padding), out_length(W, KW, sw, dw, padding)
    pt, pl = pads(H, KH, sh, dh, padding), pads(W, KW, sw, dw, padding)
    big = np.zeros((B, H + 2 * KH * dh + sh * OH, W + 2 * KW * dw + sw * OW, C))
    big[:, pt:pt + H, pl:pl + W] = x
    y = np.zeros((B, OH, OW, C, M))
    for kh in range(KH):
        for kw in range(KW):
            patch = big[:, kh * dh:kh * dh + sh * OH:sh, kw * dw:kw * dw + sw * OW:sw]  # (B, OH, OW, C)
            y += patch[..., None] * w[kh, kw]
    return y.reshape(B, OH, OW, C * M)


def depthwise_ref_grads(dy, x, w, strides=1, padding="valid", dilation=1):
    """dx, dw of sum(dy * depthwise_ref(x, w)): the reference is linear in each, so by its adjoint (autograd by hand
    through the same loops)."""
    x64, w64, dy64 = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilation)
    B, H, W, C = x.shape
    KH, KW, _, M = w.shape
    OH, OW = dy.shape[1:3]
    pt, pl = pads(H, KH, sh, dh, padding), pads(W, KW, sw, dw, padding)
    big = np.zeros((B, H + 2 * KH * dh + sh * OH, W + 2 * KW * dw + sw * OW, C))
    big[:, pt:pt + H, pl:pl + W] = x64
    dbig = np.zeros_like(big)
    g = dy64.reshape(B, OH, OW, C, M)
    dwt = np.zeros_like(w64)
    for kh in range(KH):
        for kw in range(KW):
            sl = (slice(None), slice(kh * dh, kh * dh + sh * OH, sh), slice(kw * dw, kw * dw + sw * OW, sw))
            dwt[kh, kw] = np.einsum("bhwc,bhwcm->cm", big[sl], g)
            dbig[sl] += np.einsum("bhwcm,cm->bhwc", g, w64[kh, kw])
    return dbig[:, pt:pt + H, pl:pl + W], dwt


# (B, H, W, C, M, kernel, strides, padding, dilation)
CASES = [
    (2, 7, 9, 3, 1, 3, 1, "same", 1),
    (2, 7, 9, 3, 1, 3, 1, "valid", 1),
    (3, 8, 6, 5, 2, 3, 2, "valid", 1),
    (2, 9, 9, 4, 3, (3, 2), 1, "same", 2),
    (1, 5, 5, 17, 1, 5, (2, 1), "same", 1),
    (2, 4, 7, 2, 4, (1, 3), (1, 2), "same", 1),
    (2, 3, 3, 9, 1, 3, 3, "same", 1),
    (4, 16, 12, 33, 1, 3, 1, "same", 1),         # channels past a vector width, with a ragged tail
    (1, 6, 5, 8, 2, 2, 2, "valid", 1),
]


@pytest.mark.parametrize("case", CASES)
def test_kernel_matches_float64_reference_and_its_twin(case, isa):
    B, H, W, C, M, k, s, padding, d = case
    rng = np.random.default_rng(1)
    kh, kw = _pair(k)
    x, w = rand(rng, B, H, W, C), rand(rng, kh, kw, C, M)
    args = (_pair(s), padding, _pair(d))
    want = depthwise_ref(x, w, s, padding, d)
    y = _core.depthwise_conv2d(x, w, *args)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_core.depthwise_conv2d(x, w, *args, reference=True), want, rtol=1e-5, atol=1e-5)
    dy = rand(rng, *y.shape)
    dx_want, dw_want = depthwise_ref_grads(dy, x, w, s, padding, d)
    for reference in (False, True):
        dx, dw = _core.depthwise_conv2d_backward(dy, x, w, *args, reference=reference)
        np.testing.assert_allclose(dx, dx_want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dw, dw_want, rtol=1e-4, atol=1e-4)


def test_reference_gradients_are_finite_differences():
    """The float64 backward written above is the derivative of the forward (so it can judge the kernels)."""
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 4, 5, 2)), rng.standard_normal((3, 2, 2, 2))
    dy = rng.standard_normal(depthwise_ref(x, w, 2, "same", 1).shape)
    dx, dw = depthwise_ref_grads(dy, x, w, 2, "same", 1)
    eps = 1e-6
    for arr, grad in ((x, dx), (w, dw)):
        for idx in [(0, 1, 2, 1), (0, 0, 0, 0)] if arr is x else [(1, 0, 1, 1), (2, 1, 0, 0)]:
            old = arr[idx]
            arr[idx] = old + eps
            up = (dy * depthwise_ref(x, w, 2, "same", 1)).sum()
            arr[idx] = old - eps
            down = (dy * depthwise_ref(x, w, 2, "same", 1)).sum()
            arr[idx] = old
            assert abs((up - down) / (2 * eps) - grad[idx]) < 1e-6


@pytest.mark.parametrize("act", ["linear", "relu", "tanh"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_layers_match_float64(act, use_bias):
    rng = np.random.default_rng(3)
    x = rand(rng, 2, 7, 6, 4)
    dw_layer = L.DepthwiseConv2D((3, 2), strides=(2, 1), padding="same", depth_multiplier=2, activation=act,
                                 use_bias=use_bias)
    sep = L.SeparableConv2D(5, 3, padding="same", depth_multiplier=3, activation=act, use_bias=use_bias)
    for layer in (dw_layer, sep):
        layer.build((None, 7, 6, 4))
        layer.set_weights([rand(rng, *w.shape, scale=0.5) for w in layer.get_weights()])
        ws = layer.get_weights()
        if layer is dw_layer:
            z = depthwise_ref(x, ws[0], (2, 1), "same", 1)
        else:
            z = depthwise_ref(x, ws[0], 1, "same", 1) @ ws[1][0, 0].astype(np.float64)
        if use_bias:
            z = z + ws[-1]
        y = layer.forward(x)
        np.testing.assert_allclose(y, np_activation(act, z), rtol=1e-4, atol=1e-5)


def test_weights_and_shapes_as_keras():
    sep = L.SeparableConv2D(8, 3, depth_multiplier=2)
    sep.build((None, 10, 10, 3))
    assert [w.shape for w in sep.get_weights()] == [(3, 3, 3, 2), (1, 1, 6, 8), (8,)]
    assert sep.depthwise_kernel.shape == (3, 3, 3, 2) and sep.pointwise_kernel.shape == (1, 1, 6, 8)
    dw = L.DepthwiseConv2D(3, depth_multiplier=4, use_bias=True)
    dw.build((None, 10, 10, 3))
    assert [w.shape for w in dw.get_weights()] == [(3, 3, 3, 4), (12,)]
    for H in (1, 4, 7, 10):
        for k in (1, 2, 3):
            for s in (1, 2, 3):
                for d in (1, 2):
                    if s > 1 and d > 1:
                        continue
                    for padding in ("valid", "same"):
                        if out_length(H, k, s, d, padding) < 1:
                            continue
                        layer = L.DepthwiseConv2D(k, strides=s, padding=padding, dilation_rate=d)
                        y = layer.forward(np.zeros((1, H, H + 1, 2), np.float32))
                        assert y.shape == (1, out_length(H, k, s, d, padding), out_length(H + 1, k, s, d, padding), 2)


def unet_block(input_shape=(8, 6, 3)):
    """The oxford_pets U-Net's pieces: SeparableConv2D + BatchNormalization + residual, a DepthwiseConv2D too."""
    x = nncore.Input(input_shape)
    h = L.Conv2D(4, 3, strides=2, padding="same", activation="tanh")(x)
    r = h
    h = L.SeparableConv2D(4, 3, padding="same", activation="tanh")(h)
    h = L.SeparableConv2D(4, (3, 2), padding="same", depth_multiplier=2)(h)
    h = L.add([h, r])
    h = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="tanh")(h)
    h = L.SeparableConv2D(3, 2, strides=2, padding="valid", use_bias=False)(h)
    out = L.Dense(2)(L.GlobalAveragePooling2D()(h))
    return nncore.Model(x, out)


def test_finite_differences_in_a_model():
    rng = np.random.default_rng(7)
    model = unet_block()
    model.compile("sgd", "mse")
    x, y = rand(rng, 3, 8, 6, 3), rand(rng, 3, 2)
    errors = gradient_errors(model, x, y)
    trainable = [l.name for l in model.layers if l.trainable_weights]
    assert sorted(errors) == sorted(trainable)
    assert max(errors.values()) < 1e-2, errors


def test_one_and_two_threads_bit_identical(restore_threads):
    rng = np.random.default_rng(8)
    x = rand(rng, 32, 24, 20, 16)   # large enough that every kernel splits its work over both threads
    out = []
    for n in (1, 2):
        restore_threads(n)
        nncore.set_random_seed(5)
        res = []
        for layer in (L.DepthwiseConv2D(3, padding="same", activation="relu"),
                      L.DepthwiseConv2D(5, strides=2, depth_multiplier=3),
                      L.SeparableConv2D(24, 3, padding="same", activation="relu")):
            y = layer.forward(x)
            res += [y, layer.backward(np.cos(y))] + [g.copy() for g in layer.gradients]
        out.append(res)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_learns_in_a_model():
    """A separable CNN tells horizontal from vertical bars."""
    rng = np.random.default_rng(9)
    x = rand(rng, 256, 12, 12, 1, scale=0.3)
    y = rng.integers(0, 2, 256)
    for i, label in enumerate(y):
        pos = rng.integers(2, 10)
        if label:
            x[i, pos, 2:10, 0] += 2.0
        else:
            x[i, 2:10, pos, 0] += 2.0
    nncore.set_random_seed(0)
    model = nncore.Sequential([nncore.Input((12, 12, 1)), L.Conv2D(8, 3, padding="same", activation="relu"),
                               L.SeparableConv2D(16, 3, padding="same", activation="relu"),
                               L.DepthwiseConv2D(3, activation="relu"), L.GlobalMaxPooling2D(),
                               L.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:192], y[:192].astype(np.float32), epochs=15, batch_size=32, verbose=0)
    _, acc = model.evaluate(x[192:], y[192:].astype(np.float32), verbose=0)
    assert acc >= 0.9


@pytest.mark.parametrize("layer", [
    L.DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=3, activation="relu", use_bias=False),
    L.SeparableConv2D(7, 3, dilation_rate=2, depth_multiplier=2, activation="tanh",
                      pointwise_initializer="he_normal"),
])
def test_config_round_trip(layer):
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config


def test_save_load_model(tmp_path):
    rng = np.random.default_rng(10)
    model = unet_block()
    model.compile("adam", "mse")
    x = rand(rng, 4, 8, 6, 3)
    model.fit(x, rand(rng, 4, 2), epochs=2, verbose=0)
    for name in ("m.nncore", "m.keras", "m.h5"):
        model.save(tmp_path / name)
        loaded = nncore.load_model(tmp_path / name)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("make,match", [
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    (lambda: L.SeparableConv2D(0, 3), "filters"),
    (lambda: L.SeparableConv2D(4, 3, strides=2, dilation_rate=2), "strides > 1 and dilation_rate > 1"),
    (lambda: L.DepthwiseConv2D(3, padding="causal"), "padding"),
    (lambda: L.DepthwiseConv2D(3, data_format="channels_first"), "channels_last"),
    (lambda: L.SeparableConv2D(4, 0), "kernel_size"),
])
def test_bad_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_bad_inputs():
    with pytest.raises(ValueError, match="DepthwiseConv2D.*larger than"):
        L.DepthwiseConv2D(5).forward(np.zeros((1, 3, 3, 2), np.float32))
    with pytest.raises(ValueError, match="SeparableConv2D"):
        L.SeparableConv2D(4, 3).forward(np.zeros((1, 6, 6), np.float32))
    layer = L.SeparableConv2D(4, 3)
    layer.forward(np.zeros((1, 6, 6, 3), np.float32))
    with pytest.raises(ValueError, match="SeparableConv2D"):
        layer.forward(np.zeros((1, 6, 6, 2), np.float32))   # built for 3 channels


# ---- Keras itself, where installed ---------------------------------------------------------------------------------
def test_matches_keras(tmp_path):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(12)
    x = rand(rng, 2, 7, 8, 3)
    for cls, kwargs in ((("DepthwiseConv2D",), dict(kernel_size=3, padding="same", depth_multiplier=2)),
                        (("DepthwiseConv2D",), dict(kernel_size=(3, 2), strides=2)),
                        (("SeparableConv2D",), dict(filters=4, kernel_size=3, padding="same", activation="relu")),
                        (("SeparableConv2D",), dict(filters=5, kernel_size=2, dilation_rate=2, depth_multiplier=3))):
        ours = getattr(L, cls[0])(**kwargs)
        ours.build((None, 7, 8, 3))
        ours.set_weights([rand(rng, *w.shape, scale=0.5) for w in ours.get_weights()])
        theirs = getattr(keras.layers, cls[0])(**kwargs)
        theirs.build((None, 7, 8, 3))
        theirs.set_weights(ours.get_weights())
        np.testing.assert_allclose(ours.forward(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-4, atol=1e-4)
    # Model files both ways.
    model = unet_block()
    model.save(tmp_path / "ours.keras")
    km = keras.models.load_model(tmp_path / "ours.keras")
    xm = rand(rng, 2, 8, 6, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(km(xm)), model.predict(xm, verbose=0), rtol=1e-4,
                               atol=1e-5)
    km.save(tmp_path / "theirs.keras")
    again = nncore.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(again.predict(xm, verbose=0), model.predict(xm, verbose=0), rtol=1e-5, atol=1e-6)


# ---- the 1-D forms --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k,s,padding,d,m", [(3, 1, "same", 1, 1), (3, 2, "valid", 1, 2), (2, 1, "causal", 2, 1),
                                             (5, 1, "valid", 1, 3)])
def test_1d_forms_match_float64(k, s, padding, d, m):
    rng = np.random.default_rng(20)
    x = rand(rng, 2, 11, 4)
    dw = L.DepthwiseConv1D(k, strides=s, padding=padding, dilation_rate=d, depth_multiplier=m, activation="tanh")
    sep = L.SeparableConv1D(5, k, strides=s, padding=padding, dilation_rate=d, depth_multiplier=m)
    for layer in (dw, sep):
        layer.build((None, 11, 4))
        layer.set_weights([rand(rng, *w.shape, scale=0.5) for w in layer.get_weights()])
        ws = layer.get_weights()
        assert ws[0].shape == (k, 4, m)
        xx = x[:, None]                                    # (B, 1, T, C): one-row images
        if padding == "causal":                            # all the padding before: a valid conv on the padded input
            xx = np.pad(xx, ((0, 0), (0, 0), (d * (k - 1), 0), (0, 0)))
        z = depthwise_ref(xx, ws[0][None], (1, s), "valid" if padding == "causal" else padding, (1, d))[:, 0]
        if layer is sep:
            assert ws[1].shape == (1, 4 * m, 5)
            z = z @ ws[1][0].astype(np.float64) + ws[2]
            want = z
        else:
            want = np.tanh(z + ws[1])
        np.testing.assert_allclose(layer.forward(x), want, rtol=1e-4, atol=1e-5)
    assert dw.kernel_size == (k,) and sep.strides == (s,)


def test_1d_forms_in_a_model_gradients_files_and_keras(tmp_path):
    rng = np.random.default_rng(21)
    inp = nncore.Input((12, 3))
    h = L.SeparableConv1D(4, 3, padding="same", activation="tanh")(inp)
    h = L.DepthwiseConv1D(2, padding="causal", depth_multiplier=2)(h)
    model = nncore.Model(inp, L.Dense(2)(L.GlobalAveragePooling1D()(h)))
    model.compile("sgd", "mse")
    x, y = rand(rng, 3, 12, 3), rand(rng, 3, 2)
    assert max(gradient_errors(model, x, y).values()) < 1e-2
    for name in ("m.nncore", "m.keras"):
        model.save(tmp_path / name)
        np.testing.assert_array_equal(nncore.load_model(tmp_path / name).predict(x, verbose=0),
                                      model.predict(x, verbose=0))
    for layer in (L.DepthwiseConv1D(3, strides=2, depth_multiplier=2), L.SeparableConv1D(6, 2, dilation_rate=2)):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
    keras = pytest.importorskip("keras")
    for cls, kw in (("DepthwiseConv1D", dict(kernel_size=3, padding="same", depth_multiplier=2)),
                    ("SeparableConv1D", dict(filters=4, kernel_size=3, strides=2))):
        ours = getattr(L, cls)(**kw)
        ours.build((None, 12, 3))
        theirs = getattr(keras.layers, cls)(**kw)
        theirs.build((None, 12, 3))
        theirs.set_weights(ours.get_weights())
        np.testing.assert_allclose(ours.forward(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-5)
