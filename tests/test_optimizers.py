"""Tests for the optimizers (cpp/src/kernels/optim.cpp, cpp/src/model/optimizers.cpp through
nncore.optimizers and Optimizer.apply_gradients).

Five steps with changing gradients against NumPy float64 implementations of the documented update rules, state
per variable, hyper-parameter checks, and optimizers by name.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import nncore
from nncore.optimizers import SGD, Adam, RMSprop

STEPS = 5
SHAPES = [(3, 4), (7,), (1,), (17, 33)]


# --------------------------------------------------------------- NumPy float64 references

class NpSGD:
    """v = m*v - lr*g; w += v (nesterov: w += m*v - lr*g); plain: w -= lr*g."""

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False):
        self.lr, self.m, self.nesterov = lr, momentum, nesterov
        self.v = None

    def step(self, ws, gs):
        if self.v is None:
            self.v = [np.zeros_like(w) for w in ws]
        for w, g, v in zip(ws, gs, self.v):
            if self.m == 0:
                w -= self.lr * g
                continue
            v *= self.m
            v -= self.lr * g
            w += self.m * v - self.lr * g if self.nesterov else v


class NpAdam:
    """lr_t = lr*sqrt(1-b2^t)/(1-b1^t); m, v moving averages of g, g^2; w -= lr_t*m/(sqrt(v)+eps)."""

    def __init__(self, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.t = 0
        self.mv = None

    def step(self, ws, gs):
        if self.mv is None:
            self.mv = [(np.zeros_like(w), np.zeros_like(w)) for w in ws]
        self.t += 1
        lr_t = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for w, g, (m, v) in zip(ws, gs, self.mv):
            m[...] = self.b1 * m + (1 - self.b1) * g
            v[...] = self.b2 * v + (1 - self.b2) * g * g
            w -= lr_t * m / (np.sqrt(v) + self.eps)


class NpRMSprop:
    """Keras 3: ms = rho*ms + (1-rho)*g^2; w -= lr*g/sqrt(ms+eps)."""

    def __init__(self, lr=0.001, rho=0.9, eps=1e-7):
        self.lr, self.rho, self.eps = lr, rho, eps
        self.ms = None

    def step(self, ws, gs):
        if self.ms is None:
            self.ms = [np.zeros_like(w) for w in ws]
        for w, g, ms in zip(ws, gs, self.ms):
            ms[...] = self.rho * ms + (1 - self.rho) * g * g
            w -= self.lr * g / np.sqrt(ms + self.eps)


CASES = [
    ("sgd", lambda: SGD(learning_rate=0.1), lambda: NpSGD(0.1)),
    ("sgd_momentum", lambda: SGD(learning_rate=0.05, momentum=0.9), lambda: NpSGD(0.05, 0.9)),
    ("sgd_nesterov", lambda: SGD(learning_rate=0.05, momentum=0.8, nesterov=True), lambda: NpSGD(0.05, 0.8, True)),
    ("adam", lambda: Adam(learning_rate=0.01), lambda: NpAdam(0.01)),
    ("adam_custom", lambda: Adam(learning_rate=0.003, beta_1=0.5, beta_2=0.9, epsilon=1e-3),
     lambda: NpAdam(0.003, 0.5, 0.9, 1e-3)),
    ("rmsprop", lambda: RMSprop(learning_rate=0.01), lambda: NpRMSprop(0.01)),
    ("rmsprop_custom", lambda: RMSprop(learning_rate=0.002, rho=0.5, epsilon=1e-2),
     lambda: NpRMSprop(0.002, 0.5, 1e-2)),
]


def run_both(make_opt, make_ref, shapes=SHAPES, steps=STEPS, seed=0, grad_scale=1.0):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ref_ws = [w.astype(np.float64) for w in ws]
    opt, ref = make_opt(), make_ref()
    for _ in range(steps):
        # New gradients every step (some of either sign, some near zero), float32 as a model gives them.
        gs = [(rng.standard_normal(s) * grad_scale).astype(np.float32) for s in shapes]
        opt.apply_gradients(list(zip(gs, ws)))
        ref.step(ref_ws, [g.astype(np.float64) for g in gs])
    return opt, ws, ref_ws


@pytest.mark.parametrize("name,make_opt,make_ref", CASES, ids=[c[0] for c in CASES])
def test_five_steps_match_numpy_float64(name, make_opt, make_ref):
    opt, ws, ref_ws = run_both(make_opt, make_ref)
    assert opt.iterations == STEPS
    for w, r in zip(ws, ref_ws):
        assert w.dtype == np.float32
        np.testing.assert_allclose(w, r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,make_opt,make_ref", CASES, ids=[c[0] for c in CASES])
def test_small_gradients_match_numpy_float64(name, make_opt, make_ref):
    # Gradients of order 1e-3: Adam's and RMSprop's epsilon matters here.
    _, ws, ref_ws = run_both(make_opt, make_ref, seed=1, grad_scale=1e-3)
    for w, r in zip(ws, ref_ws):
        np.testing.assert_allclose(w, r, rtol=1e-5, atol=1e-6)


def test_first_adam_step_is_learning_rate_times_sign():
    # With zero state, m/sqrt(v) = g/|g| after the bias corrections: each weight moves by lr against its gradient
    # (up to epsilon, which acts as 1e-7 / sqrt(1 - beta_2) = 3.2e-6 against |g|).
    w = np.zeros(4, np.float32)
    Adam(learning_rate=0.1).apply_gradients([(np.array([2.0, -3.0, 0.5, -1.0], np.float32), w)])
    np.testing.assert_allclose(w, [-0.1, 0.1, -0.1, 0.1], rtol=1e-5)
    small = np.zeros(1, np.float32)
    Adam(learning_rate=0.1).apply_gradients([(np.array([1e-2], np.float32), small)])
    np.testing.assert_allclose(small, [-0.1 * 1e-2 / (1e-2 + 1e-7 / math.sqrt(1 - 0.999))], rtol=1e-5)


def test_sgd_hand_computed_momentum():
    w = np.array([1.0], np.float32)
    opt = SGD(learning_rate=0.5, momentum=0.5)
    opt.apply_gradients([(np.array([1.0], np.float32), w)])   # v = -0.5, w = 0.5
    opt.apply_gradients([(np.array([1.0], np.float32), w)])   # v = -0.75, w = -0.25
    np.testing.assert_allclose(w, [-0.25])
    wn = np.array([1.0], np.float32)
    nes = SGD(learning_rate=0.5, momentum=0.5, nesterov=True)
    nes.apply_gradients([(np.array([1.0], np.float32), wn)])  # v = -0.5, w += 0.5*-0.5 - 0.5 = 0.25
    np.testing.assert_allclose(wn, [0.25])


def test_state_is_kept_per_variable():
    # Two variables updated together follow their own histories: the same as two optimizers on one each.
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(5).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    a1, b1 = a.copy(), b.copy()
    both = Adam(learning_rate=0.05)
    only_a, only_b = Adam(learning_rate=0.05), Adam(learning_rate=0.05)
    for _ in range(4):
        ga, gb = rng.standard_normal(5).astype(np.float32), rng.standard_normal(3).astype(np.float32)
        both.apply_gradients([(ga, a), (gb, b)])
        only_a.apply_gradients([(ga, a1)])
        only_b.apply_gradients([(gb, b1)])
    assert np.array_equal(a, a1) and np.array_equal(b, b1)


def test_updates_layer_weight_views_in_place():
    rng = np.random.default_rng(2)
    layer = nncore.layers.Dense(3)
    x = rng.standard_normal((4, 2)).astype(np.float32)
    layer.forward(x, training=True)
    layer.zero_grad()
    layer.backward(np.ones((4, 3), np.float32))
    before = layer.get_weights()
    grads = [g.copy() for g in layer.gradients]
    SGD(learning_rate=0.1).apply_gradients(list(zip(layer.gradients, layer.weights)))
    for w, w0, g in zip(layer.get_weights(), before, grads):
        np.testing.assert_allclose(w, w0 - 0.1 * g, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,make_opt,make_ref", CASES, ids=[c[0] for c in CASES])
def test_one_and_two_threads_bit_identical(name, make_opt, make_ref, restore_threads):
    # Large enough that the update loops split over 2 threads.
    shapes = [(1024, 1024)]
    results = []
    for n in (1, 2):
        restore_threads(n)
        _, ws, _ = run_both(make_opt, lambda: NpSGD(), shapes=shapes, steps=2, seed=4)
        results.append(ws[0])
    assert np.array_equal(results[0], results[1])


def test_learning_rate_property():
    opt = SGD(learning_rate=0.1)
    assert opt.learning_rate == pytest.approx(0.1)
    opt.learning_rate = 0.5
    w = np.ones(2, np.float32)
    opt.apply_gradients([(np.ones(2, np.float32), w)])
    np.testing.assert_allclose(w, [0.5, 0.5])
    with pytest.raises(ValueError, match=r"learning_rate must be a finite number >= 0, got -1"):
        opt.learning_rate = -1.0
    assert opt.learning_rate == pytest.approx(0.5)


def test_keras_defaults():
    sgd, adam, rms = SGD(), Adam(), RMSprop()
    assert sgd.learning_rate == pytest.approx(0.01) and sgd.momentum == 0 and not sgd.nesterov
    assert adam.learning_rate == pytest.approx(1e-3)
    assert (adam.beta_1, adam.beta_2, adam.epsilon) == pytest.approx((0.9, 0.999, 1e-7))
    assert rms.learning_rate == pytest.approx(1e-3)
    assert (rms.rho, rms.epsilon) == pytest.approx((0.9, 1e-7))
    assert [o.name for o in (sgd, adam, rms)] == ["SGD", "Adam", "RMSprop"]


# --------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("make", [lambda: SGD(learning_rate=-0.1), lambda: Adam(learning_rate=-1e-3),
                                  lambda: RMSprop(learning_rate=-1.0), lambda: SGD(learning_rate=float("nan")),
                                  lambda: Adam(learning_rate=float("inf"))])
def test_rejects_bad_learning_rate(make):
    with pytest.raises(ValueError, match=r"optimizer: learning_rate must be a finite number >= 0"):
        make()


@pytest.mark.parametrize("momentum", [1.0, 1.5, -0.1])
def test_sgd_rejects_momentum_outside_unit_interval(momentum):
    with pytest.raises(ValueError, match=rf"SGD: momentum must be in \[0, 1\), got {momentum:g}"):
        SGD(momentum=momentum)


@pytest.mark.parametrize("kwargs,message", [
    (dict(beta_1=1.0), r"Adam: beta_1 must be in \[0, 1\), got 1"),
    (dict(beta_1=-0.5), r"Adam: beta_1 must be in \[0, 1\), got -0.5"),
    (dict(beta_2=1.0), r"Adam: beta_2 must be in \[0, 1\), got 1"),
    (dict(epsilon=0.0), r"Adam: epsilon must be > 0, got 0"),
])
def test_adam_rejects_bad_hyper_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Adam(**kwargs)


@pytest.mark.parametrize("kwargs,message", [
    (dict(rho=1.0), r"RMSprop: rho must be in \[0, 1\), got 1"),
    (dict(rho=-0.1), r"RMSprop: rho must be in \[0, 1\), got -0.1"),
    (dict(epsilon=-1e-7), r"RMSprop: epsilon must be > 0"),
])
def test_rmsprop_rejects_bad_hyper_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RMSprop(**kwargs)


def test_apply_gradients_rejects_bad_variables():
    opt = SGD()
    with pytest.raises(TypeError, match=r"apply_gradients: variable 0 must be a writable float32 C-contiguous"):
        opt.apply_gradients([(np.ones(3), np.ones(3))])  # float64 variable
    with pytest.raises(TypeError, match=r"variable 0 must be a writable float32 C-contiguous"):
        opt.apply_gradients([(np.ones(3), np.ones((3, 2), np.float32)[:, 0])])  # strided view
    frozen = np.ones(3, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(TypeError, match=r"variable 0 must be a writable"):
        opt.apply_gradients([(np.ones(3), frozen)])
    w = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"apply_gradients: gradient 0 has shape \(3, 2\) but its variable has "
                                         r"shape \(2, 3\)"):
        opt.apply_gradients([(np.ones((3, 2)), w)])
    assert np.array_equal(w, np.ones((2, 3), np.float32))


# --------------------------------------------------------------- by name

@pytest.mark.parametrize("name,cls", [("sgd", SGD), ("adam", Adam), ("rmsprop", RMSprop), ("Adam", Adam),
                                      ("RMSprop", RMSprop), ("SGD", SGD)])
def test_get_by_name(name, cls):
    opt = nncore.optimizers.get(name)
    assert isinstance(opt, cls)
    fresh = cls()
    assert opt.learning_rate == fresh.learning_rate


def test_get_passes_instances_through():
    opt = Adam(learning_rate=0.5)
    assert nncore.optimizers.get(opt) is opt


def test_get_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adagrad'; valid optimizers: sgd, adam, rmsprop"):
        nncore.optimizers.get("adagrad")
    with pytest.raises(TypeError, match=r"optimizer: expected a name"):
        nncore.optimizers.get(3)


def test_adam_on_new_variables_restarts_its_bias_correction():
    opt = Adam(learning_rate=0.1)
    a = np.zeros(3, np.float32)
    for _ in range(3):
        opt.apply_gradients([(np.ones(3, np.float32), a)])
    b = np.zeros(2, np.float32)
    opt.apply_gradients([(np.array([1.0, -1.0], np.float32), b)])  # fresh state for b: a first step
    np.testing.assert_allclose(b, [-0.1, 0.1], rtol=1e-5)
