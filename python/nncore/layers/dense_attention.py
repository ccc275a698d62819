"""Keras 3's dot-product (Luong) and additive (Bahdanau) attention layers, ``Attention`` and ``AdditiveAttention``,
written as Keras writes them, with ``nncore.ops``: on arrays they compute eagerly; in a model they are traced into a
graph of C++ ops (matmul, softmax, tanh, ...), so forward and backward run in C++ and the model file holds the graph.

Padding masks (``Embedding(mask_zero=True)``, ``Masking``) arrive by themselves in a functional model, as in Keras:
the layer finds the masks its query and value carry by following the graph back to where they were made (the same
rules by which the C++ graph passes masks on), and the mask tensors become inputs of the layer's graph.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._custom import register_keras_serializable
from .base import Layer

__all__ = ["Attention", "AdditiveAttention"]

# Keras's bias on the scores of masked keys (attention.py: 1e9 for float32). In float32, s - 1e9 rounds to -1e9 for
# scores below 32 in size, so a query whose every key is masked gets about equal weights for all keys, as in Keras.
_MASK_BIAS = 1.0e9


# ---- the masks a KerasTensor carries ------------------------------------------------------------------------------
# The C++ layers whose output carries no mask (Layer::output_mask overridden to return null): no time axis left,
# or Keras drops the mask there (nncore/onnx_export.py keeps the same list).
_DROPS_MASK = {"Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
               "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Conv2DTranspose", "Conv1DTranspose", "UpSampling2D",
               "UpSampling1D", "RepeatVector", "Permute", "Cropping1D", "Cropping2D", "Dot"}
_RECURRENT = {"SimpleRNN", "LSTM", "GRU", "Bidirectional"}


class _NoMask(Exception):
    """A mask made inside a nested graph from a tensor that does not exist outside it."""


def _output_index(t: Any) -> int:
    """Which output of its layer's call the KerasTensor ``t`` is (0 for a layer with one output)."""
    for _, result in t._layer.__dict__.get("_inbound_calls", []):
        if isinstance(result, (list, tuple)):
            for j, o in enumerate(result):
                if o is t:
                    return j
        elif result is t:
            return 0
    return 0


def _outer(t: Any, env: Optional[Dict[int, tuple]]) -> Any:
    """``t`` as a tensor of the outermost graph: inside a nested graph only its inputs are (the caller's tensors)."""
    if env is None:
        return t
    if id(t) not in env:
        raise _NoMask
    outer, outer_env = env[id(t)]
    return _outer(outer, outer_env)


def _inner_graph(layer: Any) -> Optional[tuple]:
    """(input KerasTensors, output KerasTensors) of a nested model or of a custom layer's traced graph, or None."""
    graphs = layer.__dict__.get("_graphs")
    if graphs:
        g = graphs.get(False, graphs.get(None, graphs.get(True)))
        return g.__dict__.get("_symbolic")
    if hasattr(layer, "_symbolic_graph") and layer.__dict__.get("_impl") is not None:
        return layer._symbolic_graph()
    return None


def keras_mask(t: Any, env: Optional[Dict[int, tuple]] = None) -> Any:
    """The (batch, time) mask the KerasTensor ``t`` carries into the next layer, as a tensor of 0/1 values in the
    same graph, or None. It follows the rules of the C++ graph (``Layer::output_mask``): Embedding(mask_zero=True)
    and Masking make a mask; recurrent layers pass it on with return_sequences; the layers of ``_DROPS_MASK`` end it;
    any other layer passes its first input's mask on while its output keeps that input's time axis. Nested models
    and custom layers are followed into their graphs. ``env`` maps a nested graph's inputs to the caller's tensors."""
    from .. import ops
    if env is not None and id(t) in env:
        outer, outer_env = env[id(t)]
        return keras_mask(outer, outer_env)
    layer = t._layer
    if layer is None or not t._inbound:
        return None
    ins = t._inbound
    j = _output_index(t)
    cls = layer._impl.class_name
    # The masks as sign() of non-negative values, ops that the ONNX export has too.
    if cls == "Embedding":  # ids != 0 (ids are integers >= 0)
        return ops.sign(_outer(ins[0], env)) if j == 0 and layer.mask_zero else None
    if cls == "Masking":  # any(x != mask_value) over the features
        x = _outer(ins[0], env)
        differs = ops.abs(ops.subtract(x, float(np.float32(layer.mask_value))))
        return ops.sign(ops.max(differs, axis=-1)) if j == 0 else None
    if cls in _DROPS_MASK:
        return None
    if cls in _RECURRENT:
        return keras_mask(ins[0], env) if j == 0 and getattr(layer, "return_sequences", False) else None
    if cls in ("TracedLayer", "Functional", "Sequential"):
        graph = _inner_graph(layer)
        if graph is not None:
            inner_ins, inner_outs = graph
            if j < len(inner_outs) and len(inner_ins) == len(ins):
                inner_env = {id(a): (b, env) for a, b in zip(inner_ins, ins)}
                return keras_mask(inner_outs[j], inner_env)
    # Layer::output_mask's default: input 0's mask while the output keeps its time axis (per-sample axis 0).
    if j != 0:
        return None
    in_shape, out_shape = tuple(ins[0].shape[1:]), tuple(t.shape[1:])
    keeps_time = len(in_shape) >= 2 and len(out_shape) >= 2 and in_shape[0] == out_shape[0]
    return keras_mask(ins[0], env) if keeps_time else None


# ---- the layers ----------------------------------------------------------------------------------------------------
@register_keras_serializable(package="keras.layers", name="Attention")
class Attention(Layer):
    """Keras 3's ``Attention(use_scale=False, score_mode="dot", dropout=0.0, seed=None)``: dot-product attention
    (Luong), called as ``layer([query, value])`` or ``layer([query, value, key])`` on ``(batch, Tq, dim)`` and
    ``(batch, Tv, dim)`` tensors, with Keras's call arguments ``mask=[query_mask, value_mask]``,
    ``return_attention_scores``, ``training`` and ``use_causal_mask``.

    ``scores = query @ key^T`` (times the scalar weight ``scale`` with ``use_scale``), or with ``score_mode="concat"``
    ``concat_score_weight * sum(tanh(scale * (query_t + key_s)))``; a masked key (value_mask, or s > t with
    use_causal_mask) gets ``-1e9`` added to its score; ``weights = softmax(scores)`` (dropout on them in training);
    ``output = weights @ value``, zero where the query is masked. A query with no key left gets about equal weights
    on all keys (Keras's float32 arithmetic). Weights as Keras's ``get_weights()``: ``[scale]`` with use_scale,
    then ``concat_score_weight`` with score_mode="concat".

    In a functional model the masks of ``Embedding(mask_zero=True)`` or ``Masking`` arrive by themselves, and the
    output carries the query's mask on. return_attention_scores and use_causal_mask are fixed for a layer by its
    first call in a model; use_causal_mask there needs known lengths (``Input((T, dim))``).

    Example:
        >>> q, v = nncore.Input((None, 16)), nncore.Input((None, 16))
        >>> context = nncore.layers.Attention()([q, v])          # (None, None, 16)
    """

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        if score_mode not in ("dot", "concat"):
            raise ValueError("Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                             f"Received: score_mode={score_mode}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.integer, np.floating)) or \
                not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{cls}: dropout must be a number in [0, 1), got {dropout!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"{cls}: seed must be None or an int >= 0, got {seed!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = float(dropout)
        self.seed = None if seed is None else int(seed)
        self.scale = None
        self.concat_score_weight = None

    def build(self, input_shape: Any) -> None:
        self._validate_inputs(self._tensor_shapes(input_shape))
        self.scale = None
        self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones", trainable=True)
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(name="concat_score_weight", shape=(), initializer="ones",
                                                       trainable=True)
        self.built = True

    # -- Keras's computation (attention.py), on arrays or KerasTensors ------------------------------------------------
    def _calculate_scores(self, query: Any, key: Any) -> Any:
        from .. import ops
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.transpose(key, [0, 2, 1]))
            if self.scale is not None:
                scores = ops.multiply(scores, self.scale)
            return scores
        q_reshaped = _expand_dims(query, -2)   # (batch, Tq, 1, dim)
        k_reshaped = _expand_dims(key, -3)     # (batch, 1, Tv, dim)
        summed = q_reshaped + k_reshaped
        if self.scale is not None:
            summed = self.scale * summed
        return self.concat_score_weight * ops.sum(ops.tanh(summed), axis=-1)

    def _apply_scores(self, scores: Any, value: Any, bias: Any, training: Any) -> Tuple[Any, Any]:
        """softmax(scores - bias) @ value, ``bias`` 1e9 at the masked keys and 0 elsewhere (or None)."""
        from .. import ops, random
        if bias is not None:
            scores = scores - bias
        weights = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            weights = random.dropout(weights, self.dropout, seed=self.seed)
        return ops.matmul(weights, value), weights

    def _mask_bias(self, scores_shape: Sequence[Any], v_mask: Any, use_causal_mask: bool) -> Any:
        """1e9 where query t may not attend key s (the value mask, and s > t with the causal mask), else 0: shape
        (batch, 1, Tv), (Tq, Tv) or (batch, Tq, Tv); None when nothing is masked. Keras's _calculate_score_mask."""
        from .. import ops
        causal = None
        if use_causal_mask:
            tq, tv = scores_shape[-2], scores_shape[-1]
            if tq is None or tv is None:
                raise ValueError(f"{type(self).__name__} '{self.name}': use_causal_mask in a model needs the query and "
                                 f"value lengths, got scores of shape {tuple(scores_shape)}: give the inputs a length "
                                 "(Input((T, dim)))")
            causal = np.tril(np.ones((int(tq), int(tv)), np.float32))  # key s <= query t
        if v_mask is None:
            return None if causal is None else (np.float32(_MASK_BIAS) * (1.0 - causal)).astype(np.float32)
        allowed = _expand_dims(v_mask, 1)                            # (batch, 1, Tv)
        if causal is not None:
            allowed = ops.multiply(allowed, causal)                      # (batch, Tq, Tv)
        return (1.0 - allowed) * _MASK_BIAS  # operators: numbers keep arrays float32

    def _attend(self, q: Any, v: Any, k: Any, q_mask: Any, v_mask: Any, training: Any, use_causal_mask: bool,
                return_attention_scores: bool) -> Any:
        from .. import ops
        scores = self._calculate_scores(q, k)
        bias = self._mask_bias(tuple(ops.shape(scores)), v_mask, use_causal_mask)
        output, weights = self._apply_scores(scores, v, bias, training)
        if q_mask is not None:
            output = ops.multiply(output, _expand_dims(q_mask, -1))  # Keras's where(q_mask, output, 0)
        return (output, weights) if return_attention_scores else output

    def call(self, inputs: Any, mask: Any = None, training: Any = None, return_attention_scores: bool = False,
             use_causal_mask: bool = False) -> Any:
        from .. import _custom
        form = self.__dict__.get("_call_form")
        if _custom.tracing() and _custom._TRACING[-1] is self and form is not None:
            # The traced graph's inputs: query, value, [key], [query_mask], [value_mask] (see __call__).
            n, has_q_mask, has_v_mask, use_causal_mask, return_attention_scores = form
            inputs = list(inputs)
            tensors, rest = inputs[:n], inputs[n:]
            q_mask = rest.pop(0) if has_q_mask else None
            v_mask = rest.pop(0) if has_v_mask else None
        else:
            self._validate_inputs(inputs, mask)
            tensors = list(inputs)
            q_mask, v_mask = (None, None) if not mask else (_float_mask(mask[0]), _float_mask(mask[1]))
        q, v = tensors[0], tensors[1]
        k = tensors[2] if len(tensors) > 2 else v
        return self._attend(q, v, k, q_mask, v_mask, training, bool(use_causal_mask), bool(return_attention_scores))

    def __call__(self, inputs: Any, mask: Any = None, training: Optional[bool] = None,
                 return_attention_scores: bool = False, use_causal_mask: bool = False) -> Any:
        """``layer([query, value])`` or ``layer([query, value, key])``; see the class docstring."""
        from .. import _custom
        from ..models import KerasTensor
        self._validate_inputs(inputs, mask)
        inputs = list(inputs)
        if any(isinstance(t, KerasTensor) for t in inputs):
            if not all(isinstance(t, KerasTensor) for t in inputs):
                raise TypeError(f"{type(self).__name__} '{self.name}': call it on KerasTensors or on arrays, not a "
                                "mix")
            masks = self._symbolic_masks(inputs, mask)
            form = (len(inputs), masks[0] is not None, masks[1] is not None, bool(use_causal_mask),
                    bool(return_attention_scores))
            old = self.__dict__.get("_call_form")
            if old is not None and old != form:
                raise ValueError(f"{type(self).__name__} '{self.name}': called before in a model with "
                                 f"{_describe(old)}; nncore traces one form per layer, got {_describe(form)}: use "
                                 "another layer (sharing weights via set_weights) for the other form")
            self.__dict__["_call_form"] = form
            args = inputs + [m for m in masks if m is not None]
            out = _custom.symbolic_call(self, args, training)
            return tuple(out) if return_attention_scores else out
        arrays = [self._array(t, w) for t, w in zip(inputs, ("query", "value", "key"))]
        return _custom.eager_call(self, arrays, training, {
            "mask": None if mask is None else [None if m is None else np.asarray(m) for m in mask],
            "return_attention_scores": bool(return_attention_scores), "use_causal_mask": bool(use_causal_mask)})

    def _symbolic_masks(self, inputs: List[Any], mask: Any) -> List[Any]:
        """[query_mask, value_mask] as 0/1 tensors of the caller's graph: the given ones, else those the query and
        value carry (Embedding(mask_zero=True), Masking)."""
        from .. import ops
        from ..models import KerasTensor
        if mask is not None:
            out = []
            for m, w in zip(list(mask)[:2], ("query_mask", "value_mask")):
                if m is not None and not isinstance(m, KerasTensor):
                    raise TypeError(f"{type(self).__name__} '{self.name}': in a model {w} must be a KerasTensor "
                                    f"(batch, length) or None, got {type(m).__name__}")
                out.append(m if m is None or m.dtype == "bool" else ops.sign(ops.abs(m)))
            return out
        found = []
        for t, w in zip(inputs[:2], ("query", "value")):
            try:
                found.append(keras_mask(t))
            except _NoMask:
                raise ValueError(f"{type(self).__name__} '{self.name}': the {w} carries a mask made inside a nested "
                                 "model or custom layer from a tensor that does not exist outside it; pass the masks "
                                 "yourself: layer([query, value], mask=[query_mask, value_mask])") from None
        return found

    def _array(self, a: Any, what: str) -> np.ndarray:
        from .._convert import as_float32
        arr = as_float32(a, f"{type(self).__name__} '{self.name}' {what}")
        if arr.ndim != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}': {what} must be (batch, length, dim), got shape "
                             f"{arr.shape}")
        return arr

    def _tensor_shapes(self, input_shape: Any) -> Any:
        """build()'s shapes less those of the masks that a call in a model passes as inputs (see __call__)."""
        form = self.__dict__.get("_call_form")
        if form is None or not isinstance(input_shape, (list, tuple)):
            return input_shape
        return list(input_shape)[:form[0]]

    def _validate_inputs(self, inputs: Any, mask: Any = None) -> None:
        cls = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{cls} layer must be called on a list of inputs, namely [query, value] or [query, value, "
                             f"key]. Received: inputs={inputs}.")
        if not 2 <= len(inputs) <= 3:
            raise ValueError(f"{cls} layer accepts inputs list of length 2 or 3, namely [query, value] or [query, "
                             f"value, key]. Received length: {len(inputs)}.")
        if mask is not None:
            if not isinstance(mask, (list, tuple)):
                raise ValueError(f"{cls} layer mask must be a list, namely [query_mask, value_mask]. Received: "
                                 f"mask={mask}.")
            if not 2 <= len(mask) <= 3:
                raise ValueError(f"{cls} layer accepts mask list of length 2 or 3. Received: mask={mask}.")

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Keras's: the output carries the query's mask."""
        self._validate_inputs(inputs, mask)
        return None if mask is None or mask[0] is None else mask[0]

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*input_shape[0][:-1], input_shape[1][-1])

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}

    def __getattr__(self, name: str) -> Any:
        # A layer loaded from a model file is made without __init__: its arguments come from the saved config and
        # its weights from the C++ layer.
        d = self.__dict__
        if "_impl" in d and name in ("scale", "concat_score_weight"):
            return next((v for v in d.get("_variables", []) if v.name == name), None)
        if "_impl" in d and name in ("use_scale", "score_mode", "dropout", "seed"):
            config = json.loads(d["_impl"].user_config or "{}")
            if name in config:
                return config[name]
        return object.__getattribute__(self, name)  # the usual error (or a property's own)


@register_keras_serializable(package="keras.layers", name="AdditiveAttention")
class AdditiveAttention(Attention):
    """Keras 3's ``AdditiveAttention(use_scale=True, dropout=0.0)``: additive attention (Bahdanau), called as
    ``Attention``: ``scores = sum(scale * tanh(query_t + key_s))`` over the features, with ``scale`` a weight of
    shape ``(dim,)`` (glorot_uniform) when use_scale, else 1; masks, softmax, dropout and output as ``Attention``.

    Example:
        >>> context = nncore.layers.AdditiveAttention()([decoder_states, encoder_states])
    """

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape: Any) -> None:
        self._validate_inputs(self._tensor_shapes(input_shape))
        dim = input_shape[0][-1]
        self.scale = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=[dim], initializer="glorot_uniform", trainable=True)
        self.built = True

    def _calculate_scores(self, query: Any, key: Any) -> Any:
        from .. import ops
        q_reshaped = _expand_dims(query, -2)   # (batch, Tq, 1, dim)
        k_reshaped = _expand_dims(key, -3)     # (batch, 1, Tv, dim)
        scale = self.scale if self.use_scale else 1.0
        return ops.sum(scale * ops.tanh(q_reshaped + k_reshaped), axis=-1)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        del config["score_mode"]
        return config


def _expand_dims(x: Any, axis: int) -> Any:
    """ops.expand_dims, also on a KerasTensor whose length is unknown (a Reshape with -1 for that axis)."""
    from .. import ops
    from ..models import KerasTensor
    if not isinstance(x, KerasTensor) or None not in x.shape[1:]:
        return ops.expand_dims(x, axis)
    per = [-1 if d is None else int(d) for d in x.shape[1:]]
    per.insert(axis + len(per) + 1 if axis < 0 else axis - 1, 1)
    return ops.reshape(x, (-1, *per))


def _float_mask(m: Any) -> Any:
    """A mask given to call(): None, a KerasTensor of 0/1 values, or an array (True / non-zero: keep) as 0/1."""
    from ..models import KerasTensor
    if m is None or isinstance(m, KerasTensor):
        return m
    return (np.asarray(m) != 0).astype(np.float32)


def _describe(form: tuple) -> str:
    n, q_mask, v_mask, causal, scores = form
    inputs = "[query, value, key]" if n == 3 else "[query, value]"
    masks = ", ".join(w for w, on in (("query mask", q_mask), ("value mask", v_mask)) if on) or "no masks"
    return f"inputs {inputs}, {masks}, use_causal_mask={causal}, return_attention_scores={scores}"
