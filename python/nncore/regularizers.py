"""Weight regularizers, as Keras 3's ``keras.regularizers``: the penalty is added to the training loss that fit
reports, and its gradient to the weights' gradients, in C++.

``L1``, ``L2``, ``L1L2`` and ``OrthogonalRegularizer`` (and their names 'l1', 'l2', 'l1_l2',
'orthogonal_regularizer') train in C++. A user's penalty (a ``Regularizer`` subclass with its own ``__call__``, or a
plain function) cannot: nncore's training loop runs no Python per step, so a layer given one raises a TypeError that
names the built-in regularizers to use instead (calling it directly, ``reg(w)``, works as in Keras).

Example:
    >>> Dense(64, activation="relu", kernel_regularizer=nncore.regularizers.L2(1e-4))
"""
from __future__ import annotations

import inspect
import math
import numbers
from typing import Any, Dict, Optional, Union

import numpy as np

from . import _serialization

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2", "orthogonal_regularizer",
           "get", "serialize", "deserialize"]


def _factor(v: Any, cls: str, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)) or v < 0:
        raise ValueError(f"{cls}: {name} must be a finite number >= 0, got {v!r}")
    return float(v)


class Regularizer:
    """Base of the regularizers (Keras's ``keras.regularizers.Regularizer``), and nncore's penalty
    ``l1 * sum(|w|) + l2 * sum(w**2)`` (``Regularizer(l1, l2)``; zero by default, as Keras's base)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor(l1, type(self).__name__, "l1")
        self.l2 = _factor(l2, type(self).__name__, "l2")

    def __call__(self, x: Any) -> float:
        w = np.asarray(x, dtype=np.float64)
        return getattr(self, "l1", 0.0) * float(np.abs(w).sum()) + getattr(self, "l2", 0.0) * float((w * w).sum())

    def get_config(self) -> Dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Regularizer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``."""

    def __init__(self, l1: Optional[float] = 0.0, l2: Optional[float] = 0.0) -> None:
        super().__init__(0.0 if l1 is None else l1, 0.0 if l2 is None else l2)


class L1(Regularizer):
    """``l1 * sum(|w|)``."""

    def __init__(self, l1: Optional[float] = 0.01) -> None:
        super().__init__(l1=0.01 if l1 is None else l1)

    def get_config(self) -> Dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w**2)``."""

    def __init__(self, l2: Optional[float] = 0.01) -> None:
        super().__init__(l2=0.01 if l2 is None else l2)

    def get_config(self) -> Dict[str, Any]:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns of a 2-D weight toward orthogonality:
    ``factor * 0.5 * mean over pairs i != j of |n_i . n_j|`` with ``n_i`` the rows (columns) scaled to unit length.

    Example:
        >>> Dense(4, kernel_regularizer=nncore.regularizers.OrthogonalRegularizer(factor=0.01))
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        super().__init__()
        self.factor = _factor(factor, "OrthogonalRegularizer", "factor")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: mode must be 'rows' or 'columns', got {mode!r}")
        self.mode = mode

    def __call__(self, x: Any) -> float:
        w = np.asarray(x, dtype=np.float64)
        if w.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer: inputs must have rank 2, got shape {w.shape}")
        v = w if self.mode == "rows" else w.T
        n = v * np.minimum(1.0 / np.sqrt(np.maximum((v * v).sum(axis=1, keepdims=True), 1e-300)), 1e7)
        product = n @ n.T
        size = product.shape[0]
        pairs = size * (size - 1) / 2.0
        if pairs == 0:
            return 0.0
        return self.factor * 0.5 * float(np.abs(product * (1.0 - np.eye(size))).sum()) / pairs

    def get_config(self) -> Dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


def l1(l1: float = 0.01) -> L1:  # noqa: E741 - Keras's name
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # noqa: E741
    """L1L2 with Keras 2's defaults (0.01 each); ``L1L2()`` has Keras's 0.0."""
    return L1L2(l1, l2)


orthogonal_regularizer = OrthogonalRegularizer

_CLASSES = [L1, L2, L1L2, OrthogonalRegularizer]
_BUILTINS: Dict[str, type] = {c.__name__: c for c in _CLASSES}
_BUILTINS.update({"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01), "l1l2": L1L2,
                  "orthogonal_regularizer": OrthogonalRegularizer})


def serialize(regularizer: Any) -> Dict[str, Any]:
    """Keras's serialized form: ``{"module", "class_name", "config", "registered_name"}``."""
    if isinstance(regularizer, str):
        regularizer = get(regularizer)
    return _serialization.serialize(regularizer, "keras.regularizers", {c.__name__: c for c in _CLASSES})


def deserialize(config: Any, custom_objects: Optional[Dict[str, Any]] = None) -> Any:
    """The regularizer of a serialized dict (Keras's form, or nncore's ``{"l1": .., "l2": ..}`` of layer configs)
    or a name."""
    if isinstance(config, dict) and "class_name" not in config and set(config) <= {"l1", "l2"}:
        return L1L2(config.get("l1", 0.0), config.get("l2", 0.0))
    classes = {"L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer, "l1": L1, "l2": L2,
               "l1_l2": L1L2, "l1l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer}
    if isinstance(config, dict) and config.get("class_name") in classes \
            and config.get("registered_name") in (None, config.get("class_name")):
        return classes[config["class_name"]].from_config(dict(config.get("config") or {}))
    return _serialization.deserialize(config, _BUILTINS, "regularizer", custom_objects)


def get(identifier: Union[None, str, dict, Regularizer, Any]) -> Any:
    """A regularizer from None, a name ('l1', 'l2', 'l1_l2', 'orthogonal_regularizer', or a class name), a
    serialized dict, a class, a regularizer object or a callable (returned as is)."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BUILTINS:
            raise ValueError(f"unknown regularizer '{identifier}'; valid: l1, l2, l1_l2, orthogonal_regularizer, "
                             "L1, L2, L1L2, OrthogonalRegularizer")
        return _BUILTINS[identifier]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"regularizer: expected None, a name, a config dict, an nncore.regularizers.Regularizer or a "
                    f"callable, got {identifier!r}")


def _trains_in_cpp(r: Any) -> bool:
    return isinstance(r, Regularizer) and type(r).__call__ in (Regularizer.__call__, OrthogonalRegularizer.__call__)


def to_core(identifier: Any, where: str) -> Optional[Dict[str, Any]]:
    """The C++ config of a layer's regularizer argument ``where`` ("Dense kernel_regularizer"), or None for no
    penalty. A user's penalty raises a TypeError naming the built-in ones."""
    try:
        r = get(identifier)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    if r is None:
        return None
    if not _trains_in_cpp(r):
        what = getattr(r, "__name__", None) or type(r).__name__
        raise TypeError(f"{where}: {what} is a penalty written in Python, which nncore's C++ training loop cannot "
                        "run (it runs no Python per step); use nncore.regularizers.L1, L2, L1L2 or "
                        "OrthogonalRegularizer (names 'l1', 'l2', 'l1_l2', 'orthogonal_regularizer')")
    if isinstance(r, OrthogonalRegularizer):
        return {"class_name": "OrthogonalRegularizer", "config": r.get_config()} if r.factor else None
    l1, l2 = float(getattr(r, "l1", 0.0)), float(getattr(r, "l2", 0.0))  # a subclass may skip __init__
    return {"l1": l1, "l2": l2} if (l1 or l2) else None
