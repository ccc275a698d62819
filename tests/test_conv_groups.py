"""Conv2D and Conv1D with groups (Keras's argument): the input channels and the filters split into `groups` groups,
filter group k seeing only input channel group k; kernel (kh, kw, C / groups, filters). Against a NumPy float64
reference written here, finite differences in a model, 1 vs 2 threads, configs and files, Keras's own layers where
importable, and bad arguments. ONNX export (Conv's group attribute) is checked in test_onnx.py."""
import numpy as np
import pytest

import nncore
from conftest import np_activation
from graph_helpers import gradient_errors, seeded  # noqa: F401  (autouse fixture)
from nncore import layers as L


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def grouped_conv_ref(x, w, b, groups, strides=(1, 1), padding="valid"):
    """float64 loops: x (B, H, W, C), w (KH, KW, C / groups, F)."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    B, H, W, C = x.shape
    KH, KW, Cg, F = w.shape
    sh, sw = strides
    if padding == "same":
        OH, OW = -(-H // sh), -(-W // sw)
        ph, pw = max((OH - 1) * sh + KH - H, 0), max((OW - 1) * sw + KW - W, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        OH, OW = (H - KH) // sh + 1, (W - KW) // sw + 1
    Fg = F // groups
    y = np.zeros((B, OH, OW, F))
    for g in range(groups):
        xs = x[..., g * Cg:(g + 1) * Cg]
        for i in range(OH):
            for j in range(OW):
                patch = xs[:, i * sh:i * sh + KH, j * sw:j * sw + KW]   # (B, KH, KW, Cg)
                y[:, i, j, g * Fg:(g + 1) * Fg] = np.einsum("bhwc,hwcf->bf", patch, w[..., g * Fg:(g + 1) * Fg])
    return y + (b if b is not None else 0)


@pytest.mark.parametrize("groups,filters,kernel,strides,padding,act", [
    (2, 4, 3, 1, "same", "linear"), (3, 6, (3, 2), 2, "valid", "relu"), (6, 12, 1, 1, "valid", "tanh"),
    (2, 8, 3, (1, 2), "same", "sigmoid"), (6, 6, 3, 1, "same", "linear"),   # depthwise-like
])
def test_matches_float64_reference(groups, filters, kernel, strides, padding, act, isa):
    rng = np.random.default_rng(1)
    x = rand(rng, 2, 7, 9, 6)
    layer = L.Conv2D(filters, kernel, strides=strides, padding=padding, groups=groups, activation=act)
    layer.build((None, 7, 9, 6))
    layer.set_weights([rand(rng, *w.shape) * 0.5 for w in layer.get_weights()])
    w, b = layer.get_weights()
    assert w.shape[2] == 6 // groups
    want = np_activation(act, grouped_conv_ref(x, w, b, groups, strides if isinstance(strides, tuple)
                                               else (strides, strides), padding))
    np.testing.assert_allclose(layer.forward(x), want, rtol=1e-4, atol=1e-4)


def model(groups=2):
    x = nncore.Input((6, 7, 4))
    h = L.Conv2D(6, 3, padding="same", groups=groups, activation="tanh")(x)
    h = L.Conv2D(4, (2, 3), strides=2, groups=groups)(h)
    seq = L.Reshape((-1, 4))(h)
    seq = L.Conv1D(4, 2, groups=groups, activation="relu")(seq)
    return nncore.Model(x, L.Dense(2)(L.GlobalAveragePooling1D()(seq)))


def test_finite_differences_in_a_model():
    rng = np.random.default_rng(2)
    m = model()
    m.compile("sgd", "mse")
    errors = gradient_errors(m, rand(rng, 3, 6, 7, 4), rand(rng, 3, 2))
    assert max(errors.values()) < 1e-2, errors


def test_one_and_two_threads_bit_identical(restore_threads):
    rng = np.random.default_rng(3)
    x = rand(rng, 16, 20, 18, 8)
    out = []
    for n in (1, 2):
        restore_threads(n)
        nncore.set_random_seed(5)
        layer = L.Conv2D(16, 3, padding="same", groups=4, activation="relu")
        y = layer.forward(x)
        out.append([y, layer.backward(np.cos(y))] + [g.copy() for g in layer.gradients])
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_config_files_and_keras_names(tmp_path):
    layer = L.Conv2D(8, 3, groups=4)
    assert layer.groups == 4 and layer.get_config()["groups"] == 4
    assert L.Conv2D.from_config(layer.get_config()).get_config() == layer.get_config()
    m = model()
    m.compile("adam", "mse")
    x = rand(np.random.default_rng(4), 2, 6, 7, 4)
    for name in ("g.nncore", "g.keras"):
        m.save(tmp_path / name)
        np.testing.assert_array_equal(nncore.load_model(tmp_path / name).predict(x, verbose=0),
                                      m.predict(x, verbose=0))


@pytest.mark.parametrize("make,match", [
    (lambda: L.Conv2D(5, 3, groups=2), "divide filters"),
    (lambda: L.Conv2D(4, 3, groups=0), "groups"),
    (lambda: L.Conv1D(4, 3, groups=True), "groups"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_channels_that_do_not_split():
    with pytest.raises(ValueError, match="channels do not split into groups=2"):
        L.Conv2D(4, 3, groups=2).forward(np.zeros((1, 5, 5, 3), np.float32))


def test_matches_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(5)
    x = rand(rng, 2, 7, 8, 6)
    for kw in (dict(filters=4, kernel_size=3, groups=2, padding="same"),
               dict(filters=6, kernel_size=(3, 2), groups=3, strides=2, activation="relu")):
        ours = L.Conv2D(**kw)
        ours.build((None, 7, 8, 6))
        theirs = keras.layers.Conv2D(**kw)
        theirs.build((None, 7, 8, 6))
        theirs.set_weights(ours.get_weights())
        np.testing.assert_allclose(ours.forward(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-5)
