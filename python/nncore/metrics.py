"""Metric names understood by ``compile(metrics=[...])``. ``'accuracy'`` picks the variant that matches
the loss (sparse categorical, categorical or binary), as Keras does."""
from __future__ import annotations

from typing import Any

from . import _core

__all__ = ["names", "get"]


def names() -> list:
    return list(_core.metric_names())


def get(identifier: Any) -> str:
    """The metric name for a string or an object with a ``name`` attribute."""
    name = identifier if isinstance(identifier, str) else getattr(identifier, "name", None)
    if not isinstance(name, str) or name not in _core.metric_names():
        raise ValueError(f"unknown metric {identifier!r}; valid metrics: {', '.join(_core.metric_names())}")
    return name
