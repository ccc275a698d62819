"""Keras-compatible models: ``Sequential`` and the functional ``Model(inputs, outputs)`` built from ``Input``.
The training loop runs in C++ (nncore._core.Model); this module checks and converts arguments, wires callbacks
and shapes the results as Keras does."""
from __future__ import annotations

import json
import os
import sys
import threading
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _core
from . import _feeds
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from ._convert import as_float32, per_sample_shape, py_shape
from . import callbacks as _callbacks
from . import distributed as _distributed
from .callbacks import Callback, History
from .layers import Layer, _wrap as _wrap_layer

__all__ = ["Model", "Sequential", "Input", "KerasTensor", "load_model", "ModelFileError", "model_from_json",
           "clone_model"]

ModelFileError = _core.ModelFileError


def _write(s: str) -> None:
    sys.stdout.write(s)
    sys.stdout.flush()


def _verbose(v: Union[int, str], default: int = 1) -> int:
    if v == "auto":
        return default
    if v not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {v!r}")
    return int(v)


def _positive_int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{what} must be an int >= 1, got {v!r}")
    return int(v)


class KerasTensor:
    """A symbolic tensor of the functional API: a model input (``Input``) or an output of a layer called on
    symbolic inputs (a layer may be called many times; each call makes new KerasTensors).

    ``shape`` has the batch axis first (``None``, or the ``batch_size`` an ``Input`` was given) and ``None`` for
    every axis whose length is known only when a batch arrives. ``dtype`` is ``"float32"``, or the integer dtype of
    an integer input (ids), of ``ops.cast(x, "int32")``, ``ops.arange`` and integer arithmetic on them: nncore
    stores every tensor as float32, holding integers exactly (up to 2**24), and no gradient flows into them."""

    def __init__(self, sym: Any, layer: Optional[Layer], inbound: Sequence["KerasTensor"],
                 dtype: str = "float32", batch: Optional[int] = None) -> None:
        self._sym = sym
        self._layer = layer
        self._inbound = list(inbound)
        self._dtype = dtype
        self._batch = batch
        # "mean" / "sum": the value of ops.mean(x) / ops.sum(x) over all axes inside a custom layer's call, kept per
        # sample; only add_loss (and linear arithmetic with numbers) may use it. None for ordinary tensors.
        self._batch_reduce: Optional[str] = None
        # Inside a traced call: the same value for every sample (a layer's variable, combined with constants), so
        # it may join values over the whole batch (a variable's running statistic).
        self._batch_const = False

    @property
    def shape(self) -> tuple:
        if self._batch is None:
            return (None, *py_shape(self._sym.shape))
        from ._keras_ops import BatchDim  # a static batch size: reads as the int, and ops.zeros takes it
        return (BatchDim(self, self._batch), *py_shape(self._sym.shape))

    @property
    def name(self) -> str:
        return self._sym.name

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape} name='{self.name}'>"

    # Python operators: graph nodes of nncore.ops.
    def __add__(self, other: Any) -> "KerasTensor":
        return _ops().add(self, other)

    def __radd__(self, other: Any) -> "KerasTensor":
        return _ops().add(other, self)

    def __sub__(self, other: Any) -> "KerasTensor":
        return _ops().subtract(self, other)

    def __rsub__(self, other: Any) -> "KerasTensor":
        return _ops().subtract(other, self)

    def __mul__(self, other: Any) -> "KerasTensor":
        return _ops().multiply(self, other)

    def __rmul__(self, other: Any) -> "KerasTensor":
        return _ops().multiply(other, self)

    def __truediv__(self, other: Any) -> "KerasTensor":
        return _ops().divide(self, other)

    def __rtruediv__(self, other: Any) -> "KerasTensor":
        return _ops().divide(other, self)

    def __pow__(self, other: Any) -> "KerasTensor":
        return _ops().power(self, other)

    def __neg__(self) -> "KerasTensor":
        return _ops().negative(self)

    def __abs__(self) -> "KerasTensor":
        return _ops().abs(self)

    def __matmul__(self, other: Any) -> "KerasTensor":
        return _ops().matmul(self, other)

    def __getitem__(self, key: Any) -> "KerasTensor":
        return _ops().slice_along(self, key)

    # Comparisons give bool tensors (0/1 values, no gradient). == and != are not overloaded: KerasTensors are
    # compared by identity (as in lists); use ops.equal / ops.not_equal.
    def __lt__(self, other: Any) -> "KerasTensor":
        return _ops().less(self, other)

    def __le__(self, other: Any) -> "KerasTensor":
        return _ops().less_equal(self, other)

    def __gt__(self, other: Any) -> "KerasTensor":
        return _ops().greater(self, other)

    def __ge__(self, other: Any) -> "KerasTensor":
        return _ops().greater_equal(self, other)

    def __invert__(self) -> "KerasTensor":
        return _ops().logical_not(self)

    def __bool__(self) -> bool:
        raise TypeError(f"{self!r} has no value while the model is being built: Python control flow on it (if, while, "
                        "and/or) cannot be traced into the graph; use ops.where / ops.maximum, or branch on Python "
                        "values such as `training`")

    __array_priority__ = 1000  # numpy array @ KerasTensor and array + KerasTensor reach the methods above


def _ops() -> Any:
    from . import ops
    return ops


_DTYPES = {"float32", "float64", "float16", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "uint16",
           "uint32", "bool"}


def _dtype_name(dtype: Any, what: str) -> str:
    """A Keras dtype argument as its name; float dtypes other than float32 compute in float32."""
    if dtype is None:
        return "float32"
    name = getattr(dtype, "name", None) or (np.dtype(dtype).name if not isinstance(dtype, str) else dtype)
    if name not in _DTYPES:
        raise ValueError(f"{what}: dtype must be one of {', '.join(sorted(_DTYPES))}, got {dtype!r}")
    return "float32" if name.startswith(("float", "bfloat")) else name


def Input(shape: Any = None, batch_size: Optional[int] = None, dtype: Any = None, sparse: Optional[bool] = None,
          batch_shape: Any = None, name: Optional[str] = None, tensor: Any = None,
          optional: bool = False) -> KerasTensor:
    """A model input of per-sample ``shape`` (no batch axis): ``x = Input((28, 28, 1))``. ``None`` marks an axis of
    any length (``Input((None,), dtype="int32")`` for token ids of sequences of any length); ``batch_shape`` gives
    the batch axis too (``batch_shape=(32, 10)``; nncore accepts batches of any size either way)."""
    if sparse:
        raise ValueError("Input: sparse inputs are not supported; pass dense arrays")
    if tensor is not None or optional:
        raise ValueError("Input: `tensor` and `optional` are not supported")
    if batch_shape is not None:
        if shape is not None:
            raise ValueError("Input: give shape or batch_shape, not both")
        batch_shape = tuple(batch_shape)
        if not batch_shape:
            raise ValueError("Input: batch_shape needs the batch axis first, got ()")
        batch_size, shape = batch_shape[0], batch_shape[1:]
    if shape is None:
        raise ValueError("Input: give shape (per sample, no batch axis), e.g. Input(shape=(28, 28, 1))")
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "Input batch_size")
    sym = _core.Input(list(per_sample_shape(shape, "Input shape")), name or "")
    return KerasTensor(sym, None, [], _dtype_name(dtype, "Input"), batch_size)


def _symbolic_call(layer: Layer, inputs: Any, training: Optional[bool] = None) -> Union[KerasTensor, List[KerasTensor]]:
    """``layer(tensor)`` / ``layer([a, b])`` on KerasTensors: builds the layer (on its first call) and records the
    call. Returns its KerasTensor, or a list of them for a layer with several outputs (``return_state``)."""
    args = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    for a in args:
        if not isinstance(a, KerasTensor):
            raise TypeError(f"Layer '{layer.name}': call it on KerasTensors (from nncore.Input or other layers) or "
                            f"on arrays, not a mix; got {type(a).__name__}")
    mode = -1 if training is None else int(bool(training))
    batch = args[0]._batch if args else None
    outs = [KerasTensor(sym, layer, args, "float32", batch)
            for sym in _core.call(layer._impl, [a._sym for a in args], mode)]
    result = outs[0] if len(outs) == 1 else outs
    # layer.input / layer.output: the tensors of its first call (Keras's node 0).
    layer.__dict__.setdefault("_inbound_calls", []).append((inputs if isinstance(inputs, (list, tuple)) else args[0],
                                                           result))
    return result


def _is_symbolic(x: Any) -> bool:
    if isinstance(x, KerasTensor):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(t, KerasTensor) for t in x)


class Model(Layer):
    """A graph of layers from inputs to outputs (Keras's functional API), trained in C++. A model is a layer: call
    it on KerasTensors inside another model (``features = base(inputs, training=False)``) or put it in a
    ``Sequential``; its layers are shared with the outer model, and ``model.trainable = False`` freezes them all.

    Example (a residual block):
        >>> x = nncore.Input((28, 28, 1))
        >>> h = Conv2D(16, 3, padding="same", activation="relu")(x)
        >>> r = Conv2D(16, 3, padding="same")(h)
        >>> h = Activation("relu")(layers.Add()([h, r]))
        >>> out = Dense(10, activation="softmax")(Flatten()(h))
        >>> model = nncore.Model(x, out)

    Several inputs and outputs are lists; ``fit``, ``evaluate`` and ``predict`` then take lists (or dicts keyed by
    input and output names). Each output gets its loss (one loss serves all when a single one is given); the
    reported loss is their sum, with ``<output>_loss`` and ``<output>_<metric>`` per output as in Keras.
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: Optional[str] = None, **kwargs: Any) -> None:
        if inputs is None and outputs is None:  # a subclass with call(): traced on its first input
            if type(self).call is None:
                raise TypeError("Model: give inputs and outputs (the functional API), or subclass Model and define "
                                "call(inputs, training=None)")
            self._init_subclassed(name, **kwargs)
            return
        if kwargs:
            raise TypeError(f"Model: unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for t in ins + outs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model: inputs and outputs must be KerasTensors (nncore.Input, layer calls), got "
                                f"{type(t).__name__}")
        self._impl = _core.Model([t._sym for t in ins], [t._sym for t in outs], name or "")
        # The Python layer objects of the graph (they may carry Python-side state, e.g. a wrapper's inner layer).
        known: Dict[str, Layer] = {}
        todo = list(outs)
        while todo:
            t = todo.pop()
            if t._layer is not None and t._layer.name not in known:
                known[t._layer.name] = t._layer
                todo.extend(t._inbound)
        self._init_common([known.get(l.name) or _wrap_layer(l) for l in self._impl.layers])
        self._multi_in = isinstance(inputs, (list, tuple))
        self._multi_out = isinstance(outputs, (list, tuple))
        self._symbolic = (ins, outs)

    def _init_common(self, layers: List[Layer]) -> None:
        self._input_shape = None
        self._layers: List[Layer] = layers
        self._symbolic: Optional[tuple] = None  # (input KerasTensors, output KerasTensors), made on demand
        self._losses: List[_losses.Loss] = []
        self.history: Optional[History] = None

    # -- subclassed models: __init__ + call, traced on the first input ----------------------------------------
    def _init_subclassed(self, name: Optional[str], trainable: bool = True, **kwargs: Any) -> None:
        from ._custom import SubclassedModelCore
        d = self.__dict__
        d["_impl"] = None
        d["_subclassed"] = True
        d["_pending_compile"] = None
        d["_core"] = SubclassedModelCore(self, name=name, trainable=trainable, **kwargs)
        self._init_common([d["_core"]])
        self._multi_in = self._multi_out = False

    def __setattr__(self, name: str, value: Any) -> None:
        core = self.__dict__.get("_core")
        if core is not None and not name.startswith("_"):
            from . import _custom
            _custom.track(core, value)
        object.__setattr__(self, name, value)

    def add_weight(self, *args: Any, **kwargs: Any) -> Any:
        core = self.__dict__.get("_core")
        if core is None:
            raise TypeError("add_weight is for subclassed models (and custom layers)")
        return core.add_weight(*args, **kwargs)

    def add_loss(self, value: Any) -> None:
        core = self.__dict__.get("_core")
        if core is None:
            raise TypeError("add_loss is for subclassed models (and custom layers), inside call()")
        core.add_loss(value)

    @property
    def losses(self) -> list:
        core = self.__dict__.get("_core")
        return core.losses if core is not None else []

    def _build_subclassed(self, shapes: List[tuple]) -> None:
        """Traces call() on inputs of these per-sample shapes; the model then runs as Model(inputs, call(inputs))."""
        from . import _custom
        core = self.__dict__["_core"]
        _custom.trace(core, shapes)
        ins = [Input(s) for s in shapes]
        out = _symbolic_call(core, ins[0] if len(ins) == 1 else ins)
        graph = Model(ins[0] if len(ins) == 1 else ins, out, name=core.name)
        d = self.__dict__
        d["_impl"] = graph._impl
        self._multi_in = len(ins) > 1
        self._multi_out = isinstance(out, list)
        pending = d["_pending_compile"]
        if pending is not None:
            d["_pending_compile"] = None
            self.compile(*pending[0], **pending[1])

    def _ensure_built_from(self, x: Any) -> None:
        if self.__dict__.get("_subclassed") and self.__dict__["_impl"] is None:
            items = list(x) if isinstance(x, (list, tuple)) else [x]
            shapes = []
            for a in items:
                a = a if isinstance(a, KerasTensor) else np.asarray(a)
                if len(a.shape) < 2:
                    raise ValueError(f"Model '{self.name}': expected a batch (batch, ...), got shape {a.shape}")
                shapes.append(tuple(a.shape[1:]))
            self._build_subclassed(shapes)

    def build(self, input_shape: Any) -> None:
        """A subclassed model: traces call() for ``input_shape`` (with or without the batch axis). A functional
        model is built already."""
        if self.__dict__.get("_subclassed"):
            shape = tuple(input_shape)
            if shape and shape[0] is None:
                shape = shape[1:]
            if self._impl is None:
                self._build_subclassed([shape])

    def _require_built(self, what: str) -> None:
        if self._impl is None:
            raise ValueError(f"{what}: model '{self.name}' is a subclassed model that has not seen data yet: call it "
                             "on a batch, fit it, or call model.build(input_shape) first")

    # -- structure ------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        if self._impl is None:
            return self.__dict__["_core"].name
        return self._impl.name

    @property
    def built(self) -> bool:
        return self._impl is not None and self._impl.built

    @property
    def layers(self) -> List[Layer]:
        if self.__dict__.get("_subclassed"):  # Keras lists the layers a subclassed model assigned
            return list(self.__dict__["_core"].__dict__["_sublayers"])
        if isinstance(self, Sequential) or self._impl is None or not self._impl.built:
            return list(self._layers)
        return list(self._functional_layers())

    def _functional_layers(self) -> List[Any]:
        """A functional model's layers as Keras lists them: its InputLayers among them, all by decreasing depth
        from the outputs (so ``model.layers[2]`` is the same layer in Keras's lstm_seq2seq and here)."""
        cached = self.__dict__.get("_keras_layers")
        if cached is not None and cached[0] is self._impl:
            return cached[1]
        from ._keras_files import _keras_layer_order
        from .layers.input_layer import InputLayer
        impl = self._impl
        by_name: Dict[str, Any] = {l.name: l for l in self._layers}
        for i, t in enumerate(self._symbolic_graph()[0]):
            by_name[impl.input_name(i)] = InputLayer(input_tensor=t)
        order = [by_name.pop(n) for n in _keras_layer_order(impl) if n in by_name]
        order += [l for l in self._layers if l.name in by_name]  # layers no output depends on
        self.__dict__["_keras_layers"] = (impl, order)
        return order

    @property
    def input_names(self) -> List[str]:
        return [self._impl.input_name(i) for i in range(self._impl.num_inputs)]

    @property
    def inputs(self) -> List[KerasTensor]:
        """The model's input KerasTensors (feature extraction: ``Model(base.inputs, base.get_layer(n).output)``)."""
        return list(self._symbolic_graph()[0])

    @property
    def outputs(self) -> List[KerasTensor]:
        return list(self._symbolic_graph()[1])

    @property
    def input(self) -> Any:
        ins = self._symbolic_graph()[0]
        return ins[0] if len(ins) == 1 else list(ins)

    @property
    def output(self) -> Any:
        outs = self._symbolic_graph()[1]
        return outs[0] if len(outs) == 1 and not self.__dict__.get("_multi_out") else list(outs)

    def _symbolic_graph(self) -> tuple:
        """The model's graph as KerasTensors: those it was made from, or (a Sequential, a loaded model) the
        graph called again on new Inputs, which also gives each layer its ``input`` and ``output``."""
        if self.__dict__.get("_symbolic") is not None:
            return self._symbolic
        if self._impl is None or not self._impl.built:
            raise ValueError(f"Model '{self.name}' has no defined inputs yet: it is not built (start it with "
                             "nncore.Input(shape), or call it on data first)")
        impl = self._impl
        given = self.__dict__.get("_seq_input")
        ins = [given] if given is not None else \
            [Input(py_shape(impl.input_shape_of(i)), name=impl.input_name(i)) for i in range(impl.num_inputs)]
        by_name = {l.name: l for l in self._layers}
        values = {(impl.input_name(i), 0, 0): t for i, t in enumerate(ins)}
        for k in range(impl.num_nodes):
            core = impl.node_layer(k)
            layer = by_name.get(core.name) or _wrap_layer(core)
            args = [values[(r.layer, r.call, r.output)] for r in impl.node_inputs(k)]
            out = _symbolic_call(layer, args if len(args) > 1 else args[0])
            for j, t in enumerate(out if isinstance(out, list) else [out]):
                values[(core.name, impl.node_call_index(k), j)] = t
        outs = [values[(r.layer, r.call, r.output)] for r in (impl.output_ref(j) for j in range(impl.num_outputs))]
        self._symbolic = (ins, outs)
        return self._symbolic

    @property
    def output_names(self) -> List[str]:
        return [self._impl.output_name(j) for j in range(self._impl.num_outputs)]

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        layers = self.layers
        if index is not None:
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named '{name}'; layers: {', '.join(l.name for l in layers)}")

    @property
    def input_shape(self) -> Union[tuple, List[tuple]]:
        shapes = [(None, *py_shape(self._impl.input_shape_of(i))) for i in range(self._impl.num_inputs)]
        return shapes if len(shapes) > 1 else shapes[0]

    @property
    def output_shape(self) -> Union[tuple, List[tuple]]:
        shapes = [(None, *py_shape(self._impl.output_shape_of(j))) for j in range(self._impl.num_outputs)]
        return shapes if len(shapes) > 1 else shapes[0]

    def summary(self, line_length: int = 65, positions: Any = None, print_fn: Any = None,
                expand_nested: bool = False, show_trainable: bool = False, layer_range: Any = None) -> None:
        """Keras's table of layers (output shapes, parameters, and for a graph what each layer reads).
        ``expand_nested`` lists a nested model's layers under it; ``show_trainable`` adds a Y/N column."""
        if positions is not None or layer_range is not None:
            raise NotImplementedError("summary: positions and layer_range are not supported")
        self._require_built("summary")
        if not self._impl.built:
            raise ValueError(f"summary: model '{self.name}' has not yet been built: start it with nncore.Input(shape) "
                             "(or give the first layer input_shape), call model.build(input_shape), or call the model "
                             "on a batch of data first")
        text = self._impl.summary(line_length, bool(expand_nested), bool(show_trainable))
        (print_fn or print)(text.rstrip("\n"))

    def count_params(self) -> int:
        return self._impl.count_params()

    # -- weights ----------------------------------------------------------------------------------------
    @property
    def weights(self) -> list:
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    def get_weights(self) -> list:
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        expected = sum(len(layer.weights) for layer in self._layers)
        if len(weights) != expected:
            raise ValueError(f"set_weights: model '{self.name}' expects {expected} arrays, got {len(weights)}")
        i = 0
        for layer in self._layers:
            n = len(layer.weights)
            layer.set_weights(weights[i:i + n])
            i += n

    # -- int8 quantization ------------------------------------------------------------------------------
    def quantize(self, mode: str = None, config: Any = None, filters: Any = None, **kwargs: Any) -> None:
        """Keras's ``model.quantize("int8")``: every layer that supports it (Dense, Embedding, Conv1D/Conv2D,
        SimpleRNN/LSTM/GRU and Bidirectional/TimeDistributed around them; nested models' layers too) gets int8
        weights with one absmax scale per output channel, its inputs are quantized per row (per sample for a
        convolution) at each call, and its products run on the int8 GEMM; other layers stay float. ``filters``
        (Keras's): a regex or list of regexes searched in layer names, or a callable ``layer -> bool``, choosing the
        layers. The quantized model predicts, evaluates, saves (int8 weights) and exports to ONNX; fit and
        train_on_batch raise (train the float model, then quantize)."""
        from .layers.base import _check_quantize_args
        kwargs.pop("type_check", None)
        _check_quantize_args(mode, config, kwargs)
        if self._impl is None or not self._impl.built:
            raise ValueError(f"Cannot quantize a model that isn't yet built: model '{self.name}' is not built (start "
                             "it with nncore.Input(shape), or call it on data, first)")
        if filters is None:
            self._impl.quantize(mode)
            return
        if self._impl.has_quantized_layers:
            self._impl.quantize(mode)  # raises: already quantized
        if isinstance(filters, str):
            filters = [filters]
        if isinstance(filters, (list, tuple)):
            import re
            patterns = [re.compile(f) for f in filters]
            chosen = lambda layer: any(p.search(layer.name) for p in patterns)  # noqa: E731
        elif callable(filters):
            chosen = filters
        else:
            raise ValueError("The `filters` argument must be a regex string, a list of regex strings, or a callable. "
                             f"Received: {type(filters)}")
        targets = [l for l in _flat_layers(self) if l._impl.quantizable and chosen(l)]
        if not targets:
            raise ValueError(f"quantize: no quantizable layer of model '{self.name}' matches filters={filters!r}")
        for layer in targets:
            layer._impl.quantize(mode)

    # -- training configuration --------------------------------------------------------------------------
    # compile arguments of Keras that choose how the step is run, not what it computes: nncore's step always runs
    # compiled in C++, so they are accepted and have no effect.
    _RUN_OPTIONS = ("run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss")

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, weighted_metrics: Any = None, **kwargs: Any) -> None:
        """Keras's compile: ``optimizer``, ``loss`` (one for all outputs, a list, or a dict by output name; a name,
        a Loss, or a function of ops), ``metrics`` and ``weighted_metrics`` (names, nncore.metrics objects or
        functions of ops: a list for every output, a list of lists or a dict by output name for each output's own;
        weighted metrics read fit's sample_weight) and ``loss_weights`` (a list or a dict by output name: output
        j's loss counts ``loss_weights[j]`` times in the total; the per-output losses in the logs stay unweighted).
        """
        kwargs = {k: v for k, v in kwargs.items() if k not in self._RUN_OPTIONS}
        if kwargs:
            raise TypeError(f"compile: unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        if self._impl is None:  # a subclassed model: compiled once it is traced
            self.__dict__["_pending_compile"] = ((optimizer, loss, metrics), {"loss_weights": loss_weights,
                                                                              "weighted_metrics": weighted_metrics})
            return
        n_out = self._impl.num_outputs
        if loss is None:
            # Keras: no loss of its own when the layers add losses (add_loss); it trains on those alone.
            if not self._impl.adds_losses:
                raise ValueError("compile: a loss is required, e.g. loss='sparse_categorical_crossentropy' (valid: "
                                 f"{', '.join(_core.loss_names())}, or a function of ops); only a model whose layers "
                                 "add losses with add_loss may leave it out")
            loss = [None] * n_out
        if isinstance(loss, dict):
            # Outputs the dict leaves out have no loss (Keras): their targets may be left out too.
            unknown = [k for k in loss if k not in self.output_names]
            if unknown or all(loss.get(n) is None for n in self.output_names):
                raise ValueError(f"compile: loss dict keys must be output names ({', '.join(self.output_names)}) with "
                                 f"at least one loss, got {', '.join(map(str, loss))}")
            loss = [loss.get(n) for n in self.output_names]
        loss_objs = [None if l is None else _losses.get(l) for l in loss] if isinstance(loss, (list, tuple)) \
            else [_losses.get(loss)]
        if len(loss_objs) not in (1, n_out):
            raise ValueError(f"compile: expected 1 loss or one per output ({n_out}), got {len(loss_objs)}")
        if len(loss_objs) == 1 and n_out > 1 and loss_objs[0] is not None and loss_objs[0].is_custom:
            loss_objs = loss_objs * n_out  # traced once per output (their shapes differ)
        if any(l is not None and l.is_custom for l in loss_objs) and not self._impl.built:
            raise ValueError("compile: a custom loss is traced for the model's output shape, and this model is not "
                             "built yet: start it with nncore.Input(shape) (or give the first layer input_shape, or "
                             "call model.build(input_shape)) before compile")
        self._loss_y_shapes = [None] * len(loss_objs)
        specs = [self._loss_spec(l, j, None) for j, l in enumerate(loss_objs)]
        previous = self._losses
        self._losses = loss_objs if len(loss_objs) == n_out else loss_objs * n_out  # metric functions read it
        try:
            metric_specs = self._metric_specs(metrics, weighted_metrics)
            self._impl.compile(_optimizers.get(optimizer), specs, metric_specs)
        except BaseException:
            self._losses = previous  # a failed compile keeps the previous configuration
            raise
        self.__dict__["_compiled_metric_specs"] = metric_specs
        if loss_weights is not None:
            if isinstance(loss_weights, dict):
                unknown = [k for k in loss_weights if k not in self.output_names]
                if unknown:
                    raise ValueError(f"compile: loss_weights names unknown output(s) {unknown}; outputs: "
                                     f"{', '.join(self.output_names)}")
                loss_weights = [float(loss_weights.get(n, 1.0)) for n in self.output_names]
            elif isinstance(loss_weights, (int, float)):
                loss_weights = [float(loss_weights)] * n_out
            loss_weights = [float(w) for w in loss_weights]
            if len(loss_weights) != n_out:
                raise ValueError(f"compile: loss_weights must have one weight per output ({n_out}), got "
                                 f"{len(loss_weights)}")
            self._impl.loss_weights = loss_weights

    def _metric_lists(self, metrics: Any, what: str) -> List[List[Any]]:
        """compile's metrics (or weighted_metrics) as one list per output: a flat list applies to every output, a
        list of lists gives each output its own, a dict names outputs (those missing get none)."""
        n_out = self._impl.num_outputs
        if metrics is None:
            return [[] for _ in range(n_out)]
        if isinstance(metrics, dict):
            unknown = [k for k in metrics if k not in self.output_names]
            if unknown:
                raise ValueError(f"compile: {what} names unknown output(s) {unknown}; outputs: "
                                 f"{', '.join(self.output_names)}")
            per = [metrics.get(n) for n in self.output_names]
            return [[] if m is None else list(m) if isinstance(m, (list, tuple)) else [m] for m in per]
        if not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        metrics = list(metrics)
        if metrics and all(isinstance(m, (list, tuple)) or m is None for m in metrics):
            if len(metrics) != n_out:
                raise ValueError(f"compile: {what} as a list of lists needs one list per output ({n_out}), got "
                                 f"{len(metrics)}")
            return [list(m or []) for m in metrics]
        return [list(metrics) for _ in range(n_out)]

    def _metric_specs(self, metrics: Any, weighted_metrics: Any) -> List[List[Any]]:
        """What the C++ compile takes for each output's metrics: names and JSON specs it resolves, and metric
        objects for traced functions and Python Metric subclasses."""
        lists = self._metric_lists(metrics, "metrics")
        weighted = self._metric_lists(weighted_metrics, "weighted_metrics")
        out: List[List[Any]] = []
        for j in range(self._impl.num_outputs):
            specs: List[Any] = []
            for m, w in [(m, False) for m in lists[j]] + [(m, True) for m in weighted[j]]:
                obj = _metrics.get(m)
                if isinstance(obj, str):
                    specs.append(obj if not w else json.dumps({"name": obj, "weighted": True}))
                else:
                    specs.append(obj._core_metric(self, j, w))
            out.append(specs)
        return out

    def _metric_shapes(self, j: int) -> tuple:
        """Output j's per-sample shape and its targets' (what a traced metric function reads): integer labels for a
        sparse loss, else shaped like the output."""
        if not self._impl.built:
            raise ValueError("compile: a metric function is traced for the model's output shape, and this model is "
                             "not built yet: start it with nncore.Input(shape) (or call model.build(input_shape)) "
                             "before compile")
        out = py_shape(self._impl.output_shape_of(j)) or (1,)
        loss = self._losses[j] if self._losses and j < len(self._losses) else None
        y_shape = self._loss_y_shapes[j] if self.__dict__.get("_loss_y_shapes") and \
            j < len(self._loss_y_shapes) else None
        if y_shape is None and loss is not None and not loss.is_custom and "sparse" in loss.kernel_name:
            y_shape = tuple(out[:-1]) + (1,)
        return out, (y_shape or out)

    def _no_targets(self, xs: List[np.ndarray], what: str) -> Any:
        """y=None: allowed when the model was compiled without a loss (it trains on its layers' add_loss); a column
        of zeros per output stands in for the targets nothing reads."""
        if not self._losses or any(l is not None for l in self._losses):
            raise ValueError(f"{what}: y is required (the model was compiled with a loss); only a model compiled "
                             "without one, training on its layers' add_loss, runs without targets")
        return [np.zeros((len(xs[0]), 1), np.float32) for _ in self._losses]

    def _loss_spec(self, loss: Any, j: int, y_shape: Optional[tuple]) -> tuple:
        """What the C++ compile takes for output j's loss: (name, from_logits), (None,) for no loss, or a custom
        loss traced for targets of per-sample shape y_shape (default: the output's shape)."""
        if loss is None:
            return (None,)
        if loss.reduction not in ("sum_over_batch_size", "sum"):
            raise ValueError(f"compile: loss '{loss.name}' has reduction={loss.reduction!r}; a model trains on one "
                             "number per batch: use 'sum_over_batch_size' (the default, the batch mean) or 'sum' "
                             "(per-sample values are what calling the loss object with reduction=None gives)")
        if not loss.is_custom:
            return (loss.kernel_name, loss.from_logits, loss.label_smoothing, loss.reduction == "sum")
        out_shape = py_shape(self._impl.output_shape_of(j))
        self._loss_y_shapes[j] = y_shape
        return _losses.trace(loss, out_shape if y_shape is None else y_shape, out_shape)

    def _fit_custom_losses(self, ys: List[np.ndarray]) -> None:
        """Traces a custom loss again when the targets are not shaped like the output (integer labels for a
        classifier's probabilities, say): for y's per-sample shape, keeping the optimizer and its state."""
        shapes = self.__dict__.get("_loss_y_shapes")
        if not shapes or not any(l is not None and l.is_custom for l in self._losses) or len(ys) != len(self._losses):
            return
        changed = False
        for j, (loss, y) in enumerate(zip(self._losses, ys)):
            if loss is None or not loss.is_custom or y.ndim < 1:
                continue
            out_size = int(np.prod([d for d in self._impl.output_shape_of(j)]))
            per = tuple(y.shape[1:])
            want = shapes[j]
            if (want is None and int(np.prod(per)) != out_size) or (want is not None and per != want):
                changed = True
                shapes[j] = per if int(np.prod(per)) != out_size else None
        if changed:
            specs = [self._loss_spec(l, j, shapes[j]) for j, l in enumerate(self._losses)]
            weights = list(self._impl.loss_weights)
            self._impl.compile(self._impl.optimizer, specs, self.__dict__.get("_compiled_metric_specs") or [])
            self._impl.loss_weights = weights

    @property
    def optimizer(self) -> Any:
        return self._impl.optimizer

    @property
    def loss(self) -> Any:
        """The loss object (a list of them for several outputs), or None before compile."""
        if not self._losses:
            return None
        return self._losses if len(self._losses) > 1 else self._losses[0]

    @property
    def metrics_names(self) -> List[str]:
        return list(self._impl.metrics_names)

    @property
    def stop_training(self) -> bool:
        return self._impl.stop_training

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self._impl.stop_training = bool(value)

    def _require_compiled(self, what: str) -> None:
        if self._impl is None and self.__dict__.get("_pending_compile") is not None:
            return  # compiled when the first batch traces it
        if self._impl is None or not self._impl.compiled:
            raise RuntimeError(f"{what}: the model must be compiled before use: call model.compile(optimizer, "
                               "loss, metrics)")

    # -- training and inference --------------------------------------------------------------------------
    def fit(self, x: Any = None, y: Any = None, batch_size: Optional[int] = None, epochs: int = 1,
            verbose: Union[int, str] = "auto", callbacks: Optional[Sequence[Callback]] = None,
            validation_split: float = 0.0, validation_data: Optional[tuple] = None, shuffle: bool = True,
            class_weight: Optional[Dict[int, float]] = None, sample_weight: Any = None,
            initial_epoch: int = 0, steps_per_epoch: Optional[int] = None,
            validation_steps: Optional[int] = None) -> History:
        """Train for ``epochs`` passes over ``(x, y)``; returns a ``History``. Ctrl-C stops between batches,
        keeping the weights, and then raises ``KeyboardInterrupt`` (``model.history`` holds what ran).

        ``sample_weight`` (one weight per sample) and ``class_weight`` (``{class index: weight}``, looked up by
        the integer label or the argmax of a one-hot target; classes left out weigh 1) multiply each sample's
        loss, and both together multiply. The batch loss is ``sum(w * loss) / batch_size`` as in Keras; metrics
        stay unweighted (Keras 3's ``metrics=``). A ``validation_split`` also splits the weights.

        ``x`` may also be batches: an ``nncore.utils.PyDataset``, a generator or iterator, or an iterable with a
        length (a PyTorch DataLoader), each batch ``(x, y)`` or ``(x, y, sample_weight)``; ``steps_per_epoch``
        limits an epoch (a generator without it runs until exhausted). ``validation_data`` may be batches too.
        Batches are fetched on a background thread while the C++ step runs. ``batch_size`` is ignored then (as in
        Keras: the data makes the batches).

        With arrays, ``steps_per_epoch`` and ``validation_steps`` work as in Keras 3: an epoch is that many
        batches, each epoch going on through the (shuffled) data where the last one stopped; when the data runs
        out first, the epoch ends there (with a warning) and the next one starts a new pass. Without
        ``batch_size`` a pass is ``steps_per_epoch`` batches."""
        self._require_compiled("fit")
        if x is None:
            raise ValueError("fit: x is required")
        parallel = _distributed._fit_args()
        if parallel:  # data-parallel (nncore.distributed): rank 0 prints
            if _feeds.is_feed(x) or steps_per_epoch is not None or validation_steps is not None:
                raise ValueError("fit: data-parallel training (nncore.distributed.init()) takes arrays x and y "
                                 "without steps_per_epoch / validation_steps; pass the arrays (each rank takes its "
                                 "share), or load each rank's own arrays with init(data='local')")
            if not _distributed.is_main():
                verbose = 0
        if _feeds.is_feed(x):
            return self._fit_feed(x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                                  shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch,
                                  validation_steps)
        if steps_per_epoch is not None or validation_steps is not None:
            return self._fit_array_steps(x, y, batch_size, epochs, verbose, callbacks, validation_split,
                                         validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                                         steps_per_epoch, validation_steps)
        xs = self._xs(x, "fit: x")
        ys = self._ys(self._no_targets(xs, "fit") if y is None else y, "fit: y")
        weights = self._loss_weights(xs, ys, sample_weight, class_weight, "fit")
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "fit: batch_size")
        epochs = _positive_int(epochs, "fit: epochs")
        val_x: list = []
        val_y: list = []
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val)")
            val_x = self._xs(validation_data[0], "fit: validation_data x")
            val_y = self._ys(validation_data[1], "fit: validation_data y")
        n = len(xs[0]) if not validation_split else int(len(xs[0]) * (1 - validation_split))
        run = _callbacks._TrainingRun(self, callbacks, epochs, _verbose(verbose), -(-n // batch_size))
        start, interrupted = run.begin(initial_epoch), False  # on_train_begin: a backup may move the start
        if start is not None:
            hooks = run.hooks()
            _, _, interrupted = self._impl.fit(
                xs, ys, epochs, batch_size, bool(shuffle), run.loop_verbose, float(validation_split), val_x, val_y,
                start, _write, *hooks[:5], sample_weight=weights, on_batch_begin=hooks[5], validation_hooks=hooks[6],
                **parallel)
        run.end(interrupted)
        if interrupted:
            raise KeyboardInterrupt("fit interrupted: the weights of the last completed batch are kept; "
                                    "model.history holds the completed epochs")
        return self.history

    def _fit_feed(self, x: Any, y: Any, batch_size: Any, epochs: int, verbose: Any, callbacks: Any,
                  validation_split: float, validation_data: Any, shuffle: bool, class_weight: Any, sample_weight: Any,
                  initial_epoch: int, steps_per_epoch: Optional[int], validation_steps: Optional[int]) -> History:
        for name, v in (("y", y), ("sample_weight", sample_weight), ("class_weight", class_weight)):
            if v is not None:
                raise ValueError(f"fit: {name} cannot be given when x is a generator or dataset (its batches carry "
                                 f"x, y and sample weights); got {name}="
                                 f"{repr(v) if isinstance(v, (int, float)) else type(v).__name__}")
        if validation_split:
            raise ValueError("fit: validation_split needs arrays; with a generator or dataset pass validation_data")
        epochs = _positive_int(epochs, "fit: epochs")
        feed = _feeds._Feed(self, x, steps_per_epoch, "fit", True, shuffle=bool(shuffle),
                            seed=int(_core.next_seed()))
        val = None
        if validation_data is not None:
            vd = validation_data
            if not _feeds.is_feed(vd):
                if not isinstance(vd, (tuple, list)) or len(vd) not in (2, 3):
                    raise ValueError("fit: validation_data must be (x_val, y_val[, sample_weight]) or batches")
                vd = _feeds.ArrayBatches(vd[0], vd[1], 32, vd[2] if len(vd) == 3 else None)
            val = _feeds._Feed(self, vd, validation_steps, "fit: validation_data", True)
        run = _callbacks._TrainingRun(self, callbacks, epochs, _verbose(verbose),
                                      feed.steps if feed.steps >= 0 else None)
        interrupted = False
        try:
            start = run.begin(initial_epoch)  # on_train_begin: a backup may move the start
            if start is not None:
                _, _, interrupted = self._impl.fit_feed(feed, val, epochs, run.loop_verbose, start, _write,
                                                        *run.hooks())
        finally:
            feed.close()
            if val is not None:
                val.close()
        run.end(interrupted)
        if interrupted:
            raise KeyboardInterrupt("fit interrupted: the weights of the last completed batch are kept; "
                                    "model.history holds the completed epochs")
        return self.history

    def _fit_array_steps(self, x: Any, y: Any, batch_size: Optional[int], epochs: int, verbose: Any,
                         callbacks: Any, validation_split: float, validation_data: Any, shuffle: bool,
                         class_weight: Any, sample_weight: Any, initial_epoch: int, steps_per_epoch: Optional[int],
                         validation_steps: Optional[int]) -> History:
        """fit on arrays with ``steps_per_epoch`` / ``validation_steps``: the arrays become batches (``_ArraySteps``,
        Keras 3's order) for the batch-source loop."""
        xs = self._xs(x, "fit: x")
        ys = self._ys(self._no_targets(xs, "fit") if y is None else y, "fit: y")
        weights = self._loss_weights(xs, ys, sample_weight, class_weight, "fit")
        if validation_split and validation_data is None:  # Keras: the last samples, before shuffling
            if not 0.0 < float(validation_split) < 1.0:
                raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
            cut = int(len(xs[0]) * (1.0 - float(validation_split)))
            validation_data = ([a[cut:] for a in xs], [a[cut:] for a in ys],
                               None if weights is None else weights[cut:])
            xs, ys = [a[:cut] for a in xs], [a[:cut] for a in ys]
            weights = None if weights is None else weights[:cut]
        if steps_per_epoch is not None:
            steps_per_epoch = _positive_int(steps_per_epoch, "fit: steps_per_epoch")
        if batch_size is None:  # Keras: a pass is steps_per_epoch batches
            batch_size = max(1, -(-len(xs[0]) // steps_per_epoch)) if steps_per_epoch is not None else 32
        batch_size = _positive_int(batch_size, "fit: batch_size")
        val = None
        if validation_data is not None:
            if _feeds.is_feed(validation_data):
                val = validation_data
            else:
                if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                    raise ValueError("fit: validation_data must be (x_val, y_val[, sample_weight]) or batches")
                val = _feeds.ArrayBatches(validation_data[0], validation_data[1], batch_size,
                                          validation_data[2] if len(validation_data) == 3 else None)
        batches = _ArraySteps(xs, ys, weights, batch_size, steps_per_epoch, bool(shuffle), int(_core.next_seed()))
        return self._fit_feed(batches, None, None, epochs, verbose, callbacks, 0.0, val, False, None, None,
                              initial_epoch, batches.steps, validation_steps)

    def evaluate(self, x: Any = None, y: Any = None, batch_size: Optional[int] = None,
                 verbose: Union[int, str] = "auto", sample_weight: Any = None, steps: Optional[int] = None,
                 callbacks: Optional[Sequence[Callback]] = None,
                 return_dict: bool = False) -> Union[float, list, Dict[str, float]]:
        """``[loss, *metrics]`` averaged over the samples (a scalar when there are no metrics). With
        ``sample_weight`` the loss is ``sum(w * loss) / n``; metrics stay unweighted. ``x`` may be batches (a
        PyDataset, generator or iterable; ``steps`` limits them), as in ``fit``."""
        self._require_compiled("evaluate")
        if x is None:
            raise ValueError("evaluate: x is required")
        if _feeds.is_feed(x):
            for name, v in (("y", y), ("sample_weight", sample_weight)):  # batch_size: ignored, as in Keras
                if v is not None:
                    raise ValueError(f"evaluate: {name} cannot be given when x is a generator or dataset")
            feed = _feeds._Feed(self, x, steps, "evaluate", True)
            run = _callbacks._EvaluationRun(self, callbacks, "evaluate", _verbose(verbose),
                                            feed.steps if feed.steps >= 0 else None)
            try:
                values = self._impl.evaluate_feed(feed, run.loop_verbose, _write, run.hooks)
            finally:
                feed.close()
            return self._shape_results(values, return_dict)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "evaluate: batch_size")
        xs = self._xs(x, "evaluate: x")
        ys = self._ys(self._no_targets(xs, "evaluate") if y is None else y, "evaluate: y")
        weights = self._loss_weights(xs, ys, sample_weight, None, "evaluate")
        run = _callbacks._EvaluationRun(self, callbacks, "evaluate", _verbose(verbose), -(-len(xs[0]) // batch_size))
        values = self._impl.evaluate(xs, ys, batch_size, run.loop_verbose, _write, sample_weight=weights,
                                     hooks=run.hooks)
        return self._shape_results(values, return_dict)

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: Union[int, str] = 0,
                steps: Optional[int] = None, callbacks: Optional[Sequence[Callback]] = None) -> Any:
        """The outputs for ``x`` in inference mode: an array, or a list of arrays for several outputs. ``x`` may be
        batches (a PyDataset, generator or iterable yielding x or (x, ...)); ``steps`` limits them."""
        if _feeds.is_feed(x):  # batch_size: ignored, as in Keras (the data makes the batches)
            feed = _feeds._Feed(self, x, steps, "predict", False)
            run = _callbacks._EvaluationRun(self, callbacks, "predict", _verbose(verbose, 0),
                                            feed.steps if feed.steps >= 0 else None)
            try:
                if run.per_batch_outputs:  # a callback reads logs["outputs"]: one C++ call per batch
                    outputs = run.predict(self._impl, _callbacks._feed_batches(feed))
                    return self._one_or_list(outputs, self._impl.num_outputs)
                return self._one_or_list(self._impl.predict_feed(feed, run.hooks), self._impl.num_outputs)
            finally:
                feed.close()
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "predict: batch_size")
        xs = self._xs(x, "predict: x")
        if not callbacks and _verbose(verbose, 0) == 0:  # no callback, no bar: straight to the C++ loop
            return self._one_or_list(self._predict_arrays(xs, batch_size), self._impl.num_outputs)
        n = len(xs[0])
        run = _callbacks._EvaluationRun(self, callbacks, "predict", _verbose(verbose, 0), -(-n // batch_size))
        if run.per_batch_outputs and n > 0:  # a callback reads logs["outputs"]: one C++ call per batch
            batches = ([x[i:i + batch_size] for x in xs] for i in range(0, n, batch_size))
            return self._one_or_list(run.predict(self._impl, batches), self._impl.num_outputs)
        return self._one_or_list(self._impl.predict(xs, batch_size, run.hooks), self._impl.num_outputs)

    def __call__(self, x: Any, training: Optional[bool] = None) -> Any:
        """On KerasTensors: the model as a layer of another model (see the class docs). On arrays: its outputs,
        as ``predict``."""
        if _is_symbolic(x):
            self._ensure_built_from(x)
            return _symbolic_call(self, x, training)
        return self.forward(x, bool(training))

    def forward(self, x: Any, training: bool = False) -> Any:
        """The outputs for arrays x; ``training=True`` runs the training-mode forward (dropout on, BatchNormalization
        on the batch's statistics, which also moves its moving averages), as ``model(x, training=True)`` in Keras."""
        if not training:
            return self.predict(x)
        self._require_built("model(x, training=True)")
        if self._impl.num_inputs != 1 or self._impl.num_outputs != 1 or isinstance(x, (list, tuple, dict)):
            raise NotImplementedError(
                f"model(x, training=True) on arrays runs models with one input and one output; model "
                f"'{self.name}' has {self._impl.num_inputs} inputs and {self._impl.num_outputs} outputs: use "
                "train_on_batch, or call it on KerasTensors inside another model")
        return self._impl.forward(as_float32(x, f"model '{self.name}' input"), True)

    @staticmethod
    def _one_or_list(arrays: list, n: int) -> Any:
        return arrays[0] if n == 1 else list(arrays)

    def predict_on_batch(self, x: Any) -> Any:
        """The outputs for one batch ``x`` (the results of one forward over all of it), in inference mode: Keras's
        call for serving latency, without predict's batching and callbacks. A batch too large for the cache runs in
        parts of at least 32 samples when every layer computes each sample alone: the same results, faster."""
        xs = self._xs(x, "predict_on_batch: x")
        return self._one_or_list(self._predict_arrays(xs, 0), self._impl.num_outputs)

    def _predict_arrays(self, xs: List[np.ndarray], batch_size: int) -> list:
        """predict without callbacks: on this thread's InferenceSession (its own buffers, the model's weights), so
        that threads predict on one model concurrently; batch_size 0 takes all samples at once (or in cache-sized
        parts: Model::inference_part_rows). A model that is not built yet builds on its own run first."""
        impl = self._impl
        if not impl.built:
            return impl.predict(xs, batch_size if batch_size > 0 else max(1, len(xs[0])), None)
        local = self.__dict__.get("_sessions")
        if local is None:
            local = self.__dict__.setdefault("_sessions", threading.local())
        session = getattr(local, "session", None)
        if session is None or local.impl is not impl:
            local.session, local.impl = _core.InferenceSession(impl), impl
            session = local.session
        return session.predict(xs, batch_size)

    def train_on_batch(self, x: Any, y: Any, return_dict: bool = False) -> Union[float, list, Dict[str, float]]:
        self._require_compiled("train_on_batch")
        values = self._impl.train_on_batch(self._xs(x, "train_on_batch: x"), self._ys(y, "train_on_batch: y"))
        return self._shape_results(values, return_dict)

    def test_on_batch(self, x: Any, y: Any, return_dict: bool = False) -> Union[float, list, Dict[str, float]]:
        self._require_compiled("test_on_batch")
        values = self._impl.test_on_batch(self._xs(x, "test_on_batch: x"), self._ys(y, "test_on_batch: y"))
        return self._shape_results(values, return_dict)

    def compute_gradients(self, x: Any, y: Any) -> float:
        """Fills every trainable weight's gradient (read them through ``layer.gradients``) and returns the loss.

        Runs in inference mode (dropout off, BatchNormalization on its moving statistics) so the result is
        deterministic; the loss is the batch mean plus the weight penalties. No optimizer step is taken.
        """
        self._require_compiled("compute_gradients")
        return float(self._impl.compute_gradients(self._xs(x, "compute_gradients: x"),
                                                  self._ys(y, "compute_gradients: y")))

    def input_gradient(self, x: Any, y: Any) -> np.ndarray:
        """d(mean loss)/d(x) in inference mode, shaped like ``x``: saliency maps, adversarial examples.

        Also fills the weights' gradients, as :meth:`compute_gradients` does. FGSM example:

            >>> g = model.input_gradient(x, y)
            >>> x_adv = np.clip(x + 0.1 * np.sign(g), 0.0, 1.0)
            >>> model.evaluate(x_adv, y)  # higher loss than on x
        """
        self._require_compiled("input_gradient")
        grads = self._impl.input_gradient(self._xs(x, "input_gradient: x"), self._ys(y, "input_gradient: y"))
        return self._one_or_list(grads, self._impl.num_inputs)

    # -- argument conversion -------------------------------------------------------------------------------
    def _named_list(self, v: Any, names: List[str], what: str) -> list:
        if isinstance(v, dict):
            unknown = [k for k in v if k not in names]
            missing = [n for n in names if n not in v]
            if unknown or missing:
                raise ValueError(f"{what}: dict keys must be exactly {names}; missing {missing}, unknown {unknown}")
            return [v[n] for n in names]
        if len(names) > 1:
            if not isinstance(v, (list, tuple)) or len(v) != len(names):
                raise ValueError(f"{what}: model '{self.name}' has {len(names)} of them ({', '.join(names)}); pass a "
                                 f"list of {len(names)} arrays or a dict")
            return list(v)
        if isinstance(v, (list, tuple)) and len(v) == 1 and isinstance(v[0], np.ndarray):
            return [v[0]]
        return [v]

    def _xs(self, x: Any, what: str) -> List[np.ndarray]:
        impl = self.__dict__.get("_impl")
        if type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous and impl is not None and \
                impl.built and impl.num_inputs == 1:  # the common case, at serving latency
            return [x]
        self._ensure_built_from(x)
        names = [self._impl.input_name(i) for i in range(self._impl.num_inputs)] if self._impl.built else ["x"]
        items = self._named_list(x, names, what)
        return [as_float32(a, what if len(items) == 1 else f"{what}[{i}]") for i, a in enumerate(items)]

    def _ys(self, y: Any, what: str) -> List[np.ndarray]:
        y = self._fill_lossless(y)
        items = self._named_list(y, self.output_names if self._impl.built else ["y"], what)
        ys = [as_float32(a, what if len(items) == 1 else f"{what}[{i}]") for i, a in enumerate(items)]
        self._fit_custom_losses(ys)
        # The targets' per-sample shapes: a Metric subclass's update_state sees y_true shaped as given, as in Keras.
        self.__dict__["_target_sample_shapes"] = [tuple(np.shape(a)[1:]) for a in items]
        return ys

    def _fill_lossless(self, y: Any) -> Any:
        """Keras lets targets leave out the outputs compiled without a loss (None in the loss list, or missing from
        the loss dict): a column of zeros stands in for what nothing reads."""
        losses = self.__dict__.get("_losses")
        if not losses or len(losses) < 2 or all(l is not None for l in losses) or not self._impl.built:
            return y
        names = self.output_names
        if isinstance(y, dict) and not all(n in y for n in names):
            given = next(iter(v for v in y.values() if v is not None), None)
            n = len(given) if given is not None else 0
            return {name: y[name] if name in y else self._no_target(j, n) for j, name in enumerate(names)}
        if isinstance(y, (list, tuple)) and len(y) == len(names) and any(v is None for v in y):
            given = next(iter(v for v in y if v is not None), None)
            n = len(given) if given is not None else 0
            return [v if v is not None else self._no_target(j, n) for j, v in enumerate(y)]
        return y

    def _no_target(self, j: int, n: int) -> np.ndarray:
        name = self.output_names[j]
        if self._losses[j] is not None:
            raise ValueError(f"y: no targets for output '{name}', which has the loss '{self._losses[j].name}'")
        specs = self.__dict__.get("_compiled_metric_specs") or []
        if j < len(specs) and specs[j]:
            raise ValueError(f"y: no targets for output '{name}', which has metrics; give its targets, or compile "
                             "without metrics for it")
        return np.zeros((n, 1), np.float32)

    def _loss_weights(self, xs: List[np.ndarray], ys: List[np.ndarray], sample_weight: Any, class_weight: Any,
                      what: str) -> Optional[np.ndarray]:
        """Per-sample loss weights from ``sample_weight`` and ``class_weight`` (their product), or None. Runs
        once per call, vectorized; C++ checks length, finiteness and sign and gathers them with each batch."""
        x, y = xs[0], ys[0]
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.ndim == 2 and w.shape[1] == 1:
                w = w[:, 0]
            if w.ndim != 1 or w.shape[0] != len(y):
                raise ValueError(f"{what}: sample_weight must have shape ({len(y)},), one weight per sample, got "
                                 f"{w.shape}")
        if class_weight is not None:
            if not isinstance(class_weight, dict):
                raise ValueError(f"{what}: class_weight must be a dict {{class index: weight}}, got "
                                 f"{type(class_weight).__name__}")
            if len(ys) > 1:
                raise ValueError(f"{what}: class_weight needs a model with one output; use sample_weight")
            if not self.built:
                self._impl.build(list(per_sample_shape(x.shape[1:], f"{what}: x")))
            classes = max(int(self._impl.output_shape[-1]), 2)  # one sigmoid unit: labels 0 and 1
            table = np.ones(classes)
            for k, v in class_weight.items():
                if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < classes:
                    raise ValueError(f"{what}: class_weight keys must be class indices in [0, {classes}), got {k!r}")
                v = float(v)
                if not np.isfinite(v) or v < 0:
                    raise ValueError(f"{what}: class_weight must hold finite weights >= 0; got {v} for class {k}")
                table[int(k)] = v
            yy = y.reshape(len(y), -1)
            if yy.shape[1] > 1 and self._impl.loss_name(0).startswith("sparse"):
                raise ValueError(f"{what}: class_weight needs one label per sample, got y of shape {y.shape}")
            labels = np.argmax(yy, axis=1) if yy.shape[1] > 1 else np.rint(np.nan_to_num(yy[:, 0]))
            # Invalid labels are reported by the loss's own target check; clip so the lookup cannot fail first.
            cw = table[np.clip(labels, 0, classes - 1).astype(np.int64)]
            w = cw if w is None else w * cw
        return None if w is None else np.ascontiguousarray(w, dtype=np.float32)

    def _shape_results(self, values: Sequence[float], return_dict: bool) -> Union[float, list, Dict[str, float]]:
        if return_dict:
            return dict(zip(self.metrics_names, values))
        return float(values[0]) if len(values) == 1 else [float(v) for v in values]

    # -- saving and loading ---------------------------------------------------------------------------------
    def save(self, filepath: Union[str, "os.PathLike[str]"], overwrite: bool = True,
             include_optimizer: bool = True) -> None:
        """Save architecture, weights and compile settings to one file, atomically (a crash never leaves a
        half-written file at ``filepath``). The name's ending picks the format: ``.nncore`` (or ``.safetensors``):
        nncore's own, with the optimizer state (``include_optimizer``), loaded by ``nncore.load_model`` in Python
        or ``nncore::load_model`` in C++; ``.keras``: a Keras 3 archive that ``keras.saving.load_model`` opens;
        ``.h5``: Keras's legacy HDF5 model file. Any other ending raises ``ValueError``. Under data-parallel
        training (``nncore.distributed.init()``) only rank 0 writes.

        Example:
            >>> model.save("fashion.nncore")
            >>> same = nncore.load_model("fashion.nncore")
            >>> model.save("fashion.keras")   # for Keras
        """
        from . import _keras_files
        self._require_built("save")
        path = os.fspath(filepath)
        fmt = _keras_files.file_format(path, "save")
        if not _distributed._writes():  # data-parallel: rank 0 writes (every rank holds the same weights)
            return
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"save: '{path}' exists and overwrite=False")
        if fmt == "nncore":
            _core.save_model(self._impl, path, bool(include_optimizer))
        elif fmt == "keras":
            _keras_files.save_keras(self, path)
        else:
            _keras_files.save_legacy_h5(self, path)

    def save_weights(self, filepath: Union[str, "os.PathLike[str]"], overwrite: bool = True) -> None:
        """Save the weights alone: ``.nncore`` / ``.safetensors`` (nncore's, one tensor per weight named
        ``<layer>/<weight>``) or ``.weights.h5`` (Keras 3's weights file); any other ending raises ``ValueError``."""
        from . import _keras_files
        path = os.fspath(filepath)
        fmt = _keras_files.file_format(path, "save_weights", weights=True)
        if not _distributed._writes():  # data-parallel: rank 0 writes
            return
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"save_weights: '{path}' exists and overwrite=False")
        if fmt == "keras":
            _keras_files.save_weights_h5(self, path)
        else:
            _core.save_weights(self._impl, path)

    def load_weights(self, filepath: Union[str, "os.PathLike[str]"], by_name: bool = True) -> None:
        """Load weights saved by ``save_weights`` or ``save``, matched by ``<layer>/<weight>`` name; a missing or
        unexpected name raises ``nncore.ModelFileError`` listing the names. ``by_name=False`` takes the file's
        weights in order instead, for the same architecture with differently named layers. Keras's files
        (``.weights.h5``, ``.keras``, legacy ``.h5``) are matched by the model's structure, as Keras does."""
        from . import _keras_files
        path = os.fspath(filepath)
        if path.lower().endswith((".keras", ".h5", ".hdf5")):
            _keras_files.load_weights_file(self, path)
        else:
            _core.load_weights(self._impl, path, bool(by_name))

    def export_onnx(self, filepath: Union[str, "os.PathLike[str]"], opset: int = 17) -> Any:
        """Write the model as an ONNX file for other runtimes (needs ``pip install onnx``); returns the
        ``onnx.ModelProto``. Inputs and outputs keep nncore's shapes with a symbolic batch axis, so ONNX Runtime
        gives what ``predict`` gives. An unsupported layer raises ``ValueError`` naming it.

        Example:
            >>> model.export_onnx("model.onnx")
        """
        from .onnx_export import export_onnx
        return export_onnx(self, filepath, opset)

    def get_config(self) -> Dict[str, Any]:
        """The architecture: name, input shape and each layer's class and config."""
        return json.loads(_core.model_config(self._impl))

    def to_json(self) -> str:
        return _core.model_config(self._impl)

    @classmethod
    def from_config(cls, config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None) -> "Model":
        """A new model with fresh weights from ``get_config()``'s dictionary, nncore's or Keras's (what a Keras
        model's ``get_config()`` or ``to_json()`` gives); custom layers are found by their registered names or in
        ``custom_objects``. A subclassed model's class makes itself from its own config: ``cls(**config)``."""
        from . import _keras_files
        from ._custom import custom_object_scope
        with custom_object_scope(custom_objects or {}):
            if cls.call is not None:  # a subclassed model's class (Keras's default from_config)
                return cls(**config)
            spec = _keras_files.keras_model_spec(config)
            if spec is not None:
                try:
                    return _keras_files.build_from_keras(spec, "from_config")
                except _keras_files._Unsupported as exc:
                    raise ValueError(str(exc)) from None
            return _wrap_model(_core.model_from_config(json.dumps(config)))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name='{self.name}' layers={len(self._layers)}>"


class Sequential(Model):
    """A linear stack of layers, trained in C++.

    Example:
        >>> model = Sequential([Dense(128, activation="relu", input_shape=(784,)),
        ...                     Dense(10, activation="softmax")])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> model.fit(x_train, y_train, epochs=2, batch_size=32, validation_data=(x_test, y_test))
        >>> loss, acc = model.evaluate(x_test, y_test)
    """

    def __init__(self, layers: Optional[Sequence[Layer]] = None, name: Optional[str] = None,
                 trainable: bool = True) -> None:
        self._impl = _core.Sequential(name or "")
        self._init_common([])
        self._multi_in = self._multi_out = False
        self._seq_input: Optional[KerasTensor] = None
        for layer in layers or []:
            self.add(layer)
        if not trainable:
            self.trainable = False

    def _set_input(self, t: KerasTensor) -> None:
        """``keras.Input(shape)`` (or an ``InputLayer``) as the first entry: the model's input from the start."""
        if t._layer is not None:
            raise TypeError("Sequential.add: a KerasTensor entry must be an input (nncore.Input(shape)); got the "
                            f"output of layer '{t._layer.name}'")
        if self._layers or self._seq_input is not None:
            raise ValueError("Sequential.add: an Input can only be the first entry of a Sequential model")
        self._seq_input = t
        self._input_shape = per_sample_shape(t.shape[1:], "Sequential input")

    def add(self, layer: Layer) -> None:
        from .layers.input_layer import InputLayer
        if isinstance(layer, InputLayer):
            layer = layer.output
        if isinstance(layer, KerasTensor):
            self._set_input(layer)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected an nncore layer, got {type(layer).__name__}")
        if getattr(layer, "return_state", False):
            raise ValueError(f"Sequential.add: layer '{layer.name}' ({type(layer).__name__}) has return_state=True, "
                             "which returns several tensors; a Sequential model passes one tensor from layer to "
                             "layer. Call the layer directly (layer(x) returns [output, *states]) instead.")
        if _untraced(layer):  # a custom layer: traced for the stack's output shape, once that is known
            shape = self._stack_output_shape()
            if shape is not None:
                _trace(layer, shape)
        self._impl.add(layer._impl)
        self._layers.append(layer)
        if len(self._layers) == 1 and not self.built:
            if self._seq_input is not None:
                self._impl.build(list(self._input_shape))
            elif layer._input_shape is not None:
                self._trace_custom_layers(layer._input_shape)
                self._impl.build(list(layer._input_shape))
            elif isinstance(layer, Model) and layer.built:  # a built model first: the stack starts at its input
                self._impl.build(list(layer._impl.input_shape))
            elif not layer._is_custom and layer._impl is not None and layer._impl.built:  # another model's layer
                self._impl.build(list(layer._impl.input_shape))
        self._extend_symbolic(layer)

    def _stack_output_shape(self) -> Optional[tuple]:
        """The per-sample shape the layers so far give (the Input's when there are none), or None if not known."""
        if not self._layers:
            return tuple(self._input_shape) if self._seq_input is not None else None
        return py_shape(self._impl.output_shape) if self._impl.built else None

    def _trace_custom_layers(self, shape: Sequence[Optional[int]]) -> None:
        """Before the stack is built for per-sample ``shape``: traces its custom layers (Python ``call``) that are
        not traced yet, each for the shape the layers before it give (building those), as C++ builds only traced
        ones."""
        if not any(_untraced(l) for l in self._layers):
            return
        shape = tuple(shape)
        for layer in self._layers:
            if _untraced(layer):
                _trace(layer, shape)
            if layer._impl is None:
                return
            if not layer._impl.built:
                layer._impl.build(list(shape))
            shape = py_shape(layer._impl.output_shape)

    def _ensure_built_from(self, x: Any) -> None:
        if not self.built and any(_untraced(l) for l in self._layers):
            first = x[0] if isinstance(x, (list, tuple)) and x else x
            first = first if isinstance(first, KerasTensor) else np.asarray(first)
            if len(first.shape) >= 2:
                self.build(tuple(first.shape[1:]))
        super()._ensure_built_from(x)

    def _extend_symbolic(self, layer: Layer) -> None:
        """Keeps the model's KerasTensors (inputs, outputs, each layer's output) one call per added layer."""
        sym = self.__dict__.get("_symbolic")
        if sym is None:
            return
        out = _symbolic_call(layer, sym[1][0])
        self._symbolic = (sym[0], [out])

    def pop(self) -> Layer:
        """Remove and return the last layer (e.g. the old head, before adding a new one)."""
        self._impl.pop()
        self._symbolic = None  # made again on demand
        return self._layers.pop()

    def build(self, input_shape: Sequence[Optional[int]]) -> None:
        """Build for ``input_shape``, with (``(None, 784)``) or without (``(784,)``) the batch axis."""
        shape = tuple(input_shape)
        if len(shape) > 0 and shape[0] is None:
            shape = shape[1:]
        shape = per_sample_shape(shape, "Sequential.build")
        self._trace_custom_layers(shape)
        self._impl.build(list(shape))


class _ArraySteps:
    """In-memory arrays as the batches of ``fit(steps_per_epoch=...)``, in Keras 3's order: each epoch takes
    ``steps`` batches going on through the (shuffled) pass where the last epoch stopped. A pass that runs out in the
    middle of an epoch ends that epoch (Keras warns "Your input ran out of data"); the next one starts a new pass.
    An iterator, so the batch-source loop keeps it from epoch to epoch."""

    def __init__(self, xs: List[np.ndarray], ys: List[np.ndarray], w: Optional[np.ndarray], batch_size: int,
                 steps: Optional[int], shuffle: bool, seed: int) -> None:
        self.xs, self.ys, self.w, self.batch_size, self.shuffle = xs, ys, w, batch_size, shuffle
        self.n = len(xs[0])
        self.batches = -(-self.n // batch_size)
        if self.batches == 0:
            raise ValueError("fit: x is empty (0 samples)")
        self.steps = steps if steps is not None else self.batches
        self.rng = np.random.default_rng(seed)
        self.order: Optional[np.ndarray] = None
        self.pos = 0       # the next batch of the pass
        self.in_epoch = 0  # batches taken in this epoch

    def __iter__(self) -> "_ArraySteps":
        return self

    def __next__(self) -> tuple:
        if self.pos >= self.batches:  # the pass ran out
            self.order, self.pos = None, 0
            if self.in_epoch > 0:
                taken, self.in_epoch = self.in_epoch, 0
                warnings.warn(f"fit: the data ran out after {taken} of steps_per_epoch={self.steps} batches ({self.n} "
                              f"samples in batches of {self.batch_size}); the epoch ends here and the next starts a "
                              "new pass, as in Keras", stacklevel=2)
                raise StopIteration
        if self.order is None:
            self.order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        take = self.order[self.pos * self.batch_size:(self.pos + 1) * self.batch_size]
        self.pos += 1
        self.in_epoch = (self.in_epoch + 1) % self.steps
        return ([a[take] for a in self.xs], [a[take] for a in self.ys], None if self.w is None else self.w[take])


def _flat_layers(model: "Model") -> List[Layer]:
    """The built-in layers of a model and of the models nested in it (what quantize walks)."""
    out: List[Layer] = []
    for layer in model._layers:
        if isinstance(layer, Model):
            out += _flat_layers(layer)
        elif not layer._is_custom:
            out.append(layer)
    return out


def _untraced(layer: Layer) -> bool:
    """A layer whose C++ graph is traced in Python for its input shape before a stack can build it, not traced yet:
    a custom layer (Python ``call``), or one whose activation is a function (``Layer._shape_dependent``)."""
    if hasattr(type(layer), "_shape_dependent"):
        return bool(layer._shape_dependent)
    return layer._is_custom and not layer._impl.traced


def _trace(layer: Layer, shape: Sequence[Optional[int]]) -> None:
    """Traces such a layer for per-sample input ``shape``."""
    if hasattr(type(layer), "_prepare"):
        layer._prepare([tuple(shape)])
    else:
        from . import _custom
        _custom.trace(layer, [tuple(shape)])


def _wrap_model(impl: Any) -> Model:
    """A Python model around a C++ one (loaded from a file or a config), its layers wrapped too."""
    cls = Sequential if impl.class_name == "Sequential" else Model
    obj = cls.__new__(cls)
    obj._impl = impl
    obj._init_common([_wrap_layer(l) for l in impl.layers])
    obj._multi_in = impl.num_inputs > 1
    obj._multi_out = impl.num_outputs > 1
    if impl.compiled:
        obj._losses = []
        for j in range(impl.num_outputs):
            if impl.loss_name(j) == "none":  # compiled without a loss (add_loss only)
                obj._losses.append(None)
                continue
            if impl.loss_is_custom(j):  # its traced graph came with the file; the Python function if it is known
                found = _custom_loss_object(impl.loss_name(j))
                obj._losses.append(found)
                continue
            loss = _losses.get(impl.loss_name(j))
            loss.from_logits = bool(impl.loss_from_logits(j))
            obj._losses.append(loss)
    return obj


def model_from_json(json_string: str, custom_objects: Optional[Dict[str, Any]] = None) -> Model:
    """A new model (fresh weights) from ``model.to_json()``, nncore's or a Keras model's."""
    return Model.from_config(json.loads(json_string), custom_objects=custom_objects)


def clone_model(model: Model, input_tensors: Any = None, clone_function: Any = None,
                custom_objects: Optional[Dict[str, Any]] = None) -> Model:
    """A new model of the same architecture with fresh weights (Keras's clone_model; the layers are new objects,
    not shared). ``input_tensors`` and ``clone_function`` are not supported: build the new model with the
    functional API to change its inputs or layers."""
    if input_tensors is not None or clone_function is not None:
        raise NotImplementedError("clone_model: input_tensors and clone_function are not supported; build the new "
                                  "model with the functional API instead")
    if model._impl is None or not model._impl.built:
        raise ValueError(f"clone_model: model '{model.name}' is not built yet")
    return Model.from_config(model.get_config(), custom_objects=custom_objects)


def _custom_loss_object(name: str) -> Any:
    try:
        return _losses.get(name)
    except ValueError:
        return _losses.Loss(name)  # trains on the graph from the file; not callable from Python


def load_model(filepath: Union[str, "os.PathLike[str]"], custom_objects: Optional[Dict[str, Any]] = None,
               compile: bool = True, safe_mode: bool = True) -> Model:
    """Load a model saved by ``model.save`` (or C++ ``nncore::save_model``): architecture, weights and, unless
    ``compile=False``, the compile settings and optimizer state, so ``fit`` resumes where it stopped. A ``.keras``
    archive or a legacy ``.h5`` model file written by Keras loads too (its layers must be ones nncore has, or
    custom layers / a subclassed model whose nncore classes are registered or in ``custom_objects``: they are made
    by ``from_config`` and their weights found by Keras's object paths; an error names the first that is not),
    compiled when nncore has its optimizer, loss and metrics. A missing,
    truncated or corrupted file raises ``nncore.ModelFileError`` (a ``ValueError``) naming the problem. Custom
    layers are found by their registered names (``nncore.saving.register_keras_serializable``) or in
    ``custom_objects``; their traced graphs come from the file."""
    if isinstance(custom_objects, bool):  # the old positional form load_model(path, compile)
        custom_objects, compile = None, custom_objects
    from ._custom import custom_object_scope
    from . import _keras_files
    path = os.fspath(filepath)
    fmt = _keras_files.MODEL_SUFFIXES.get(os.path.splitext(path)[1].lower(), "nncore")
    with custom_object_scope(custom_objects or {}):
        if fmt == "keras":
            return _keras_files.load_keras(path, bool(compile))
        if fmt == "h5":
            return _keras_files.load_legacy_h5(path, bool(compile))
        model = _wrap_model(_core.load_model(path, bool(compile)))
    core = model._layers[0] if len(model._layers) == 1 else None
    cls = core.__dict__.get("_model_class") if core is not None else None
    if cls is None:
        return model
    # A subclassed model (Model(inputs, traced_call(inputs)) in the file): an object of its class again.
    obj = cls.__new__(cls)
    obj.__dict__.update(model.__dict__)
    obj.__dict__.update(_subclassed=True, _core=core, _pending_compile=None)
    return obj
