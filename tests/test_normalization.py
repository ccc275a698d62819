"""Tests for the normalization layers (cpp/src/kernels/norm*.cpp, cpp/src/layers/normalization.cpp through
nncore.layers).

BatchNormalization on 2-D and 4-D inputs and LayerNormalization on 2-D and 3-D inputs: forward (training and
inference) and backward against NumPy float64, moving statistics, finite differences, accumulation, 1 vs 2
threads; the batch-norm kernel paths (generic/AVX2/AVX-512) on ragged shapes against NumPy and each other,
accuracy of the statistics; weights, counts and the summary; a frozen BatchNormalization inside fit; training small and deep models;
bad arguments.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import nncore
from nncore.layers import Activation, BatchNormalization, Dense, LayerNormalization

from conftest import ISAS, numeric_grad, numeric_grad_inplace

CHANNELS = [1, 3, 17]
BN_SHAPES = [(), (4, 5)]  # per-sample shape without the channel axis: (B, C) and (B, H, W, C) inputs
LN_SHAPES = [(6,), (3, 5)]  # leading shapes of (B, C) and (B, T, C) inputs


def random_bn(c, rng, momentum=0.99, epsilon=1e-3, center=True, scale=True, lead=(), moving=True):
    """A BatchNormalization built for per-sample shape (*lead, c) with random gamma, beta and (optionally) moving statistics."""
    layer = BatchNormalization(momentum=momentum, epsilon=epsilon, center=center, scale=scale)
    layer.build((None, *lead, c))
    weights = []
    if scale:
        weights.append(rng.uniform(0.5, 1.5, c).astype(np.float32))
    if center:
        weights.append(rng.standard_normal(c).astype(np.float32))
    mm = rng.standard_normal(c).astype(np.float32) if moving else np.zeros(c, np.float32)
    mv = rng.uniform(0.5, 2.0, c).astype(np.float32) if moving else np.ones(c, np.float32)
    layer.set_weights(weights + [mm, mv])
    return layer


def np_bn_forward(x, gamma, beta, mean, var, eps):
    x = np.asarray(x, np.float64)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def np_bn_train(x, gamma, beta, eps):
    """Training forward in float64: returns y, batch mean, biased batch variance."""
    x = np.asarray(x, np.float64)
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    return np_bn_forward(x, gamma, beta, mean, var, eps), mean, var


def np_bn_backward(dy, x, gamma, mean, var, eps, batch_stats):
    """dx, dgamma, dbeta in float64."""
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    axes = tuple(range(x.ndim - 1))
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * rstd
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    if batch_stats:
        dx = gamma * rstd * (dy - dy.mean(axis=axes) - xhat * (dy * xhat).mean(axis=axes))
    else:
        dx = dy * gamma * rstd
    return dx, dgamma, dbeta


def np_ln_forward(x, gamma, beta, eps):
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def np_ln_backward(dy, x, gamma, eps):
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)
    xhat = (x - mean) * rstd
    lead = tuple(range(x.ndim - 1))
    dxhat = dy * gamma
    dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=lead), dy.sum(axis=lead)


def random_ln(c, rng, lead=(), center=True, scale=True, epsilon=1e-3):
    layer = LayerNormalization(epsilon=epsilon, center=center, scale=scale)
    layer.build((None, *lead, c))
    weights = []
    if scale:
        weights.append(rng.uniform(0.5, 1.5, c).astype(np.float32))
    if center:
        weights.append(rng.standard_normal(c).astype(np.float32))
    layer.set_weights(weights)
    return layer


# --------------------------------------------------------------- BatchNormalization forward

@pytest.mark.parametrize("lead", BN_SHAPES)
@pytest.mark.parametrize("c", CHANNELS)
def test_bn_training_forward_and_moving_update_match_numpy(lead, c, threads):
    rng = np.random.default_rng(c)
    layer = random_bn(c, rng, momentum=0.9, lead=lead)
    gamma, beta, mm, mv = layer.get_weights()
    x = (rng.standard_normal((6, *lead, c)) * 2 + 1).astype(np.float32)
    y = layer.forward(x, training=True)
    want, mean, var = np_bn_train(x, gamma, beta, 1e-3)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=2e-5)
    _, _, new_mm, new_mv = layer.get_weights()
    np.testing.assert_allclose(new_mm, mm * 0.9 + mean * 0.1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_mv, mv * 0.9 + var * 0.1, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lead", BN_SHAPES)
@pytest.mark.parametrize("c", CHANNELS)
def test_bn_inference_forward_uses_moving_stats(lead, c):
    rng = np.random.default_rng(10 + c)
    layer = random_bn(c, rng, lead=lead)
    before = layer.get_weights()
    gamma, beta, mm, mv = before
    x = rng.standard_normal((5, *lead, c)).astype(np.float32)
    y = layer.forward(x)  # training=False
    np.testing.assert_allclose(y, np_bn_forward(x, gamma, beta, mm, mv, 1e-3), rtol=1e-5, atol=2e-5)
    for w0, w1 in zip(before, layer.get_weights()):
        assert np.array_equal(w0, w1)  # inference never touches the moving statistics


def test_bn_moving_stats_after_several_training_forwards():
    rng = np.random.default_rng(3)
    layer = BatchNormalization(momentum=0.8)
    layer.build((None, 4))
    mm, mv = np.zeros(4), np.ones(4)
    for step in range(5):
        x = (rng.standard_normal((9, 4)) * (step + 1) + step).astype(np.float32)
        layer.forward(x, training=True)
        mm = mm * 0.8 + x.astype(np.float64).mean(axis=0) * 0.2
        mv = mv * 0.8 + x.astype(np.float64).var(axis=0) * 0.2  # biased, as Keras's ops.moments
    _, _, got_mm, got_mv = layer.get_weights()
    np.testing.assert_allclose(got_mm, mm, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_mv, mv, rtol=1e-5, atol=1e-5)
    # Inference now normalizes with those statistics.
    x = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(layer.forward(x), np_bn_forward(x, 1.0, 0.0, mm, mv, 1e-3), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("center,scale", [(False, True), (True, False), (False, False)])
def test_bn_without_center_or_scale(center, scale):
    rng = np.random.default_rng(4)
    layer = random_bn(5, rng, center=center, scale=scale)
    names = (["gamma"] if scale else []) + (["beta"] if center else []) + ["moving_mean", "moving_variance"]
    assert layer._impl.weight_names == names
    x = rng.standard_normal((8, 5)).astype(np.float32)
    w = layer.get_weights()
    gamma = w[0] if scale else 1.0
    beta = w[int(scale)] if center else 0.0
    want, mean, var = np_bn_train(x, gamma, beta, 1e-3)
    np.testing.assert_allclose(layer.forward(x, training=True), want, rtol=1e-5, atol=2e-5)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx = layer.backward(dy)
    want_dx, want_dg, want_db = np_bn_backward(dy, x, gamma, mean, var, 1e-3, True)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    grads = layer.gradients
    if scale:
        np.testing.assert_allclose(grads[0], want_dg, rtol=1e-4, atol=1e-4)
    if center:
        np.testing.assert_allclose(grads[int(scale)], want_db, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------- BatchNormalization backward

@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("lead", BN_SHAPES)
@pytest.mark.parametrize("c", CHANNELS)
def test_bn_backward_matches_numpy(training, lead, c, threads):
    rng = np.random.default_rng(20 + c)
    layer = random_bn(c, rng, lead=lead)
    gamma, beta, mm, mv = layer.get_weights()
    x = (rng.standard_normal((6, *lead, c)) * 1.5 - 0.5).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    layer.zero_grad()
    layer.forward(x, training=training)
    dx = layer.backward(dy)
    if training:
        _, mean, var = np_bn_train(x, gamma, beta, 1e-3)
    else:
        mean, var = mm.astype(np.float64), mv.astype(np.float64)
    want_dx, want_dg, want_db = np_bn_backward(dy, x, gamma, mean, var, 1e-3, training)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    dg, db, dmm, dmv = layer.gradients
    np.testing.assert_allclose(dg, want_dg, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, want_db, rtol=1e-4, atol=1e-4)
    assert not dmm.any() and not dmv.any()  # the moving statistics get no gradient


def test_bn_finite_differences():
    rng = np.random.default_rng(5)
    layer = random_bn(3, rng, lead=(5, 5))
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    proj = rng.standard_normal(x.shape)  # loss = sum(y * proj)

    def loss_of_x(xx):
        return float(np.sum(layer.forward(xx.astype(np.float32), training=True).astype(np.float64) * proj))

    def loss():
        return float(np.sum(layer.forward(x, training=True).astype(np.float64) * proj))

    layer.zero_grad()
    layer.forward(x, training=True)
    dx = layer.backward(proj.astype(np.float32))
    np.testing.assert_allclose(dx, numeric_grad(loss_of_x, x, eps=1e-2), rtol=1e-2, atol=2e-3)
    gamma, beta = layer.weights[0], layer.weights[1]
    np.testing.assert_allclose(layer.gradients[0], numeric_grad_inplace(loss, gamma), rtol=1e-2, atol=2e-3)
    np.testing.assert_allclose(layer.gradients[1], numeric_grad_inplace(loss, beta), rtol=1e-2, atol=2e-3)


@pytest.mark.parametrize("training", [True, False])
def test_bn_backward_accumulates(training):
    rng = np.random.default_rng(6)
    layer = random_bn(17, rng)
    x = rng.standard_normal((10, 17)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    layer.zero_grad()
    layer.forward(x, training=training)
    dx1 = layer.backward(dy)
    once = [g.copy() for g in layer.gradients]
    dx2 = layer.backward(dy)
    assert np.array_equal(dx1, dx2)  # dx is overwritten, not accumulated
    for g1, g2 in zip(once, layer.gradients):
        np.testing.assert_allclose(g2, 2 * g1, rtol=1e-6, atol=1e-6)
    layer.zero_grad()
    assert all(not g.any() for g in layer.gradients)


def test_bn_one_and_two_threads_bit_identical(restore_threads):
    rng = np.random.default_rng(7)
    layer = random_bn(33, rng, lead=(16, 16))
    start = layer.get_weights()
    x = rng.standard_normal((256, 16, 16, 33)).astype(np.float32)  # large enough for 2 threads
    dy = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for n in (1, 2):
        restore_threads(n)
        layer.set_weights(start)
        layer.zero_grad()
        y = layer.forward(x, training=True)
        dx = layer.backward(dy)
        yi = layer.forward(x)
        results.append([y, dx, yi] + layer.get_weights() + [g.copy() for g in layer.gradients])
    for one, two in zip(*results):
        assert np.array_equal(one, two)


# --------------------------------------------------------------- BatchNormalization kernel paths
# The AVX2/AVX-512 kernels (norm_simd.hpp) cut the (R, C) activation into segments of W floats (W = C, or a
# multiple of lcm(C, 16) of at least 64) and chunks of ~32K floats. These shapes reach every case: W = C with full
# (64) and ragged (65, 1030) registers, narrow C packed into wider segments (1, 3, 6, 16, 32, 48), a short last
# segment (n % W != 0), several chunks with a short last one, and a single row.
KERNEL_SHAPES = [(1, 17), (5, 3), (7, 65), (33, 48), (40001, 1), (6001, 6), (1101, 32), (515, 64), (70, 1030),
                 (300, 100)]


def run_bn(layer, x, dy, training):
    """Forward and backward from fresh gradients: y, dx, then every weight and gradient."""
    layer.zero_grad()
    y = layer.forward(x, training=training).copy()
    dx = layer.backward(dy).copy()
    return [y, dx] + layer.get_weights() + [g.copy() for g in layer.gradients]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", KERNEL_SHAPES)
def test_bn_kernel_paths_match_numpy(shape, training, isa, threads):
    rows, c = shape
    rng = np.random.default_rng(rows + c)
    layer = random_bn(c, rng, momentum=0.0)  # momentum 0: the moving statistics become the batch's
    gamma, beta, mm, mv = layer.get_weights()
    x = (rng.standard_normal(shape) * 1.5 + 0.7).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    y, dx, _, _, new_mm, new_mv, dg, db, _, _ = run_bn(layer, x, dy, training)
    if training:
        want_y, mean, var = np_bn_train(x, gamma, beta, 1e-3)
        np.testing.assert_allclose(new_mm, mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(new_mv, var, rtol=1e-5, atol=1e-6)
    else:
        mean, var = mm.astype(np.float64), mv.astype(np.float64)
        want_y = np_bn_forward(x, gamma, beta, mean, var, 1e-3)
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=3e-5)
    want_dx, want_dg, want_db = np_bn_backward(dy, x, gamma, mean, var, 1e-3, training)
    tol = 1e-4 * np.sqrt(rows)  # dgamma, dbeta: sums over the rows
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dg, want_dg, rtol=1e-4, atol=tol)
    np.testing.assert_allclose(db, want_db, rtol=1e-4, atol=tol)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6001, 6), (1101, 32), (7, 65), (70, 1030), (2, 3)])
def test_bn_kernel_paths_agree(shape, training, restore_threads):
    """The SIMD paths give the same bits at 1 and 2 threads and on every ISA; the generic (reference) path agrees
    to float rounding."""
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(shape) * 3 - 2).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    start = random_bn(shape[1], rng, momentum=0.5).get_weights()
    before = nncore.get_isa()
    results = {}
    try:
        for isa in ISAS:
            nncore.set_isa(isa)
            for n in (1, 2):
                restore_threads(n)
                layer = random_bn(shape[1], rng, momentum=0.5)
                layer.set_weights(start)
                results[isa, n] = run_bn(layer, x, dy, training)
    finally:
        nncore.set_isa(before)
    first = results[ISAS[-1], 1]
    for (isa, n), got in results.items():
        for a, b in zip(first, got):
            if isa == "generic":
                np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-5)
            else:
                assert np.array_equal(a, b), (isa, n)


@pytest.mark.parametrize("case", ["offset", "outlier_first", "constant"])
def test_bn_statistics_are_accurate(case, isa):
    """Mean and variance stay accurate where one-pass sums in float would cancel: a large common offset, an
    outlier in the first row, a constant channel (variance exactly 0)."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5000, 6))
    if case == "offset":
        x += 1e4
    elif case == "outlier_first":
        x[0] = 1e4
    else:
        x[:, 2] = 3.25
    x = x.astype(np.float32)
    layer = BatchNormalization(momentum=0.0)
    layer.build((None, 6))
    layer.forward(x, training=True)
    _, _, mean, var = layer.get_weights()
    x64 = x.astype(np.float64)
    want_mean, want_var = x64.mean(axis=0), x64.var(axis=0)
    # Errors of a few float roundings of the data's scale: mean against |mean| + std, variance relative.
    assert np.all(np.abs(mean - want_mean) <= 1e-6 * (np.abs(want_mean) + np.sqrt(want_var)))
    np.testing.assert_allclose(var, want_var, rtol=1e-5, atol=1e-7)
    if case == "constant":
        assert var[2] == 0.0


# --------------------------------------------------------------- LayerNormalization

@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("lead", LN_SHAPES)
@pytest.mark.parametrize("c", CHANNELS)
def test_ln_forward_and_backward_match_numpy(training, lead, c, threads):
    rng = np.random.default_rng(30 + c)
    layer = random_ln(c, rng, lead=lead[1:])
    gamma, beta = layer.get_weights()
    x = (rng.standard_normal((*lead, c)) * 2 + 3).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    layer.zero_grad()
    y = layer.forward(x, training=training)  # the same in both modes
    np.testing.assert_allclose(y, np_ln_forward(x, gamma, beta, 1e-3), rtol=1e-5, atol=2e-5)
    dx = layer.backward(dy)
    want_dx, want_dg, want_db = np_ln_backward(dy, x, gamma, 1e-3)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.gradients[0], want_dg, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.gradients[1], want_db, rtol=1e-4, atol=1e-4)


def test_ln_finite_differences():
    rng = np.random.default_rng(8)
    layer = random_ln(5, rng, lead=(3,))
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    proj = rng.standard_normal(x.shape)

    def loss_of_x(xx):
        return float(np.sum(layer.forward(xx.astype(np.float32)).astype(np.float64) * proj))

    def loss():
        return float(np.sum(layer.forward(x).astype(np.float64) * proj))

    layer.zero_grad()
    layer.forward(x)
    dx = layer.backward(proj.astype(np.float32))
    np.testing.assert_allclose(dx, numeric_grad(loss_of_x, x, eps=1e-2), rtol=1e-2, atol=2e-3)
    np.testing.assert_allclose(layer.gradients[0], numeric_grad_inplace(loss, layer.weights[0]), rtol=1e-2, atol=2e-3)
    np.testing.assert_allclose(layer.gradients[1], numeric_grad_inplace(loss, layer.weights[1]), rtol=1e-2, atol=2e-3)


def test_ln_backward_accumulates_and_center_scale_off():
    rng = np.random.default_rng(9)
    layer = random_ln(17, rng)
    x = rng.standard_normal((4, 17)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    layer.zero_grad()
    layer.forward(x)
    layer.backward(dy)
    once = [g.copy() for g in layer.gradients]
    layer.backward(dy)
    for g1, g2 in zip(once, layer.gradients):
        np.testing.assert_allclose(g2, 2 * g1, rtol=1e-6, atol=1e-6)
    bare = LayerNormalization(center=False, scale=False)
    assert bare.forward(x).shape == x.shape and bare.get_weights() == [] and bare.count_params() == 0
    np.testing.assert_allclose(bare.forward(x), np_ln_forward(x, 1.0, 0.0, 1e-3), rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(bare.backward(dy), np_ln_backward(dy, x, 1.0, 1e-3)[0], rtol=1e-4, atol=1e-4)


def test_ln_one_and_two_threads_bit_identical(restore_threads):
    rng = np.random.default_rng(10)
    layer = random_ln(65, rng, lead=(3,))
    x = rng.standard_normal((4096, 3, 65)).astype(np.float32)  # large enough for 2 threads
    dy = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for n in (1, 2):
        restore_threads(n)
        layer.zero_grad()
        y = layer.forward(x)
        dx = layer.backward(dy)
        results.append([y, dx] + [g.copy() for g in layer.gradients])
    for one, two in zip(*results):
        assert np.array_equal(one, two)


# --------------------------------------------------------------- weights, counts, summary

def test_weights_order_shapes_and_counts_in_summary():
    bn = BatchNormalization(name="bn_w")
    bn.build((None, 8, 8, 6))
    assert bn._impl.weight_names == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.shape for w in bn.get_weights()] == [(6,)] * 4
    g, b, mm, mv = bn.get_weights()
    assert (g == 1).all() and (b == 0).all() and (mm == 0).all() and (mv == 1).all()
    assert bn.count_params() == 24 and len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    ln = LayerNormalization()
    ln.build((None, 4, 6))
    assert ln._impl.weight_names == ["gamma", "beta"] and [w.shape for w in ln.get_weights()] == [(6,), (6,)]

    model = nncore.Sequential([Dense(6, input_shape=(3,)), BatchNormalization(), LayerNormalization(),
                               Dense(2)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    total = (3 * 6 + 6) + 4 * 6 + 2 * 6 + (6 * 2 + 2)
    non_trainable = 2 * 6
    assert model.count_params() == total
    assert re.search(rf"Total params: {total}\b", text)
    assert re.search(rf"Trainable params: {total - non_trainable}\b", text)
    assert re.search(rf"Non-trainable params: {non_trainable}\b", text)
    assert "BatchNormalization" in text and "LayerNormalization" in text


def test_frozen_bn_runs_in_inference_mode_inside_fit():
    nncore.set_random_seed(11)
    rng = np.random.default_rng(11)
    bn = BatchNormalization(trainable=False)
    model = nncore.Sequential([Dense(4, input_shape=(5,)), bn, Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    lines = []
    model.summary(print_fn=lines.append)
    assert re.search(r"Non-trainable params: 16\b", "\n".join(lines))
    before = bn.get_weights()
    kernel_before = model.layers[0].get_weights()[0]
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = rng.standard_normal((64, 1)).astype(np.float32)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for w0, w1 in zip(before, bn.get_weights()):
        assert np.array_equal(w0, w1)  # neither gamma/beta nor the moving statistics change
    assert not np.array_equal(kernel_before, model.layers[0].get_weights()[0])  # layers below still train
    # Inference mode in fit means the training forward equals the inference forward.
    h = model.layers[0].forward(x[:8])
    np.testing.assert_array_equal(bn.forward(h, training=True), bn.forward(h, training=False))


def test_dense_bn_relu_dense_trains_and_weights_round_trip():
    nncore.set_random_seed(12)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((256, 8)).astype(np.float32)
    y = (np.sin(x[:, :1] * 2) + x[:, 1:2] * x[:, 2:3]).astype(np.float32)
    model = nncore.Sequential([Dense(32, input_shape=(8,)), BatchNormalization(), Activation("relu"), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    hist = model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    losses = hist.history["loss"]
    assert losses[-1] < 0.6 * losses[0]
    bn = model.layers[1]
    assert not np.array_equal(bn.get_weights()[2], np.zeros(32, np.float32))  # moving mean moved

    weights = model.get_weights()
    assert [w.shape for w in weights] == [(8, 32), (32,), (32,), (32,), (32,), (32,), (32, 1), (1,)]
    pred = model.predict(x[:16])
    twin = nncore.Sequential([Dense(32, input_shape=(8,)), BatchNormalization(), Activation("relu"), Dense(1)])
    twin.set_weights(weights)
    np.testing.assert_array_equal(twin.predict(x[:16]), pred)
    for a, b in zip(twin.get_weights(), weights):
        assert np.array_equal(a, b)


# --------------------------------------------------------------- the deep MLP

def _deep_mlp(use_bn: bool, n_in: int, n_classes: int) -> nncore.Sequential:
    layers = []
    for i in range(8):
        kwargs = {"input_shape": (n_in,)} if i == 0 else {}
        if use_bn:
            layers += [Dense(64, kernel_initializer="he_normal", **kwargs), BatchNormalization(),
                       Activation("sigmoid")]
        else:
            layers.append(Dense(64, activation="sigmoid", **kwargs))
    layers.append(Dense(n_classes, activation="softmax"))
    return nncore.Sequential(layers)


def test_deep_sigmoid_mlp_trains_with_batchnorm_and_stalls_without():
    rng = np.random.default_rng(13)
    n_classes, n_in, n = 4, 16, 2048
    centers = rng.standard_normal((n_classes, n_in)) * 1.5
    labels = rng.integers(0, n_classes, n)
    x = (centers[labels] + rng.standard_normal((n, n_in))).astype(np.float32)
    y = labels.astype(np.float32)
    results = {}
    for use_bn in (True, False):
        nncore.set_random_seed(13)
        model = _deep_mlp(use_bn, n_in, n_classes)
        model.compile(optimizer=nncore.optimizers.SGD(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        hist = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
        _, acc = model.evaluate(x, y, verbose=0)  # inference: BatchNormalization uses its moving statistics
        results[use_bn] = (hist.history["loss"], hist.history["accuracy"], acc)
    bn_loss, bn_train_acc, bn_acc = results[True]
    plain_loss, plain_train_acc, plain_acc = results[False]
    # Chance is 0.25. With BatchNormalization the net learns within an epoch or two; without, the sigmoid stack
    # passes almost no gradient down and the loss stays at log(4).
    assert bn_train_acc[2] > 0.9 and bn_acc > 0.9, results
    assert bn_loss[-1] < 0.5 * bn_loss[0], results
    assert max(plain_train_acc) < 0.35 and plain_acc < 0.35, results
    assert abs(plain_loss[-1] - np.log(n_classes)) < 0.05, results


# --------------------------------------------------------------- bad input

def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(momentum=-0.1)
    with pytest.raises(ValueError, match="epsilon"):
        BatchNormalization(epsilon=-1e-3)
    with pytest.raises(ValueError, match="epsilon"):
        LayerNormalization(epsilon=-1.0)
    with pytest.raises(ValueError, match="axis=-1"):
        BatchNormalization(axis=0)
    with pytest.raises(ValueError, match="axis=-1"):
        BatchNormalization(axis=(1, 2))
    with pytest.raises(ValueError, match="axis=-1"):
        LayerNormalization(axis=[1])
    with pytest.raises(ValueError, match="axis=-1"):
        BatchNormalization(axis=1).build((None, 4, 4, 3))  # Keras's axis 1 of a 4-D input is not the last
    BatchNormalization(axis=3).build((None, 4, 4, 3))  # the last axis, counted with the batch axis
    with pytest.raises(ValueError, match="gamma_initializer"):
        BatchNormalization(gamma_initializer="nope")
    with pytest.raises(TypeError):
        BatchNormalization(bogus=1)


def test_bad_inputs_raise_with_layer_name():
    bn = BatchNormalization(name="bn_bad")
    bn.build((None, 4))
    with pytest.raises(ValueError, match=r"bn_bad.*\(None, 4\).*\(2, 5\)"):
        bn.forward(np.ones((2, 5), np.float32), training=True)
    with pytest.raises(ValueError, match="bn_bad.*before forward"):
        bn.backward(np.ones((2, 4), np.float32))
    bn.forward(np.ones((2, 4), np.float32), training=True)
    with pytest.raises(ValueError, match="bn_bad.*gradient"):
        bn.backward(np.ones((3, 4), np.float32))
    ln = LayerNormalization(name="ln_bad")
    with pytest.raises(ValueError, match="ln_bad"):
        ln.forward(np.ones((3,), np.float32))
    with pytest.raises(ValueError, match="bn_bad"):
        bn.set_weights([np.ones(4)] * 3)
    with pytest.raises(ValueError, match="moving_variance"):
        bn.set_weights([np.ones(4)] * 3 + [np.ones(5)])
