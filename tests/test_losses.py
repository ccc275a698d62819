"""Tests for the losses (cpp/src/kernels/loss.cpp, cpp/src/model/losses.cpp through nncore.ops.loss).

Each loss's value and gradient against Keras's formulas in NumPy float64 (with and without from_logits), the
gradient against central differences of nncore's own loss, the fused logits path against the probability path,
and the checks on targets.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import nncore
from nncore import ops

from conftest import numeric_grad

EPS = 1e-7  # Keras's backend epsilon
# The clip bounds as float32 computes them (as Keras does on float32 tensors): 1 - 1e-7 rounds to 1 - 2**-23.
LO = float(np.float32(EPS))
HI = float(np.float32(1) - np.float32(EPS))
ALIASES = {"mean_squared_error": "mse", "mean_absolute_error": "mae"}
CE = ["binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]


# --------------------------------------------------------------- NumPy float64 references (Keras 3 formulas)

def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def np_loss(name: str, pred, y, from_logits: bool = False):
    """(mean over the batch of the per-sample loss, its gradient with respect to pred), both float64.

    Clipping has the gradient of tf.clip_by_value: zero strictly outside the bounds."""
    name = ALIASES.get(name, name)
    p = np.asarray(pred, np.float64)
    y = np.asarray(y, np.float64)
    B = p.shape[0]
    D = p[0].size
    if name == "sparse_categorical_crossentropy":
        C = p.shape[-1]
        y = np.eye(C)[y.reshape(B).astype(int)]
        name = "categorical_crossentropy"
    y = y.reshape(p.shape)
    if name == "mse":
        d = p - y
        return float(np.mean(d * d)), 2.0 * d / (B * D)
    if name == "mae":
        d = p - y
        return float(np.mean(np.abs(d))), np.sign(d) / (B * D)
    if name == "binary_crossentropy":
        if from_logits:
            per = np.maximum(p, 0) - p * y + np.log1p(np.exp(-np.abs(p)))
            return float(np.mean(per)), (_sigmoid(p) - y) / (B * D)
        pc = np.clip(p, LO, HI)
        per = -(y * np.log(pc) + (1 - y) * np.log(1 - pc))
        kept = (p >= LO) & (p <= HI)
        grad = np.where(kept, (pc - y) / (pc * (1 - pc)), 0.0)
        return float(np.mean(per)), grad / (B * D)
    if name == "categorical_crossentropy":
        assert p.ndim == 2
        if from_logits:
            lse = np.log(np.exp(p - p.max(-1, keepdims=True)).sum(-1, keepdims=True)) + p.max(-1, keepdims=True)
            per = np.sum(y * (lse - p), axis=-1)
            grad = _softmax(p) * y.sum(-1, keepdims=True) - y
            return float(np.mean(per)), grad / B
        S = p.sum(-1, keepdims=True)
        q = p / S
        qc = np.clip(q, LO, HI)
        per = -np.sum(y * np.log(qc), axis=-1)
        kept = (q >= LO) & (q <= HI)
        # d/dp_j of -sum_c y_c log(clip(p_c / S)): -y_j/p_j where kept, plus sum_{c kept} y_c / S for every j.
        with np.errstate(divide="ignore", invalid="ignore"):
            direct = np.where(kept, -y / p, 0.0)
        grad = direct + np.sum(np.where(kept, y, 0.0), axis=-1, keepdims=True) / S
        return float(np.mean(per)), grad / B
    raise AssertionError(name)


# --------------------------------------------------------------- data

def make_case(name: str, from_logits: bool, shape, rng: np.random.Generator):
    """(pred, y) float32/int inputs for the loss, away from clipping bounds and kinks."""
    B, C = shape[0], shape[-1]
    if name in ("mse", "mae", "mean_squared_error", "mean_absolute_error"):
        pred = rng.standard_normal(shape)
        y = pred + np.where(rng.random(shape) < 0.5, -1, 1) * rng.uniform(0.05, 1.0, shape)  # |p - y| >= 0.05
        return pred.astype(np.float32), y.astype(np.float32)
    if name == "binary_crossentropy":
        y = rng.integers(0, 2, shape).astype(np.float32)
        y[..., 0] = rng.uniform(0, 1, shape[:-1])  # soft labels are allowed
        pred = rng.standard_normal(shape) * 2 if from_logits else rng.uniform(0.05, 0.95, shape)
        return pred.astype(np.float32), y
    if name == "categorical_crossentropy":
        y = np.eye(C)[rng.integers(0, C, B)].astype(np.float32)
        if B > 1:
            y[1] = rng.dirichlet(np.ones(C))  # a soft-label row
    else:
        y = rng.integers(0, C, B)
    if from_logits:
        pred = rng.standard_normal(shape) * 2
    else:
        pred = rng.uniform(0.2, 1.0, shape)
        pred /= pred.sum(-1, keepdims=True)
    return pred.astype(np.float32), y


LOSS_CASES = [("mse", False), ("mae", False), ("mean_squared_error", False), ("mean_absolute_error", False),
              ("binary_crossentropy", False), ("binary_crossentropy", True), ("categorical_crossentropy", False),
              ("categorical_crossentropy", True), ("sparse_categorical_crossentropy", False),
              ("sparse_categorical_crossentropy", True)]
CASE_IDS = [f"{n}{'-logits' if lg else ''}" for n, lg in LOSS_CASES]


def shapes_for(name: str):
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        return [(1, 1), (1, 2), (4, 3), (7, 10), (3, 33)]
    return [(1, 1), (4, 3), (7, 10), (3, 33), (2, 3, 5)]  # mean over every per-sample axis


# --------------------------------------------------------------- values and gradients

@pytest.mark.parametrize("name,from_logits", LOSS_CASES, ids=CASE_IDS)
def test_value_and_gradient_match_numpy_float64(name, from_logits):
    rng = np.random.default_rng(len(name) + from_logits)
    for shape in shapes_for(name):
        pred, y = make_case(name, from_logits, shape, rng)
        value, grad = ops.loss(name, pred, y, from_logits=from_logits)
        want_value, want_grad = np_loss(name, pred, y, from_logits)
        assert isinstance(value, float)
        assert grad.dtype == np.float32 and grad.shape == pred.shape
        assert value == pytest.approx(want_value, rel=1e-6, abs=1e-7), shape
        np.testing.assert_allclose(grad, want_grad, rtol=2e-5, atol=1e-7, err_msg=str(shape))


@pytest.mark.parametrize("name,from_logits", LOSS_CASES, ids=CASE_IDS)
def test_gradient_matches_finite_differences(name, from_logits):
    # Central differences of nncore's own loss value. Inputs sit on a 2**-12 grid and the step is 2**-8, so
    # pred +- h is exact in float32; make_case keeps pred that far from kinks and clipping bounds.
    rng = np.random.default_rng(40 + len(name) + from_logits)
    pred, y = make_case(name, from_logits, (3, 4), rng)
    pred = (np.round(pred.astype(np.float64) * 4096) / 4096)

    def loss(p: np.ndarray) -> float:
        return ops.loss(name, p.astype(np.float32), y, from_logits=from_logits)[0]

    want = numeric_grad(loss, pred, eps=2.0 ** -8)
    _, got = ops.loss(name, pred.astype(np.float32), y, from_logits=from_logits)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-4)


def test_hand_computed_values():
    p = np.array([[0.5, 0.25, 0.25]], np.float32)
    assert ops.loss("sparse_categorical_crossentropy", p, [1])[0] == pytest.approx(np.log(4.0), rel=1e-6)
    assert ops.loss("categorical_crossentropy", p, [[0, 0, 1]])[0] == pytest.approx(np.log(4.0), rel=1e-6)
    assert ops.loss("binary_crossentropy", [[0.5, 0.5]], [[1, 0]])[0] == pytest.approx(np.log(2.0), rel=1e-6)
    assert ops.loss("binary_crossentropy", [[0.0]], [[0.0]], from_logits=True)[0] == pytest.approx(np.log(2.0))
    v, g = ops.loss("mse", [[1.0, 3.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 2.0]])
    assert v == pytest.approx((1 + 4) / 2 / 2 + (0 + 4) / 2 / 2)
    np.testing.assert_allclose(g, [[0.5, 1.0], [0.0, -1.0]])
    v, g = ops.loss("mae", [[1.0, 3.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 2.0]])
    assert v == pytest.approx((1 + 2) / 2 / 2 + (0 + 2) / 2 / 2)
    np.testing.assert_allclose(g, [[0.25, 0.25], [0.0, -0.25]])  # sign(0) = 0


def test_categorical_crossentropy_normalizes_by_row_sum():
    # Keras divides by the row sum first: scaling a row of probabilities changes nothing.
    rng = np.random.default_rng(5)
    p = rng.uniform(0.1, 1.0, (4, 6)).astype(np.float32)
    y = np.eye(6, dtype=np.float32)[[0, 3, 5, 2]]
    v1, g1 = ops.loss("categorical_crossentropy", p, y)
    v2, g2 = ops.loss("categorical_crossentropy", p * 3, y)
    assert v1 == pytest.approx(v2, rel=1e-6)
    np.testing.assert_allclose(g2 * 3, g1, rtol=1e-5, atol=1e-7)
    assert v1 == pytest.approx(np_loss("categorical_crossentropy", p, y)[0], rel=1e-6)
    # The gradient of a normalized loss is orthogonal to p in each row (scale invariance).
    np.testing.assert_allclose(np.sum(g1 * p, axis=1), 0.0, atol=1e-6)


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy",
                                  "sparse_categorical_crossentropy"])
def test_probabilities_at_zero_and_one_are_clipped(name):
    # log(0) would be inf: the clip to [1e-7, 1 - 1e-7] gives -log(1e-7) = 16.118 instead.
    if name == "binary_crossentropy":
        p = np.array([[0.0, 1.0, 0.0, 1.0]], np.float32)
        y = np.array([[1.0, 0.0, 0.0, 1.0]], np.float32)
    elif name == "categorical_crossentropy":
        p = np.array([[1.0, 0.0, 0.0]], np.float32)
        y = np.array([[0.0, 1.0, 0.0]], np.float32)
    else:
        p = np.array([[1.0, 0.0, 0.0]], np.float32)
        y = np.array([1])
    value, grad = ops.loss(name, p, y)
    want_value, want_grad = np_loss(name, p, y)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value == pytest.approx(want_value, rel=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def test_categorical_crossentropy_gradient_with_a_clipped_non_target_entry():
    # p = (0.5, 0.5, 0): q_2 = 0 is clipped, but p_2 still enters the row sum S, so raising it lowers q_0 and
    # raises the loss: d loss / d p_2 = y_0 / S = 1 (tf.clip_by_value's gradient, and the finite difference).
    p = np.array([[0.5, 0.5, 0.0]], np.float32)
    y = np.array([[1.0, 0.0, 0.0]], np.float32)
    value, grad = ops.loss("categorical_crossentropy", p, y)
    assert value == pytest.approx(np.log(2.0), rel=1e-6)
    np.testing.assert_allclose(grad, [[-1.0, 1.0, 1.0]], rtol=1e-6)
    h = 2.0 ** -10
    up = ops.loss("categorical_crossentropy", p + [[0, 0, h]], y)[0]
    assert (up - value) / h == pytest.approx(1.0, rel=2e-3)


def test_binary_crossentropy_zero_gradient_outside_the_clip():
    p = np.array([[0.0, 1.0, 0.5]], np.float32)
    y = np.array([[1.0, 0.0, 1.0]], np.float32)
    _, grad = ops.loss("binary_crossentropy", p, y)
    np.testing.assert_allclose(grad, [[0.0, 0.0, -2.0 / 3]], rtol=1e-6)


@pytest.mark.parametrize("name", CE)
def test_from_logits_is_stable_for_large_logits(name):
    z = np.array([[1e4, -1e4, 0.0], [-500.0, 500.0, 80.0]], np.float32)
    if name == "binary_crossentropy":
        y = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5]], np.float32)
    elif name == "categorical_crossentropy":
        y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
    else:
        y = np.array([1, 0])
    value, grad = ops.loss(name, z, y, from_logits=True)
    want_value, want_grad = np_loss(name, z, y, from_logits=True)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value == pytest.approx(want_value, rel=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------- fused logits path vs probability path

@pytest.mark.parametrize("name", CE)
def test_logits_path_equals_probability_path(name):
    # loss(act(z)) and loss(z, from_logits=True) agree for moderate logits, and so do the gradients with respect
    # to z once the probability path's gradient goes back through the activation.
    rng = np.random.default_rng(77)
    act = "sigmoid" if name == "binary_crossentropy" else "softmax"
    for B, C in [(1, 2), (5, 3), (8, 10), (3, 33)]:
        z = (rng.standard_normal((B, C)) * 3).astype(np.float32)
        if name == "binary_crossentropy":
            y = rng.integers(0, 2, (B, C)).astype(np.float32)
        elif name == "categorical_crossentropy":
            y = np.eye(C, dtype=np.float32)[rng.integers(0, C, B)]
        else:
            y = rng.integers(0, C, B)
        p = ops.activation(act, z)
        v_prob, g_prob = ops.loss(name, p, y)
        v_logit, g_logit = ops.loss(name, z, y, from_logits=True)
        assert v_prob == pytest.approx(v_logit, rel=1e-5, abs=1e-6)
        g_z = ops.activation_backward(act, g_prob, z, p)
        np.testing.assert_allclose(g_z, g_logit, rtol=1e-3, atol=2e-6)


def test_sparse_equals_categorical_with_one_hot():
    rng = np.random.default_rng(12)
    for from_logits in (False, True):
        pred, labels = make_case("sparse_categorical_crossentropy", from_logits, (6, 7), rng)
        one_hot = np.eye(7, dtype=np.float32)[labels]
        v1, g1 = ops.loss("sparse_categorical_crossentropy", pred, labels, from_logits)
        v2, g2 = ops.loss("categorical_crossentropy", pred, one_hot, from_logits)
        assert v1 == pytest.approx(v2, rel=1e-6)
        np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("labels", [np.array([2, 0, 1]), np.array([[2], [0], [1]]), np.array([2.0, 0.0, 1.0]),
                                    np.array([[2.0], [0.0], [1.0]], np.float32), np.array([2, 0, 1], np.uint8)])
def test_sparse_labels_in_any_numeric_layout(labels):
    p = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]], np.float32)
    value, grad = ops.loss("sparse_categorical_crossentropy", p, labels)
    want_value, want_grad = np_loss("sparse_categorical_crossentropy", p, [2, 0, 1])
    assert value == pytest.approx(want_value, rel=1e-6)
    assert value == pytest.approx(-np.mean(np.log([0.7, 0.6, 0.5])), rel=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6)


@pytest.mark.parametrize("name", ["mse", "mae", "binary_crossentropy"])
def test_from_logits_flag_only_changes_crossentropies(name):
    rng = np.random.default_rng(3)
    pred, y = make_case(name, False, (4, 5), rng)
    v0, g0 = ops.loss(name, pred, y, from_logits=False)
    v1, g1 = ops.loss(name, pred, y, from_logits=True)
    if name == "binary_crossentropy":
        assert v0 != pytest.approx(v1)
    else:
        assert v0 == v1 and np.array_equal(g0, g1)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_losses_on_three_dimensional_outputs(name, from_logits):
    # Keras applies the categorical losses along the last axis and averages over the others.
    rng = np.random.default_rng(1)
    z = rng.standard_normal((2, 3, 4)).astype(np.float32)
    labels = rng.integers(0, 4, (2, 3))
    y = labels if name.startswith("sparse") else np.eye(4, dtype=np.float32)[labels]
    pred = z if from_logits else ops.activation("softmax", z)
    value, grad = ops.loss(name, pred, y, from_logits=from_logits)
    # The same as the 6 rows as a batch: mean of the 6 per-row losses, gradient 1/6 of each row's.
    rows_value, rows_grad = ops.loss(name, pred.reshape(6, 4), y.reshape(6, -1), from_logits=from_logits)
    assert value == pytest.approx(rows_value, rel=1e-6)
    np.testing.assert_allclose(grad.reshape(6, 4), rows_grad, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------- bad targets

@pytest.mark.parametrize("bad,shown", [(3, "3"), (-1, "-1"), (1.5, "1.5"), (100, "100")])
def test_sparse_labels_out_of_range_or_non_integer(bad, shown):
    p = np.full((3, 3), 1 / 3, np.float32)
    for from_logits in (False, True):
        with pytest.raises(ValueError, match=rf"sparse_categorical_crossentropy: y must hold integer class labels in "
                                             rf"\[0, 3\).*got {shown} at index 1"):
            ops.loss("sparse_categorical_crossentropy", p, np.array([0, bad, 2]), from_logits=from_logits)


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy"])
@pytest.mark.parametrize("bad", [-0.5, 1.5, 2.0])
def test_crossentropy_targets_outside_unit_interval(name, bad):
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, bad]], np.float32)
    with pytest.raises(ValueError, match=rf"{name}: y must hold target probabilities in \[0, 1\]; got {bad:g} "
                                         rf"at index 5"):
        ops.loss(name, np.full((2, 3), 0.5, np.float32), y)


@pytest.mark.parametrize("name", ["mse", "mae", "binary_crossentropy", "categorical_crossentropy",
                                  "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_targets_name_the_loss_and_the_value(name, bad):
    p = np.full((3, 3), 1 / 3, np.float32)
    y = np.array([0.0, bad, 1.0]) if name.startswith("sparse") else np.eye(3)
    if not name.startswith("sparse"):
        y[1, 2] = bad
    full = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}.get(name, name)
    shown = "nan" if np.isnan(bad) else ("-inf" if bad < 0 else "inf")
    with pytest.raises(ValueError, match=rf"{full}: y contains 1 non-finite value.*{shown}"):
        ops.loss(name, p, y)


@pytest.mark.parametrize("name,pred_shape,y_shape", [
    ("mse", (4, 3), (4, 5)), ("mse", (4, 3), (4,)), ("mae", (4, 3), (4, 3, 2)), ("mae", (2, 3, 5), (2, 5)),
    ("binary_crossentropy", (4, 1), (4, 2)), ("categorical_crossentropy", (4, 3), (4,)),
    ("categorical_crossentropy", (4, 3), (4, 1)), ("sparse_categorical_crossentropy", (4, 3), (4, 3)),
    ("sparse_categorical_crossentropy", (4, 3), (4, 2)),
])
def test_wrong_target_shape(name, pred_shape, y_shape):
    full = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}.get(name, name)
    per = "(None,)" if name.startswith("sparse") else "(None, " + ", ".join(map(str, pred_shape[1:])) + ")"
    with pytest.raises(ValueError, match=rf"{full}: expected y of shape {re.escape(per)}.*got "
                                         rf"{re.escape(str(y_shape))}"):
        ops.loss(name, np.full(pred_shape, 0.5, np.float32), np.zeros(y_shape, np.float32))


@pytest.mark.parametrize("name", ["mse", "categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_batch_size_mismatch(name):
    y = np.zeros(5) if name.startswith("sparse") else np.zeros((5, 3))
    with pytest.raises(ValueError, match=r"loss: pred and y must have the same batch size, got 4 and 5"):
        ops.loss(name, np.full((4, 3), 0.5, np.float32), y)


def test_pred_without_batch_axis():
    with pytest.raises(ValueError, match=r"loss: expected pred of shape \(batch, \.\.\.\), got \(3,\)"):
        ops.loss("mse", np.zeros(3, np.float32), np.zeros(3, np.float32))


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; valid losses: mse, mae, binary_crossentropy, "
                                         r"categorical_crossentropy, sparse_categorical_crossentropy"):
        ops.loss("hinge", np.zeros((2, 2)), np.zeros((2, 2)))


def test_loss_objects_agree_with_ops():
    rng = np.random.default_rng(0)
    pred, y = make_case("categorical_crossentropy", False, (4, 5), rng)
    obj = nncore.losses.get("categorical_crossentropy")
    assert obj(y, pred) == pytest.approx(ops.loss("categorical_crossentropy", pred, y)[0])
    z, labels = make_case("sparse_categorical_crossentropy", True, (4, 5), rng)
    obj = nncore.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert obj(labels, z) == pytest.approx(ops.loss("sparse_categorical_crossentropy", z, labels, True)[0])
