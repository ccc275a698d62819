"""Tests for pooling, padding and reshaping layers (cpp/src/kernels/pool.cpp, cpp/src/layers/conv.cpp):
MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, ZeroPadding2D, Reshape, Flatten.

The oracles are NumPy float64 loops over windows written here. Keras's rules: 'same' pads so the output is
ceil(size / stride) with the odd pixel after; max pooling ignores padded cells (as if they were -inf), average
pooling divides by the number of in-bounds cells. Max-pool backward routes each output's gradient to the first
maximum of its window in row-major order.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import nncore
from conftest import numeric_grad_inplace
from nncore.layers import (AveragePooling2D, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D,
                           Reshape, ZeroPadding2D)

# --------------------------------------------------------------- NumPy float64 reference


def axis_geometry(size: int, pool: int, stride: int, padding: str) -> tuple[int, int]:
    """(output size, padding before) along one axis."""
    if padding == "valid":
        return (size - pool) // stride + 1, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + pool - size, 0)
    return out, total // 2


def windows(H: int, W: int, pool, strides, padding):
    """Yields (oh, ow, rows, cols): the in-bounds input rows and columns of each output's window."""
    OH, pt = axis_geometry(H, pool[0], strides[0], padding)
    OW, pl = axis_geometry(W, pool[1], strides[1], padding)
    for oh, ow in itertools.product(range(OH), range(OW)):
        r0, c0 = oh * strides[0] - pt, ow * strides[1] - pl
        rows = [r for r in range(r0, r0 + pool[0]) if 0 <= r < H]
        cols = [c for c in range(c0, c0 + pool[1]) if 0 <= c < W]
        yield oh, ow, rows, cols


def ref_pool(x, dy, mode: str, pool, strides, padding):
    """Forward output and backward dx of max or average pooling, in float64."""
    x = np.asarray(x, np.float64)
    B, H, W, C = x.shape
    OH, _ = axis_geometry(H, pool[0], strides[0], padding)
    OW, _ = axis_geometry(W, pool[1], strides[1], padding)
    y = np.zeros((B, OH, OW, C))
    dx = np.zeros_like(x)
    dy = None if dy is None else np.asarray(dy, np.float64)
    for oh, ow, rows, cols in windows(H, W, pool, strides, padding):
        win = x[:, rows][:, :, cols]  # (B, len(rows), len(cols), C)
        flat = win.reshape(B, -1, C)
        if mode == "max":
            y[:, oh, ow] = flat.max(axis=1)
            first = flat.argmax(axis=1)  # first maximum in row-major window order
            if dy is not None:
                for b, c in itertools.product(range(B), range(C)):
                    r, q = divmod(int(first[b, c]), len(cols))
                    dx[b, rows[r], cols[q], c] += dy[b, oh, ow, c]
        else:
            n = len(rows) * len(cols)
            y[:, oh, ow] = flat.mean(axis=1)
            if dy is not None:
                for r in rows:
                    dx[:, r, cols] += dy[:, oh, ow][:, None, :] / n
    return y, dx


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


# --------------------------------------------------------------- the sampled grid

POOLS = [(2, 2), (3, 3)]
STRIDES = [1, 2, 3]
PADDINGS = ["valid", "same"]
SIZES = [(5, 7), (9, 5), (7, 9), (5, 5), (9, 9)]
CHANNELS = [1, 3, 17]
BATCHES = [1, 3]


def grid_cases() -> list:
    """Every (pool, stride, padding, channels) combination, 36 in all; sizes and batch drawn in turn."""
    cases = []
    for i, (p, s, pad, c) in enumerate(itertools.product(POOLS, STRIDES, PADDINGS, CHANNELS)):
        hw = SIZES[i % len(SIZES)]
        b = BATCHES[(i // 4) % len(BATCHES)]
        cases.append(pytest.param(b, hw[0], hw[1], c, p, s, pad,
                                  id=f"B{b}-{hw[0]}x{hw[1]}x{c}-p{p[0]}-s{s}-{pad}"))
    return cases


GRID = grid_cases()


@pytest.mark.parametrize("B,H,W,C,pool,stride,padding", GRID)
def test_max_pooling_matches_numpy(B, H, W, C, pool, stride, padding):
    rng = np.random.default_rng(B * 100 + H * 10 + C)
    # small integers: many ties inside windows, which backward must break toward the first (row-major) element
    x = rng.integers(-3, 4, size=(B, H, W, C)).astype(np.float32)
    layer = MaxPooling2D(pool, strides=stride, padding=padding)
    y = layer.forward(x)
    dy = rand(rng, *y.shape)
    want_y, want_dx = ref_pool(x, dy, "max", pool, (stride, stride), padding)
    np.testing.assert_array_equal(y, want_y)
    # each dx entry sums at most (pool/stride)^2 float32 dy values: order-dependent rounding only
    np.testing.assert_allclose(layer.backward(dy), want_dx, rtol=1e-6, atol=1e-6)

    x = rand(rng, B, H, W, C)  # and without ties
    y = layer.forward(x)
    want_y, want_dx = ref_pool(x, dy, "max", pool, (stride, stride), padding)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_allclose(layer.backward(dy), want_dx, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_max_pooling_inference_forward_keeps_no_argmax_and_agrees(isa, padding):
    # An inference forward computes the maxima alone (max(v, best): v > best ? v : best lane by lane); a training
    # forward also keeps the argmax. Same maxima for NaN, signed zeros, ties and ragged channel vectors (C = 20:
    # 16 + 4, 8 + 8 + 4); a backward after an inference forward finds the argmax then, with the same gradient.
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, size=(2, 7, 9, 20)).astype(np.float32)
    x[0, 0, 0, :5] = np.nan
    x[1, 2, 3, 3:9] = -0.0
    x[1, 4, 4, 7] = np.nan
    dy = None
    out = {}
    for training in (False, True):
        layer = MaxPooling2D(3, strides=2, padding=padding)
        y = layer.forward(x, training=training)
        dy = rand(rng, *y.shape) if dy is None else dy
        out[training] = (y, layer.backward(dy))
    np.testing.assert_array_equal(out[False][0], out[True][0])  # NaN positions and zero signs alike
    assert np.array_equal(np.signbit(out[False][0]), np.signbit(out[True][0]))
    np.testing.assert_array_equal(out[False][1], out[True][1])


@pytest.mark.parametrize("B,H,W,C,pool,stride,padding", GRID)
def test_average_pooling_matches_numpy(B, H, W, C, pool, stride, padding):
    rng = np.random.default_rng(1 + B * 100 + H * 10 + C)
    x = rand(rng, B, H, W, C)
    layer = AveragePooling2D(pool, strides=stride, padding=padding)
    y = layer.forward(x)
    dy = rand(rng, *y.shape)
    want_y, want_dx = ref_pool(x, dy, "average", pool, (stride, stride), padding)
    assert y.shape == want_y.shape
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.backward(dy), want_dx, rtol=1e-5, atol=1e-6)


def test_pooling_default_strides_and_asymmetric_windows():
    rng = np.random.default_rng(2)
    x = rand(rng, 2, 9, 8, 3)
    for cls, mode in ((MaxPooling2D, "max"), (AveragePooling2D, "average")):
        layer = cls((3, 2))  # strides default to the pool size
        assert layer.strides == (3, 2)
        y = layer.forward(x)
        dy = rand(rng, *y.shape)
        want_y, want_dx = ref_pool(x, dy, mode, (3, 2), (3, 2), "valid")
        np.testing.assert_allclose(y, want_y, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(layer.backward(dy), want_dx, rtol=1e-6, atol=1e-6)
        layer = cls((2, 3), strides=(1, 2), padding="same")
        y = layer.forward(x)
        dy = rand(rng, *y.shape)
        want_y, want_dx = ref_pool(x, dy, mode, (2, 3), (1, 2), "same")
        np.testing.assert_allclose(y, want_y, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(layer.backward(dy), want_dx, rtol=1e-6, atol=1e-6)


def test_max_pooling_backward_routes_to_first_maximum():
    # one 2x2 window of equal values: the whole gradient goes to the top-left cell
    x = np.full((1, 2, 2, 1), 5.0, np.float32)
    layer = MaxPooling2D((2, 2))
    assert layer.forward(x)[0, 0, 0, 0] == 5.0
    np.testing.assert_array_equal(layer.backward(np.array([[[[3.0]]]], np.float32))[0, :, :, 0], [[3, 0], [0, 0]])
    # ties in the second row only: the first of them in the row (row-major), not the one below
    x = np.array([[1, 0, 2], [4, 4, 0], [4, 1, 4]], np.float32).reshape(1, 3, 3, 1)
    layer = MaxPooling2D((3, 3))
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1), np.float32))[0, :, :, 0],
                                  [[0, 0, 0], [1, 0, 0], [0, 0, 0]])
    # overlapping windows (stride 1) that share their maximum add their gradients there
    x = np.array([[0, 1, 0], [0, 9, 0], [0, 0, 0]], np.float32).reshape(1, 3, 3, 1)
    layer = MaxPooling2D((2, 2), strides=1)
    np.testing.assert_array_equal(layer.forward(x)[0, :, :, 0], [[9, 9], [9, 9]])
    dx = layer.backward(np.array([1, 2, 3, 4], np.float32).reshape(1, 2, 2, 1))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0, 0], [0, 10, 0], [0, 0, 0]])
    # channels are independent: each has its own argmax
    x = np.stack([np.arange(4.0).reshape(2, 2), -np.arange(4.0).reshape(2, 2)], axis=-1)[None].astype(np.float32)
    layer = MaxPooling2D((2, 2))
    np.testing.assert_array_equal(layer.forward(x)[0, 0, 0], [3, 0])
    dx = layer.backward(np.array([[[[1.0, 2.0]]]], np.float32))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0], [0, 1]])
    np.testing.assert_array_equal(dx[0, :, :, 1], [[2, 0], [0, 0]])


def test_max_pooling_same_ignores_padding():
    # all-negative input: were the padded cells zeros, the border outputs would be 0
    x = -1.0 - np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    y = MaxPooling2D((2, 2), padding="same").forward(x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[-1, -3, -5], [-11, -13, -15], [-21, -23, -25]])


def test_average_pooling_same_excludes_padding():
    x = np.ones((1, 5, 5, 2), np.float32)
    layer = AveragePooling2D((3, 3), strides=1, padding="same")
    np.testing.assert_array_equal(layer.forward(x), np.ones((1, 5, 5, 2), np.float32))
    # dx of a corner cell: it lies in 4 windows of 4 cells, 2 edge windows of 6 and 3 of 9... count by hand
    # for the top-left cell: windows centred at (0,0) [4 cells], (0,1) [6], (1,0) [6], (1,1) [9]
    dx = layer.backward(np.ones((1, 5, 5, 2), np.float32))
    np.testing.assert_allclose(dx[0, 0, 0, 0], 1 / 4 + 1 / 6 + 1 / 6 + 1 / 9, rtol=1e-6)
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    y = AveragePooling2D((2, 2), padding="same").forward(x)  # odd cells padded after: last windows are partial
    np.testing.assert_allclose(y[0, :, :, 0], [[3, 4.5], [7.5, 9]], rtol=1e-6)


def test_average_pooling_finite_differences():
    # L = sum(y^2)/2 + sum(r*y) is quadratic in x, so central differences are exact up to float32 rounding
    rng = np.random.default_rng(4)
    layer = AveragePooling2D((3, 2), strides=(2, 1), padding="same")
    x = rand(rng, 2, 5, 4, 2)
    y = layer.forward(x).astype(np.float64)
    r = rand(rng, *y.shape).astype(np.float64)
    dx = layer.backward((y + r).astype(np.float32)).astype(np.float64)

    def loss() -> float:
        yv = layer.forward(x).astype(np.float64)
        return float(0.5 * np.sum(yv * yv) + np.sum(r * yv))

    num = numeric_grad_inplace(loss, x, eps=2.0 ** -8)
    np.testing.assert_allclose(dx, num, rtol=1e-3, atol=1e-3)


def test_pooling_one_and_two_threads_bit_identical(restore_threads):
    rng = np.random.default_rng(5)
    x = rand(rng, 16, 33, 31, 17)  # enough work for both threads
    out = []
    for n in (1, 2):
        nncore.set_num_threads(n)
        res = []
        for layer in (MaxPooling2D((3, 3), strides=2, padding="same"), AveragePooling2D((2, 2), strides=1),
                      GlobalAveragePooling2D(), GlobalMaxPooling2D(), ZeroPadding2D(((1, 2), (0, 3)))):
            y = layer.forward(x)
            res += [y, layer.backward(np.cos(y))]
        out.append(res)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------- global pooling


@pytest.mark.parametrize("B,H,W,C", [(1, 1, 1, 1), (3, 5, 7, 3), (2, 9, 4, 17)])
def test_global_average_pooling(B, H, W, C):
    rng = np.random.default_rng(6)
    x = rand(rng, B, H, W, C)
    layer = GlobalAveragePooling2D()
    y = layer.forward(x)
    assert y.shape == (B, C) and layer.output_shape == (None, C)
    np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    dy = rand(rng, B, C)
    want = np.broadcast_to(dy.astype(np.float64)[:, None, None, :] / (H * W), x.shape)
    np.testing.assert_allclose(layer.backward(dy), want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("B,H,W,C", [(1, 1, 1, 1), (3, 5, 7, 3), (2, 9, 4, 17)])
def test_global_max_pooling(B, H, W, C):
    rng = np.random.default_rng(7)
    x = rng.integers(-2, 3, size=(B, H, W, C)).astype(np.float32)  # ties: the first position wins
    layer = GlobalMaxPooling2D()
    y = layer.forward(x)
    assert y.shape == (B, C) and layer.output_shape == (None, C)
    np.testing.assert_array_equal(y, x.max(axis=(1, 2)))
    dy = rand(rng, B, C)
    flat = x.reshape(B, H * W, C)
    first = flat.argmax(axis=1)
    want = np.zeros_like(flat)
    for b, c in itertools.product(range(B), range(C)):
        want[b, first[b, c], c] = dy[b, c]
    np.testing.assert_array_equal(layer.backward(dy), want.reshape(x.shape))


# --------------------------------------------------------------- ZeroPadding2D, Reshape, Flatten


@pytest.mark.parametrize("padding,pads", [
    (1, ((1, 1), (1, 1))),
    (0, ((0, 0), (0, 0))),
    ((2, 1), ((2, 2), (1, 1))),
    (((1, 2), (3, 0)), ((1, 2), (3, 0))),
    (((0, 3), (2, 1)), ((0, 3), (2, 1))),
])
def test_zero_padding(padding, pads):
    rng = np.random.default_rng(8)
    x = rand(rng, 2, 5, 3, 3)
    layer = ZeroPadding2D(padding)
    y = layer.forward(x)
    want = np.pad(x, ((0, 0), *pads, (0, 0)))
    np.testing.assert_array_equal(y, want)
    assert layer.output_shape == (None, *want.shape[1:])
    dy = rand(rng, *y.shape)
    (t, b), (l, r) = pads
    np.testing.assert_array_equal(layer.backward(dy), dy[:, t: t + 5, l: l + 3, :])


def test_zero_padding_rejects_negative_and_malformed():
    with pytest.raises(ValueError, match=r"ZeroPadding2D.*>= 0"):
        ZeroPadding2D(-1)
    with pytest.raises(ValueError, match=r"ZeroPadding2D"):
        ZeroPadding2D((1, 2, 3))


def test_reshape_with_unknown_dimension():
    rng = np.random.default_rng(9)
    x = rand(rng, 3, 4, 6, 2)
    layer = Reshape((-1, 3))
    y = layer.forward(x)
    assert y.shape == (3, 16, 3) and layer.output_shape == (None, 16, 3)
    np.testing.assert_array_equal(y, x.reshape(3, 16, 3))
    dy = rand(rng, 3, 16, 3)
    np.testing.assert_array_equal(layer.backward(dy), dy.reshape(x.shape))
    layer = Reshape((4, -1, 4))
    assert layer.forward(x).shape == (3, 4, 3, 4)
    assert Reshape((48,)).forward(x).shape == (3, 48)
    with pytest.raises(ValueError, match=r"reshape_bad.*cannot reshape"):
        Reshape((5, -1), name="reshape_bad").forward(x)
    with pytest.raises(ValueError, match=r"Reshape.*-1"):
        Reshape((-1, -1))


def test_flatten_4d():
    rng = np.random.default_rng(10)
    x = rand(rng, 5, 3, 4, 7)
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == (5, 84) and layer.output_shape == (None, 84)
    np.testing.assert_array_equal(y, x.reshape(5, -1))  # row-major: channels vary fastest, as Keras
    dy = rand(rng, 5, 84)
    np.testing.assert_array_equal(layer.backward(dy), dy.reshape(x.shape))


# --------------------------------------------------------------- bad input


@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D])
def test_pooling_rejects_pool_larger_than_input(cls):
    layer = cls((3, 3), name="pool_big")
    with pytest.raises(ValueError, match=r"pool_big.*3x3.*larger.*2x5"):
        layer.forward(np.zeros((1, 2, 5, 1), np.float32))
    # 'same' pads instead: Keras accepts it and so must nncore
    assert cls((3, 3), padding="same").forward(np.ones((1, 2, 2, 1), np.float32)).shape == (1, 1, 1, 1)


@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                                 ZeroPadding2D])
def test_pooling_rejects_2d_input(cls):
    layer = cls(name="flat_in")
    with pytest.raises(ValueError, match=r"flat_in.*\(batch, height, width, channels\)"):
        layer.forward(np.zeros((4, 16), np.float32))
    layer = cls(name="three_d_in")
    with pytest.raises(ValueError, match=r"three_d_in.*\(batch, height, width, channels\)"):
        layer.forward(np.zeros((4, 6, 6), np.float32))


def test_pooling_rejects_other_shape_after_build():
    layer = MaxPooling2D(name="pool_built")
    layer.forward(np.zeros((2, 6, 6, 3), np.float32))
    with pytest.raises(ValueError, match=r"pool_built.*6, 6, 3\).*\(2, 6, 6, 1\)"):
        layer.forward(np.zeros((2, 6, 6, 1), np.float32))


def test_pooling_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"MaxPooling2D.*padding must be 'valid' or 'same'"):
        MaxPooling2D(padding="full")
    with pytest.raises(ValueError, match=r"AveragePooling2D.*pool_size"):
        AveragePooling2D((0, 2))
    with pytest.raises(ValueError, match=r"MaxPooling2D.*strides"):
        MaxPooling2D((2, 2), strides=(0, 1))
