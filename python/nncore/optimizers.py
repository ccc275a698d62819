"""Optimizers (Keras names and defaults). State is kept per parameter in C++.

Every optimizer also takes Keras's common keyword arguments: ``weight_decay`` (decoupled, w -= w * wd * lr before
the update), ``clipnorm`` (per-variable L2 norm), ``global_clipnorm`` (all gradients together) and ``clipvalue``
(elementwise); only one clipping mode acts, in that order of precedence, as in Keras. Clipping works on a copy;
the gradients passed in are not modified. ``learning_rate`` is a float or a schedule from
``nncore.optimizers.schedules``.

Updates treat subnormal numbers (below 1.2e-38) as zero, as TensorFlow's CPU kernels do: state that decays
geometrically where a gradient stays 0 would otherwise take the CPU's slow path for subnormals on every step.
In ``fit``, a Dense kernel's update runs inside the computation of its gradient (each thread updates the block it
has just computed) when nothing needs all gradients first (no clipping, one process): the results are the same,
bit for bit.

Example:
    >>> model.compile(optimizer=nncore.optimizers.Adam(learning_rate=1e-3, clipnorm=1.0), loss="mse")
    >>> lr = nncore.optimizers.schedules.CosineDecay(1e-3, decay_steps=1000)
    >>> opt = nncore.optimizers.AdamW(learning_rate=lr, weight_decay=0.004)
"""
from __future__ import annotations

import sys
from typing import Any, Union

from . import _core
from . import schedules

# `from nncore.optimizers.schedules import CosineDecay` works as in Keras, although optimizers is a module.
sys.modules[__name__ + ".schedules"] = schedules

Optimizer = _core.Optimizer
SGD = _core.SGD
Adam = _core.Adam
AdamW = _core.AdamW
Adagrad = _core.Adagrad
RMSprop = _core.RMSprop

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "schedules", "get"]


def get(identifier: Union[str, Any]) -> Any:
    """An optimizer from a name ('sgd', 'adam', 'adamw', 'adagrad', 'rmsprop') or an optimizer instance."""
    if isinstance(identifier, _core.Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _core.make_optimizer(identifier.lower())
    raise TypeError("optimizer: expected a name (sgd, adam, adamw, adagrad, rmsprop) or an nncore optimizer, "
                    f"got {identifier!r}")
