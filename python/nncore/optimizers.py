"""Optimizers (Keras names and defaults). State is kept per parameter in C++.

Example:
    >>> model.compile(optimizer=nncore.optimizers.Adam(learning_rate=1e-3), loss="mse")
"""
from __future__ import annotations

from typing import Any, Union

from . import _core

Optimizer = _core.Optimizer
SGD = _core.SGD
Adam = _core.Adam
RMSprop = _core.RMSprop

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "get"]


def get(identifier: Union[str, Any]) -> Any:
    """An optimizer from a name ('sgd', 'adam', 'rmsprop') or an optimizer instance."""
    if isinstance(identifier, _core.Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _core.make_optimizer(identifier.lower())
    raise TypeError(f"optimizer: expected a name (sgd, adam, rmsprop) or an nncore optimizer, got {identifier!r}")
