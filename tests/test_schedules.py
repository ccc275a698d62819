"""Tests for the learning-rate schedules (cpp/src/model/optimizers.cpp through nncore.optimizers.schedules).

Each schedule against Keras 3's closed form at several steps (staircase, boundaries, warmup, past the end),
properties, and bad arguments. Optimizers driven by schedules are tested in tests/test_optimizers.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import nncore
from nncore.optimizers import schedules
from nncore.optimizers.schedules import CosineDecay, ExponentialDecay, PiecewiseConstantDecay

STEPS = [0, 1, 2, 3, 5, 7, 10, 99, 100, 101, 250, 1000, 10**6]


def cosine(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    """Keras 3 CosineDecay.__call__ in float64."""
    def decay(s, start):
        return start * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / decay_steps)) + alpha)
    if warmup_target is None:
        return decay(min(step, decay_steps), initial_learning_rate)
    s = min(step, decay_steps + warmup_steps)
    if s < warmup_steps:
        return (warmup_target - initial_learning_rate) * (s / warmup_steps) + initial_learning_rate
    return decay(s - warmup_steps, warmup_target)


def test_reexported_as_optimizers_schedules():
    assert nncore.optimizers.schedules is nncore.schedules
    assert issubclass(ExponentialDecay, schedules.LearningRateSchedule)
    assert isinstance(CosineDecay(0.1, 10), schedules.LearningRateSchedule)


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("initial,decay_steps,rate", [(0.1, 100, 0.96), (1.0, 7, 0.5), (0.01, 2.5, 1.02)])
def test_exponential_decay_closed_form(initial, decay_steps, rate, staircase):
    sched = ExponentialDecay(initial, decay_steps, rate, staircase=staircase)
    rate32 = float(np.float32(rate))  # the rate is a float32 parameter, as in Keras; rate^p amplifies its rounding
    for step in STEPS[:-1]:
        p = step / decay_steps
        if staircase:
            p = math.floor(p)
        assert sched(step) == pytest.approx(initial * rate32 ** p, rel=1e-6), step
    assert isinstance(sched(3), float)
    assert (sched.initial_learning_rate, sched.decay_steps, sched.decay_rate, sched.staircase) == \
        pytest.approx((initial, decay_steps, rate, staircase))
    assert sched.name == "ExponentialDecay"


def test_exponential_staircase_holds_within_a_period():
    sched = ExponentialDecay(1.0, 10, 0.5, staircase=True)
    assert [sched(s) for s in (0, 9, 10, 19, 20)] == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_piecewise_constant_decay_boundaries_belong_to_the_earlier_piece():
    sched = PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1])
    expected = {0: 1.0, 99: 1.0, 100: 1.0, 101: 0.5, 110: 0.5, 111: 0.1, 10**6: 0.1}
    for step, value in expected.items():
        assert sched(step) == pytest.approx(value), step
    assert sched.boundaries == [100, 110]
    assert sched.values == pytest.approx([1.0, 0.5, 0.1])


def test_piecewise_single_and_no_boundary():
    one = PiecewiseConstantDecay([5], [0.3, 0.2])
    assert [one(s) for s in (4, 5, 6)] == pytest.approx([0.3, 0.3, 0.2])
    none = PiecewiseConstantDecay([], [0.7])
    assert none(0) == pytest.approx(0.7) and none(10**9) == pytest.approx(0.7)


@pytest.mark.parametrize("kwargs", [
    dict(initial_learning_rate=0.1, decay_steps=100),
    dict(initial_learning_rate=0.1, decay_steps=100, alpha=0.1),
    dict(initial_learning_rate=0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10),
    dict(initial_learning_rate=0.01, decay_steps=50, alpha=0.2, warmup_target=0.5, warmup_steps=7),
    dict(initial_learning_rate=0.3, decay_steps=3, warmup_target=0.1, warmup_steps=5),  # warming down
])
def test_cosine_decay_closed_form(kwargs):
    sched = CosineDecay(**kwargs)
    for step in STEPS:
        assert sched(step) == pytest.approx(cosine(step, **kwargs), rel=1e-6, abs=1e-9), step


def test_cosine_decay_landmarks():
    sched = CosineDecay(1.0, 100, alpha=0.1)
    assert sched(0) == pytest.approx(1.0)
    assert sched(50) == pytest.approx(0.55)        # half-way: (1-alpha)*0.5 + alpha
    assert sched(100) == pytest.approx(0.1)        # alpha * initial at the end
    assert sched(1000) == pytest.approx(0.1)       # and held there
    warm = CosineDecay(0.0, 100, warmup_target=1.0, warmup_steps=10)
    assert [warm(s) for s in (0, 5, 10)] == pytest.approx([0.0, 0.5, 1.0])
    assert warm(60) == pytest.approx(0.5)
    assert warm(110) == pytest.approx(0.0, abs=1e-7) and warm(500) == pytest.approx(0.0, abs=1e-7)
    assert warm.warmup_target == pytest.approx(1.0) and warm.warmup_steps == 10
    assert CosineDecay(1.0, 10).warmup_target is None


@pytest.mark.parametrize("make,message", [
    (lambda: ExponentialDecay(0.1, 0, 0.9), r"ExponentialDecay: decay_steps must be > 0, got 0"),
    (lambda: ExponentialDecay(0.1, -5, 0.9), r"ExponentialDecay: decay_steps must be > 0, got -5"),
    (lambda: CosineDecay(0.1, 0), r"CosineDecay: decay_steps must be > 0, got 0"),
    (lambda: CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-1),
     r"CosineDecay: warmup_steps must be >= 0, got -1"),
    (lambda: PiecewiseConstantDecay([1, 2], [0.1, 0.2]),
     r"PiecewiseConstantDecay: values must have one more element than boundaries, got 2 values and 2 boundaries"),
    (lambda: PiecewiseConstantDecay([5, 5], [0.1, 0.2, 0.3]),
     r"PiecewiseConstantDecay: boundaries must be strictly increasing, got boundaries\[0\] = 5 and "
     r"boundaries\[1\] = 5"),
    (lambda: PiecewiseConstantDecay([3, 1], [0.1, 0.2, 0.3]), r"boundaries must be strictly increasing"),
])
def test_rejects_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
