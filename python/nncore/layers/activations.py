"""Activation layers with arguments of their own (Keras 3's keras.layers.ReLU, LeakyReLU, ELU, Softmax, PReLU)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .. import _core
from .base import Layer, WeightAttribute, _check_kwargs, _init_arg, _number

__all__ = ["ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU"]


class ReLU(Layer):
    """Rectified linear unit with Keras's arguments: ``x`` above ``threshold`` (capped at ``max_value``), and
    ``negative_slope * (x - threshold)`` at or below it.

    Example:
        >>> ReLU(max_value=6.0)                          # ReLU6
        >>> ReLU(negative_slope=0.1, threshold=0.5)
    """

    def __init__(self, max_value: Optional[float] = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("ReLU", kwargs)
        cap = None if max_value is None else _number(max_value, "ReLU", "max_value", 0.0)
        impl = _core.ReLU(cap, _number(negative_slope, "ReLU", "negative_slope", 0.0),
                          _number(threshold, "ReLU", "threshold", 0.0), name or "")
        super().__init__(impl, input_shape)

    @property
    def max_value(self) -> Optional[float]:
        return self._impl.max_value

    @property
    def negative_slope(self) -> float:
        return self._impl.negative_slope

    @property
    def threshold(self) -> float:
        return self._impl.threshold


class LeakyReLU(Layer):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (Keras 3's default slope 0.3; Keras 2's ``alpha``
    is accepted as another name for it)."""

    def __init__(self, negative_slope: float = 0.3, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        if "alpha" in kwargs:  # Keras 2's name
            negative_slope = kwargs.pop("alpha")
        _check_kwargs("LeakyReLU", kwargs)
        slope = _number(negative_slope, "LeakyReLU", "negative_slope", 0.0)
        super().__init__(_core.LeakyReLU(slope, name or ""), input_shape)

    @property
    def negative_slope(self) -> float:
        return self._impl.negative_slope


class ELU(Layer):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha: float = 1.0, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("ELU", kwargs)
        super().__init__(_core.ELU(_number(alpha, "ELU", "alpha"), name or ""), input_shape)

    @property
    def alpha(self) -> float:
        return self._impl.alpha


class Softmax(Layer):
    """Softmax over the last axis (``axis=-1``; Keras counts the batch axis, so the last axis of a
    ``(batch, steps, classes)`` input may also be given as 2). Other axes raise at build. A final ``Softmax`` fuses
    with a cross-entropy loss, as ``Activation("softmax")`` does."""

    def __init__(self, axis: int = -1, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("Softmax", kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or int(axis) == 0 or int(axis) < -1:
            raise ValueError(f"Softmax: axis must be -1 (the last axis) or its positive index, got {axis!r}")
        super().__init__(_core.Softmax(int(axis), name or ""), input_shape)

    @property
    def axis(self) -> int:
        return self._impl.axis


class PReLU(Layer):
    """Parametric ReLU: ``x`` for ``x > 0``, ``alpha * x`` otherwise, with a learned ``alpha`` of the per-sample
    input shape (Keras's layout), set to 1 along ``shared_axes`` (per-sample axes counted from 1, as Keras).
    Unknown lengths are allowed on shared axes.

    Example:
        >>> PReLU(shared_axes=[1, 2])   # after a Conv2D: one alpha per channel
    """

    def __init__(self, alpha_initializer: Any = "zeros", alpha_regularizer: Any = None, alpha_constraint: Any = None,
                 shared_axes: Any = None, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("PReLU", kwargs)
        if alpha_constraint is not None:
            raise ValueError(f"PReLU: alpha_constraint is not supported, got {alpha_constraint!r}")
        if shared_axes is None:
            axes = []
        else:
            raw = [shared_axes] if isinstance(shared_axes, (int, np.integer)) else shared_axes
            try:
                axes = [int(a) for a in raw if not isinstance(a, bool) and isinstance(a, (int, np.integer))]
                bad = len(axes) != len(list(raw)) or any(a < 1 for a in axes)
            except TypeError:
                bad = True
            if bad:
                raise ValueError(f"PReLU: shared_axes must be None, an int or a list of ints >= 1 (per-sample axes), "
                                 f"got {shared_axes!r}")
        impl = _core.PReLU(_init_arg(alpha_initializer, "PReLU", "alpha_initializer"), axes, name or "")
        super().__init__(impl, input_shape, trainable)
        self._regularize("alpha", alpha_regularizer)

    alpha = WeightAttribute()

    @property
    def shared_axes(self) -> Optional[list]:
        axes = list(self._impl.shared_axes)
        return axes or None
