"""Recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional) and TimeDistributed."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .. import _core
from .._convert import as_float32
from .base import ActivationArg, Layer, WeightAttribute, _check_kwargs, _init_arg, _wrap
from .callable_activations import builtin_only

__all__ = ["TimeDistributed", "SimpleRNN", "LSTM", "GRU", "Bidirectional"]


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step of ``(batch, time, ...)`` (time folded into the batch, one call).
    The weights are the wrapped layer's; ``.layer`` is the wrapped layer.

    Example:
        >>> model = Sequential([Embedding(100, 16, input_length=12), TimeDistributed(Dense(8, activation="relu")),
        ...                     GlobalAveragePooling1D(), Dense(2, activation="softmax")])
    """

    def __init__(self, layer: Layer, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("TimeDistributed", kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed: expected an nncore layer to wrap, got {type(layer).__name__}")
        super().__init__(_core.TimeDistributed(layer._impl, name or ""), input_shape, trainable)
        self._layer = layer

    @property
    def layer(self) -> Layer:
        # A handle made once: the one passed in, or (a loaded model's layer) a wrapper of the C++ inner layer.
        if getattr(self, "_layer", None) is None:
            self._layer = _wrap(self._impl.layer)
        return self._layer

    @property
    def _shape_dependent(self) -> bool:
        return self.layer._shape_dependent

    def _prepare(self, shapes: Sequence[Sequence[Optional[int]]]) -> None:
        """The wrapped layer sees each time step: ``(time, ...)`` less the time axis."""
        if self._shape_dependent and shapes and len(shapes[0]) >= 1:
            self.layer._prepare([tuple(shapes[0][1:])])


# ---- recurrent layers ------------------------------------------------------------------------------------------

def _positive_units(cls: str, units: Any) -> int:
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
        raise ValueError(f"{cls}: units must be a positive int, got {units!r}")
    return int(units)


def _check_rnn_flags(cls: str, activation: ActivationArg, recurrent_activation: ActivationArg, kwargs: dict) -> None:
    # What the fused kernels compute; Keras's other choices would silently compute something else.
    if activation is not None and builtin_only(activation, cls, "activation", "activation='tanh'") != "tanh":
        raise ValueError(f"{cls}: only activation='tanh' is supported, got {activation!r}")
    if recurrent_activation is not None and builtin_only(recurrent_activation, cls, "recurrent_activation",
                                                         "recurrent_activation='sigmoid'") != "sigmoid":
        raise ValueError(f"{cls}: only recurrent_activation='sigmoid' is supported, got {recurrent_activation!r}")
    for flag in ("stateful", "unroll", "time_major"):
        if kwargs.pop(flag, False):
            raise ValueError(f"{cls}: {flag}=True is not supported")
    kwargs.pop("implementation", None)  # Keras's implementation=1|2 selects an equivalent computation
    _check_kwargs(cls, kwargs)


class _Recurrent(Layer):
    """Shared behaviour of SimpleRNN, LSTM, GRU and Bidirectional: sequences ``(batch, time, features)``,
    optional ``mask`` (batch, time) in ``forward``, and Keras's ``return_state`` (``forward`` then returns
    ``[output, *states]``)."""

    def _cell(self) -> Any:
        """The C++ recurrent layer holding the flags (a Bidirectional's forward half)."""
        return self._impl

    @property
    def return_sequences(self) -> bool:
        return self._cell().return_sequences

    @property
    def return_state(self) -> bool:
        return self._cell().return_state

    def forward(self, x: Any, training: bool = False, mask: Any = None) -> Any:
        cls = type(self).__name__
        x = as_float32(x, f"{cls} '{self.name}' input")
        if x.ndim != 3:
            raise ValueError(f"{cls} '{self.name}': expected 3-D input (batch, time, features), got shape {x.shape}")
        if not self.built:
            self._impl.build(list(x.shape[1:]))
        m = None
        if mask is not None:
            m = np.asarray(mask)
            if m.shape != x.shape[:2]:
                raise ValueError(f"{cls} '{self.name}': expected a mask of shape {x.shape[:2]} (batch, time), "
                                 f"got {m.shape}")
            m = as_float32(m, f"{cls} '{self.name}' mask")
        out = self._impl.forward_masked(x, m, training)
        if self.return_state:
            return [out, *self._impl.states]
        return out

    def __call__(self, x: Any, training: Optional[bool] = None, mask: Any = None, initial_state: Any = None) -> Any:
        """On KerasTensors: the functional API (masks come from the layer before, as in Sequential); returns the
        output, or ``[output, *states]`` with ``return_state``. ``initial_state``: the starting states (a list:
        ``[h]``, ``[h, c]`` for an LSTM; for a Bidirectional the forward layer's then the backward layer's),
        KerasTensors in a functional model (gradients flow into them) or arrays in a call on arrays."""
        from ..models import KerasTensor, _is_symbolic, _symbolic_call
        states = [] if initial_state is None else (list(initial_state) if isinstance(initial_state, (list, tuple))
                                                   else [initial_state])
        if _is_symbolic(x) or any(isinstance(s, KerasTensor) for s in states):
            if mask is not None:
                raise ValueError(f"{type(self).__name__} '{self.name}': in a functional model the mask comes from "
                                 "the layer before (Embedding(mask_zero=True)); mask= is for calls on arrays")
            if isinstance(x, (list, tuple)):
                raise TypeError(f"{type(self).__name__} '{self.name}': call it on one sequence; pass the states as "
                                "initial_state=[...]")
            return _symbolic_call(self, [x, *states], training)
        if states:
            if mask is not None:
                raise ValueError(f"{type(self).__name__} '{self.name}': mask= together with initial_state= is not "
                                 "supported on arrays; use a functional model")
            cls = type(self).__name__
            arrays = [as_float32(x, f"{cls} '{self.name}' input")] + [
                as_float32(s, f"{cls} '{self.name}' initial_state[{i}]") for i, s in enumerate(states)]
            outs = self._impl.forward_list(arrays, bool(training))
            return outs if self.return_state else outs[0]
        return self.forward(x, training=bool(training), mask=mask)

    def backward(self, dy: Any, dstates: Optional[Sequence[Any]] = None) -> np.ndarray:
        """``dx`` for the output gradient ``dy`` and, with ``return_state``, optionally the gradients of the
        final states (same order as ``forward`` returned them)."""
        dy = as_float32(dy, f"Layer '{self.name}' gradient")
        ds = [as_float32(d, f"Layer '{self.name}' state gradient") for d in (dstates or [])]
        return self._impl.backward_with_states(dy, ds, True)

    @property
    def states(self) -> list:
        """The final states of the last forward: ``[h]``, or ``[h, c]`` for an LSTM (per direction)."""
        return self._impl.states


def _init_args(cls: str, kernel: Any, recurrent: Any, bias: Any) -> tuple:
    return (_init_arg(kernel, cls, "kernel_initializer"), _init_arg(recurrent, cls, "recurrent_initializer"),
            _init_arg(bias, cls, "bias_initializer"))


class _RNNLayer(_Recurrent):
    def _setup(self, impl: Any, input_shape: Any, trainable: bool, kernel_regularizer: Any,
               recurrent_regularizer: Any, bias_regularizer: Any, use_bias: bool) -> None:
        super().__init__(impl, input_shape, trainable)
        self._regularize("kernel", kernel_regularizer)
        self._regularize("recurrent_kernel", recurrent_regularizer, "recurrent_regularizer")
        self._regularize("bias", bias_regularizer if use_bias else None)

    kernel = WeightAttribute()
    recurrent_kernel = WeightAttribute()
    bias = WeightAttribute()

    @property
    def units(self) -> int:
        return self._impl.units

    @property
    def go_backwards(self) -> bool:
        return self._impl.go_backwards

    @property
    def dropout(self) -> float:
        return self._impl.dropout

    @property
    def recurrent_dropout(self) -> float:
        return self._impl.recurrent_dropout


_RNN_DOC = """
    Arguments as Keras: ``return_sequences`` (the whole output sequence instead of the last output),
    ``return_state`` (``forward`` returns ``[output, *final_states]``; not usable inside ``Sequential``),
    ``go_backwards`` (process the sequence from its end; a returned sequence comes out in that order),
    ``dropout`` (inputs; one mask per sequence and feature) and ``recurrent_dropout`` (the state fed to the
    recurrent kernel; one mask per sequence and unit), the three initializers and regularizers, ``use_bias``.
    A mask from ``Embedding(mask_zero=True)`` (or ``forward(x, mask=...)``) makes padded steps keep the state and
    repeat the previous output."""


class SimpleRNN(_RNNLayer):
    __doc__ = """Fully connected recurrent layer: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel +
    bias)``; kernel ``(features, units)``, recurrent_kernel ``(units, units)``, bias ``(units,)``.
""" + _RNN_DOC + """

    Example:
        >>> model = Sequential([SimpleRNN(32, input_shape=(50, 2)), Dense(1)])
    """

    def __init__(self, units: int, activation: ActivationArg = "tanh", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        _check_rnn_flags("SimpleRNN", None, None, kwargs)
        act = builtin_only(activation, "SimpleRNN", "activation", "one of 'tanh', 'relu', 'sigmoid', 'linear'")
        if act not in ("tanh", "relu", "sigmoid", "linear"):
            raise ValueError(f"SimpleRNN: activation must be one of tanh, relu, sigmoid, linear; got {activation!r}")
        ki, ri, bi = _init_args("SimpleRNN", kernel_initializer, recurrent_initializer, bias_initializer)
        impl = _core.SimpleRNN(_positive_units("SimpleRNN", units), act, bool(use_bias), ki, ri, bi,
                               float(dropout), float(recurrent_dropout),
                               bool(return_sequences), bool(return_state), bool(go_backwards), name or "")
        self._setup(impl, input_shape, trainable, kernel_regularizer, recurrent_regularizer,
                    bias_regularizer, use_bias)


class LSTM(_RNNLayer):
    __doc__ = """Long short-term memory layer (Hochreiter & Schmidhuber 1997): gates i, f, c, o in Keras's layout,
    kernel ``(features, 4*units)``, recurrent_kernel ``(units, 4*units)``, bias ``(4*units,)``;
    ``unit_forget_bias`` starts the forget gate's bias at 1. Keras weights give the same outputs.
""" + _RNN_DOC + """

    Example:
        >>> model = Sequential([LSTM(128, input_shape=(28, 28)), Dense(10, activation="softmax")])
    """

    def __init__(self, units: int, activation: ActivationArg = "tanh", recurrent_activation: ActivationArg = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        _check_rnn_flags("LSTM", activation, recurrent_activation, kwargs)
        ki, ri, bi = _init_args("LSTM", kernel_initializer, recurrent_initializer, bias_initializer)
        impl = _core.LSTM(_positive_units("LSTM", units), bool(use_bias), ki, ri, bi, bool(unit_forget_bias),
                          float(dropout), float(recurrent_dropout),
                          bool(return_sequences), bool(return_state), bool(go_backwards), name or "")
        self._setup(impl, input_shape, trainable, kernel_regularizer, recurrent_regularizer,
                    bias_regularizer, use_bias)


class GRU(_RNNLayer):
    __doc__ = """Gated recurrent unit in Keras's ``reset_after=True`` form (its default): gates z, r, h, kernel
    ``(features, 3*units)``, recurrent_kernel ``(units, 3*units)``, bias ``(2, 3*units)`` (input bias, recurrent
    bias). ``h = z * h_prev + (1 - z) * tanh(x W_h + b_h + r * (h_prev U_h + rb_h))``.
""" + _RNN_DOC + """

    Example:
        >>> model = Sequential([GRU(64, input_shape=(28, 28)), Dense(10, activation="softmax")])
    """

    def __init__(self, units: int, activation: ActivationArg = "tanh", recurrent_activation: ActivationArg = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, reset_after: bool = True,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        _check_rnn_flags("GRU", activation, recurrent_activation, kwargs)
        if not reset_after:
            raise ValueError("GRU: only reset_after=True (Keras's default) is supported")
        ki, ri, bi = _init_args("GRU", kernel_initializer, recurrent_initializer, bias_initializer)
        impl = _core.GRU(_positive_units("GRU", units), bool(use_bias), ki, ri, bi, True, float(dropout),
                         float(recurrent_dropout), bool(return_sequences),
                         bool(return_state), bool(go_backwards), name or "")
        self._setup(impl, input_shape, trainable, kernel_regularizer, recurrent_regularizer,
                    bias_regularizer, use_bias)


class Bidirectional(_Recurrent):
    """Runs ``layer`` forwards and a copy of it (same configuration, ``go_backwards`` flipped) backwards over the
    same sequence and merges their outputs with ``merge_mode``: ``'concat'`` (default), ``'sum'``, ``'mul'`` or
    ``'ave'``. Weights: the forward layer's, then the backward layer's, as Keras. With ``return_state`` on the
    wrapped layer, ``forward`` returns ``[output, *forward_states, *backward_states]``.

    Example:
        >>> model = Sequential([Embedding(1000, 32, mask_zero=True), Bidirectional(LSTM(32)),
        ...                     Dense(1, activation="sigmoid")])
    """

    def __init__(self, layer: Layer, merge_mode: Optional[str] = "concat", weights: Any = None,
                 backward_layer: Any = None, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("Bidirectional", kwargs)
        if not isinstance(layer, _RNNLayer):
            raise TypeError(f"Bidirectional: expected a SimpleRNN, LSTM or GRU layer, got {type(layer).__name__}")
        if backward_layer is not None:
            raise ValueError("Bidirectional: backward_layer is not supported (the backward layer is always a copy of "
                             "`layer` with go_backwards flipped)")
        if merge_mode is None or merge_mode not in ("concat", "sum", "mul", "ave"):
            raise ValueError(f"Bidirectional: merge_mode must be one of 'concat', 'sum', 'mul', 'ave', got "
                             f"{merge_mode!r}")
        if layer.built:
            raise ValueError(f"Bidirectional: layer '{layer.name}' is already built; pass a new layer")
        if input_shape is None:
            input_shape = layer._input_shape  # Keras also takes it from the wrapped layer
        super().__init__(_core.Bidirectional(layer._impl, merge_mode, name or ""), input_shape, trainable)
        if weights is not None:
            if self._input_shape is None:
                raise ValueError("Bidirectional: weights= needs input_shape= to build the layer first")
            self._impl.build(list(self._input_shape))
            self.set_weights(weights)

    def _cell(self) -> Any:
        return self._impl.forward_layer

    @property
    def forward_layer(self) -> Layer:
        return _wrap(self._impl.forward_layer)

    @property
    def backward_layer(self) -> Layer:
        return _wrap(self._impl.backward_layer)

    @property
    def merge_mode(self) -> str:
        return self._impl.merge_mode
