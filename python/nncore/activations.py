"""Keras's ``keras.activations``: functions of ``nncore.ops``, so each works on numpy arrays (eagerly) and on
KerasTensors (graph nodes of a model, inside custom layers too). The names the layers take as strings
(``Dense(4, activation="relu")``) also work as these functions (``activation=nncore.activations.relu``).

Example:
    >>> h = nncore.activations.relu(nncore.ops.matmul(x, w) + b)
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

import numpy as np

from . import _keras_ops as ops

__all__ = ["relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax", "gelu", "elu", "selu", "leaky_relu",
           "silu", "swish", "softplus", "softsign", "exponential", "hard_sigmoid", "mish", "linear", "get",
           "serialize", "deserialize"]


def relu(x: Any, negative_slope: float = 0.0, max_value: Optional[float] = None, threshold: float = 0.0) -> Any:
    """max(x, 0); with Keras's options: ``negative_slope * (x - threshold)`` below ``threshold``, capped at
    ``max_value``."""
    if threshold != 0.0:
        if ops._is_symbolic(x):
            raise NotImplementedError("activations.relu: threshold != 0 is built for arrays only, not yet for "
                                      "KerasTensors; use threshold=0 (with negative_slope and max_value) in a model")
        x = np.asarray(x, np.float32)
        y = np.where(x >= threshold, x, negative_slope * (x - threshold))
        return y if max_value is None else np.minimum(y, max_value)
    y = ops.relu(x)
    if negative_slope:
        y = ops.subtract(y, ops.multiply(ops.relu(ops.negative(x)), float(negative_slope)))
    if max_value is not None:
        y = ops.minimum(y, float(max_value))
    return y


def relu6(x: Any) -> Any:
    return ops.clip(x, 0.0, 6.0)


def sigmoid(x: Any) -> Any:
    return ops.sigmoid(x)


def tanh(x: Any) -> Any:
    return ops.tanh(x)


def softmax(x: Any, axis: int = -1) -> Any:
    return ops.softmax(x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return ops.log_softmax(x, axis=axis)


def gelu(x: Any, approximate: bool = False) -> Any:
    """x * Phi(x) (Keras's activation default is the exact form; ``approximate=True``: the tanh form)."""
    return ops.gelu(x, approximate=approximate)


def elu(x: Any, alpha: float = 1.0) -> Any:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    neg = ops.multiply(ops.subtract(ops.exp(ops.minimum(x, 0.0)), 1.0), float(alpha))
    return ops.add(ops.relu(x), neg)


def selu(x: Any) -> Any:
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return ops.multiply(elu(x, alpha), scale)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Any:
    return ops.subtract(ops.relu(x), ops.multiply(ops.relu(ops.negative(x)), float(negative_slope)))


def silu(x: Any) -> Any:
    """x * sigmoid(x)."""
    return ops.multiply(x, ops.sigmoid(x))


swish = silu


def softplus(x: Any) -> Any:
    return ops.softplus(x)


def softsign(x: Any) -> Any:
    return ops.divide(x, ops.add(ops.abs(x), 1.0))


def exponential(x: Any) -> Any:
    return ops.exp(x)


def hard_sigmoid(x: Any) -> Any:
    """relu6(x + 3) / 6 (Keras 3)."""
    return ops.multiply(relu6(ops.add(x, 3.0)), 1.0 / 6.0)


def mish(x: Any) -> Any:
    return ops.multiply(x, ops.tanh(ops.softplus(x)))


def linear(x: Any) -> Any:
    return x


_BY_NAME = {name: globals()[name] for name in __all__ if name not in ("get", "serialize", "deserialize")}


def get(identifier: Union[str, Callable[..., Any], None]) -> Callable[..., Any]:
    """An activation function from its name (or the function itself; None is linear)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"unknown activation {identifier!r}; known: {', '.join(sorted(_BY_NAME))}")


def serialize(activation: Callable[..., Any]) -> str:
    name = getattr(activation, "__name__", None)
    if name not in _BY_NAME:
        raise ValueError(f"serialize: {activation!r} is not an nncore activation")
    return name


def deserialize(name: str) -> Callable[..., Any]:
    return get(name)

