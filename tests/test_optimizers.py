"""Tests for the optimizers (cpp/src/kernels/optim.cpp, cpp/src/model/optimizers.cpp through
nncore.optimizers and Optimizer.apply_gradients).

Five steps with changing gradients against NumPy float64 implementations of the documented update rules (Keras 3's
forms, including amsgrad, AdamW, Adagrad, RMSprop's momentum and centered variants, weight decay, the three clipping
modes and learning-rate schedules), state per variable, hyper-parameter checks, and optimizers by name.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import nncore
from nncore.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop, schedules

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


@pytest.mark.parametrize("name,make_opt,make_ref", [c for c in CASES if c[0].startswith("adam")],
                         ids=[c[0] for c in CASES if c[0].startswith("adam")])
def test_adam_matches_numpy_float64_on_every_isa(isa, name, make_opt, make_ref):
    # Adam's loop has its own AVX2 and AVX-512 builds (kernels/optim_body.hpp); odd sizes reach their tails.
    opt, ws, ref_ws = run_both(make_opt, make_ref, shapes=[(37,), (5, 13), (1,)])
    for w, r in zip(ws, ref_ws):
        np.testing.assert_allclose(w, r, rtol=1e-5, atol=1e-6, err_msg=f"isa={isa}")


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
    with pytest.raises(ValueError, match=r"unknown optimizer 'adadelta'; valid optimizers: sgd, adam, adamw, "
                                         r"adagrad, rmsprop"):
        nncore.optimizers.get("adadelta")
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


# =============================================================== Keras 3 extensions

def np_clip(gs, clipnorm=None, global_clipnorm=None, clipvalue=None):
    """Keras 3's BaseOptimizer._clip_gradients: one mode, clipnorm before global_clipnorm before clipvalue."""
    if clipnorm:
        return [g * clipnorm / max(math.sqrt(float((g * g).sum())), clipnorm) for g in gs]
    if global_clipnorm:
        norm = math.sqrt(sum(float((g * g).sum()) for g in gs))
        scale = global_clipnorm * min(1.0 / norm if norm > 0 else math.inf, 1.0 / global_clipnorm)
        return [g * scale for g in gs]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in gs]
    return gs


class SgdRule:
    def __init__(self, momentum=0.0, nesterov=False):
        self.ref = None
        self.momentum, self.nesterov = momentum, nesterov

    def __call__(self, ws, gs, lr, t):
        if self.ref is None:
            self.ref = NpSGD(lr, self.momentum, self.nesterov)
        self.ref.lr = lr
        self.ref.step(ws, gs)


class AdamRule:
    """Adam with Keras's amsgrad: v_hat = max(v_hat, v) in the denominator."""

    def __init__(self, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
        self.b1, self.b2, self.eps, self.amsgrad = b1, b2, eps, amsgrad
        self.state = None

    def __call__(self, ws, gs, lr, t):
        if self.state is None:
            self.state = [(np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)) for w in ws]
        lr_t = lr * math.sqrt(1 - self.b2 ** t) / (1 - self.b1 ** t)
        for w, g, (m, v, v_hat) in zip(ws, gs, self.state):
            m[...] = self.b1 * m + (1 - self.b1) * g
            v[...] = self.b2 * v + (1 - self.b2) * g * g
            if self.amsgrad:
                v_hat[...] = np.maximum(v_hat, v)
                w -= lr_t * m / (np.sqrt(v_hat) + self.eps)
            else:
                w -= lr_t * m / (np.sqrt(v) + self.eps)


class AdagradRule:
    """acc += g^2; w -= lr*g/sqrt(acc+eps), acc starting at initial_accumulator_value."""

    def __init__(self, initial=0.1, eps=1e-7):
        self.initial, self.eps = initial, eps
        self.acc = None

    def __call__(self, ws, gs, lr, t):
        if self.acc is None:
            self.acc = [np.full_like(w, self.initial) for w in ws]
        for w, g, acc in zip(ws, gs, self.acc):
            acc += g * g
            w -= lr * g / np.sqrt(acc + self.eps)


class RMSpropRule:
    """Keras 3 RMSprop with momentum and centered."""

    def __init__(self, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
        self.rho, self.momentum, self.eps, self.centered = rho, momentum, eps, centered
        self.state = None

    def __call__(self, ws, gs, lr, t):
        if self.state is None:
            self.state = [(np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)) for w in ws]
        for w, g, (ms, mg, vel) in zip(ws, gs, self.state):
            ms[...] = self.rho * ms + (1 - self.rho) * g * g
            if self.centered:
                mg[...] = self.rho * mg + (1 - self.rho) * g
                d = ms - mg * mg + self.eps
            else:
                d = ms + self.eps
            inc = lr * g / np.sqrt(d)
            if self.momentum > 0:
                vel[...] = self.momentum * vel + inc
                w -= vel
            else:
                w -= inc


class NpKeras:
    """Keras 3's BaseOptimizer.apply: clip, w -= w*wd*lr, update with lr = schedule(iterations before the step)."""

    def __init__(self, rule, lr, weight_decay=None, **clip):
        self.rule, self.lr, self.wd, self.clip = rule, lr, weight_decay, clip
        self.t = 0

    def step(self, ws, gs):
        gs = np_clip(gs, **self.clip)
        lr = self.lr(self.t) if callable(self.lr) else self.lr
        if self.wd:
            for w in ws:
                w -= w * self.wd * lr
        self.t += 1
        self.rule(ws, gs, lr, self.t)


# (name, nncore optimizer class, its kwargs, reference rule factory, learning rate, weight decay in the reference)
NEW_CASES = [
    ("adam_amsgrad", Adam, dict(learning_rate=0.01, amsgrad=True), lambda: AdamRule(amsgrad=True), 0.01, None),
    ("adam_amsgrad_custom", Adam, dict(learning_rate=0.003, beta_1=0.5, beta_2=0.9, epsilon=1e-3, amsgrad=True),
     lambda: AdamRule(0.5, 0.9, 1e-3, True), 0.003, None),
    ("adamw_default_decay", AdamW, dict(learning_rate=0.01), lambda: AdamRule(), 0.01, 0.004),
    ("adamw_large_decay", AdamW, dict(learning_rate=0.02, weight_decay=0.5), lambda: AdamRule(), 0.02, 0.5),
    ("adamw_amsgrad", AdamW, dict(learning_rate=0.01, weight_decay=0.1, amsgrad=True),
     lambda: AdamRule(amsgrad=True), 0.01, 0.1),
    ("adam_weight_decay", Adam, dict(learning_rate=0.01, weight_decay=0.2), lambda: AdamRule(), 0.01, 0.2),
    ("adagrad", Adagrad, dict(learning_rate=0.05), lambda: AdagradRule(), 0.05, None),
    ("adagrad_custom", Adagrad, dict(learning_rate=0.1, initial_accumulator_value=0.5, epsilon=1e-3),
     lambda: AdagradRule(0.5, 1e-3), 0.1, None),
    ("adagrad_zero_accumulator", Adagrad, dict(learning_rate=0.1, initial_accumulator_value=0.0),
     lambda: AdagradRule(0.0), 0.1, None),
    ("rmsprop_momentum", RMSprop, dict(learning_rate=0.01, momentum=0.9), lambda: RMSpropRule(momentum=0.9), 0.01,
     None),
    ("rmsprop_centered", RMSprop, dict(learning_rate=0.01, centered=True), lambda: RMSpropRule(centered=True), 0.01,
     None),
    ("rmsprop_centered_momentum", RMSprop, dict(learning_rate=0.005, rho=0.8, momentum=0.5, centered=True),
     lambda: RMSpropRule(0.8, 0.5, 1e-7, True), 0.005, None),
    ("sgd_weight_decay", SGD, dict(learning_rate=0.1, weight_decay=0.3), lambda: SgdRule(), 0.1, 0.3),
    ("sgd_momentum_weight_decay", SGD, dict(learning_rate=0.05, momentum=0.9, weight_decay=0.1),
     lambda: SgdRule(0.9), 0.05, 0.1),
    ("rmsprop_weight_decay", RMSprop, dict(learning_rate=0.01, weight_decay=0.5), lambda: RMSpropRule(), 0.01, 0.5),
]
CLIPS = [dict(), dict(clipnorm=1.0), dict(clipvalue=0.5), dict(global_clipnorm=2.0)]
CLIP_IDS = ["noclip", "clipnorm", "clipvalue", "global_clipnorm"]


def make_pair(cls, kwargs, rule, lr, wd, clip):
    return lambda: cls(**kwargs, **clip), lambda: NpKeras(rule(), lr, wd, **clip)


@pytest.mark.parametrize("clip", CLIPS, ids=CLIP_IDS)
@pytest.mark.parametrize("name,cls,kwargs,rule,lr,wd", NEW_CASES, ids=[c[0] for c in NEW_CASES])
def test_keras3_extensions_match_numpy_float64(name, cls, kwargs, rule, lr, wd, clip):
    make_opt, make_ref = make_pair(cls, kwargs, rule, lr, wd, clip)
    for seed, grad_scale in ((0, 1.0), (1, 1e-3)):
        opt, ws, ref_ws = run_both(make_opt, make_ref, seed=seed, grad_scale=grad_scale)
        assert opt.iterations == STEPS
        for w, r in zip(ws, ref_ws):
            np.testing.assert_allclose(w, r, rtol=1e-5, atol=1e-6)


# The original optimizers with every clipping mode.
BASE_CLIP_CASES = [
    ("sgd", SGD, dict(learning_rate=0.1), lambda: SgdRule(), 0.1),
    ("sgd_nesterov", SGD, dict(learning_rate=0.05, momentum=0.8, nesterov=True), lambda: SgdRule(0.8, True), 0.05),
    ("adam", Adam, dict(learning_rate=0.01), lambda: AdamRule(), 0.01),
    ("rmsprop", RMSprop, dict(learning_rate=0.01), lambda: RMSpropRule(), 0.01),
]


@pytest.mark.parametrize("clip", CLIPS[1:], ids=CLIP_IDS[1:])
@pytest.mark.parametrize("name,cls,kwargs,rule,lr", BASE_CLIP_CASES, ids=[c[0] for c in BASE_CLIP_CASES])
def test_clipping_matches_numpy_float64(name, cls, kwargs, rule, lr, clip):
    make_opt, make_ref = make_pair(cls, kwargs, rule, lr, None, clip)
    _, ws, ref_ws = run_both(make_opt, make_ref)
    for w, r in zip(ws, ref_ws):
        np.testing.assert_allclose(w, r, rtol=1e-5, atol=1e-6)


def test_clipping_acts_on_large_gradients_only():
    # Per-variable: a gradient of norm 5 is scaled to norm 1, one of norm 0.5 is left alone.
    a, b = np.zeros(2, np.float32), np.zeros(2, np.float32)
    SGD(learning_rate=1.0, clipnorm=1.0).apply_gradients([(np.array([3.0, 4.0], np.float32), a),
                                                          (np.array([0.3, 0.4], np.float32), b)])
    np.testing.assert_allclose(a, [-0.6, -0.8], rtol=1e-6)
    np.testing.assert_allclose(b, [-0.3, -0.4], rtol=1e-6)
    # Global: norms 5 and 0.5 together are sqrt(25.25); both scale by 1/sqrt(25.25).
    a, b = np.zeros(2, np.float32), np.zeros(2, np.float32)
    SGD(learning_rate=1.0, global_clipnorm=1.0).apply_gradients([(np.array([3.0, 4.0], np.float32), a),
                                                                 (np.array([0.3, 0.4], np.float32), b)])
    s = 1 / math.sqrt(25.25)
    np.testing.assert_allclose(a, [-3 * s, -4 * s], rtol=1e-6)
    np.testing.assert_allclose(b, [-0.3 * s, -0.4 * s], rtol=1e-6)
    # Elementwise, and zero gradients stay zero under the norms.
    c = np.zeros(3, np.float32)
    SGD(learning_rate=1.0, clipvalue=0.5).apply_gradients([(np.array([2.0, -0.1, -3.0], np.float32), c)])
    np.testing.assert_allclose(c, [-0.5, 0.1, 0.5])
    for kw in (dict(clipnorm=1.0), dict(global_clipnorm=1.0)):
        z = np.ones(3, np.float32)
        SGD(learning_rate=1.0, **kw).apply_gradients([(np.zeros(3, np.float32), z)])
        np.testing.assert_array_equal(z, np.ones(3, np.float32))


def test_clipnorm_takes_precedence_over_clipvalue():
    # As Keras: only one mode acts; clipnorm=10 leaves [3, 4] alone even though clipvalue=0.5 is set.
    w = np.zeros(2, np.float32)
    opt = SGD(learning_rate=1.0, clipnorm=10.0, clipvalue=0.5)
    opt.apply_gradients([(np.array([3.0, 4.0], np.float32), w)])
    np.testing.assert_allclose(w, [-3.0, -4.0])


@pytest.mark.parametrize("kw", [dict(clipnorm=0.1), dict(clipvalue=0.1), dict(global_clipnorm=0.1)])
def test_clipping_leaves_the_callers_gradients_alone(kw):
    rng = np.random.default_rng(5)
    gs = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    before = [g.copy() for g in gs]
    ws = [np.zeros(s, np.float32) for s in SHAPES]
    Adam(**kw).apply_gradients(list(zip(gs, ws)))
    for g, g0 in zip(gs, before):
        assert np.array_equal(g, g0)


NEW_THREAD_CASES = [
    ("adam_amsgrad_global_clipnorm", lambda: Adam(learning_rate=0.01, amsgrad=True, global_clipnorm=3.0)),
    ("adamw_clipnorm", lambda: AdamW(learning_rate=0.01, weight_decay=0.1, clipnorm=2.0)),
    ("adagrad_clipvalue", lambda: Adagrad(learning_rate=0.05, clipvalue=0.5)),
    ("rmsprop_centered_momentum", lambda: RMSprop(learning_rate=0.01, momentum=0.9, centered=True)),
    ("sgd_weight_decay", lambda: SGD(learning_rate=0.1, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,make_opt", NEW_THREAD_CASES, ids=[c[0] for c in NEW_THREAD_CASES])
def test_extensions_one_and_two_threads_bit_identical(name, make_opt, restore_threads):
    # Large enough that the update loops and the norm's block partials split over 2 threads.
    shapes = [(1024, 1024), (333,)]
    results = []
    for n in (1, 2):
        restore_threads(n)
        _, ws, _ = run_both(make_opt, lambda: NpSGD(), shapes=shapes, steps=2, seed=4)
        results.append(ws)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


# --------------------------------------------------------------- learning-rate schedules driving optimizers

SCHEDULE_CASES = [
    ("sgd_piecewise", lambda: schedules.PiecewiseConstantDecay([1, 3], [0.1, 0.01, 0.001]),
     lambda t: 0.1 if t <= 1 else (0.01 if t <= 3 else 0.001), SGD, dict(momentum=0.5), lambda: SgdRule(0.5)),
    ("adam_cosine_warmup", lambda: schedules.CosineDecay(0.0, 3, alpha=0.1, warmup_target=0.01, warmup_steps=2),
     lambda t: (0.01 * t / 2 if t < 2 else
                0.01 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(t - 2, 3) / 3)) + 0.1)), Adam, dict(),
     lambda: AdamRule()),
    ("rmsprop_exponential_staircase", lambda: schedules.ExponentialDecay(0.01, 2, 0.5, staircase=True),
     lambda t: 0.01 * 0.5 ** (t // 2), RMSprop, dict(momentum=0.9), lambda: RMSpropRule(momentum=0.9)),
    ("adamw_exponential", lambda: schedules.ExponentialDecay(0.02, 3, 0.3),
     lambda t: 0.02 * 0.3 ** (t / 3), AdamW, dict(weight_decay=0.5), lambda: AdamRule()),
]


@pytest.mark.parametrize("name,make_schedule,closed_form,cls,kwargs,rule", SCHEDULE_CASES,
                         ids=[c[0] for c in SCHEDULE_CASES])
def test_schedule_drives_the_learning_rate_per_step(name, make_schedule, closed_form, cls, kwargs, rule):
    wd = kwargs.get("weight_decay")
    make_opt = lambda: cls(learning_rate=make_schedule(), **kwargs)  # noqa: E731
    make_ref = lambda: NpKeras(rule(), closed_form, wd)  # noqa: E731
    opt, ws, ref_ws = run_both(make_opt, make_ref, steps=6)
    for w, r in zip(ws, ref_ws):
        np.testing.assert_allclose(w, r, rtol=1e-5, atol=1e-6)
    # The getter reports the rate the next step will use: schedule(iterations).
    assert opt.learning_rate == pytest.approx(closed_form(6), rel=1e-6)


def test_schedule_first_step_uses_step_zero_and_getter_follows_iterations():
    sched = schedules.PiecewiseConstantDecay([0, 1], [1.0, 0.5, 0.25])
    opt = SGD(learning_rate=sched)
    assert opt.learning_rate_schedule is not None
    w = np.zeros(1, np.float32)
    seen = []
    for _ in range(3):
        seen.append(opt.learning_rate)
        opt.apply_gradients([(np.ones(1, np.float32), w)])
    assert seen == [1.0, 0.5, 0.25]
    np.testing.assert_allclose(w, [-1.75])
    # A float replaces the schedule.
    opt.learning_rate = 0.125
    assert opt.learning_rate_schedule is None
    opt.apply_gradients([(np.ones(1, np.float32), w)])
    np.testing.assert_allclose(w, [-1.875])
    assert opt.learning_rate == 0.125
    # And a schedule can be set on an optimizer built with a float.
    opt.learning_rate = schedules.ExponentialDecay(1.0, 1, 0.5)
    assert opt.learning_rate == pytest.approx(0.5 ** 4)


def test_learning_rate_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"learning_rate must be a float or a LearningRateSchedule, got 'fast'"):
        Adam(learning_rate="fast")
    opt = SGD()
    with pytest.raises(TypeError, match=r"learning_rate must be a float or a LearningRateSchedule"):
        opt.learning_rate = None


# --------------------------------------------------------------- new defaults, names, bad arguments

def test_new_keras_defaults():
    adam, adamw, ada, rms = Adam(), AdamW(), Adagrad(), RMSprop()
    assert not adam.amsgrad and adam.weight_decay is None
    assert (adam.clipnorm, adam.clipvalue, adam.global_clipnorm) == (None, None, None)
    assert adamw.name == "AdamW" and isinstance(adamw, Adam)
    assert adamw.learning_rate == pytest.approx(1e-3) and adamw.weight_decay == pytest.approx(0.004)
    assert (adamw.beta_1, adamw.beta_2, adamw.epsilon, adamw.amsgrad) == pytest.approx((0.9, 0.999, 1e-7, False))
    assert ada.name == "Adagrad" and ada.learning_rate == pytest.approx(1e-3)
    assert (ada.initial_accumulator_value, ada.epsilon) == pytest.approx((0.1, 1e-7))
    assert (rms.momentum, rms.centered) == (0.0, False)
    opt = SGD(weight_decay=0.1, clipnorm=2.0, clipvalue=3.0)
    assert (opt.weight_decay, opt.clipnorm, opt.clipvalue, opt.global_clipnorm) == pytest.approx((0.1, 2, 3, None))


@pytest.mark.parametrize("name,cls", [("adamw", AdamW), ("AdamW", AdamW), ("adagrad", Adagrad),
                                      ("Adagrad", Adagrad)])
def test_get_new_names(name, cls):
    opt = nncore.optimizers.get(name)
    assert type(opt) is cls
    assert opt.learning_rate == cls().learning_rate


@pytest.mark.parametrize("make,message", [
    (lambda: SGD(weight_decay=-0.1), r"optimizer: weight_decay must be a finite number >= 0, got -0.1"),
    (lambda: AdamW(weight_decay=-1.0), r"optimizer: weight_decay must be a finite number >= 0, got -1"),
    (lambda: Adam(clipnorm=0.0), r"optimizer: clipnorm must be > 0, got 0"),
    (lambda: Adam(clipnorm=-1.0), r"optimizer: clipnorm must be > 0, got -1"),
    (lambda: SGD(clipvalue=0.0), r"optimizer: clipvalue must be > 0, got 0"),
    (lambda: RMSprop(clipvalue=-2.0), r"optimizer: clipvalue must be > 0, got -2"),
    (lambda: Adagrad(global_clipnorm=0.0), r"optimizer: global_clipnorm must be > 0, got 0"),
    (lambda: Adam(clipnorm=1.0, global_clipnorm=2.0),
     r"optimizer: only one of clipnorm and global_clipnorm can be set, got clipnorm=1 and global_clipnorm=2"),
    (lambda: AdamW(learning_rate=-0.5), r"optimizer: learning_rate must be a finite number >= 0, got -0.5"),
    (lambda: Adagrad(learning_rate=-1.0), r"optimizer: learning_rate must be a finite number >= 0, got -1"),
    (lambda: Adagrad(initial_accumulator_value=-0.1), r"Adagrad: initial_accumulator_value must be >= 0, got -0.1"),
    (lambda: Adagrad(epsilon=0.0), r"Adagrad: epsilon must be > 0, got 0"),
    (lambda: RMSprop(momentum=1.0), r"RMSprop: momentum must be in \[0, 1\), got 1"),
    (lambda: RMSprop(momentum=-0.5), r"RMSprop: momentum must be in \[0, 1\), got -0.5"),
    (lambda: AdamW(beta_1=1.0), r"Adam: beta_1 must be in \[0, 1\), got 1"),
])
def test_rejects_bad_new_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_setting_clip_options_later_is_checked():
    opt = Adam(global_clipnorm=1.0)
    with pytest.raises(ValueError, match=r"only one of clipnorm and global_clipnorm can be set"):
        opt.clipnorm = 1.0
    opt.global_clipnorm = None
    opt.clipnorm = 1.0
    assert opt.clipnorm == 1.0 and opt.global_clipnorm is None
    with pytest.raises(ValueError, match=r"weight_decay must be a finite number >= 0, got -1"):
        opt.weight_decay = -1.0
