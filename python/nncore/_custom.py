"""Custom layers by subclassing, as in Keras: ``class MyDense(nncore.layers.Layer)`` with ``__init__``
(``super().__init__(**kwargs)``), ``build(input_shape)`` creating weights with ``self.add_weight(...)``, and
``call(inputs, training=None)`` composed of ``nncore.ops`` and other layers.

Called on KerasTensors, the layer is *traced*: ``call`` runs once per training mode on symbolic inputs, and the
ops and layers it calls become a graph (``nncore._core.TracedLayer``) that trains in the C++ loop with no Python
per step and is saved in the model file (so C++ loads it too). Called on arrays, ``call`` runs eagerly on numpy.
The weights live in C++; a ``Variable`` is a handle on one of them.
"""
from __future__ import annotations

import contextlib
import inspect
import json
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np

from . import _core

_REGISTRY: Dict[str, type] = {}
_SCOPES: List[Dict[str, Any]] = []
_TRACING: List[Any] = []  # the custom layers whose call() is being traced, innermost last
_EAGER_DEPTH = [0]


def tracing() -> bool:
    return bool(_TRACING)


# ---- registration ------------------------------------------------------------------------------------------------
def register_keras_serializable(package: str = "Custom", name: Optional[str] = None) -> Callable[[type], type]:
    """Class decorator: registers a custom layer or model as ``"<package>><name>"`` so ``load_model`` finds it."""
    def decorate(cls: type) -> type:
        key = f"{package}>{name or cls.__name__}"
        _REGISTRY.pop(key, None)  # the latest registration wins, also for lookups by the short name (as Keras)
        _REGISTRY[key] = cls
        cls._registered_name = key
        return cls
    return decorate


def get_registered_name(cls: type) -> str:
    return getattr(cls, "_registered_name", None) or cls.__name__


@contextlib.contextmanager
def custom_object_scope(objects: Dict[str, Any]) -> Iterator[None]:
    """Within the block, ``load_model`` also finds the classes in ``objects`` (``{"MyDense": MyDense}``)."""
    _SCOPES.append(dict(objects))
    try:
        yield
    finally:
        _SCOPES.pop()


def find_class(registered: str, custom_objects: Optional[Dict[str, Any]] = None) -> Optional[type]:
    short = registered.split(">")[-1]
    for table in [custom_objects or {}, *reversed(_SCOPES)]:
        for key in (registered, short):
            if key in table:
                return table[key]
    return _REGISTRY.get(registered)


def lookup_custom(name: str) -> Any:
    """A registered or custom_objects entry (a class or a function) by its registered or short name, or None."""
    found = find_class(name)
    if found is not None:
        return found
    for key, obj in reversed(list(_REGISTRY.items())):  # the latest registration first
        if key.split(">")[-1] == name:
            return obj
    return None


# ---- variables ---------------------------------------------------------------------------------------------------
class Variable:
    """A layer's weight (Keras's ``keras.Variable``): made by ``add_weight`` in a custom layer, or a built layer's
    ``layer.kernel``, ``layer.bias``, ... ``value`` is a numpy view of the C++ tensor, so it always shows the trained
    values; ``numpy()`` a copy; ``assign(value)`` writes into it (same shape). In ``call`` it takes part in ops like
    an array; in a traced graph the ops share its storage, so training updates it."""

    __array_priority__ = 1001

    def __init__(self, layer: Any, index: int, name: str, trainable: bool) -> None:
        self._layer = layer
        self._index = index
        self.name = name
        self.trainable = trainable

    @property
    def value(self) -> np.ndarray:
        return self._layer._impl.weight_view(self._index)

    @property
    def path(self) -> str:
        return f"{self._layer.name}/{self.name}"

    @property
    def shape(self) -> tuple:
        return tuple(self.value.shape)

    @property
    def dtype(self) -> str:
        return "float32"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(self.value.size)

    def numpy(self) -> np.ndarray:
        return self.value.copy()

    def copy(self) -> np.ndarray:
        return self.value.copy()

    def __getitem__(self, key: Any) -> Any:
        return self.value[key]

    def __setitem__(self, key: Any, v: Any) -> None:
        self.value[key] = v

    def assign(self, value: Any) -> "Variable":
        from ._keras_ops import _is_symbolic
        if _is_symbolic(value):
            return self._update(value, "assign")
        try:
            arr = np.asarray(value, np.float32)
        except (TypeError, ValueError):
            raise TypeError(f"Variable '{self.path}': assign expects an array of numbers of shape {self.shape}, got "
                            f"{type(value).__name__}") from None
        if arr.shape != self.shape:
            raise ValueError(f"Variable '{self.path}': assign expects a value of shape {self.shape} (the variable's), "
                             f"got shape {arr.shape}")
        self.value[...] = arr
        return self

    def assign_add(self, value: Any) -> "Variable":
        from ._keras_ops import _is_symbolic
        if _is_symbolic(value):
            return self._update(value, "add")
        return self.assign(self.value + np.asarray(value, np.float32))

    def assign_sub(self, value: Any) -> "Variable":
        from ._keras_ops import _is_symbolic
        if _is_symbolic(value):
            return self._update(value, "sub")
        return self.assign(self.value - np.asarray(value, np.float32))

    def _update(self, value: Any, op: str) -> "Variable":
        """assign / assign_add / assign_sub of a symbolic value in a traced call: recorded as an update of the
        traced graph, applied after each forward that runs it (the running statistics of a custom normalization)."""
        owner = self._layer
        if not _TRACING or _TRACING[-1] is not owner:
            raise ValueError(f"Variable '{self.path}': assign of a KerasTensor belongs in the call() of the layer "
                             "that owns the variable")
        kind = getattr(value, "_batch_reduce", None)
        if kind is None:
            raise ValueError(f"Variable '{self.path}': {'assign' if op == 'assign' else 'assign_' + op} needs one "
                             "value for the whole batch, e.g. ops.mean(x, axis=0) (a batch statistic, combined with "
                             f"constants and variables); got a per-sample tensor of shape {value.shape}")
        if tuple(value.shape[1:]) != self.shape:
            raise ValueError(f"Variable '{self.path}': the assigned value has shape {tuple(value.shape[1:])}, the "
                             f"variable {self.shape}")
        owner.__dict__["_trace_updates"].append((self._index, value, kind, op))
        return self

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.value, dtype=dtype)

    def __repr__(self) -> str:
        return f"<Variable path={self.path} shape={self.shape} dtype=float32>"

    # Arithmetic: graph nodes with a KerasTensor (or anything, while a call() is traced), numpy otherwise.
    def _op(self, name: str, other: Any, flip: bool = False) -> Any:
        from . import ops
        from ._keras_ops import _is_symbolic
        fn = getattr(ops, name)
        me = self._traced_value() if _TRACING and not _is_symbolic(other) else self
        return fn(other, me) if flip else fn(me, other)

    def _traced_value(self) -> Any:
        """The variable as a tensor of the graph being traced: its value for every sample of the batch, read at
        run time (``0.9 * self.mean + ...`` in a call() must not freeze the value the variable had when traced)."""
        from . import ops
        from ._keras_ops import BatchDim
        ins = _TRACING[-1].__dict__.get("_trace_inputs")
        if not ins:
            return self
        t = ops.add(ops.zeros((BatchDim(ins[0]), *self.shape)), self)
        t._batch_const = True  # the same for every sample: it may join values over the whole batch
        return t

    def __add__(self, o: Any) -> Any: return self._op("add", o)
    def __radd__(self, o: Any) -> Any: return self._op("add", o, True)
    def __sub__(self, o: Any) -> Any: return self._op("subtract", o)
    def __rsub__(self, o: Any) -> Any: return self._op("subtract", o, True)
    def __mul__(self, o: Any) -> Any: return self._op("multiply", o)
    def __rmul__(self, o: Any) -> Any: return self._op("multiply", o, True)
    def __truediv__(self, o: Any) -> Any: return self._op("divide", o)
    def __rtruediv__(self, o: Any) -> Any: return self._op("divide", o, True)
    def __pow__(self, o: Any) -> Any: return self._op("power", o)
    def __matmul__(self, o: Any) -> Any: return self._op("matmul", o)
    def __rmatmul__(self, o: Any) -> Any: return self._op("matmul", o, True)
    def __neg__(self) -> Any: return -self._traced_value() if _TRACING else -self.value


# ---- the machinery of a custom layer -----------------------------------------------------------------------------
_ALLOWED_KWARGS = {"dtype", "autocast", "input_dim", "dynamic"}


def init_custom(layer: Any, name: Optional[str] = None, trainable: bool = True, input_shape: Any = None,
                **kwargs: Any) -> None:
    """Layer.__init__ for a user's subclass."""
    from ._convert import per_sample_shape
    unknown = set(kwargs) - _ALLOWED_KWARGS
    if unknown:
        raise TypeError(f"{type(layer).__name__}: unexpected keyword argument(s) to Layer.__init__: "
                        f"{', '.join(sorted(unknown))}")
    d = layer.__dict__
    d["_custom"] = True
    d["_variables"] = []
    d["_sublayers"] = []
    d["_graphs"] = None
    d["_py_built"] = False
    d["_impl"] = _core.TracedLayer(name or "", get_registered_name(type(layer)), "{}")
    d["_input_shape"] = None if input_shape is None else per_sample_shape(input_shape, f"{type(layer).__name__} "
                                                                                        "input_shape")
    layer._impl.trainable = bool(trainable)


def track(layer: Any, value: Any) -> None:
    """Sublayers assigned as attributes (also in lists and tuples) are tracked, as Keras does."""
    from .layers import Layer
    items = value if isinstance(value, (list, tuple)) else [value]
    for v in items:
        if isinstance(v, Layer) and v is not layer and all(v is not s for s in layer.__dict__["_sublayers"]):
            layer.__dict__["_sublayers"].append(v)


def add_weight(layer: Any, shape: Any = None, initializer: Any = None, dtype: Any = None, trainable: bool = True,
               regularizer: Any = None, constraint: Any = None, name: Optional[str] = None, **kwargs: Any) -> Variable:
    from . import initializers as _initializers
    from . import regularizers as _regularizers
    cls = type(layer).__name__
    if layer._impl.traced:
        raise ValueError(f"{cls} '{layer.name}': add_weight({name!r}) after the layer was built (traced); create the "
                         "weights in __init__ or build()")
    if constraint is not None:
        raise NotImplementedError(f"{cls} '{layer.name}': add_weight(constraint=...) is not supported")
    shape = () if shape is None else tuple(int(d) for d in (shape if isinstance(shape, (list, tuple)) else [shape]))
    name = name or ("variable" if not layer._variables else f"variable_{len(layer._variables)}")
    init = "glorot_uniform" if initializer is None else initializer
    if isinstance(init, str) and init not in _core.initializer_names() and init not in _initializers._BUILTINS:
        raise ValueError(f"{cls} '{layer.name}': add_weight({name!r}): unknown initializer '{init}'; valid: "
                         f"{', '.join(_core.initializer_names())}, an nncore.initializers object, or a callable "
                         "(shape, dtype) -> array")
    where = f"{cls} '{layer.name}' add_weight({name!r}) initializer"
    core_init = _initializers.to_core(init, where)  # a user's callable runs now, while the variable is made
    reg = _regularizers.to_core(regularizer, f"{cls} '{layer.name}' add_weight({name!r}) regularizer")
    index = layer._impl.add_variable(name, list(shape), core_init, bool(trainable), json.dumps(reg) if reg else "")
    var = Variable(layer, index, name, bool(trainable))
    layer._variables.append(var)
    return var


def _accepts(fn: Callable, arg: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return arg in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _keras_shape(shapes: List[tuple]) -> Any:
    s = [(None, *sh) for sh in shapes]
    return s[0] if len(s) == 1 else s


def ensure_built(layer: Any, shapes: List[tuple]) -> None:
    """Runs the user's build(input_shape) once, with Keras's batch-first shapes."""
    from .layers import Layer
    if layer._py_built:
        return
    if type(layer).build is not Layer.build:
        layer.build(_keras_shape(shapes))
    layer.__dict__["_py_built"] = True


def trace(layer: Any, shapes: List[tuple], batch: Optional[int] = None) -> None:
    """Traces call() on symbolic inputs of these per-sample shapes (once per training mode when call takes
    `training`) into graphs that the C++ layer runs. ``batch``: the static batch size of the inputs, when their
    Input has a batch_shape (call() may then size tensors by ``inputs.shape[0]``)."""
    from .models import Input, KerasTensor, Model
    cls = type(layer).__name__
    ensure_built(layer, shapes)
    modes = [True, False] if _accepts(layer.call, "training") else [None]
    graphs = {}
    losses_by_mode = {}
    updates_by_mode = {}
    for mode in modes:
        ins = [Input(s, batch_size=batch) for s in shapes]
        args = ins[0] if len(ins) == 1 else ins
        layer.__dict__["_trace_losses"] = []
        layer.__dict__["_trace_updates"] = []
        layer.__dict__["_trace_inputs"] = ins
        _TRACING.append(layer)
        try:
            spread = ins if layer.__dict__.get("_spread_call") else [args]  # call(self, a, b) or call(self, x)
            out = layer.call(*spread, training=mode) if mode is not None else layer.call(*spread)
        except TypeError as e:
            if "has no value while the model is being built" in str(e):
                raise TypeError(f"{cls} '{layer.name}': call() uses a tensor's value in Python control flow, which "
                                f"cannot be traced into a graph: {e}") from None
            raise
        finally:
            _TRACING.pop()
            layer.__dict__.pop("_trace_inputs", None)
        outs = out if isinstance(out, (list, tuple)) else [out]
        if out is None or not outs or not all(isinstance(o, KerasTensor) for o in outs):
            raise TypeError(f"{cls} '{layer.name}': call() must return a tensor computed from its inputs (with "
                            f"nncore.ops and layers), got {type(out).__name__}")
        if any(o in ins for o in outs):
            from .layers import Activation
            outs = [Activation("linear")(o) if o in ins else o for o in outs]
        losses = layer.__dict__.pop("_trace_losses")
        updates = layer.__dict__.pop("_trace_updates")
        losses_by_mode[mode] = [(kind, scale) for _, kind, scale in losses]
        updates_by_mode[mode] = [(index, kind, op) for index, _, kind, op in updates]
        extra = [t for t, _, _ in losses] + [t for _, t, _, _ in updates]
        graph_outs = (list(outs) + extra) if extra else (outs if isinstance(out, (list, tuple)) else outs[0])
        graphs[mode] = Model(ins, graph_outs, name=f"{layer.name}_graph"
                             + ("" if mode is None else ("_training" if mode else "_inference")))
    kinds = list(losses_by_mode.values())
    if any(k != kinds[0] for k in kinds):
        raise ValueError(f"{cls} '{layer.name}': call() must add the same losses (add_loss) in training and inference")
    train = graphs.get(True, graphs.get(None))
    infer = graphs.get(False, graphs.get(None))
    train_mode = True if True in graphs else None
    infer_mode = False if False in graphs else None
    layer._impl.set_graphs(train._impl, infer._impl, kinds[0], updates_by_mode[train_mode], updates_by_mode[infer_mode])
    layer.__dict__["_graphs"] = graphs
    config = layer.get_config()
    layer._impl.set_user_config(json.dumps(config, default=_json_default))


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple):
        return list(v)
    return repr(v)


def symbolic_call(layer: Any, x: Any, training: Optional[bool]) -> Any:
    from .models import _symbolic_call
    args = list(x) if isinstance(x, (list, tuple)) else [x]
    shapes = [tuple(a.shape[1:]) for a in args]
    if not layer._impl.traced:
        trace(layer, shapes, args[0]._batch if args else None)
    return _symbolic_call(layer, x, training)


def eager_call(layer: Any, x: Any, training: Optional[bool], kwargs: Dict[str, Any]) -> Any:
    """call() on arrays: numpy through the ops, the sublayers' own forward. A top-level call clears the losses
    that add_loss recorded in the last one (Keras's layer.losses)."""
    args = list(x) if isinstance(x, (list, tuple)) else [x]
    shapes = [tuple(np.shape(a)[1:]) for a in args]
    ensure_built(layer, shapes)
    if _EAGER_DEPTH[0] == 0:
        _clear_losses(layer)
    if _accepts(layer.call, "training"):
        kwargs = dict(kwargs, training=training)
    _EAGER_DEPTH[0] += 1
    try:
        if layer.__dict__.get("_spread_call") and isinstance(x, (list, tuple)):
            return layer.call(*x, **kwargs)
        return layer.call(x, **kwargs)
    finally:
        _EAGER_DEPTH[0] -= 1


def _clear_losses(layer: Any) -> None:
    layer.__dict__["_eager_losses"] = []
    for s in layer.__dict__.get("_sublayers", []):
        if s.__dict__.get("_custom"):
            _clear_losses(s)


def add_loss(layer: Any, value: Any) -> None:
    """Keras's add_loss. Traced: a batch value (ops.mean(x) / ops.sum(x) over all axes, times numbers) that joins
    the training loss. On arrays: recorded in layer.losses."""
    from ._keras_ops import _is_symbolic
    if _is_symbolic(value):
        if not _TRACING or _TRACING[-1] is not layer:
            raise ValueError(f"{type(layer).__name__} '{layer.name}': add_loss of a KerasTensor belongs in the layer's "
                             "own call()")
        kind = getattr(value, "_batch_reduce", None)
        if kind is None:
            raise ValueError(f"{type(layer).__name__} '{layer.name}': add_loss needs one number for the batch, e.g. "
                             f"ops.mean(x) or ops.sum(x) over all axes (times numbers); got a tensor of shape "
                             f"{value.shape}")
        layer.__dict__["_trace_losses"].append((value, kind, 1.0))
        return
    layer.__dict__.setdefault("_eager_losses", []).append(np.float32(np.sum(np.asarray(value, np.float64))))


def losses(layer: Any) -> List[Any]:
    """The losses of the last eager call (the layer's and its sublayers') and the weight penalties of its sublayers."""
    out = list(layer.__dict__.get("_eager_losses", []))
    for s in layer.__dict__.get("_sublayers", []):
        if s.__dict__.get("_custom"):
            out += losses(s)
        else:
            from . import regularizers as _regularizers
            for w, config in zip(s._impl.weights, s._impl.weight_regularizer_configs):
                if config is not None:
                    out.append(np.float32(_regularizers.deserialize(json.loads(config))(w)))
    return out


def wrap_loaded(impl: Any) -> Any:
    """A loaded custom layer: an instance of its registered class around the C++ layer (graph and weights from
    the file). Its __init__ does not run, so attributes it sets are absent; call() is not needed: the traced graph
    runs in C++."""
    registered = impl.user_class
    cls = find_class(registered)
    if cls is None:
        short = registered.split(">")[-1]
        raise ValueError(f"load_model: the model has a custom layer '{impl.name}' of class '{short}' (registered name "
                         f"'{registered}'), which is not known here: decorate the class with "
                         f"@nncore.saving.register_keras_serializable() or pass custom_objects={{'{short}': {short}}} "
                         "to load_model (or load inside nncore.saving.custom_object_scope)")
    from .layers import Layer
    from .models import Model
    model_class = cls if isinstance(cls, type) and issubclass(cls, Model) else None
    if model_class is not None:  # a subclassed model: a plain traced layer here; load_model makes the model object
        cls = Layer
    obj = cls.__new__(cls)
    d = obj.__dict__
    d.update(_custom=True, _variables=[], _sublayers=[], _graphs=None, _py_built=True, _impl=impl, _input_shape=None,
             _model_class=model_class)
    names = impl.weight_names
    for i in range(impl.num_variables):
        d["_variables"].append(Variable(obj, i, names[i], bool(impl.weight_trainable[i])))
    return obj


def _make_core_class() -> type:
    from .layers import Layer

    class SubclassedModelCore(Layer):
        """The traced layer behind a subclassed Model: its call is the model's call, its weights the model's."""

        def __init__(self, owner: Any, name: Optional[str] = None, **kwargs: Any) -> None:
            from .layers import snake_case_name
            super().__init__(name=name or snake_case_name(type(owner).__name__), **kwargs)
            self.__dict__["_owner"] = owner
            # The file names the model's class, so load_model looks for it.
            self.__dict__["_impl"] = _core.TracedLayer(self._impl.name, get_registered_name(type(owner)), "{}")

        def call(self, inputs: Any, training: Any = None) -> Any:
            owner = self.__dict__["_owner"]
            if _accepts(owner.call, "training"):
                return owner.call(inputs, training=training)
            return owner.call(inputs)

        def get_config(self) -> Dict[str, Any]:
            from .models import Model
            owner = self.__dict__["_owner"]
            if type(owner).get_config is not Model.get_config:  # the subclass's own arguments
                return owner.get_config()
            return {"name": self.name, "trainable": self.trainable, "dtype": "float32"}

    return SubclassedModelCore


def __getattr__(name: str) -> Any:  # SubclassedModelCore is made on first use (layers imports this module)
    if name == "SubclassedModelCore":
        cls = _make_core_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def batch_constant(value: Any) -> Any:
    """A constant array met by a layer call inside a traced call(): a graph tensor holding it for every sample of the
    batch, so the layer runs in the graph and its weights train (``self.pos_emb(ops.arange(0, maxlen))`` in Keras's
    TokenAndPositionEmbedding gives (batch, maxlen, dim), which broadcasts as Keras's (maxlen, dim) does)."""
    from . import ops
    from ._keras_ops import BatchDim
    ins = _TRACING[-1].__dict__.get("_trace_inputs") if _TRACING else None
    if not ins:
        return value
    a = np.asarray(value, np.float32)
    t = ops.add(ops.zeros((BatchDim(ins[0]), *a.shape)), a)
    t._batch_const = True
    return t
