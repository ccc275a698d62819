"""Merge layers of the functional API: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot."""
from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import numpy as np

from .. import _core
from .._convert import as_float32
from .base import Layer, _check_kwargs

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"]


class _Merge(Layer):
    """Base of the merge layers: called on a list of inputs (KerasTensors in a functional model, or arrays)."""

    def __init__(self, name: Optional[str] = None, **kwargs: Any) -> None:
        cls = type(self).__name__
        _check_kwargs(cls, kwargs)
        super().__init__(getattr(_core, cls)(name or ""))

    def forward(self, xs: Any, training: bool = False) -> np.ndarray:
        if not isinstance(xs, (list, tuple)):
            raise TypeError(f"Layer '{self.name}' ({type(self).__name__}) merges several inputs: call it on a list, "
                            f"e.g. layer([a, b])")
        arrays = [as_float32(x, f"Layer '{self.name}' input {i}") for i, x in enumerate(xs)]
        for i, a in enumerate(arrays):
            if a.ndim < 2:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): input {i} must be (batch, ...), "
                                 f"got {a.shape}")
        return self._impl.forward_list(arrays, training)[0]

    def backward(self, dy: Any) -> list:
        """Gradients for every input, in order."""
        return self._impl.backward_list([as_float32(dy, f"Layer '{self.name}' gradient")], True)


class Add(_Merge):
    """Sum of equal-shaped inputs: ``Add()([x, shortcut])`` (residual connections)."""


class Subtract(_Merge):
    """``a - b`` for exactly two equal-shaped inputs."""


class Multiply(_Merge):
    """Elementwise product of equal-shaped inputs (gating)."""


class Average(_Merge):
    """Elementwise mean of equal-shaped inputs."""


class Maximum(_Merge):
    """Elementwise maximum of equal-shaped inputs; the gradient goes to the input that holds the maximum (the first
    one on ties, as TensorFlow)."""


class Minimum(_Merge):
    """Elementwise minimum of equal-shaped inputs; the gradient goes to the input that holds the minimum (the first
    one on ties, as TensorFlow)."""


class Concatenate(_Merge):
    """Joins inputs along ``axis`` (default -1, the channels); the other axes must agree."""

    def __init__(self, axis: int = -1, name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Concatenate", kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Concatenate: axis must be an int, got {axis!r}")
        Layer.__init__(self, _core.Concatenate(int(axis), name or ""))

    @property
    def axis(self) -> int:
        return self._impl.axis


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


class Dot(_Merge):
    """The dot product of two inputs along one axis of each, sample by sample (Keras's batch dot). ``axes`` is an
    int (the same axis of both inputs) or a pair ``(axis of the first, axis of the second)``, counted as in Keras:
    the batch axis is 0, so ``1`` is the first per-sample axis and ``-1`` the last. The output holds the first
    input's other axes followed by the second's: ``(batch, m, k)`` with ``(batch, n, k)`` and ``axes=2`` gives
    ``(batch, m, n)``; two vectors give ``(batch, 1)``. ``normalize=True`` L2-normalizes both inputs along their
    axes first, so the output is the cosine similarity.

    Example:
        >>> a, b = nncore.Input((5, 8)), nncore.Input((7, 8))
        >>> scores = Dot(axes=2)([a, b])                   # (None, 5, 7)
        >>> u, v = nncore.Input((16,)), nncore.Input((16,))
        >>> cosine = Dot(axes=1, normalize=True)([u, v])   # (None, 1)
    """

    def __init__(self, axes: Union[int, Tuple[int, int]], normalize: bool = False, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("Dot", kwargs)
        if _is_int(axes):
            spec: Any = int(axes)
            bad = spec == 0
        elif isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(_is_int(a) for a in axes):
                raise ValueError(f"Dot: axes must be an int or a pair of ints (axis of the first input, axis of "
                                 f"the second), got {axes!r}")
            spec = (int(axes[0]), int(axes[1]))
            bad = 0 in spec
        else:
            raise TypeError(f"Dot: axes must be an int or a pair of ints (a list or tuple), got {axes!r}")
        if bad:
            raise ValueError(f"Dot: axes must not include 0 (the batch axis); per-sample axes are 1, 2, ... or -1, "
                             f"-2, ..., got {axes!r}")
        if not isinstance(normalize, (bool, np.bool_)):
            raise TypeError(f"Dot: normalize must be True or False, got {normalize!r}")
        Layer.__init__(self, _core.Dot(spec, bool(normalize), name or ""))

    @property
    def axes(self) -> Union[int, Tuple[int, int]]:
        return self._impl.axes

    @property
    def normalize(self) -> bool:
        return self._impl.normalize


# ---- the functional forms (keras.layers.add(...), ...): a new merge layer called on the inputs ----------------------
def add(inputs: Any, **kwargs: Any) -> Any:
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs: Any, **kwargs: Any) -> Any:
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: Any, **kwargs: Any) -> Any:
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs: Any, **kwargs: Any) -> Any:
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs: Any, **kwargs: Any) -> Any:
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: Any, **kwargs: Any) -> Any:
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: Any, axis: int = -1, **kwargs: Any) -> Any:
    """``Concatenate(axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs: Any, axes: Union[int, Tuple[int, int]] = -1, normalize: bool = False, **kwargs: Any) -> Any:
    """``Dot(axes, normalize, **kwargs)(inputs)`` (Keras's ``layers.dot``; ``axes`` defaults to the last axis)."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)


__all__ += ["add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]
