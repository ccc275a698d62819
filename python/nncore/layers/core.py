"""Core layers: Dense, Activation, Embedding, Masking, Lambda."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from .. import _core
from .base import ActivationArg, Layer, WeightAttribute, _check_kwargs, _init_arg, _number, _positive
from .callable_activations import ActivationAttribute, attach, resolve

__all__ = ["Dense", "Activation", "Embedding", "Masking", "Lambda"]


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``; kernel ``(in, units)`` as in Keras.
    ``activation``: a name, None, or a function of one tensor written with ``nncore.ops`` (traced into the graph;
    see ``nncore.layers.callable_activations``).

    Example:
        >>> Dense(10, activation="softmax", input_shape=(784,))
        >>> Dense(10, activation=lambda x: x * nncore.ops.sigmoid(1.702 * x))
    """

    def __init__(self, units: int, activation: ActivationArg = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("Dense", kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)):
            raise TypeError(f"Dense: units must be a positive int, got {units!r}")
        act = resolve(activation, "Dense")
        impl = _core.Dense(int(units), act.builtin, bool(use_bias),
                           _init_arg(kernel_initializer, "Dense", "kernel_initializer"),
                           _init_arg(bias_initializer, "Dense", "bias_initializer"), name or "")
        super().__init__(impl, input_shape, trainable)
        self._set_regularizers(kernel_regularizer, bias_regularizer if use_bias else None)
        attach(self, act)

    kernel = WeightAttribute()
    bias = WeightAttribute()
    activation = ActivationAttribute()

    @property
    def units(self) -> int:
        return self._config_impl.units


class Activation(Layer):
    """Applies an activation function: ``Activation('relu')``, or a function of one tensor written with
    ``nncore.ops`` (``Activation(nncore.activations.mish)``, ``Activation(my_fn)``), traced into the graph."""

    def __init__(self, activation: ActivationArg, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Activation", kwargs)
        act = resolve(activation, "Activation")
        super().__init__(_core.Activation(act.builtin, name or ""), input_shape)
        attach(self, act)

    activation = ActivationAttribute()


class Embedding(Layer):
    """Turns integer ids into dense vectors: ``(batch, steps)`` ids -> ``(batch, steps, output_dim)``.

    Ids arrive in the model's float32 input and must be integers in ``[0, input_dim)`` (an error names the
    layer and the offending id otherwise). With ``mask_zero=True`` id 0 is padding: the layer emits a
    ``(batch, steps)`` mask that the following layers honor (``GlobalAveragePooling1D`` averages over the valid
    steps only), so the vocabulary needs ``input_dim = vocabulary size + 1``. Weights: ``embeddings``
    ``(input_dim, output_dim)``, as in Keras.

    Example:
        >>> model = Sequential([Embedding(1000, 16, mask_zero=True, input_length=20), GlobalAveragePooling1D(),
        ...                     Dense(1, activation="sigmoid")])
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 embeddings_regularizer: Any = None, mask_zero: bool = False,
                 input_length: Optional[int] = None, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("Embedding", kwargs)
        length = 0 if input_length is None else _positive(input_length, "Embedding: input_length")
        impl = _core.Embedding(_positive(input_dim, "Embedding: input_dim"),
                               _positive(output_dim, "Embedding: output_dim"),
                               _init_arg(embeddings_initializer, "Embedding", "embeddings_initializer"),
                               bool(mask_zero), length, name or "")
        if input_shape is None and length:
            input_shape = (length,)
        super().__init__(impl, input_shape, trainable)
        self._regularize("embeddings", embeddings_regularizer)

    embeddings = WeightAttribute()

    @property
    def input_dim(self) -> int:
        return self._impl.input_dim

    @property
    def output_dim(self) -> int:
        return self._impl.output_dim

    @property
    def mask_zero(self) -> bool:
        return self._impl.mask_zero

    def compute_mask(self, inputs: Any) -> Optional[np.ndarray]:
        """The mask this layer emits for ``inputs`` (``inputs != 0``), or None without ``mask_zero``."""
        return np.asarray(inputs) != 0 if self.mask_zero else None


class Masking(Layer):
    """Masks the steps whose features (the last axis) all equal ``mask_value``: the output is the input with those
    steps set to zero, and the layer emits a ``(batch, steps)`` mask that the following layers honor as they honor
    ``Embedding(mask_zero=True)``'s: recurrent layers skip masked steps (the state carries over), and
    ``GlobalAveragePooling1D`` averages over the valid steps only. ``mask_value`` is compared as a float32.

    Example:
        >>> model = Sequential([Masking(0.0, input_shape=(20, 8)), LSTM(32), Dense(1)])   # zero-padded sequences
    """

    def __init__(self, mask_value: float = 0.0, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Masking", kwargs)
        super().__init__(_core.Masking(_number(mask_value, "Masking", "mask_value"), name or ""), input_shape)

    @property
    def mask_value(self) -> float:
        return self._impl.mask_value

    def compute_mask(self, inputs: Any, mask: Any = None) -> np.ndarray:
        """The mask this layer emits for ``inputs``: True where any feature differs from ``mask_value``."""
        return np.any(np.asarray(inputs, np.float32) != np.float32(self.mask_value), axis=-1)


class Lambda(Layer):
    """``Lambda(fn)``: a layer computing ``fn(inputs, **arguments)`` with ``nncore.ops`` (traced into the graph like
    any custom layer, so it trains in C++ and is saved with the model; loading it needs no Python function)."""

    def __init__(self, function: Callable[..., Any], output_shape: Any = None, mask: Any = None,
                 arguments: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {type(function).__name__}")
        if mask is not None:
            raise NotImplementedError("Lambda: mask= is not supported")
        super().__init__(**kwargs)
        self.function = function
        self.arguments = dict(arguments or {})

    def call(self, inputs: Any) -> Any:
        return self.function(inputs, **self.arguments)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "function": getattr(self.function, "__name__", repr(self.function))}


def _register_builtin_custom_classes() -> None:
    from .. import _custom
    _custom.register_keras_serializable("nncore", "Lambda")(Lambda)


_register_builtin_custom_classes()
