"""Tests for the activations (cpp/src/kernels/elementwise.cpp through nncore.ops.activation[_backward]).

Forward and backward against NumPy float64 references, backward against central differences of nncore's own
forward, softmax's normalization and stability, custom alphas, and 1 vs 2 threads bit-identical.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import nncore
from nncore import ops

from conftest import np_activation as np_forward
from conftest import np_activation_backward as np_backward
from conftest import numeric_grad

NAMES = ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "gelu", "elu"]
SHAPES = [(1, 1), (3, 7), (5, 17), (2, 3, 33), (4, 1)]


def away_from_zero(rng: np.random.Generator, shape, scale: float = 2.0, gap: float = 0.05) -> np.ndarray:
    """Float32 samples with |x| >= gap, so the kinks of relu/leaky_relu/elu at 0 are never crossed."""
    x = rng.standard_normal(shape) * scale
    x = np.where(np.abs(x) < gap, np.sign(x + 1e-12) * gap, x)
    return x.astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_numpy_float64(name, isa, threads):
    rng = np.random.default_rng(NAMES.index(name))
    for shape in SHAPES:
        x = (rng.standard_normal(shape) * 3.0).astype(np.float32)
        y = ops.activation(name, x)
        assert y.dtype == np.float32 and y.shape == x.shape
        np.testing.assert_allclose(y, np_forward(name, x), rtol=2e-6, atol=1e-7, err_msg=f"{name} {shape}")


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_analytic_float64(name, threads):
    rng = np.random.default_rng(100 + NAMES.index(name))
    for shape in SHAPES:
        x = away_from_zero(rng, shape)
        dy = rng.standard_normal(shape).astype(np.float32)
        y = ops.activation(name, x)
        dx = ops.activation_backward(name, dy, x, y)
        assert dx.dtype == np.float32 and dx.shape == x.shape
        np.testing.assert_allclose(dx, np_backward(name, dy, x), rtol=1e-5, atol=1e-6, err_msg=f"{name} {shape}")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(2, 3), (1, 5), (2, 2, 3)])
def test_backward_matches_finite_differences(name, shape):
    # Scalar loss L(x) = sum(dy * act(x)) on nncore's own float32 forward, summed in float64. x sits on a
    # 2**-12 grid and the step is 2**-8, so x +- h is exact in float32 and the differences are not polluted by
    # rounding of the step itself.
    rng = np.random.default_rng(sum(shape) + NAMES.index(name))
    x = np.round(away_from_zero(rng, shape, scale=1.5, gap=0.1).astype(np.float64) * 4096) / 4096
    dy = rng.standard_normal(shape)

    def loss(xx: np.ndarray) -> float:
        return float(np.sum(dy * ops.activation(name, xx.astype(np.float32)).astype(np.float64)))

    want = numeric_grad(loss, x, eps=2.0 ** -8)
    y = ops.activation(name, x.astype(np.float32))
    got = ops.activation_backward(name, dy.astype(np.float32), x.astype(np.float32), y)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=2e-4)


@pytest.mark.parametrize("name,alpha", [("leaky_relu", 0.1), ("leaky_relu", 0.0), ("elu", 0.5), ("elu", 2.0)])
def test_custom_alpha(name, alpha):
    rng = np.random.default_rng(9)
    x = away_from_zero(rng, (4, 9))
    dy = rng.standard_normal((4, 9)).astype(np.float32)
    y = ops.activation(name, x, alpha=alpha)
    np.testing.assert_allclose(y, np_forward(name, x, alpha), rtol=2e-6, atol=1e-7)
    dx = ops.activation_backward(name, dy, x, y, alpha=alpha)
    np.testing.assert_allclose(dx, np_backward(name, dy, x, alpha), rtol=1e-5, atol=1e-6)


def test_default_alphas_are_keras_defaults():
    x = np.array([[-2.0, -0.5, 0.5, 2.0]], np.float32)
    np.testing.assert_allclose(ops.activation("leaky_relu", x), [[-0.4, -0.1, 0.5, 2.0]], rtol=1e-6)
    np.testing.assert_allclose(ops.activation("elu", x), [[math.expm1(-2.0), math.expm1(-0.5), 0.5, 2.0]],
                               rtol=1e-6)


def test_hand_computed_values():
    x = np.array([[0.0, 1.0, -1.0]], np.float32)
    np.testing.assert_array_equal(ops.activation("relu", x), [[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(ops.activation("sigmoid", x), [[0.5, 0.7310585786, 0.2689414214]], rtol=1e-6)
    np.testing.assert_allclose(ops.activation("tanh", x), [[0.0, 0.7615941560, -0.7615941560]], rtol=1e-6)
    # gelu(1) = Phi(1) = 0.8413447461; exact erf form, not the tanh approximation (0.8411919906).
    np.testing.assert_allclose(ops.activation("gelu", x), [[0.0, 0.8413447461, -0.1586552539]], rtol=1e-6)
    np.testing.assert_allclose(ops.activation("softmax", np.log(np.array([[1.0, 2.0, 5.0]], np.float32))),
                               [[0.125, 0.25, 0.625]], rtol=1e-6)


def test_softmax_rows_sum_to_one_over_last_axis(threads):
    rng = np.random.default_rng(4)
    for shape in [(1, 1), (7, 3), (5, 33), (2, 3, 17), (64, 1000)]:
        y = ops.activation("softmax", (rng.standard_normal(shape) * 5).astype(np.float32))
        assert np.all(y >= 0)
        # The normalizing sum runs in float32: its rounding grows with the row length.
        np.testing.assert_allclose(y.astype(np.float64).sum(axis=-1), 1.0, rtol=0, atol=1e-6 * (1 + shape[-1] / 100))
    # A single column is always 1.
    assert np.array_equal(ops.activation("softmax", rng.standard_normal((4, 1))), np.ones((4, 1), np.float32))


def test_softmax_is_stable_for_large_logits():
    x = np.array([[1e4, 1e4 - 1.0, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [3e38, 0.0, -3e38]], np.float32)
    y = ops.activation("softmax", x)
    assert np.all(np.isfinite(y))
    e = math.exp(-1.0)
    np.testing.assert_allclose(y, [[1 / (1 + e), e / (1 + e), 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0],
                                   [1.0, 0.0, 0.0]], rtol=1e-6, atol=1e-7)
    # Shift invariance.
    z = np.array([[0.5, -1.0, 2.0]], np.float32)
    np.testing.assert_allclose(ops.activation("softmax", z + 1e4), ops.activation("softmax", z), atol=2e-4)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu", "gelu"])
def test_saturating_activations_stay_finite(name):
    x = np.array([[-1e4, -100.0, -30.0, 30.0, 100.0, 1e4]], np.float32)
    y = ops.activation(name, x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, np_forward(name, x), rtol=1e-6, atol=1e-30)
    dx = ops.activation_backward(name, np.ones_like(x), x, y)
    assert np.all(np.isfinite(dx))
    # sigmoid and elu differentiate from the output y (as Keras/TF do): where y rounds to 1 or -1 in float32
    # the derivative (~1e-13) rounds to 0, hence the absolute tolerance.
    np.testing.assert_allclose(dx, np_backward(name, np.ones_like(x), x), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_one_and_two_threads_bit_identical(name, restore_threads):
    # Big enough that every kernel actually splits over 2 threads (the split starts at ~2 MFLOP).
    rng = np.random.default_rng(21)
    x = away_from_zero(rng, (2048, 1025))
    dy = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for n in (1, 2):
        restore_threads(n)
        y = ops.activation(name, x)
        results.append((y, ops.activation_backward(name, dy, x, y)))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])
    # And the big case is still right (a sample of rows to keep the float64 reference cheap).
    rows = slice(1000, 1040)
    np.testing.assert_allclose(results[1][0][rows], np_forward(name, x[rows]), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(results[1][1][rows], np_backward(name, dy[rows], x[rows]), rtol=1e-5, atol=1e-6)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(8)
    x = away_from_zero(rng, (3, 5))
    dy = rng.standard_normal((3, 5)).astype(np.float32)
    x0, dy0 = x.copy(), dy.copy()
    for name in NAMES:
        y = ops.activation(name, x)
        y0 = y.copy()
        ops.activation_backward(name, dy, x, y)
        assert np.array_equal(y, y0)
    assert np.array_equal(x, x0) and np.array_equal(dy, dy0)


def test_empty_input():
    for name in NAMES:
        assert ops.activation(name, np.zeros((0, 5), np.float32)).shape == (0, 5)


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; valid activations: linear, relu, sigmoid, "
                                         r"tanh, softmax, leaky_relu, gelu, elu"):
        ops.activation("swish", np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"unknown activation 'swish'"):
        ops.activation_backward("swish", np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2)))
    assert list(nncore._core.activation_names()) == NAMES


def test_backward_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"activation_backward: dy, x and y must share a shape; got \(2, 3\), "
                                         r"\(2, 4\), \(2, 4\)"):
        ops.activation_backward("relu", np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 4)))


def test_rejects_non_numeric_input():
    with pytest.raises(TypeError, match=r"activation 'relu': x: expected a numeric array"):
        ops.activation("relu", np.array([["a"]]))
