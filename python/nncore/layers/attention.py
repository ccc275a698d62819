"""Attention layers: MultiHeadAttention (Keras 3's signature and weight layout) on the fused C++ kernel."""
from __future__ import annotations

from typing import Any, List, Optional

import numpy as np

from .. import _core
from .._convert import as_float32
from .base import Layer, _check_kwargs, _init_arg

__all__ = ["MultiHeadAttention"]


class MultiHeadAttention(Layer):
    """Keras 3's ``MultiHeadAttention(num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
    output_shape=None, ...)`` called as ``mha(query, value, key=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)`` on ``(batch, length, features)`` tensors.

    Weights as Keras's ``get_weights()``: query, key and value kernels ``(features, num_heads, key_dim or value_dim)``
    with biases ``(num_heads, dim)``, the output kernel ``(num_heads, value_dim, output features)`` and its bias, so
    ``set_weights(keras_mha.get_weights())`` gives Keras's outputs. Padding masks from ``Embedding(mask_zero=True)``
    or ``Masking`` arrive with the query and value by themselves; ``attention_mask`` (batch, T, S) is boolean, True:
    may attend; all are combined with AND. A query that may attend no key gets zeros from the attention (then the
    output projection's bias), as in Keras. Dropout acts on the attention probabilities in training only.

    Example:
        >>> x = nncore.Input((200, 32))
        >>> y = nncore.layers.MultiHeadAttention(num_heads=2, key_dim=32)(x, x)
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim: Optional[int] = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape: Any = None, attention_axes: Any = None,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, seed: Optional[int] = None,
                 name: Optional[str] = None, trainable: bool = True, **kwargs: Any) -> None:
        cls = "MultiHeadAttention"
        _check_kwargs(cls, kwargs)
        for arg, v in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{cls}: {arg} must be a positive int, got {v!r}")
        if value_dim is not None and (isinstance(value_dim, bool) or not isinstance(value_dim, (int, np.integer))
                                      or value_dim < 1):
            raise ValueError(f"{cls}: value_dim must be a positive int or None, got {value_dim!r}")
        if attention_axes is not None:
            axes = list(attention_axes) if isinstance(attention_axes, (list, tuple)) else [attention_axes]
            if axes not in ([1], [-2]):
                raise ValueError(f"{cls}: attention_axes={attention_axes!r} is not supported; nncore attends over the "
                                 "sequence axis of (batch, length, features) inputs (attention_axes=None)")
        out_dim = 0
        if output_shape is not None:
            dims = list(output_shape) if isinstance(output_shape, (list, tuple)) else [output_shape]
            if len(dims) != 1 or isinstance(dims[0], bool) or not isinstance(dims[0], (int, np.integer)) or dims[0] < 1:
                raise ValueError(f"{cls}: output_shape must be one positive size (the output's last axis), got "
                                 f"{output_shape!r}")
            out_dim = int(dims[0])
        for arg, v in (("activity_regularizer", activity_regularizer), ("kernel_constraint", kernel_constraint),
                       ("bias_constraint", bias_constraint)):
            if v is not None:
                raise ValueError(f"{cls}: {arg} is not supported, got {v!r}")
        if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{cls}: dropout must be a number in [0, 1), got {dropout!r}")
        impl = _core.MultiHeadAttention(int(num_heads), int(key_dim), int(value_dim or 0), float(dropout),
                                        bool(use_bias), out_dim, _init_arg(kernel_initializer, cls, "kernel_initializer"),
                                        _init_arg(bias_initializer, cls, "bias_initializer"),
                                        -1 if seed is None else int(seed), name or "")
        super().__init__(impl, None, trainable)
        for w in ("query", "key", "value", "output"):
            self._regularize(f"{w}_kernel", kernel_regularizer, "kernel_regularizer")
            if use_bias:
                self._regularize(f"{w}_bias", bias_regularizer, "bias_regularizer")
        self._called = False

    num_heads = property(lambda self: self._impl.num_heads)
    key_dim = property(lambda self: self._impl.key_dim)
    value_dim = property(lambda self: self._impl.value_dim)
    dropout = property(lambda self: self._impl.dropout)

    def _call_options(self, use_causal_mask: bool, return_attention_scores: bool) -> None:
        want = (bool(use_causal_mask), bool(return_attention_scores))
        have = (self._impl.use_causal_mask, self._impl.return_attention_scores)
        if self._called and want != have:
            raise ValueError(f"MultiHeadAttention '{self.name}': called before with use_causal_mask={have[0]}, "
                             f"return_attention_scores={have[1]}; nncore fixes them per layer, got {want[0]}, {want[1]}: "
                             "use another MultiHeadAttention layer (sharing weights via set_weights) for the other form")
        if not self._called and not self.built:
            self._impl.set_call_options(*want)
        self._called = True

    def __call__(self, query: Any, value: Any = None, key: Any = None, query_mask: Any = None, value_mask: Any = None,
                 key_mask: Any = None, attention_mask: Any = None, return_attention_scores: bool = False,
                 training: Optional[bool] = None, use_causal_mask: bool = False) -> Any:
        from ..models import _is_symbolic, _symbolic_call
        if value is None:
            raise TypeError(f"MultiHeadAttention '{self.name}': call it as mha(query, value) (value is required; "
                            "self-attention is mha(x, x))")
        key = value if key is None else key
        self._call_options(use_causal_mask, return_attention_scores)
        symbolic = any(_is_symbolic(v) for v in (query, value, key, attention_mask))
        explicit = [m for m in (query_mask, value_mask, key_mask) if m is not None]
        if symbolic:
            if explicit:
                raise ValueError(f"MultiHeadAttention '{self.name}': in a functional model the padding masks come with "
                                 "the inputs (Embedding(mask_zero=True), Masking); pass other masks as attention_mask "
                                 "(batch, T, S)")
            inputs = [query, value, key] + ([attention_mask] if attention_mask is not None else [])
            return _symbolic_call(self, inputs, training)
        arrays = self._arrays(query, value, key, query_mask, value_mask, key_mask, attention_mask)
        if not self.built:
            self._impl.build_list([list(a.shape[1:]) for a in arrays])
        outs = self._impl.forward_list(arrays, bool(training))
        return (outs[0], outs[1]) if return_attention_scores else outs[0]

    def _arrays(self, query: Any, value: Any, key: Any, query_mask: Any, value_mask: Any, key_mask: Any,
                attention_mask: Any) -> List[np.ndarray]:
        name = f"MultiHeadAttention '{self.name}'"
        q, v, k = (as_float32(a, f"{name} {w}") for a, w in ((query, "query"), (value, "value"), (key, "key")))
        for a, w in ((q, "query"), (v, "value"), (k, "key")):
            if a.ndim != 3:
                raise ValueError(f"{name}: {w} must be (batch, length, features), got shape {a.shape}")
        mask = None if attention_mask is None else np.asarray(attention_mask) != 0
        T, S = q.shape[1], v.shape[1]
        for m, w, shape in ((query_mask, "query_mask", (len(q), T, 1)), (value_mask, "value_mask", (len(q), 1, S)),
                            (key_mask, "key_mask", (len(q), 1, S))):
            if m is None:
                continue
            m = np.asarray(m) != 0
            if m.shape != (shape[0], shape[1] * shape[2]):
                raise ValueError(f"{name}: {w} must have shape {(shape[0], shape[1] * shape[2])}, got {m.shape}")
            m = m.reshape(shape)
            mask = m if mask is None else mask & m
        out = [q, v, k]
        if mask is not None:
            out.append(np.ascontiguousarray(np.broadcast_to(mask, (len(q), T, S)), np.float32))
        return out

    def backward(self, dy: Any) -> list:
        """Gradients of query, value and key (and None for an attention_mask) for the output gradient ``dy``."""
        return self._impl.backward_list([as_float32(dy, f"Layer '{self.name}' gradient")], True)
