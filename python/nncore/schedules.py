"""Learning-rate schedules (Keras 3 names and formulas), evaluated in C++.

A schedule passed as an optimizer's ``learning_rate`` is called with the optimizer's ``iterations`` before each
update (0 on the first), so the first step uses ``schedule(0)``.

Example:
    >>> lr = nncore.optimizers.schedules.ExponentialDecay(1.0, decay_steps=100, decay_rate=0.5)
    >>> lr(100)
    0.5
    >>> opt = nncore.optimizers.SGD(learning_rate=lr)
"""
from __future__ import annotations

from . import _core

LearningRateSchedule = _core.LearningRateSchedule
ExponentialDecay = _core.ExponentialDecay
PiecewiseConstantDecay = _core.PiecewiseConstantDecay
CosineDecay = _core.CosineDecay

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay"]
