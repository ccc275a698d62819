"""Weight regularizers (Keras names): the penalty is added to the training loss that fit reports, and its
gradient to the weights' gradients.

Example:
    >>> Dense(64, activation="relu", kernel_regularizer=nncore.regularizers.l2(1e-4))
"""
from __future__ import annotations

import math
from typing import Any, Optional, Union

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get"]


class Regularizer:
    """Penalty ``l1 * sum(|w|) + l2 * sum(w**2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        for name, v in (("l1", l1), ("l2", l2)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{type(self).__name__}: {name} must be a finite number >= 0, got {v!r}")
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, w: Any) -> float:
        import numpy as np

        w = np.asarray(w, dtype=np.float64)
        return self.l1 * float(np.abs(w).sum()) + self.l2 * float((w * w).sum())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1(Regularizer):
    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)


class L2(Regularizer):
    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)


class L1L2(Regularizer):
    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        super().__init__(l1=l1, l2=l2)


def l1(l1: float = 0.01) -> L1:  # noqa: E741 - Keras's name
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # noqa: E741
    return L1L2(l1, l2)


def get(identifier: Union[None, str, Regularizer]) -> Optional[Regularizer]:
    """A regularizer from None, a name ('l1', 'l2', 'l1_l2') or a regularizer object."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        table = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01)}
        if identifier not in table:
            raise ValueError(f"unknown regularizer '{identifier}'; valid: l1, l2, l1_l2")
        return table[identifier]()
    raise TypeError(f"regularizer: expected None, a name or an nncore.regularizers.Regularizer, got {identifier!r}")
