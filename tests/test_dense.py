"""Tests for the core layers (cpp/src/layers/core.cpp, initializers.cpp through nncore.layers).

Dense forward and backward against NumPy float64 on 2-D and 3-D inputs, a finite-difference check through the
weight views, accumulation, 1 vs 2 threads; Flatten and Dropout; bad arguments; initializer statistics.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import nncore
from nncore.layers import Activation, Dense, Dropout, Flatten

from conftest import gemm_tol, np_activation, np_activation_backward, numeric_grad, numeric_grad_inplace

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "gelu", "elu"]
UNITS = [1, 7, 17, 33]


def dense_with_random_weights(units: int, in_shape, rng: np.random.Generator, activation: str = "linear",
                              use_bias: bool = True) -> Dense:
    """A Dense built for per-sample input ``in_shape`` (an int or a tuple) with random kernel and bias."""
    in_shape = (in_shape,) if isinstance(in_shape, int) else tuple(in_shape)
    n_in = in_shape[-1]
    layer = Dense(units, activation=activation, use_bias=use_bias)
    layer.build((None, *in_shape))
    weights = [rng.standard_normal((n_in, units)).astype(np.float32) / math.sqrt(n_in)]
    if use_bias:
        weights.append(rng.standard_normal(units).astype(np.float32))
    layer.set_weights(weights)
    return layer


def np_dense_forward(x, kernel, bias, activation):
    z = np.asarray(x, np.float64) @ kernel.astype(np.float64)
    if bias is not None:
        z = z + bias.astype(np.float64)
    return z, np_activation(activation, z)


# --------------------------------------------------------------- Dense forward

@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward_matches_numpy_float64(activation, isa):
    rng = np.random.default_rng(ACTIVATIONS.index(activation))
    for units in UNITS:
        for x_shape in [(5, 13), (1, 1), (2, 3, 13), (4, 2, 31)]:
            layer = dense_with_random_weights(units, x_shape[1:], rng, activation)
            x = rng.standard_normal(x_shape).astype(np.float32)
            y = layer.forward(x)
            assert y.dtype == np.float32 and y.shape == x_shape[:-1] + (units,)
            kernel, bias = layer.get_weights()
            _, want = np_dense_forward(x, kernel, bias, activation)
            np.testing.assert_allclose(y, want, rtol=1e-5, atol=gemm_tol(x_shape[-1]),
                                       err_msg=f"{activation} units={units} x={x_shape}")


def test_dense_bias_and_relu_in_the_small_m_store_give_the_blocked_gemms_bits(isa):
    # Up to 256 rows a dense product runs in the small-M kernel with bias and relu in its store (from 64 rows with
    # B packed and C holding partial sums between K blocks); 300 rows take the blocked GEMM and a pass over C after
    # it: with K in one slab, the same float operations in the same order, so the same bits (and a NaN stays NaN
    # through relu in both).
    rng = np.random.default_rng(7)
    for units in (5, 17, 48, 70, 256, 300):
        for activation, use_bias in (("relu", True), ("relu", False), ("linear", True)):
            layer = dense_with_random_weights(units, 40, rng, activation, use_bias=use_bias)
            x = rng.standard_normal((300, 40)).astype(np.float32)
            x[3, 5] = np.nan
            whole = layer.forward(x)
            for part in (100, 30):  # the small-M kernel with B packed (64 rows or more) and in place
                parts = np.concatenate([layer.forward(x[i:i + part]) for i in range(0, 300, part)])
                np.testing.assert_array_equal(parts, whole,
                                              err_msg=f"{activation} bias={use_bias} units={units} part={part}")
            assert np.isnan(whole[3]).all()


def test_dense_bias_and_relu_wait_for_the_last_k_block_of_the_packed_small_m_kernel(isa):
    # 300 inputs: the packed small-M kernel (parts of 100 rows) sums K in two blocks, C holding the partial sums;
    # bias and relu belong after the last. Parts of 30 rows sum K in place: the same k-ordered sums, the same bits.
    rng = np.random.default_rng(8)
    for units in (17, 70, 130):
        for activation, use_bias in (("relu", True), ("linear", True), ("relu", False)):
            layer = dense_with_random_weights(units, 300, rng, activation, use_bias=use_bias)
            x = rng.standard_normal((200, 300)).astype(np.float32)
            packed = np.concatenate([layer.forward(x[i:i + 100]) for i in range(0, 200, 100)])
            in_place = np.concatenate([layer.forward(x[i:i + 25]) for i in range(0, 200, 25)])
            np.testing.assert_array_equal(packed, in_place, err_msg=f"{activation} bias={use_bias} units={units}")
            kernel, *rest = layer.get_weights()
            _, want = np_dense_forward(x, kernel, rest[0] if rest else None, activation)
            np.testing.assert_allclose(packed, want, rtol=1e-5, atol=gemm_tol(300))


@pytest.mark.parametrize("activation", ["linear", "relu", "softmax"])
def test_dense_forward_without_bias(activation):
    rng = np.random.default_rng(2)
    for units in UNITS:
        for x_shape in [(6, 9), (2, 5, 9)]:
            layer = dense_with_random_weights(units, x_shape[1:], rng, activation, use_bias=False)
            assert len(layer.weights) == 1 and layer.count_params() == 9 * units
            x = rng.standard_normal(x_shape).astype(np.float32)
            _, want = np_dense_forward(x, layer.weights[0], None, activation)
            np.testing.assert_allclose(layer.forward(x), want, rtol=1e-5, atol=gemm_tol(9))


def test_dense_weights_have_keras_layout_and_default_zero_bias():
    layer = Dense(5, input_shape=(3,))
    y = layer.forward(np.ones((2, 3), np.float32))
    kernel, bias = layer.weights
    assert kernel.shape == (3, 5) and bias.shape == (5,)
    assert np.array_equal(bias, np.zeros(5, np.float32))
    np.testing.assert_allclose(y, np.tile(kernel.sum(axis=0), (2, 1)), rtol=1e-6, atol=1e-7)
    assert [g.shape for g in layer.gradients] == [(3, 5), (5,)]
    assert layer.output_shape == (None, 5) and layer.input_shape == (None, 3)


def test_dense_weight_views_write_through():
    layer = Dense(2)
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    layer.forward(x)
    layer.weights[0][...] = [[1, 0], [0, 1], [1, 1]]
    layer.weights[1][...] = [0.5, -0.5]
    np.testing.assert_array_equal(layer.forward(x), [[4.5, 4.5]])
    copy = layer.get_weights()
    copy[0][...] = 0  # get_weights returns copies
    np.testing.assert_array_equal(layer.forward(x), [[4.5, 4.5]])


# --------------------------------------------------------------- Dense backward

@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
def test_dense_backward_matches_numpy_float64(activation, use_bias, isa):
    rng = np.random.default_rng(10 + ACTIVATIONS.index(activation))
    for units in UNITS:
        for x_shape in [(6, 11), (2, 3, 11)]:
            layer = dense_with_random_weights(units, x_shape[1:], rng, activation, use_bias)
            x = rng.standard_normal(x_shape).astype(np.float32)
            dy = rng.standard_normal(x_shape[:-1] + (units,)).astype(np.float32)
            layer.zero_grad()
            layer.forward(x, training=True)
            dx = layer.backward(dy)

            weights = layer.get_weights()
            z, _ = np_dense_forward(x, weights[0], weights[1] if use_bias else None, activation)
            dz = np_activation_backward(activation, dy, z).reshape(-1, units)
            x2 = x.reshape(-1, 11).astype(np.float64)
            tol = dict(rtol=1e-4, atol=gemm_tol(x2.shape[0]))
            assert dx.shape == x.shape
            np.testing.assert_allclose(dx, (dz @ weights[0].astype(np.float64).T).reshape(x.shape), **tol)
            np.testing.assert_allclose(layer.gradients[0], x2.T @ dz, **tol)
            if use_bias:
                np.testing.assert_allclose(layer.gradients[1], dz.sum(axis=0), **tol)
            else:
                assert len(layer.gradients) == 1


@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid", "softmax", "gelu", "elu"])
def test_dense_backward_matches_finite_differences(activation):
    # L = sum(dy * layer(x)) in float64 on nncore's own forward, perturbing the kernel and bias through the weight
    # views and x through its argument. Values sit on a 2**-12 grid and the step is 2**-8, so the perturbed
    # values are exact in float32.
    rng = np.random.default_rng(ACTIVATIONS.index(activation))
    layer = Dense(3, activation=activation)
    x = np.round(rng.standard_normal((2, 4)) * 4096) / 4096
    layer.build((None, 4))
    layer.set_weights([np.round(rng.standard_normal((4, 3)) * 2048) / 4096,
                       np.round(rng.standard_normal(3) * 2048) / 4096])
    dy = rng.standard_normal((2, 3))

    def loss_of_x(xx: np.ndarray) -> float:
        return float(np.sum(dy * layer.forward(xx.astype(np.float32)).astype(np.float64)))

    def loss() -> float:
        return loss_of_x(x)

    h = 2.0 ** -8
    want_kernel = numeric_grad_inplace(loss, layer.weights[0], eps=h)
    want_bias = numeric_grad_inplace(loss, layer.weights[1], eps=h)
    want_x = numeric_grad(loss_of_x, x, eps=h)

    layer.zero_grad()
    layer.forward(x.astype(np.float32), training=True)
    dx = layer.backward(dy.astype(np.float32))
    np.testing.assert_allclose(layer.gradients[0], want_kernel, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(layer.gradients[1], want_bias, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(dx, want_x, rtol=2e-3, atol=2e-4)


def test_dense_backward_accumulates_and_zero_grad_resets():
    rng = np.random.default_rng(4)
    layer = dense_with_random_weights(17, 33, rng, "tanh")
    x = rng.standard_normal((9, 33)).astype(np.float32)
    dy = rng.standard_normal((9, 17)).astype(np.float32)
    layer.zero_grad()
    layer.forward(x, training=True)
    dx1 = layer.backward(dy)
    once = [g.copy() for g in layer.gradients]
    assert all(np.any(g != 0) for g in once)
    dx2 = layer.backward(dy)
    # dx is not accumulated, the parameter gradients are.
    assert np.array_equal(dx1, dx2)
    for g, g1 in zip(layer.gradients, once):
        np.testing.assert_allclose(g, 2 * g1, rtol=1e-6, atol=1e-7)
    layer.zero_grad()
    assert all(np.array_equal(g, np.zeros_like(g)) for g in layer.gradients)
    layer.backward(dy)
    for g, g1 in zip(layer.gradients, once):
        assert np.array_equal(g, g1)


def test_dense_accumulation_over_several_k_slabs(isa):
    # dW += x^T dz sums over the batch (600 rows: several K slabs of the GEMM): the accumulate must add to the
    # existing gradient once, not once per slab.
    rng = np.random.default_rng(5)
    layer = dense_with_random_weights(40, 37, rng)
    x = rng.standard_normal((600, 37)).astype(np.float32)
    dy = rng.standard_normal((600, 40)).astype(np.float32)
    layer.zero_grad()
    layer.forward(x, training=True)
    layer.backward(dy)
    want = x.astype(np.float64).T @ dy.astype(np.float64)
    np.testing.assert_allclose(layer.gradients[0], want, rtol=1e-5, atol=gemm_tol(600))
    layer.backward(dy)
    np.testing.assert_allclose(layer.gradients[0], 2 * want, rtol=1e-5, atol=2 * gemm_tol(600))
    np.testing.assert_allclose(layer.gradients[1], 2 * dy.astype(np.float64).sum(axis=0), rtol=1e-5,
                               atol=2 * gemm_tol(600))


def test_dense_gradients_are_views_that_stay_valid():
    rng = np.random.default_rng(6)
    layer = dense_with_random_weights(4, 3, rng)
    grads = layer.gradients
    layer.zero_grad()
    layer.forward(rng.standard_normal((2, 3)).astype(np.float32))
    layer.backward(np.ones((2, 4), np.float32))
    assert np.array_equal(grads[1], np.full(4, 2.0, np.float32))  # db = column sums of dy


@pytest.mark.parametrize("activation", ["relu", "softmax"])
def test_dense_one_and_two_threads_bit_identical(activation, restore_threads):
    # Large enough that the GEMMs run on 2 threads; the results must not depend on the thread count.
    rng = np.random.default_rng(8)
    layer = dense_with_random_weights(513, 300, rng, activation)
    x = rng.standard_normal((256, 300)).astype(np.float32)
    dy = rng.standard_normal((256, 513)).astype(np.float32)
    results = []
    for n in (1, 2):
        restore_threads(n)
        layer.zero_grad()
        y = layer.forward(x, training=True)
        dx = layer.backward(dy)
        results.append([y, dx] + [g.copy() for g in layer.gradients])
    for one, two in zip(*results):
        assert np.array_equal(one, two)
    kernel, bias = layer.get_weights()
    _, want = np_dense_forward(x[:8], kernel, bias, activation)
    np.testing.assert_allclose(results[1][0][:8], want, rtol=1e-5, atol=gemm_tol(300))


def test_dense_inference_forward_does_not_disturb_backward_inputs():
    # Each forward keeps its own copy of x, so a caller may reuse its input buffer.
    rng = np.random.default_rng(1)
    layer = dense_with_random_weights(3, 4, rng)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    x_saved = x.copy()
    layer.zero_grad()
    layer.forward(x, training=True)
    x[...] = 100.0
    layer.backward(np.ones((2, 3), np.float32))
    np.testing.assert_allclose(layer.gradients[0], np.tile(x_saved.sum(axis=0)[:, None], (1, 3)), rtol=1e-6)


# --------------------------------------------------------------- Activation, Flatten, Dropout

@pytest.mark.parametrize("activation", ["relu", "softmax", "gelu"])
def test_activation_layer_forward_backward(activation):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 6)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    layer = Activation(activation)
    np.testing.assert_allclose(layer.forward(x), np_activation(activation, x), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(layer.backward(dy), np_activation_backward(activation, dy, x), rtol=1e-5, atol=1e-6)
    assert layer.weights == [] and layer.count_params() == 0


def test_flatten_forward_and_backward_shapes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == (2, 60) and layer.output_shape == (None, 60)
    assert np.array_equal(y, x.reshape(2, 60))
    dy = rng.standard_normal((2, 60)).astype(np.float32)
    dx = layer.backward(dy)
    assert dx.shape == (2, 3, 4, 5)
    assert np.array_equal(dx, dy.reshape(2, 3, 4, 5))
    # A different batch size after building is fine; another per-sample shape is not.
    assert layer.forward(x[:1]).shape == (1, 60)
    with pytest.raises(ValueError, match=r"expected input shape \(None, 3, 4, 5\), got \(2, 3, 4, 6\)"):
        layer.forward(np.zeros((2, 3, 4, 6), np.float32))


def test_dropout_is_identity_without_training():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 50)).astype(np.float32)
    layer = Dropout(0.5)
    assert np.array_equal(layer.forward(x), x)
    assert np.array_equal(layer.forward(x, training=False), x)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    assert np.array_equal(layer.backward(dy), dy)
    assert layer.rate == 0.5


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.9])
def test_dropout_training_zeroes_about_rate_and_rescales(rate):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 1.5, (500, 200)).astype(np.float32)  # no zeros of its own
    layer = Dropout(rate)
    y = layer.forward(x, training=True)
    dropped = y == 0
    n = x.size
    # Binomial(n, rate): 6 standard deviations.
    assert abs(dropped.mean() - rate) < 6 * math.sqrt(rate * (1 - rate) / n)
    scale = np.float32(1) / (np.float32(1) - np.float32(rate))
    np.testing.assert_array_equal(y[~dropped], x[~dropped] * scale)
    # Backward applies the same mask and scale.
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx = layer.backward(dy)
    assert np.array_equal(dx == 0, dropped | (dy == 0))
    np.testing.assert_array_equal(dx[~dropped], dy[~dropped] * scale)
    # The expectation is preserved (inverted dropout): within 6 standard deviations of the mean of y, whose
    # elements are x / (1 - rate) with probability 1 - rate, else 0.
    x64 = x.astype(np.float64)
    sd = math.sqrt(rate / (1 - rate) * float((x64 ** 2).mean()) / n)
    assert abs(y.astype(np.float64).mean() - x64.mean()) < 6 * sd


def test_dropout_masks_differ_between_steps_and_are_reproducible_under_a_seed():
    x = np.ones((64, 64), np.float32)

    def two_steps(seed):
        nncore.set_random_seed(seed)
        layer = Dropout(0.5)
        return layer.forward(x, training=True).copy(), layer.forward(x, training=True).copy()

    a1, a2 = two_steps(123)
    b1, b2 = two_steps(123)
    c1, _ = two_steps(124)
    assert np.array_equal(a1, b1) and np.array_equal(a2, b2)
    assert not np.array_equal(a1, a2)
    assert not np.array_equal(a1, c1)


def test_dropout_mask_does_not_depend_on_threads(restore_threads):
    x = np.ones((1024, 1024), np.float32)
    outs = []
    for n in (1, 2):
        restore_threads(n)
        nncore.set_random_seed(7)
        outs.append(Dropout(0.25).forward(x, training=True))
    assert np.array_equal(outs[0], outs[1])


def test_dropout_rate_zero_is_identity_in_training():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    layer = Dropout(0.0)
    assert np.array_equal(layer.forward(x, training=True), x)
    assert np.array_equal(layer.backward(x), x)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_rate(rate):
    with pytest.raises(ValueError, match=rf"Dropout '.*': rate must be in \[0, 1\), got {rate:g}"):
        Dropout(rate)


# --------------------------------------------------------------- bad arguments

def test_dense_wrong_feature_count_names_layer_and_shapes():
    layer = Dense(3, name="dense_probe")
    layer.forward(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"Layer 'dense_probe' \(Dense\): expected input shape \(None, 4\), "
                                         r"got \(2, 5\)"):
        layer.forward(np.ones((2, 5), np.float32))
    auto = Dense(3)
    auto.forward(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=rf"Layer '{re.escape(auto.name)}' \(Dense\).*\(None, 4\).*\(2, 3, 4\)"):
        auto.forward(np.ones((2, 3, 4), np.float32))
    assert auto.name.startswith("dense")


def test_dense_backward_rejects_wrong_gradient_shape():
    layer = Dense(3, activation="relu", name="dense_bad_dy")
    layer.forward(np.ones((2, 4), np.float32), training=True)
    with pytest.raises(ValueError, match=r"Layer 'dense_bad_dy' \(Dense\): backward expected gradient of shape "
                                         r"\(2, 3\), got \(2, 4\)"):
        layer.backward(np.ones((2, 4), np.float32))
    linear = Dense(3, name="dense_bad_dy_linear")
    linear.forward(np.ones((2, 4), np.float32), training=True)
    with pytest.raises(ValueError, match=r"Layer 'dense_bad_dy_linear' \(Dense\): backward expected gradient"):
        linear.backward(np.ones((5, 3), np.float32))


@pytest.mark.parametrize("units", [0, -1])
def test_dense_rejects_non_positive_units(units):
    with pytest.raises(ValueError, match=rf"Dense '.*': units must be >= 1, got {units}"):
        Dense(units)


@pytest.mark.parametrize("units", [2.5, "3", True])
def test_dense_rejects_non_int_units(units):
    with pytest.raises(TypeError, match=r"Dense: units must be a positive int"):
        Dense(units)


def test_dense_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; valid activations: linear, relu, sigmoid, "
                                         r"tanh, softmax, leaky_relu, gelu, elu"):
        Dense(3, activation="swish")


@pytest.mark.parametrize("arg", ["kernel_initializer", "bias_initializer"])
def test_dense_unknown_initializer_lists_valid_names(arg):
    with pytest.raises(ValueError, match=rf"Dense '.*' {arg}: unknown initializer 'bogus'; valid initializers: "
                                         r"glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, "
                                         r"lecun_normal, zeros, ones, uniform, random_uniform"):
        Dense(3, **{arg: "bogus"})


def test_set_weights_checks_count_and_shapes():
    layer = Dense(3, name="dense_sw")
    layer.build((None, 2))
    with pytest.raises(ValueError, match=r"expected 2 weight arrays \(kernel, bias\), got 1"):
        layer.set_weights([np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"weight 'kernel' expects shape \(2, 3\), got \(3, 2\)"):
        layer.set_weights([np.zeros((3, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match=r"weight 'bias' contains NaN or inf"):
        layer.set_weights([np.zeros((2, 3)), [0, np.nan, 0]])


# --------------------------------------------------------------- initializers

def kernel_of(initializer: str, fan_in: int, fan_out: int, seed: int = 0) -> np.ndarray:
    nncore.set_random_seed(seed)
    layer = Dense(fan_out, kernel_initializer=initializer)
    layer.build((None, fan_in))
    return layer.get_weights()[0].astype(np.float64)


def test_glorot_uniform_bound_and_spread():
    fan_in, fan_out = 400, 200
    w = kernel_of("glorot_uniform", fan_in, fan_out)
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= limit * (1 + 1e-6)
    assert np.abs(w).max() > 0.99 * limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    assert abs(w.mean()) < 0.01 * limit


def test_he_normal_std_on_square_kernel():
    w = kernel_of("he_normal", 512, 512)
    assert w.std() == pytest.approx(math.sqrt(2 / 512), rel=0.10)
    assert w.std() == pytest.approx(math.sqrt(2 / 512), rel=0.02)  # in fact much closer
    # Truncated at two standard deviations of the underlying normal (Keras's truncated_normal).
    assert np.abs(w).max() <= 2 * math.sqrt(2 / 512) / 0.87962566103423978 * (1 + 1e-6)


@pytest.mark.parametrize("name,kind,variance", [
    ("glorot_uniform", "uniform", lambda fi, fo: 2 / (fi + fo)),
    ("glorot_normal", "normal", lambda fi, fo: 2 / (fi + fo)),
    ("he_uniform", "uniform", lambda fi, fo: 2 / fi),
    ("he_normal", "normal", lambda fi, fo: 2 / fi),
    ("lecun_uniform", "uniform", lambda fi, fo: 1 / fi),
    ("lecun_normal", "normal", lambda fi, fo: 1 / fi),
])
def test_variance_scaling_initializers(name, kind, variance):
    # A non-square kernel tells fan_in, fan_out and their mean apart.
    fan_in, fan_out = 300, 100
    w = kernel_of(name, fan_in, fan_out)
    std = math.sqrt(variance(fan_in, fan_out))
    assert w.std() == pytest.approx(std, rel=0.03)
    assert abs(w.mean()) < 0.03 * std
    bound = std * math.sqrt(3) if kind == "uniform" else 2 * std / 0.87962566103423978
    assert np.abs(w).max() <= bound * (1 + 1e-6)


@pytest.mark.parametrize("name,value", [("zeros", 0.0), ("ones", 1.0)])
def test_constant_initializers(name, value):
    layer = Dense(5, kernel_initializer=name, bias_initializer=name)
    layer.build((None, 3))
    kernel, bias = layer.get_weights()
    assert np.array_equal(kernel, np.full((3, 5), value, np.float32))
    assert np.array_equal(bias, np.full(5, value, np.float32))


def test_initialization_is_reproducible_under_a_seed():
    a = kernel_of("glorot_uniform", 20, 10, seed=5)
    b = kernel_of("glorot_uniform", 20, 10, seed=5)
    c = kernel_of("glorot_uniform", 20, 10, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("make", [lambda: Dense(3, name="dense_no_forward"),
                                  lambda: nncore.layers.Conv2D(2, 3, name="dense_no_forward")])
def test_backward_before_forward_names_the_layer(make):
    layer = make()
    layer.build((None, 5, 5, 2) if isinstance(layer, nncore.layers.Conv2D) else (None, 4))
    with pytest.raises(ValueError, match=r"Layer 'dense_no_forward' \(\w+\): backward called before forward"):
        layer.backward(np.ones((1, 3), np.float32))
