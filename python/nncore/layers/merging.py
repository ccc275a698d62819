"""Merge layers of the functional API: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import _core
from .._convert import as_float32
from .base import Layer, _check_kwargs

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


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


__all__ += ["add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"]
