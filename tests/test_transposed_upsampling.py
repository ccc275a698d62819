"""Conv2DTranspose, Conv1DTranspose, UpSampling2D and UpSampling1D: forward and backward against NumPy float64
references written here (the transposed convolution as a scatter-add over input positions, independent of the
conv kernels; upsampling by np.repeat and by interpolation matrices), TensorFlow's definition of the transposed
convolution (the adjoint of a "same" convolution), finite differences in small models, 1 vs 2 threads, configs and
model files, summary shapes, unknown image sizes and bad arguments. ONNX export is checked in test_onnx.py."""
import io
from contextlib import redirect_stdout

import numpy as np
import pytest

import nncore
from conftest import np_activation
from graph_helpers import gradient_errors, seeded  # noqa: F401  (autouse fixture)
from nncore import layers as L


# ---- references (float64) -----------------------------------------------------------------------------------------
def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def transpose_length(n, k, s, d, padding, output_padding):
    """Keras 3's output length of a transposed convolution along one axis."""
    span = (k - 1) * d + 1
    if output_padding is None:
        return n * s if padding == "same" else n * s + max(span - s, 0)
    pad = span // 2 if padding == "same" else 0
    return (n - 1) * s + span - 2 * pad + output_padding


def _crop(n, k, s, d, padding, out):
    """Where the layer's output starts in the full (unpadded) scatter: nothing cut for 'valid', TensorFlow's 'same'
    split (the odd pixel at the end) otherwise."""
    full = (n - 1) * s + (k - 1) * d + 1
    return max(full - out, 0) // 2 if padding == "same" else 0


def _geometry(x_shape, kernel_shape, strides, padding, output_padding, dilation):
    _, H, W, _ = x_shape
    KH, KW = kernel_shape[:2]
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilation)
    oph, opw = (None, None) if output_padding is None else _pair(output_padding)
    OH = transpose_length(H, KH, sh, dh, padding, oph)
    OW = transpose_length(W, KW, sw, dw, padding, opw)
    top, left = _crop(H, KH, sh, dh, padding, OH), _crop(W, KW, sw, dw, padding, OW)
    full = (max((H - 1) * sh + (KH - 1) * dh + 1, top + OH), max((W - 1) * sw + (KW - 1) * dw + 1, left + OW))
    return (sh, sw), (dh, dw), (OH, OW), (top, left), full


def conv_transpose_ref(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation=1):
    """x (B, H, W, C), kernel (KH, KW, F, C): every input pixel (i, j) adds kernel[a, b] @ x[i, j] at full-output
    pixel (i*sh + a*dh, j*sw + b*dw); the layer's output is the window of the full output that padding keeps."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    B, H, W, _ = x.shape
    KH, KW, F, _ = kernel.shape
    (sh, sw), (dh, dw), (OH, OW), (top, left), full = _geometry(x.shape, kernel.shape, strides, padding,
                                                                 output_padding, dilation)
    y = np.zeros((B, *full, F))
    for i in range(H):
        for j in range(W):
            for a in range(KH):
                for b in range(KW):
                    y[:, i * sh + a * dh, j * sw + b * dw, :] += x[:, i, j, :] @ kernel[a, b].T
    y = y[:, top:top + OH, left:left + OW, :]
    return y if bias is None else y + np.asarray(bias, np.float64)


def conv_transpose_ref_backward(dy, x, kernel, strides=1, padding="valid", output_padding=None, dilation=1):
    """dx, dkernel, dbias of conv_transpose_ref for output gradient dy: each scatter read back."""
    dy, x, kernel = (np.asarray(a, np.float64) for a in (dy, x, kernel))
    B, H, W, _ = x.shape
    KH, KW, F, _ = kernel.shape
    (sh, sw), (dh, dw), (OH, OW), (top, left), full = _geometry(x.shape, kernel.shape, strides, padding,
                                                                 output_padding, dilation)
    g = np.zeros((B, *full, F))
    g[:, top:top + OH, left:left + OW, :] = dy
    dx, dk = np.zeros_like(x), np.zeros_like(kernel)
    for i in range(H):
        for j in range(W):
            for a in range(KH):
                for b in range(KW):
                    gy = g[:, i * sh + a * dh, j * sw + b * dw, :]   # (B, F)
                    dx[:, i, j, :] += gy @ kernel[a, b]
                    dk[a, b] += gy.T @ x[:, i, j, :]
    return dx, dk, dy.sum(axis=(0, 1, 2))


def conv_same_ref(u, kernel, strides, dilation):
    """TensorFlow's conv2d with padding 'SAME' (output ceil(n / stride), the odd padding pixel after) on u
    (B, OH, OW, F) with a kernel (KH, KW, F, C): the convolution whose input gradient defines conv2d_transpose."""
    B, OH, OW, _ = u.shape
    KH, KW, _, C = kernel.shape
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilation)
    H, W = -(-OH // sh), -(-OW // sw)
    ph = max((H - 1) * sh + (KH - 1) * dh + 1 - OH, 0) // 2
    pw = max((W - 1) * sw + (KW - 1) * dw + 1 - OW, 0) // 2
    y = np.zeros((B, H, W, C))
    for i in range(H):
        for j in range(W):
            for a in range(KH):
                for b in range(KW):
                    r, c = i * sh - ph + a * dh, j * sw - pw + b * dw
                    if 0 <= r < OH and 0 <= c < OW:
                        y[:, i, j, :] += u[:, r, c, :] @ kernel[a, b]
    return y


def bilinear_matrix(n, s):
    """(n*s, n) interpolation weights of half-pixel-center bilinear upsampling (tf.image.resize, no antialias)."""
    m = np.zeros((n * s, n))
    for o in range(n * s):
        src = min(max((o + 0.5) / s - 0.5, 0.0), n - 1.0)
        i0 = int(np.floor(src))
        i1 = min(i0 + 1, n - 1)
        t = src - i0
        m[o, i0] += 1.0 - t
        m[o, i1] += t
    return m


def upsample_ref(x, size, interpolation="nearest"):
    sh, sw = _pair(size)
    x = np.asarray(x, np.float64)
    if interpolation == "nearest":
        return np.repeat(np.repeat(x, sh, axis=1), sw, axis=2)
    mh, mw = bilinear_matrix(x.shape[1], sh), bilinear_matrix(x.shape[2], sw)
    return np.einsum("ph,bhwc,qw->bpqc", mh, x, mw)


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def randomize(layer, rng):
    layer.set_weights([rand(rng, *w.shape, scale=0.5) for w in layer.get_weights()])


# ---- Conv2DTranspose forward and backward --------------------------------------------------------------------------
# (B, H, W, C, filters, kernel, strides, padding, output_padding, dilation, use_bias, activation)
CASES = [
    (2, 5, 7, 3, 4, 3, 2, "valid", None, 1, True, "linear"),
    (2, 5, 7, 3, 4, 3, 2, "same", None, 1, True, "linear"),
    (1, 4, 3, 2, 5, 4, 2, "same", None, 1, False, "relu"),
    (3, 3, 5, 6, 7, 4, 3, "valid", None, 1, True, "tanh"),
    (2, 7, 4, 5, 3, 3, 3, "same", None, 1, True, "linear"),
    (2, 6, 5, 2, 3, 3, 1, "same", None, 2, True, "sigmoid"),
    (2, 5, 3, 4, 2, (3, 2), 1, "valid", None, (2, 1), False, "linear"),
    (2, 4, 5, 3, 6, 3, (2, 3), "same", None, 2, True, "elu"),
    (2, 5, 4, 3, 2, 1, 3, "valid", None, 1, True, "linear"),       # span < stride: gaps and a zero tail
    (2, 5, 7, 3, 4, 3, 2, "valid", 1, 1, True, "linear"),
    (2, 5, 7, 3, 4, 4, 2, "same", (1, 0), 1, True, "relu"),
    (1, 3, 4, 2, 3, 2, 3, "same", 2, 1, False, "linear"),
    (2, 1, 1, 3, 5, 3, 2, "same", None, 1, True, "linear"),
    (2, 4, 3, 5, 6, 1, 1, "valid", None, 1, True, "gelu"),        # 1x1: the pointwise GEMM path
    (1, 9, 8, 17, 33, 3, 2, "same", None, 1, True, "linear"),      # wide channels: the GEMM paths
]


def make_layer(case, rng):
    B, H, W, C, F, k, s, padding, op, d, use_bias, act = case
    layer = L.Conv2DTranspose(F, k, strides=s, padding=padding, output_padding=op, dilation_rate=d,
                              use_bias=use_bias, activation=act)
    layer.build((None, H, W, C))
    randomize(layer, rng)
    return layer, rand(rng, B, H, W, C)


@pytest.mark.parametrize("case", CASES)
def test_conv2d_transpose_forward_matches_scatter_reference(case, isa):
    rng = np.random.default_rng(1)
    layer, x = make_layer(case, rng)
    _, _, _, _, _, _, s, padding, op, d, use_bias, act = case
    weights = layer.get_weights()
    z = conv_transpose_ref(x, weights[0], weights[1] if use_bias else None, s, padding, op, d)
    y = layer.forward(x)
    assert y.shape == z.shape
    assert layer.output_shape == (None, *z.shape[1:])
    np.testing.assert_allclose(y, np_activation(act, z), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_conv2d_transpose_backward_matches_reference(case):
    rng = np.random.default_rng(2)
    layer, x = make_layer(case, rng)
    _, _, _, _, _, _, s, padding, op, d, use_bias, act = case
    weights = layer.get_weights()
    z = conv_transpose_ref(x, weights[0], weights[1] if use_bias else None, s, padding, op, d)
    y = layer.forward(x)
    dy = rand(rng, *y.shape)
    from conftest import np_activation_backward
    dz = np_activation_backward(act, dy.astype(np.float64), z)
    dx_ref, dk_ref, db_ref = conv_transpose_ref_backward(dz, x, weights[0], s, padding, op, d)
    layer.zero_grad()
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-4)
    grads = [g.copy() for g in layer.gradients]
    np.testing.assert_allclose(grads[0], dk_ref, rtol=1e-4, atol=2e-4)
    if use_bias:
        np.testing.assert_allclose(grads[1], db_ref, rtol=1e-4, atol=1e-4)
    layer.forward(x)
    layer.backward(dy)   # backward accumulates into the weight gradients
    for g, g2 in zip(grads, layer.gradients):
        np.testing.assert_allclose(g2, 2 * g, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("strides,kernel,dilation", [(1, 3, 1), (2, 3, 1), (2, 4, 1), (3, 4, 1), (2, 5, 1),
                                                     ((2, 3), (3, 2), 1), (1, 3, 2), (2, 3, 2)])
def test_same_padding_is_the_adjoint_of_tensorflows_same_conv(strides, kernel, dilation):
    """TensorFlow defines conv2d_transpose(x, k, padding='SAME') as the input gradient of conv2d(u, k,
    padding='SAME') for u of the transposed output's size: <conv(u), x> == <conv_transpose(x), u> for all u, x."""
    rng = np.random.default_rng(3)
    layer = L.Conv2DTranspose(3, kernel, strides=strides, padding="same", dilation_rate=dilation, use_bias=False)
    x = rand(rng, 2, 5, 4, 2)
    y = layer.forward(x).astype(np.float64)
    u = rng.standard_normal(y.shape)
    cu = conv_same_ref(u, layer.get_weights()[0].astype(np.float64), strides, dilation)
    assert cu.shape == x.shape
    np.testing.assert_allclose(np.sum(cu * x), np.sum(y * u), rtol=1e-5)
    # The input gradient is the same convolution (of dy) again.
    dx = layer.backward(u.astype(np.float32))
    np.testing.assert_allclose(dx, cu, rtol=1e-4, atol=1e-4)


# ---- Conv1DTranspose ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k,s,padding,op,d,use_bias", [(3, 2, "valid", None, 1, True), (4, 2, "same", None, 1, False),
                                                       (3, 3, "same", 1, 1, True), (2, 1, "valid", None, 3, True),
                                                       (1, 3, "valid", None, 1, True), (3, 2, "valid", 1, 2, True)])
def test_conv1d_transpose_matches_reference(k, s, padding, op, d, use_bias):
    rng = np.random.default_rng(4)
    layer = L.Conv1DTranspose(5, k, strides=s, padding=padding, output_padding=op, dilation_rate=d,
                              use_bias=use_bias, activation="tanh")
    x = rand(rng, 3, 7, 4)
    layer.build((None, 7, 4))
    randomize(layer, rng)
    weights = layer.get_weights()
    assert weights[0].shape == (k, 5, 4)   # Keras: (kernel_size, filters, in)
    z = conv_transpose_ref(x[:, None], weights[0][None], weights[1] if use_bias else None, (1, s), padding,
                           None if op is None else (0, op), (1, d))[:, 0]
    assert z.shape[1] == transpose_length(7, k, s, d, padding, op)
    y = layer.forward(x)
    np.testing.assert_allclose(y, np.tanh(z), rtol=1e-4, atol=1e-4)
    dy = rand(rng, *y.shape)
    dz = dy * (1.0 - np.tanh(z) ** 2)
    dx_ref, dk_ref, db_ref = conv_transpose_ref_backward(dz[:, None], x[:, None], weights[0][None], (1, s), padding,
                                                         None if op is None else (0, op), (1, d))
    layer.zero_grad()
    np.testing.assert_allclose(layer.backward(dy), dx_ref[:, 0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.gradients[0], dk_ref[0], rtol=1e-4, atol=2e-4)
    if use_bias:
        np.testing.assert_allclose(layer.gradients[1], db_ref, rtol=1e-4, atol=1e-4)


# ---- UpSampling -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [2, (2, 3), (3, 1), (1, 1), 4])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling2d_forward_backward(size, interpolation):
    rng = np.random.default_rng(5)
    x = rand(rng, 3, 5, 4, 3)
    layer = L.UpSampling2D(size, interpolation=interpolation)
    y = layer.forward(x)
    want = upsample_ref(x, size, interpolation)
    assert y.shape == want.shape and layer.output_shape == (None, *want.shape[1:])
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    dy = rand(rng, *y.shape)
    sh, sw = _pair(size)
    if interpolation == "nearest":   # the sum over each block
        dx_ref = dy.astype(np.float64).reshape(3, 5, sh, 4, sw, 3).sum(axis=(2, 4))
    else:
        dx_ref = np.einsum("ph,bpqc,qw->bhwc", bilinear_matrix(5, sh), dy.astype(np.float64), bilinear_matrix(4, sw))
    np.testing.assert_allclose(layer.backward(dy), dx_ref, rtol=1e-5, atol=1e-5)


def test_bilinear_uses_half_pixel_centers():
    """tf.image.resize([0, 1], 4, 'bilinear') (Keras 3's UpSampling2D) gives [0, 0.25, 0.75, 1]: not the
    align_corners [0, 1/3, 2/3, 1], nor the asymmetric [0, 0.5, 1, 1]."""
    x = np.array([0.0, 1.0], np.float32).reshape(1, 1, 2, 1)
    y = L.UpSampling2D((1, 2), interpolation="bilinear").forward(x)
    np.testing.assert_allclose(y.ravel(), [0.0, 0.25, 0.75, 1.0], atol=1e-7)
    y3 = L.UpSampling2D((3, 1), interpolation="bilinear").forward(x.reshape(1, 2, 1, 1))
    np.testing.assert_allclose(y3.ravel(), [0, 0, 1 / 3, 2 / 3, 1, 1], atol=1e-6)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_upsampling1d(size):
    rng = np.random.default_rng(6)
    x = rand(rng, 2, 7, 3)
    layer = L.UpSampling1D(size)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, np.repeat(x, size, axis=1))
    assert layer.output_shape == (None, 7 * size, 3)
    dy = rand(rng, *y.shape)
    np.testing.assert_allclose(layer.backward(dy), dy.reshape(2, 7, size, 3).sum(axis=2), rtol=1e-6, atol=1e-6)


# ---- models: gradients, threads, files, summary, unknown sizes --------------------------------------------------
def decoder(input_shape=(5, 4, 2)):
    """A small decoder with every new layer; a Conv2D first so that their input gradients are checked too."""
    x = nncore.Input(input_shape)
    h = L.Conv2D(3, 2, padding="same", activation="tanh")(x)
    h = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="tanh")(h)
    h = L.UpSampling2D((1, 2), interpolation="bilinear")(h)
    h = L.Conv2DTranspose(2, (2, 3), strides=(3, 1), output_padding=(1, 0), use_bias=False)(h)
    h = L.UpSampling2D(2)(h)
    h = L.Conv2D(2, 3, strides=2)(h)
    seq = L.Reshape((-1, 2))(h)
    seq = L.Conv1DTranspose(3, 3, strides=2, padding="same", activation="relu")(seq)
    seq = L.UpSampling1D(2)(seq)
    seq = L.Conv1DTranspose(2, 2, dilation_rate=2)(seq)
    out = L.Dense(2)(L.GlobalAveragePooling1D()(seq))
    return nncore.Model(x, out)


def test_finite_differences_in_a_model():
    rng = np.random.default_rng(7)
    model = decoder()
    model.compile("sgd", "mse")
    x, y = rand(rng, 3, 5, 4, 2), rand(rng, 3, 2)
    errors = gradient_errors(model, x, y)
    trainable = [l.name for l in model.layers if l.trainable_weights]
    assert sorted(errors) == sorted(trainable)
    assert max(errors.values()) < 1e-2, errors


def test_one_and_two_threads_bit_identical(restore_threads):
    rng = np.random.default_rng(8)
    x = rand(rng, 8, 64, 48, 8)   # large enough that every kernel splits its work over both threads
    out = []
    for n in (1, 2):
        restore_threads(n)
        nncore.set_random_seed(5)
        res = []
        for layer in (L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
                      L.Conv2DTranspose(3, 4, strides=3, output_padding=1),
                      L.UpSampling2D(4), L.UpSampling2D((2, 3), interpolation="bilinear")):
            y = layer.forward(x)
            res += [y, layer.backward(np.cos(y))] + [g.copy() for g in layer.gradients]
        seq = L.Conv1DTranspose(8, 5, strides=2, padding="same")
        y = seq.forward(x.reshape(8, 3072, 8))
        res += [y, seq.backward(np.sin(y))] + [g.copy() for g in seq.gradients]
        model = decoder((12, 10, 2))
        model.compile("sgd", "mse")
        xm = rand(np.random.default_rng(9), 16, 12, 10, 2)
        res.append(model.predict(xm, verbose=0))
        model.compute_gradients(xm, np.ones((16, 2), np.float32))
        res += [g.copy() for l in model.layers for g in l.gradients]
        out.append(res)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layer", [
    lambda: L.Conv2DTranspose(4, (3, 2), strides=(2, 1), padding="same", output_padding=(1, 0), dilation_rate=1,
                              activation="relu", use_bias=False, kernel_initializer="he_normal", name="up"),
    lambda: L.Conv2DTranspose(3, 3),
    lambda: L.Conv1DTranspose(5, 4, strides=2, output_padding=1, activation="tanh"),
    lambda: L.Conv1DTranspose(5, 3, dilation_rate=2, padding="same"),
    lambda: L.UpSampling2D((2, 3), interpolation="bilinear"),
    lambda: L.UpSampling2D(),
    lambda: L.UpSampling1D(3),
])
def test_config_round_trip(layer):
    a = layer()
    config = a.get_config()
    b = type(a).from_config(config)
    assert type(b) is type(a)
    assert b.get_config() == config
    if isinstance(a, L.Conv2DTranspose):
        assert config["output_padding"] is None or len(config["output_padding"]) == 2
        assert b.output_padding == a.output_padding and b.strides == a.strides
    if isinstance(a, L.Conv1DTranspose):
        assert b.kernel_size == a.kernel_size and b.output_padding == a.output_padding


def test_keras_config_forms():
    a = L.Conv2DTranspose.from_config({"name": "ct", "filters": 2, "kernel_size": 3, "strides": 2,
                                       "output_padding": 1, "padding": "same"})
    assert a.kernel_size == (3, 3) and a.strides == (2, 2) and a.output_padding == (1, 1)
    b = L.Conv1DTranspose.from_config({"name": "ct1", "filters": 2, "kernel_size": [3], "output_padding": None})
    assert b.output_padding is None and b.kernel_size == (3,)
    u = L.UpSampling2D.from_config({"name": "up", "size": [2, 3], "data_format": "channels_last"})
    assert u.size == (2, 3) and u.interpolation == "nearest"


def test_save_load_model(tmp_path):
    rng = np.random.default_rng(10)
    model = decoder()
    model.compile("adam", "mse")
    x, y = rand(rng, 16, 5, 4, 2), rand(rng, 16, 2)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "decoder.nncore")
    loaded = nncore.load_model(tmp_path / "decoder.nncore")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    seq = nncore.Sequential([L.UpSampling1D(2, input_shape=(6, 3)), L.Conv1DTranspose(2, 3, strides=2)])
    seq.save(tmp_path / "seq.nncore")
    xs = rand(rng, 2, 6, 3)
    np.testing.assert_array_equal(nncore.load_model(tmp_path / "seq.nncore").predict(xs, verbose=0),
                                  seq.predict(xs, verbose=0))


def test_summary_shapes_and_params():
    model = nncore.Sequential([
        L.Conv2DTranspose(8, 3, strides=2, padding="same", input_shape=(7, 7, 4)),
        L.Conv2DTranspose(3, 4, strides=3),
        L.UpSampling2D((2, 1)),
        L.Reshape((-1, 3)),
        L.UpSampling1D(2),
        L.Conv1DTranspose(2, 5, use_bias=False)])
    shapes = [l.output_shape for l in model.layers]
    assert shapes == [(None, 14, 14, 8), (None, 43, 43, 3), (None, 86, 43, 3), (None, 3698, 3),
                      (None, 7396, 3), (None, 7400, 2)]
    assert [l.count_params() for l in model.layers] == [3 * 3 * 8 * 4 + 8, 4 * 4 * 3 * 8 + 3, 0, 0, 0, 5 * 2 * 3]
    buf = io.StringIO()
    with redirect_stdout(buf):
        model.summary()
    text = buf.getvalue()
    for name in ("Conv2DTranspose", "UpSampling2D", "UpSampling1D", "Conv1DTranspose"):
        assert name in text
    assert "(None, 14, 14, 8)" in text and "(None, 7400, 2)" in text


def test_unknown_image_size():
    """A fully convolutional decoder on Input((None, None, 3)) runs on images of two sizes and gives what a
    model built for each size gives, forward and backward."""
    def build(x):
        h = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(x)
        h = L.UpSampling2D((2, 3), interpolation="bilinear")(h)
        h = L.Conv2DTranspose(3, 4, strides=(3, 2), output_padding=(2, 1))(h)
        h = L.UpSampling2D(2)(h)
        h = L.Conv2DTranspose(2, 3, dilation_rate=2)(h)
        return L.Dense(2)(L.GlobalAveragePooling2D()(h))

    x_var = nncore.Input((None, None, 3))
    var = nncore.Model(x_var, build(x_var))
    assert var.layers[1].output_shape == (None, None, None, 4)
    var.compile("sgd", "mse")
    rng = np.random.default_rng(11)
    for size in ((5, 7), (8, 3)):
        x_fix = nncore.Input((*size, 3))
        fixed = nncore.Model(x_fix, build(x_fix))
        fixed.set_weights(var.get_weights())
        fixed.compile("sgd", "mse")
        x = rand(rng, 3, *size, 3)
        np.testing.assert_allclose(var.predict(x, verbose=0), fixed.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
        y = rand(rng, 3, 2)
        np.testing.assert_allclose(var.compute_gradients(x, y), fixed.compute_gradients(x, y), rtol=1e-5)
        for a, b in zip([g.copy() for l in var.layers for g in l.gradients],
                        [g.copy() for l in fixed.layers for g in l.gradients]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    seq_in = nncore.Input((None, 2))
    seq = nncore.Model(seq_in, L.Conv1DTranspose(3, 3, strides=2)(L.UpSampling1D(3)(seq_in)))
    for n in (4, 9):
        assert seq.predict(rand(rng, 2, n, 2), verbose=0).shape == (2, (3 * n - 1) * 2 + 3, 3)


# ---- bad arguments ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,match", [
    (lambda: L.Conv2DTranspose(0, 3), r"Conv2DTranspose.*filters"),
    (lambda: L.Conv2DTranspose(2.5, 3), r"Conv2DTranspose.*filters"),
    (lambda: L.Conv2DTranspose(2, 0), r"Conv2DTranspose.*kernel_size"),
    (lambda: L.Conv2DTranspose(2, (3, 3, 3)), r"Conv2DTranspose kernel_size"),
    (lambda: L.Conv2DTranspose(2, 3, strides=0), r"Conv2DTranspose.*strides"),
    (lambda: L.Conv2DTranspose(2, 3, dilation_rate=(1, 0)), r"Conv2DTranspose.*dilation_rate"),
    (lambda: L.Conv2DTranspose(2, 3, padding="causal"), r"Conv2DTranspose.*padding"),
    (lambda: L.Conv2DTranspose(2, 3, padding="full"), r"Conv2DTranspose.*padding"),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, output_padding=2), r"Conv2DTranspose.*output_padding.*strides"),
    (lambda: L.Conv2DTranspose(2, 3, output_padding=1), r"Conv2DTranspose.*output_padding"),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, output_padding=-1), r"Conv2DTranspose output_padding"),
    (lambda: L.Conv2DTranspose(2, 3, activation="bogus"), r"bogus"),
    (lambda: L.Conv2DTranspose(2, 3, kernel_initializer="bogus"), r"Conv2DTranspose.*kernel_initializer"),
    (lambda: L.Conv2DTranspose(2, 3, data_format="channels_first"), r"Conv2DTranspose.*data_format"),
    (lambda: L.Conv1DTranspose(0, 3), r"Conv1DTranspose.*filters"),
    (lambda: L.Conv1DTranspose(2, 0), r"Conv1DTranspose kernel_size"),
    (lambda: L.Conv1DTranspose(2, 3, strides=2, output_padding=2), r"Conv1DTranspose.*output_padding"),
    (lambda: L.Conv1DTranspose(2, 3, output_padding=(1, 1)), r"Conv1DTranspose output_padding"),
    (lambda: L.Conv1DTranspose(2, 3, padding="causal"), r"Conv1DTranspose.*padding"),
    (lambda: L.UpSampling2D(0), r"UpSampling2D.*size"),
    (lambda: L.UpSampling2D((2, 2, 2)), r"UpSampling2D size"),
    (lambda: L.UpSampling2D(2, interpolation="bicubic"), r"UpSampling2D interpolation.*nearest"),
    (lambda: L.UpSampling2D(2, data_format="channels_first"), r"UpSampling2D.*data_format"),
    (lambda: L.UpSampling1D(0), r"UpSampling1D size"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"Conv2DTranspose 'ct'.*channel axis"):
        L.Conv2DTranspose(2, 3, name="ct")(nncore.Input((None, None, None)))
    with pytest.raises(ValueError, match=r"Conv2DTranspose.*\(batch, height, width, channels\)"):
        L.Conv2DTranspose(2, 3).forward(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"Conv1DTranspose.*\(batch, steps, channels\)"):
        L.Conv1DTranspose(2, 3).forward(np.zeros((2, 5, 3, 1), np.float32))
    with pytest.raises(ValueError, match=r"UpSampling2D.*\(batch, height, width, channels\)"):
        L.UpSampling2D().forward(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"UpSampling1D.*\(batch, steps, features\)"):
        L.UpSampling1D().forward(np.zeros((2, 5, 3, 1), np.float32))
    with pytest.raises(ValueError, match=r"Conv2DTranspose.*output would be empty"):
        L.Conv2DTranspose(2, 2, padding="same", output_padding=0).forward(np.zeros((1, 1, 1, 1), np.float32))
    layer = L.Conv2DTranspose(2, 3)
    layer.forward(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="Conv2DTranspose"):
        layer.forward(np.zeros((1, 4, 4, 2), np.float32))   # built for 3 channels


# ---- Keras itself, where installed ---------------------------------------------------------------------------------
def test_matches_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(12)
    x = rand(rng, 2, 5, 7, 3)
    for kwargs in (dict(strides=2, padding="same"), dict(strides=3, padding="valid"),
                   dict(strides=2, padding="valid", output_padding=1), dict(strides=1, padding="same", dilation_rate=2),
                   dict(strides=(2, 3), padding="same", output_padding=(1, 2))):
        ours = L.Conv2DTranspose(4, 3, **kwargs)
        ours.build((None, 5, 7, 3))
        randomize(ours, rng)
        theirs = keras.layers.Conv2DTranspose(4, 3, **kwargs)
        theirs.build((None, 5, 7, 3))
        theirs.set_weights(ours.get_weights())
        np.testing.assert_allclose(ours.forward(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-4, atol=1e-4)
    for size, interpolation in ((2, "nearest"), ((2, 3), "nearest"), ((2, 3), "bilinear"), (3, "bilinear")):
        theirs = keras.layers.UpSampling2D(size, interpolation=interpolation)
        np.testing.assert_allclose(L.UpSampling2D(size, interpolation=interpolation).forward(x), keras.ops.convert_to_numpy(theirs(x)),
                                   rtol=1e-5, atol=1e-5)
    seq = rand(rng, 2, 6, 3)
    ours = L.Conv1DTranspose(2, 3, strides=2, padding="same")
    ours.build((None, 6, 3))
    randomize(ours, rng)
    theirs = keras.layers.Conv1DTranspose(2, 3, strides=2, padding="same")
    theirs.build((None, 6, 3))
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.forward(seq), keras.ops.convert_to_numpy(theirs(seq)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(L.UpSampling1D(3).forward(seq), keras.ops.convert_to_numpy(keras.layers.UpSampling1D(3)(seq)))
