"""Tests for 2-D convolution (cpp/src/kernels/conv.cpp, cpp/src/ops/conv.cpp, the Conv2D layer in
cpp/src/layers/conv.cpp).

The oracle is a NumPy float64 convolution written here as a sum over kernel taps of strided window slices of the
zero-padded input; it applies TensorFlow/Keras's 'same' rule independently of nncore's own geometry code
(and agrees with torch.nn.functional.conv2d to 1e-14 where torch has the same padding).
nncore runs a direct kernel for few input channels (C <= 4) and im2col + GEMM otherwise, with relu fused into
both; the channel counts below are chosen so that every test meets both paths.
nncore computes in float32, so comparisons with the float64 oracle use a tolerance scaled to the size of the dot
products (see ``assert_close``); comparisons between nncore paths that must agree bit for bit (thread counts,
repeated backward) use exact equality.
"""
from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nncore
from conftest import np_activation, np_activation_backward, numeric_grad_inplace
from nncore.layers import Conv2D

# --------------------------------------------------------------- NumPy float64 reference


def same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int, int]:
    """TensorFlow's 'same': output ceil(size / stride), total padding split with the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return out, total // 2, total - total // 2


def axis_geometry(size: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    if padding == "same":
        return same_pads(size, k, stride, dilation)
    span = (k - 1) * dilation + 1
    return (size - span) // stride + 1, 0, 0


def ref_conv2d(x, w, b=None, strides=(1, 1), padding="valid", dilation=(1, 1)) -> np.ndarray:
    """y[b, oh, ow, o] = sum_{kh, kw, c} xpad[b, oh*sh + kh*dh, ow*sw + kw*dw, c] * w[kh, kw, c, o] (+ b[o])."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    (sh, sw), (dh, dw) = strides, dilation
    B, H, W, C = x.shape
    KH, KW, _, OC = w.shape
    OH, pt, pb = axis_geometry(H, KH, sh, dh, padding)
    OW, pl, pr = axis_geometry(W, KW, sw, dw, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    y = np.zeros((B, OH, OW, OC))
    for kh, kw in itertools.product(range(KH), range(KW)):
        patch = xp[:, kh * dh: kh * dh + (OH - 1) * sh + 1: sh, kw * dw: kw * dw + (OW - 1) * sw + 1: sw, :]
        y += np.einsum("bhwc,co->bhwo", patch, w[kh, kw])
    if b is not None:
        y += np.asarray(b, np.float64)
    return y


def ref_conv2d_backward(dy, x, w, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """Inverts ref_conv2d: dx scatters dy @ w^T into each tap's window, dw = sum of patch^T @ dy, db = sum of dy."""
    dy = np.asarray(dy, np.float64)
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    (sh, sw), (dh, dw_) = strides, dilation
    B, H, W, C = x.shape
    KH, KW, _, OC = w.shape
    OH, pt, pb = axis_geometry(H, KH, sh, dh, padding)
    OW, pl, pr = axis_geometry(W, KW, sw, dw_, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for kh, kw in itertools.product(range(KH), range(KW)):
        rows = slice(kh * dh, kh * dh + (OH - 1) * sh + 1, sh)
        cols = slice(kw * dw_, kw * dw_ + (OW - 1) * sw + 1, sw)
        dw[kh, kw] = np.einsum("bhwc,bhwo->co", xp[:, rows, cols, :], dy)
        dxp[:, rows, cols, :] += np.einsum("bhwo,co->bhwc", dy, w[kh, kw])
    dx = dxp[:, pt: pt + H, pl: pl + W, :]
    return dx, dw, dy.sum(axis=(0, 1, 2))


def assert_close(got: np.ndarray, want: np.ndarray, terms: int, what: str = "") -> None:
    """float32 result vs float64 oracle: each entry is a sum of ``terms`` products of O(1) values, so allow a
    rounding error of ~ terms * eps32 (with a floor), relative to the scale of the data."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    atol = 1e-6 * max(terms, 16) * scale
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol, err_msg=what)


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


# --------------------------------------------------------------- the sampled grid

KERNELS = [(1, 1), (3, 3), (2, 3)]
STRIDES = [1, 2]
PADDINGS = ["valid", "same"]
DILATIONS = [1, 2]
SIZES = [(5, 7), (9, 5), (7, 9), (5, 5), (9, 9), (7, 7)]
C_INS = [1, 3, 8, 17]
OCS = [1, 4, 33]
BATCHES = [1, 5]


def grid_cases() -> list:
    """Every (kernel, stride, padding, dilation, C_in, OC) combination, 288 in all; the image size and batch are
    drawn in turn from their lists, so each size and batch meets every other axis several times while the whole
    file stays well under 20 s."""
    cases = []
    combos = itertools.product(KERNELS, STRIDES, PADDINGS, DILATIONS, C_INS, OCS)
    for i, (k, s, p, d, c, oc) in enumerate(combos):
        hw = SIZES[i % len(SIZES)]
        b = BATCHES[(i // 5) % len(BATCHES)]
        cases.append(pytest.param(b, hw[0], hw[1], c, oc, k, s, p, d,
                                  id=f"B{b}-{hw[0]}x{hw[1]}x{c}-oc{oc}-k{k[0]}x{k[1]}-s{s}-{p}-d{d}"))
    return cases


GRID = grid_cases()


def test_grid_covers_every_value():
    values = [c.values for c in GRID]
    assert {v[0] for v in values} == set(BATCHES)
    assert {v[1] for v in values} == {5, 7, 9} and {v[2] for v in values} == {5, 7, 9}
    assert {v[3] for v in values} == set(C_INS)
    assert {v[4] for v in values} == set(OCS)
    assert {v[5] for v in values} == set(KERNELS)


@pytest.mark.parametrize("B,H,W,C,OC,k,s,padding,d", GRID)
def test_conv2d_forward_matches_numpy(B, H, W, C, OC, k, s, padding, d):
    rng = np.random.default_rng(B * 1000 + H * 100 + C * 10 + OC)
    x, w, b = rand(rng, B, H, W, C), rand(rng, k[0], k[1], C, OC), rand(rng, OC)
    want = ref_conv2d(x, w, b, (s, s), padding, (d, d))

    y = nncore.ops.conv2d(x, w, b, strides=s, padding=padding, dilation=d)
    assert y.dtype == np.float32
    assert_close(y, want, k[0] * k[1] * C, "fast path")
    y_ref = nncore.ops.conv2d(x, w, b, strides=s, padding=padding, dilation=d, reference=True)
    assert_close(y_ref, want, k[0] * k[1] * C, "reference path")
    # the fast path (direct kernel or im2col + GEMM) against the C++ reference loops: float32 results of one sum
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    # without bias
    assert_close(nncore.ops.conv2d(x, w, None, strides=s, padding=padding, dilation=d),
                 want - b.astype(np.float64), k[0] * k[1] * C, "no bias")


@pytest.mark.parametrize("B,H,W,C,OC,k,s,padding,d", GRID)
def test_conv2d_backward_matches_numpy(B, H, W, C, OC, k, s, padding, d):
    rng = np.random.default_rng(7 + B * 1000 + H * 100 + C * 10 + OC)
    x, w = rand(rng, B, H, W, C), rand(rng, k[0], k[1], C, OC)
    OH = axis_geometry(H, k[0], s, d, padding)[0]
    OW = axis_geometry(W, k[1], s, d, padding)[0]
    dy = rand(rng, B, OH, OW, OC)
    want_dx, want_dw, want_db = ref_conv2d_backward(dy, x, w, (s, s), padding, (d, d))

    for reference in (False, True):
        dx, dw, db = nncore.ops.conv2d_backward(dy, x, w, strides=s, padding=padding, dilation=d,
                                                reference=reference)
        tag = "reference" if reference else "fast"
        assert_close(dx, want_dx, k[0] * k[1] * OC, f"{tag} dx")
        assert_close(dw, want_dw, B * OH * OW, f"{tag} dw")
        assert_close(db, want_db, B * OH * OW, f"{tag} db")

    fast = nncore.ops.conv2d_backward(dy, x, w, strides=s, padding=padding, dilation=d)
    slow = nncore.ops.conv2d_backward(dy, x, w, strides=s, padding=padding, dilation=d, reference=True)
    for name, a, r in zip(("dx", "dw", "db"), fast, slow):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5, err_msg=name)


def test_conv2d_hand_computed():
    # 3x3 image 1..9, 2x2 kernel of ones, valid: each output is the sum of a 2x2 window, plus bias 0.5
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    w = np.ones((2, 2, 1, 1), np.float32)
    y = nncore.ops.conv2d(x, w, np.array([0.5], np.float32))
    np.testing.assert_array_equal(y[0, :, :, 0], [[12.5, 16.5], [24.5, 28.5]])
    # 'same' with an even kernel pads only after (TensorFlow's rule): the last row and column see zeros
    y = nncore.ops.conv2d(x, w, padding="same")
    np.testing.assert_array_equal(y[0, :, :, 0], [[12, 16, 9], [24, 28, 15], [15, 17, 9]])
    # stride 2 on an even input with 'same' and a 3x3 kernel: total padding 1, all of it after
    x4 = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    y = nncore.ops.conv2d(x4, np.ones((3, 3, 1, 1), np.float32), strides=2, padding="same")
    np.testing.assert_array_equal(y[0, :, :, 0], [[45, 39], [66, 50]])


def test_conv2d_asymmetric_strides_and_dilation():
    rng = np.random.default_rng(3)
    x, w, b = rand(rng, 2, 11, 8, 3), rand(rng, 3, 2, 3, 5), rand(rng, 5)
    for padding in ("valid", "same"):
        want = ref_conv2d(x, w, b, (2, 3), padding, (2, 1))
        y = nncore.ops.conv2d(x, w, b, strides=(2, 3), padding=padding, dilation=(2, 1))
        assert_close(y, want, 18, padding)
        dy = rand(rng, *want.shape)
        got = nncore.ops.conv2d_backward(dy, x, w, strides=(2, 3), padding=padding, dilation=(2, 1))
        for name, a, r in zip(("dx", "dw", "db"), got,
                              ref_conv2d_backward(dy, x, w, (2, 3), padding, (2, 1))):
            assert_close(a, r, 64, f"{padding} {name}")


@pytest.mark.parametrize("B,C", [(3, 64), (5, 40)])
def test_conv2d_many_images_in_chunks(B, C):
    # 64x64 images with a 3x3 kernel: one image's im2col is 4096 x 9C floats, so the 4 Mi-float workspace holds
    # one image (C=64: chunks 1,1,1) or two (C=40: chunks 2,2,1, the last one ragged); dw accumulates across chunks
    rng = np.random.default_rng(11)
    x, w, b = rand(rng, B, 64, 64, C), rand(rng, 3, 3, C, 8), rand(rng, 8)
    want = ref_conv2d(x, w, b, (1, 1), "same", (1, 1))
    y = nncore.ops.conv2d(x, w, b, padding="same")
    assert_close(y, want, 9 * C, "forward")
    dy = rand(rng, B, 64, 64, 8)
    want_dx, want_dw, want_db = ref_conv2d_backward(dy, x, w, (1, 1), "same", (1, 1))
    dx, dw, db = nncore.ops.conv2d_backward(dy, x, w, padding="same")
    assert_close(dx, want_dx, 72, "dx")
    assert_close(dw, want_dw, B * 64 * 64, "dw")
    assert_close(db, want_db, B * 64 * 64, "db")


@pytest.mark.parametrize("B,H,W,C,OC,k,s,padding,d", [
    (5, 28, 28, 1, 6, (5, 5), 1, "same", 1),  # LeNet's first layer: several row blocks per image
    (3, 28, 28, 1, 32, (3, 3), 1, "valid", 1),  # the classic example's
    (2, 32, 29, 3, 16, (3, 3), 2, "same", 1),
    (4, 30, 23, 4, 33, (2, 3), 1, "valid", 2),
    (9, 17, 19, 2, 8, (3, 3), 3, "same", 1),  # more (image, block) units than partial-sum chunks
    (1, 64, 61, 1, 5, (7, 7), 2, "same", 2),
])
def test_conv2d_larger_images_few_channels(B, H, W, C, OC, k, s, padding, d):
    rng = np.random.default_rng(17 + H + C)
    x, w, b = rand(rng, B, H, W, C), rand(rng, k[0], k[1], C, OC), rand(rng, OC)
    want = ref_conv2d(x, w, b, (s, s), padding, (d, d))
    assert_close(nncore.ops.conv2d(x, w, b, strides=s, padding=padding, dilation=d), want, k[0] * k[1] * C)
    dy = rand(rng, *want.shape)
    got = nncore.ops.conv2d_backward(dy, x, w, strides=s, padding=padding, dilation=d)
    pixels = B * want.shape[1] * want.shape[2]
    for name, a, r, terms in zip(("dx", "dw", "db"), got, ref_conv2d_backward(dy, x, w, (s, s), padding, (d, d)),
                                 (k[0] * k[1] * OC, pixels, pixels)):
        assert_close(a, r, terms, name)


@pytest.mark.parametrize("H,W,k,s,padding,d,out", [
    (28, 28, (3, 3), 1, "valid", 1, (26, 26)),
    (28, 28, (3, 3), 1, "same", 1, (28, 28)),
    (28, 28, (5, 5), 2, "same", 1, (14, 14)),
    (7, 7, (3, 3), 2, "same", 1, (4, 4)),
    (7, 7, (3, 3), 2, "valid", 1, (3, 3)),
    (7, 9, (3, 3), 1, "valid", 2, (3, 5)),
    (7, 9, (2, 3), 3, "valid", 1, (2, 3)),
    (5, 5, (5, 5), 1, "valid", 1, (1, 1)),
    (3, 3, (5, 5), 1, "same", 1, (3, 3)),
    (9, 5, (1, 1), 2, "same", 1, (5, 3)),
])
def test_conv2d_output_shapes(H, W, k, s, padding, d, out):
    layer = Conv2D(4, k, strides=s, padding=padding, dilation_rate=d)
    layer.build((None, H, W, 2))
    assert layer.output_shape == (None, *out, 4)
    x = np.zeros((3, H, W, 2), np.float32)
    assert layer.forward(x).shape == (3, *out, 4)
    assert nncore.ops.conv2d(x, np.zeros((*k, 2, 4), np.float32), strides=s, padding=padding,
                             dilation=d).shape == (3, *out, 4)
    assert [w.shape for w in layer.get_weights()] == [(*k, 2, 4), (4,)]


# --------------------------------------------------------------- the Conv2D layer


def test_conv2d_layer_matches_ops_with_relu():
    rng = np.random.default_rng(5)
    x = rand(rng, 4, 9, 7, 3)
    layer = Conv2D(6, (3, 2), strides=(2, 1), padding="same", activation="relu")
    layer.build((None, 9, 7, 3))
    w, b = rand(rng, 3, 2, 3, 6), rand(rng, 6)
    layer.set_weights([w, b])
    y = layer.forward(x)
    z = nncore.ops.conv2d(x, w, b, strides=(2, 1), padding="same")
    # relu fused into the convolution's stores must give exactly relu of the same sums
    np.testing.assert_array_equal(y, np.maximum(z, 0))
    assert (y == 0).any() and (y > 0).any()


# C=1, 3: the direct path (few input channels); C=8, 17: im2col + GEMM. relu is fused into the kernels, the
# others run as a separate pass.
@pytest.mark.parametrize("C", [1, 3, 8, 17])
@pytest.mark.parametrize("activation", ["relu", "linear", "tanh", "sigmoid", "leaky_relu"])
def test_conv2d_layer_activation_matches_numpy(activation, C):
    rng = np.random.default_rng(15 + C)
    B, H, W, OC = 3, 11, 9, 7
    x = rand(rng, B, H, W, C)
    layer = Conv2D(OC, (3, 3), strides=(1, 2), padding="same", activation=activation)
    layer.build((None, H, W, C))
    w, b = rand(rng, 3, 3, C, OC), rand(rng, OC)
    layer.set_weights([w, b])
    y = layer.forward(x, training=True)
    z = ref_conv2d(x, w, b, (1, 2), "same", (1, 1))
    assert_close(y, np_activation(activation, z), 9 * C, "forward")

    dy = rand(rng, *y.shape)
    layer.zero_grad()
    dx = layer.backward(dy)
    dz = np_activation_backward(activation, dy, z)
    if activation == "relu":  # relu'(z) from float32 z: recompute where z is within rounding of 0
        dz = np.where(y > 0, dy, 0.0)
    want_dx, want_dw, want_db = ref_conv2d_backward(dz, x, w, (1, 2), "same", (1, 1))
    assert_close(dx, want_dx, 9 * OC, "dx")
    assert_close(layer.gradients[0], want_dw, B * H * 5, "kernel")
    assert_close(layer.gradients[1], want_db, B * H * 5, "bias")


@pytest.mark.parametrize("C", [2, 8])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_conv2d_frozen_layer_still_passes_gradient(activation, C):
    rng = np.random.default_rng(16)
    layer = Conv2D(5, (3, 3), activation=activation)
    layer.build((None, 8, 8, C))
    layer.trainable = False
    x = rand(rng, 2, 8, 8, C)
    y = layer.forward(x, training=True)
    dy = rand(rng, *y.shape)
    layer.zero_grad()
    dx = layer.backward(dy)
    w, b = layer.get_weights()
    z = ref_conv2d(x, w, b)
    dz = np.where(y > 0, dy, 0.0) if activation == "relu" else np_activation_backward(activation, dy, z)
    assert_close(dx, ref_conv2d_backward(dz, x, w)[0], 45, "dx")
    for g in layer.gradients:
        assert not g.any()


def test_conv2d_default_initializers_follow_keras():
    # glorot_uniform with Keras's receptive-field fans: fan_in = KH*KW*C, fan_out = KH*KW*filters; bias zeros
    nncore.set_random_seed(4)
    layer = Conv2D(64, (3, 5))
    layer.build((None, 9, 9, 16))
    kernel, bias = layer.get_weights()
    limit = np.sqrt(6.0 / (3 * 5 * 16 + 3 * 5 * 64))
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.95 * limit
    assert kernel.std() == pytest.approx(limit / np.sqrt(3), rel=0.05)
    assert abs(kernel.mean()) < 0.05 * limit
    np.testing.assert_array_equal(bias, np.zeros(64, np.float32))


def test_conv2d_layer_backward_matches_numpy():
    rng = np.random.default_rng(6)
    x = rand(rng, 3, 8, 7, 5)
    layer = Conv2D(4, 3, strides=2, padding="same", dilation_rate=1)
    layer.build((None, 8, 7, 5))
    w, b = rand(rng, 3, 3, 5, 4), rand(rng, 4)
    layer.set_weights([w, b])
    y = layer.forward(x, training=True)
    dy = rand(rng, *y.shape)
    dx = layer.backward(dy)
    want_dx, want_dw, want_db = ref_conv2d_backward(dy, x, w, (2, 2), "same", (1, 1))
    assert_close(dx, want_dx, 36, "dx")
    kernel_grad, bias_grad = layer.gradients
    assert kernel_grad.shape == (3, 3, 5, 4) and bias_grad.shape == (4,)
    assert_close(kernel_grad, want_dw, 3 * 4 * 4, "kernel")
    assert_close(bias_grad, want_db, 3 * 4 * 4, "bias")


def test_conv2d_layer_without_bias():
    rng = np.random.default_rng(8)
    layer = Conv2D(3, (2, 2), use_bias=False)
    x = rand(rng, 2, 5, 5, 2)
    y = layer.forward(x)
    (w,) = layer.get_weights()
    assert w.shape == (2, 2, 2, 3)
    assert_close(y, ref_conv2d(x, w), 8)
    dx = layer.backward(np.ones_like(y))
    (gw,) = layer.gradients
    want_dx, want_dw, _ = ref_conv2d_backward(np.ones_like(y), x, w)
    assert_close(dx, want_dx, 12, "dx")
    assert_close(gw, want_dw, 32, "kernel")


def test_conv2d_layer_batch_size_may_change_and_inputs_convert():
    # the workspace is sized per call; float64 and non-contiguous inputs are converted to float32 copies
    rng = np.random.default_rng(14)
    layer = Conv2D(4, (3, 3), strides=2, padding="same")
    layer.build((None, 6, 7, 2))
    w, b = layer.get_weights()
    for B in (5, 1, 7):
        x = rng.standard_normal((B, 12, 7, 2))[:, ::2]  # float64, strided view
        y = layer.forward(x, training=True)
        assert y.shape == (B, 3, 4, 4)
        assert_close(y, ref_conv2d(x, w, b, (2, 2), "same", (1, 1)), 18, f"B={B}")
        dy = np.ones_like(y)
        layer.zero_grad()
        dx = layer.backward(dy)
        want_dx, want_dw, want_db = ref_conv2d_backward(dy, x, w, (2, 2), "same", (1, 1))
        assert_close(dx, want_dx, 36, f"dx B={B}")
        assert_close(layer.gradients[0], want_dw, B * 12, f"kernel B={B}")
        assert_close(layer.gradients[1], want_db, B * 12, f"bias B={B}")


@pytest.mark.parametrize("C", [2, 8])
def test_conv2d_empty_batch(C):
    # An empty batch gives empty outputs and zero weight gradients. Run in a child interpreter: a crash in the
    # kernels (division by zero) must fail this test, not abort the whole run.
    code = f"""
        import numpy as np, nncore
        from nncore.layers import Conv2D
        x, w = np.zeros((0, 6, 7, {C}), np.float32), np.ones((3, 3, {C}, 4), np.float32)
        y = nncore.ops.conv2d(x, w, padding="same")
        assert y.shape == (0, 6, 7, 4), y.shape
        dx, dw, db = nncore.ops.conv2d_backward(y, x, w, padding="same")
        assert dx.shape == x.shape and not dw.any() and not db.any()
        layer = Conv2D(4, 3, activation="relu")
        y = layer.forward(x)
        assert layer.backward(y).shape == x.shape
        print("ok")
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    died = f" (killed by signal {-proc.returncode})" if proc.returncode < 0 else ""
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", \
        f"exit status {proc.returncode}{died}: {proc.stderr[-2000:]}"


def test_conv2d_backward_accumulates():
    rng = np.random.default_rng(9)
    layer = Conv2D(5, (3, 3), padding="same")
    x = rand(rng, 2, 6, 5, 3)
    y = layer.forward(x, training=True)
    dy = rand(rng, *y.shape)
    layer.zero_grad()
    dx1 = layer.backward(dy).copy()
    once = [g.copy() for g in layer.gradients]
    dx2 = layer.backward(dy)
    twice = [g.copy() for g in layer.gradients]
    # dx is the gradient of this call alone; the weight gradients add up. Not bit for bit 2x: the kernels add
    # their partial sums into the existing gradient, so the second pass rounds differently from the first.
    np.testing.assert_array_equal(dx2, dx1)
    for g1, g2 in zip(once, twice):
        np.testing.assert_allclose(g2, 2 * g1, rtol=1e-5, atol=1e-6)
    layer.zero_grad()
    for g in layer.gradients:
        assert not g.any()


@pytest.mark.parametrize("activation,strides,padding,dilation", [
    (None, (1, 1), "valid", (1, 1)),
    ("tanh", (2, 1), "same", (1, 1)),
    (None, (1, 2), "same", (2, 1)),
])
def test_conv2d_layer_finite_differences(activation, strides, padding, dilation):
    # L = sum(y^2)/2 + sum(r*y). The float32 layer is evaluated at x +/- h and the difference taken in float64,
    # with h the perturbation float32 actually stored. With a linear activation L is quadratic in each input,
    # so central differences are exact up to rounding; tanh adds an O(h^2) term.
    rng = np.random.default_rng(10)
    B, H, W, C, OC = 2, 5, 6, 2, 3
    layer = Conv2D(OC, (3, 2), strides=strides, padding=padding, dilation_rate=dilation, activation=activation)
    x = rand(rng, B, H, W, C)
    layer.build((None, H, W, C))
    layer.set_weights([rand(rng, 3, 2, C, OC), rand(rng, OC) * 0.5])
    r = rand(rng, *layer.forward(x).shape).astype(np.float64)

    def loss(xv) -> float:
        y = layer.forward(xv).astype(np.float64)
        return float(0.5 * np.sum(y * y) + np.sum(r * y))

    y = layer.forward(x, training=True).astype(np.float64)
    layer.zero_grad()
    dx = layer.backward((y + r).astype(np.float32)).astype(np.float64)
    analytic = [dx] + [g.astype(np.float64) for g in layer.gradients]

    h = 2.0 ** -8
    num_dx = numeric_grad_inplace(lambda: loss(x), x, eps=h)
    # layer.weights are views onto the C++ buffers: perturbing them in place changes the layer
    num_w = [numeric_grad_inplace(lambda: loss(x), v, eps=h) for v in layer.weights]
    for name, a, n in zip(("input", "kernel", "bias"), analytic, [num_dx] + num_w):
        # the float32 loss has rounding noise ~ 1e-6 * sum|L terms|, divided by 2h
        np.testing.assert_allclose(a, n, rtol=2e-3, atol=2e-3, err_msg=name)


# --------------------------------------------------------------- threads and ISA


@pytest.mark.parametrize("B,H,W,C,padding,strides,k", [
    (6, 21, 19, 17, "valid", 2, (2, 3)),
    (6, 21, 19, 17, "valid", 1, (1, 1)),  # the pointwise path: no im2col
    (10, 41, 37, 17, "same", 1, (3, 3)),  # large enough that im2col and col2im run on both threads too
    (16, 28, 28, 1, "same", 1, (5, 5)),  # the direct path (few channels), many (image, row block) units
    (7, 23, 26, 3, "valid", 2, (3, 3)),
])
def test_conv2d_one_and_two_threads_bit_identical(restore_threads, B, H, W, C, padding, strides, k):
    rng = np.random.default_rng(12)
    x, w, b = rand(rng, B, H, W, C), rand(rng, k[0], k[1], C, 33), rand(rng, 33)
    results = []
    for n in (1, 2):
        nncore.set_num_threads(n)
        y = nncore.ops.conv2d(x, w, b, strides=strides, padding=padding)
        grads = nncore.ops.conv2d_backward(np.cos(y), x, w, strides=strides, padding=padding)
        layer = Conv2D(33, k, strides=strides, padding=padding, activation="relu")
        layer.build((None, H, W, C))
        layer.set_weights([w, b])
        ly = layer.forward(x, training=True)
        ldx = layer.backward(np.sin(ly))
        results.append([y, *grads, ly, ldx, *[g.copy() for g in layer.gradients]])
    for a, b_ in zip(*results):
        np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize("C", [3, 17])  # the direct kernels and the GEMM micro-kernels, per ISA
def test_conv2d_every_isa_matches_numpy_and_generic(isa, C):
    rng = np.random.default_rng(13)
    x, w, b = rand(rng, 3, 13, 11, C), rand(rng, 3, 3, C, 33), rand(rng, 33)
    dy = rand(rng, 3, 7, 6, 33)

    def run() -> list:
        y = nncore.ops.conv2d(x, w, b, strides=2, padding="same")
        layer = Conv2D(33, 3, strides=2, padding="same", activation="relu")
        layer.build((None, 13, 11, C))
        layer.set_weights([w, b])
        ly = layer.forward(x, training=True)
        ldx = layer.backward(dy)
        return [y, *nncore.ops.conv2d_backward(dy, x, w, strides=2, padding="same"), ly, ldx,
                *[g.copy() for g in layer.gradients]]

    got = run()
    z = ref_conv2d(x, w, b, (2, 2), "same", (1, 1))
    dz = np.where(got[4] > 0, dy, 0.0)
    want = [z, *ref_conv2d_backward(dy, x, w, (2, 2), "same", (1, 1)), np.maximum(z, 0),
            *ref_conv2d_backward(dz, x, w, (2, 2), "same", (1, 1))]
    nncore.set_isa("generic")  # the fixture restores the ISA afterwards
    generic = run()
    names = ("y", "dx", "dw", "db", "relu y", "relu dx", "relu kernel", "relu bias")
    for name, g, o, r in zip(names, got, generic, want):
        assert_close(g, r, 9 * max(C, 33), f"{isa} {name}")
        # different FMA and accumulation orders: equal within float32 rounding, not bit for bit
        np.testing.assert_allclose(g, o, rtol=1e-5, atol=5e-5, err_msg=f"{isa} vs generic {name}")


@pytest.mark.parametrize("C,OC", [(20, 20), (20, 64), (40, 97)])
@pytest.mark.parametrize("padding,d", [("same", 1), ("valid", 2), ("uneven", 1)])
def test_conv2d_implicit_gemm_every_isa(isa, restore_threads, C, OC, padding, d):
    # Stride 1 with more than 16 input and output channels and 128 or more grid positions per image: the implicit
    # GEMM for the forward, backward-data (the flipped convolution of dz) and backward-weights (slab^T dz per tap
    # through the GEMM micro-kernel). The channel counts make narrow, full and ragged panels of every tile shape
    # (AVX-512 4x64 with an 8x32 last panel, AVX2 6x16, generic 4x16) and ragged micro-kernel rows (C = 20, 40
    # over 8); OW = 15 and 11 end every output row in a ragged tile; 'uneven' is a (2, 3) kernel with 'same':
    # 0 rows padded above, 1 below.
    rng = np.random.default_rng(C + OC + d)
    k = (2, 3) if padding == "uneven" else (3, 3)
    pad = "same" if padding == "uneven" else padding
    x, w, b = rand(rng, 2, 14, 15, C), rand(rng, *k, C, OC), rand(rng, OC)
    y_ref = ref_conv2d(x, w, b, (1, 1), pad, (d, d))
    dy = rand(rng, *y_ref.shape)
    results = []
    for threads in (1, 2):
        nncore.set_num_threads(threads)
        y = nncore.ops.conv2d(x, w, b, padding=pad, dilation=d)
        grads = nncore.ops.conv2d_backward(dy, x, w, padding=pad, dilation=d)
        layer = Conv2D(OC, k, padding=pad, dilation_rate=d, activation="relu")
        layer.build((None, 14, 15, C))
        layer.set_weights([w, b])
        ly = layer.forward(x, training=True)
        ldx = layer.backward(dy)
        results.append([y, *grads, ly, ldx, *[g.copy() for g in layer.gradients]])
    terms = max((C + OC) * k[0] * k[1], 2 * 14 * 15)  # the longest sum: a pixel's taps or dw's pixels
    dz = np.where(y_ref > 0, dy, 0.0)
    want = [y_ref, *ref_conv2d_backward(dy, x, w, (1, 1), pad, (d, d)), np.maximum(y_ref, 0),
            *ref_conv2d_backward(dz, x, w, (1, 1), pad, (d, d))]
    names = ("y", "dx", "dw", "db", "relu y", "relu dx", "relu kernel", "relu bias")
    for name, got, ref in zip(names, results[0], want):
        assert_close(got, ref, terms, f"{isa} C={C} OC={OC} {name}")
    for name, one, two in zip(names, *results):
        np.testing.assert_array_equal(one, two, err_msg=f"{isa} {name}: 1 vs 2 threads")


# --------------------------------------------------------------- bad input


def test_conv2d_layer_rejects_3d_input_after_building_for_4d():
    layer = Conv2D(4, (3, 3), name="conv_in4d")
    layer.forward(np.zeros((2, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match=r"conv_in4d.*\((?:None|-1), 28, 28, 1\).*\(2, 28, 28\)"):
        layer.forward(np.zeros((2, 28, 28), np.float32))


def test_conv2d_layer_rejects_2d_per_sample_shape():
    layer = Conv2D(4, (3, 3), name="conv_on3d")
    with pytest.raises(ValueError, match=r"conv_on3d.*\(batch, height, width, channels\)"):
        layer.forward(np.zeros((2, 28, 28), np.float32))
    layer2 = Conv2D(4, (3, 3), name="conv_build2d")
    with pytest.raises(ValueError, match=r"conv_build2d.*28, 28"):
        layer2.build((None, 28, 28))
    with pytest.raises(ValueError, match=r"Conv2D"):
        nncore.Sequential([Conv2D(4, (3, 3), input_shape=(28, 28))])


def test_conv2d_layer_rejects_kernel_larger_than_input():
    layer = Conv2D(2, (5, 5), name="conv_big_kernel")
    with pytest.raises(ValueError, match=r"conv_big_kernel.*5x5.*larger.*3x3"):
        layer.forward(np.zeros((1, 3, 3, 1), np.float32))
    # dilation makes a 3x3 kernel span 5 pixels
    with pytest.raises(ValueError, match=r"conv_dilated.*larger"):
        Conv2D(2, 3, dilation_rate=2, name="conv_dilated").build((None, 4, 9, 1))
    # 'same' padding always fits
    assert Conv2D(2, (5, 5), padding="same").forward(np.zeros((1, 3, 3, 1), np.float32)).shape == (1, 3, 3, 2)
    with pytest.raises(ValueError, match=r"conv2d.*larger"):
        nncore.ops.conv2d(np.zeros((1, 3, 3, 1), np.float32), np.zeros((5, 5, 1, 2), np.float32))


def test_conv2d_layer_rejects_other_channel_count():
    layer = Conv2D(4, (3, 3), name="conv_c3")
    layer.forward(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"conv_c3.*\((?:None|-1), 8, 8, 3\).*\(2, 8, 8, 1\)"):
        layer.forward(np.zeros((2, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match=r"conv2d.*3 input channels.*1"):
        nncore.ops.conv2d(np.zeros((2, 8, 8, 1), np.float32), np.zeros((3, 3, 3, 4), np.float32))


def test_conv2d_rejects_invalid_padding():
    with pytest.raises(ValueError, match=r"conv_pad.*padding must be 'valid' or 'same'.*'full'"):
        Conv2D(4, 3, padding="full", name="conv_pad")
    with pytest.raises(ValueError, match=r"conv2d.*padding.*'causal'"):
        nncore.ops.conv2d(np.zeros((1, 5, 5, 1), np.float32), np.zeros((3, 3, 1, 1), np.float32),
                          padding="causal")


def test_conv2d_rejects_non_positive_filters():
    with pytest.raises(ValueError, match=r"conv_zero.*filters must be >= 1, got 0"):
        Conv2D(0, 3, name="conv_zero")
    with pytest.raises(ValueError, match=r"conv_neg.*filters"):
        Conv2D(-2, 3, name="conv_neg")
    with pytest.raises(ValueError, match=r"kernel_size"):
        Conv2D(2, 0, name="conv_k0")
    with pytest.raises(ValueError, match=r"strides"):
        Conv2D(2, 3, strides=0, name="conv_s0")


def test_conv2d_backward_rejects_wrong_gradient_shape():
    x, w = np.zeros((2, 5, 5, 1), np.float32), np.zeros((3, 3, 1, 2), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_backward.*\(2, 3, 3, 2\)"):
        nncore.ops.conv2d_backward(np.zeros((2, 5, 5, 2), np.float32), x, w)
    layer = Conv2D(2, 3, name="conv_bad_dy")
    layer.forward(x)
    with pytest.raises(ValueError, match=r"conv_bad_dy"):
        layer.backward(np.zeros((2, 5, 5, 2), np.float32))
