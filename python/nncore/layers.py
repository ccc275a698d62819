"""Keras-compatible layers. Each wraps a C++ layer; the math runs in nncore._core.

Example:
    >>> from nncore.layers import Dense
    >>> layer = Dense(4, activation="relu")
    >>> y = layer.forward(np.ones((2, 3), np.float32))   # builds for input (None, 3)
    >>> [w.shape for w in layer.get_weights()]
    [(3, 4), (4,)]
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from . import _core
from ._convert import as_float32, per_sample_shape

__all__ = ["Layer", "Dense", "Activation", "Flatten", "Dropout"]

ActivationArg = Union[str, None, Callable[..., Any]]


def _activation_name(activation: ActivationArg, where: str) -> str:
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation
    name = getattr(activation, "__name__", None)
    if name in _core.activation_names():
        return name
    raise TypeError(f"{where}: activation must be a name such as 'relu' (valid: "
                    f"{', '.join(_core.activation_names())}), got {activation!r}")


class Layer:
    """Base of all layers: a thin handle on a C++ layer.

    ``forward(x, training=False)`` and ``backward(dy) -> dx`` run the layer by itself (building it for
    ``x.shape[1:]`` on first use); ``weights`` and ``gradients`` are numpy views onto the C++ buffers,
    in Keras order; ``get_weights()`` returns copies and ``set_weights()`` copies in.
    """

    _impl: Any

    def __init__(self, impl: Any, input_shape: Optional[Sequence[int]] = None, trainable: bool = True) -> None:
        self._impl = impl
        cls = type(self).__name__
        self._input_shape = None if input_shape is None else per_sample_shape(input_shape, f"{cls} input_shape")
        self._impl.trainable = bool(trainable)

    # -- identity and shapes ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._impl.name

    @property
    def built(self) -> bool:
        return self._impl.built

    def build(self, input_shape: Sequence[Optional[int]]) -> None:
        """Build for ``input_shape``: Keras-style with a leading batch axis (``(None, 784)``) or per sample."""
        shape = tuple(input_shape)
        if len(shape) > 0 and shape[0] is None:
            shape = shape[1:]
        self._impl.build(list(per_sample_shape(shape, f"{type(self).__name__}.build")))

    @property
    def input_shape(self) -> tuple:
        return (None, *self._impl.input_shape)

    @property
    def output_shape(self) -> tuple:
        return (None, *self._impl.output_shape)

    @property
    def trainable(self) -> bool:
        return self._impl.trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._impl.trainable = bool(value)

    # -- weights ----------------------------------------------------------------------------------------
    @property
    def weights(self) -> list:
        return self._impl.weights

    @property
    def trainable_weights(self) -> list:
        return self._impl.weights if self.trainable else []

    @property
    def gradients(self) -> list:
        return self._impl.gradients

    def get_weights(self) -> list:
        return [w.copy() for w in self._impl.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        views = self._impl.weights
        if len(weights) != len(views):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): expected {len(views)} weight arrays "
                             f"({', '.join(self._impl.weight_names)}), got {len(weights)}")
        new = [as_float32(w, f"Layer '{self.name}' set_weights") for w in weights]
        for view, w, wname in zip(views, new, self._impl.weight_names):
            if w.shape != view.shape:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): weight '{wname}' expects shape "
                                 f"{view.shape}, got {w.shape}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"Layer '{self.name}': weight '{wname}' contains NaN or inf")
        for view, w in zip(views, new):
            view[...] = w

    def count_params(self) -> int:
        return self._impl.count_params()

    # -- running the layer by itself -----------------------------------------------------------------------
    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        x = as_float32(x, f"Layer '{self.name}' input")
        if not self.built:
            if x.ndim < 2:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): expected input of shape "
                                 f"(batch, ...), got {x.shape}")
            self._impl.build(list(x.shape[1:]))
        return self._impl.forward(x, training)

    __call__ = forward

    def backward(self, dy: Any) -> np.ndarray:
        return self._impl.backward(as_float32(dy, f"Layer '{self.name}' gradient"), True)

    def zero_grad(self) -> None:
        self._impl.zero_grad()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name='{self.name}' built={self.built}>"


def _check_kwargs(cls: str, kwargs: dict) -> None:
    allowed = {"dtype"}
    unknown = set(kwargs) - allowed
    if unknown:
        raise TypeError(f"{cls}: unexpected keyword argument(s): {', '.join(sorted(unknown))}")


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``; kernel ``(in, units)`` as in Keras.

    Example:
        >>> Dense(10, activation="softmax", input_shape=(784,))
    """

    def __init__(self, units: int, activation: ActivationArg = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("Dense", kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)):
            raise TypeError(f"Dense: units must be a positive int, got {units!r}")
        impl = _core.Dense(int(units), _activation_name(activation, "Dense"), bool(use_bias),
                           kernel_initializer, bias_initializer, name or "")
        super().__init__(impl, input_shape, trainable)

    @property
    def units(self) -> int:
        return self._impl.units


class Activation(Layer):
    """Applies an activation function: ``Activation('relu')``."""

    def __init__(self, activation: ActivationArg, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Activation", kwargs)
        super().__init__(_core.Activation(_activation_name(activation, "Activation"), name or ""), input_shape)


class Flatten(Layer):
    """Flattens each sample to one axis: ``(batch, 28, 28, 1) -> (batch, 784)``."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("Flatten", kwargs)
        super().__init__(_core.Flatten(name or ""), input_shape)


class Dropout(Layer):
    """Inverted dropout: in training, zeroes a fraction ``rate`` of inputs and scales the rest by
    ``1/(1-rate)``; the identity in ``predict``/``evaluate``."""

    def __init__(self, rate: float, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("Dropout", kwargs)
        super().__init__(_core.Dropout(float(rate), name or ""), input_shape)

    @property
    def rate(self) -> float:
        return self._impl.rate
