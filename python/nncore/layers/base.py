"""The base of every layer (Layer: a handle on a C++ layer, or a custom layer written in Python) and the helpers
the layer families share. Each built-in layer wraps a C++ layer; the math runs in nncore._core.

Example:
    >>> from nncore.layers import Dense
    >>> layer = Dense(4, activation="relu")
    >>> y = layer.forward(np.ones((2, 3), np.float32))   # builds for input (None, 3)
    >>> [w.shape for w in layer.get_weights()]
    [(3, 4), (4,)]
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from .. import _core
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .._convert import as_float32, per_sample_shape, py_shape

# A layer's activation: a name, None (linear) or a function (see callable_activations).
ActivationArg = Union[str, None, Callable[..., Any]]


class Layer:
    """Base of all layers: a thin handle on a C++ layer.

    ``forward(x, training=False)`` and ``backward(dy) -> dx`` run the layer by itself (building it for
    ``x.shape[1:]`` on first use); ``weights`` and ``gradients`` are numpy views onto the C++ buffers,
    in Keras order; ``get_weights()`` returns copies and ``set_weights()`` copies in.

    Subclass it as in Keras to write a layer: ``__init__`` calling ``super().__init__(**kwargs)``,
    ``build(input_shape)`` creating weights with ``self.add_weight(...)``, and ``call(inputs, training=None)``
    built from ``nncore.ops`` and other layers (see ``nncore._custom``). In a model the layer is traced into a graph
    of C++ ops and layers, so it trains at built-in speed and is saved with the model.
    """

    _impl: Any

    def __init__(self, impl: Any = None, input_shape: Optional[Sequence[int]] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        if impl is None or isinstance(impl, str):  # a user's subclass: super().__init__(name=..., ...)
            from .. import _custom
            if isinstance(impl, str):
                kwargs["name"] = impl
            _custom.init_custom(self, input_shape=input_shape, trainable=trainable, **kwargs)
            return
        self._impl = impl
        cls = type(self).__name__
        self._input_shape = None if input_shape is None else per_sample_shape(input_shape, f"{cls} input_shape")
        self._impl.trainable = bool(trainable)

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_custom") and not name.startswith("_"):
            from .. import _custom
            _custom.track(self, value)
        object.__setattr__(self, name, value)

    @property
    def _is_custom(self) -> bool:
        return bool(self.__dict__.get("_custom"))

    @property
    def _config_impl(self) -> Any:
        """The C++ layer holding this layer's own configuration and weights: ``_impl``, or for a layer whose
        activation is a function, the linear layer at the head of its traced graph (callable_activations)."""
        return self.__dict__.get("_linear") or self._impl

    @property
    def _shape_dependent(self) -> bool:
        """True while the C++ layer cannot be built by itself: its graph is traced in Python for its input shape
        first (a custom layer, or a layer whose activation is a function). ``_prepare`` does that."""
        d = self.__dict__
        return bool(d.get("_linear") is not None or d.get("_custom")) and not self._impl.traced

    def _prepare(self, shapes: Sequence[Sequence[Optional[int]]]) -> None:
        """Called before the C++ layer is built for per-sample input ``shapes`` (None: an unknown length): a layer
        whose C++ graph depends on them is traced here (once). Containers call it before they build a layer (the
        functional API, ``forward`` and ``build`` do it themselves); for other layers it does nothing."""
        if not self._shape_dependent:
            return
        # Keras's form: None for an unknown length (the C++ shapes' -1 too)
        shapes = [tuple(None if d is None or int(d) < 0 else int(d) for d in s) for s in shapes]
        if self.__dict__.get("_linear") is not None:
            from . import callable_activations
            callable_activations.trace(self, shapes)
        else:
            from .. import _custom
            _custom.trace(self, [tuple(s) for s in shapes])

    def add_loss(self, value: Any) -> None:
        """Keras's add_loss in a custom layer's call: ``self.add_loss(1e-2 * ops.mean(inputs))`` adds to the
        training loss (traced into the graph); on arrays it is recorded in ``layer.losses``."""
        if not self._is_custom:
            raise TypeError(f"{type(self).__name__}: add_loss is for custom layers (subclasses that define call)")
        from .. import _custom
        _custom.add_loss(self, value)

    @property
    def losses(self) -> list:
        """The losses the last call added (add_loss), and the weight penalties of the sublayers of a custom layer."""
        if not self._is_custom:
            return []
        from .. import _custom
        return _custom.losses(self)

    def add_weight(self, shape: Any = None, initializer: Any = None, dtype: Any = None, trainable: bool = True,
                   regularizer: Any = None, constraint: Any = None, name: Optional[str] = None,
                   **kwargs: Any) -> Any:
        """A weight of a custom layer (Keras's add_weight): in ``__init__`` (with a known shape) or ``build``."""
        if not self._is_custom:
            raise TypeError(f"{type(self).__name__}: add_weight is for custom layers (subclasses that define call)")
        from .. import _custom
        return _custom.add_weight(self, shape, initializer, dtype, trainable, regularizer, constraint, name, **kwargs)

    # -- identity and shapes ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._impl.name

    @property
    def built(self) -> bool:
        if self._is_custom:
            return bool(self.__dict__.get("_py_built"))
        return self._impl.built

    @built.setter
    def built(self, value: bool) -> None:  # Keras code sets self.built = True at the end of build
        if self._is_custom:
            self.__dict__["_py_built"] = bool(value)

    def build(self, input_shape: Sequence[Optional[int]]) -> None:
        """Build for ``input_shape``: Keras-style with a leading batch axis (``(None, 784)``) or per sample."""
        if self._is_custom:  # the base of a custom layer's build (super().build(input_shape)): nothing to create
            self.__dict__["_py_built"] = True
            return
        shape = tuple(input_shape)
        if len(shape) > 0 and shape[0] is None:
            shape = shape[1:]
        dims = per_sample_shape(shape, f"{type(self).__name__}.build")
        self._prepare([py_shape(dims)])
        self._impl.build(list(dims))

    @property
    def input_shape(self) -> tuple:
        return (None, *py_shape(self._impl.input_shape))

    @property
    def output_shape(self) -> tuple:
        return (None, *py_shape(self._impl.output_shape))

    @property
    def input(self) -> Any:
        """The KerasTensor(s) the layer was first called on (Keras's ``layer.input``)."""
        return self._first_call(0, "input")

    @property
    def output(self) -> Any:
        """The KerasTensor(s) of the layer's first call: feature extraction with
        ``Model(model.inputs, model.get_layer(name).output)``."""
        return self._first_call(1, "output")

    def _first_call(self, which: int, what: str) -> Any:
        calls = self.__dict__.get("_inbound_calls")
        if not calls:
            raise AttributeError(f"Layer '{self.name}' has never been called on symbolic tensors and thus has no "
                                 f"defined {what}; call it on nncore.Input(...) (or use it in a built model) first")
        return calls[0][which]

    @property
    def trainable(self) -> bool:
        return self._impl.trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._impl.trainable = bool(value)
        if self.__dict__.get("_linear") is not None:  # not traced yet: the graph does not reach it
            self._linear.trainable = bool(value)

    # -- weights ----------------------------------------------------------------------------------------
    def _weights_and_flags(self) -> list:
        """(array view, trainable) per weight. A custom layer not traced yet: its variables, then its sublayers'.
        The views are ``WeightView``s: numpy views that also answer Keras's Variable API (``numpy()``, ``name``)."""
        from .._weight_view import weight_view
        pairs = [(weight_view(self, i, k), t) for i, (k, t) in enumerate(zip(self._impl.weight_keys,
                                                                            self._impl.weight_trainable))]
        for (view, _), int8 in zip(pairs, self._int8_flags()):
            if int8:  # the packed int8 kernels follow set_weights, not writes into a view
                view.flags.writeable = False
        if self._is_custom:  # its own weights as the Variables add_weight returned (Keras: layer.weights == [w, b])
            variables = self.__dict__["_variables"]
            pairs[:len(variables)] = [(v, v.trainable) for v in variables]
            if not self._impl.traced:
                return pairs + [(w, s.trainable and any(w is t for t in s.trainable_weights))
                                for s in self.__dict__["_sublayers"] for w in s.weights]
        return pairs

    @property
    def weights(self) -> list:
        return [w for w, _ in self._weights_and_flags()]

    @property
    def trainable_weights(self) -> list:
        """The weights an optimizer updates: none when the layer is frozen; never its statistics or constants."""
        if not self.trainable:
            return []
        return [w for w, t in self._weights_and_flags() if t]

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self.weights
        return [w for w, t in self._weights_and_flags() if not t]

    @property
    def gradients(self) -> list:
        return self._impl.gradients

    def get_weights(self) -> list:
        """Copies of the weights; a quantized layer's int8 weights as int8 arrays (as Keras)."""
        int8 = {i for i, q in enumerate(self._int8_flags()) if q}
        if self._is_custom:  # a custom layer's variables and sublayers
            return [w.astype(np.int8) if i in int8 else w.copy() for i, w in enumerate(self.weights)]
        # Copied in C++: views (self.weights) would make the layer pack its kernel again for inference.
        return [w.astype(np.int8) if i in int8 else w for i, w in enumerate(self._impl.weight_copies())]

    def _int8_flags(self) -> List[bool]:
        """Per weight of a built-in layer: whether it is a quantized int8 weight (empty for custom layers)."""
        impl = self.__dict__.get("_impl")
        return [] if impl is None or self._is_custom else list(impl.weight_int8)

    # -- int8 quantization --------------------------------------------------------------------------------
    @property
    def quantization_mode(self) -> Optional[str]:
        """``"int8"`` once the layer is quantized (``quantize``), else None (Keras's ``layer.quantization_mode``)."""
        impl = self.__dict__.get("_impl")
        return "int8" if impl is not None and not self._is_custom and impl.quantized else None

    def quantize(self, mode: str = None, config: Any = None, **kwargs: Any) -> None:
        """Keras's ``layer.quantize("int8")``: the kernel becomes int8 with one absmax scale per output channel
        (``kernel``, ``kernel_scale``), inputs are quantized per row at each call, and the product runs on the int8
        GEMM. Dense, Embedding, Conv1D/Conv2D, SimpleRNN/LSTM/GRU (input and recurrent kernels) and wrappers of
        them. The layer then predicts and evaluates only."""
        _check_quantize_args(mode, config, kwargs)
        if self._is_custom:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) is a custom layer: quantize the model, "
                             "whose traced layers are quantized one by one")
        self._impl.quantize(mode)

    def set_weights(self, weights: Sequence[Any]) -> None:
        views = self.weights
        if len(weights) != len(views):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): expected {len(views)} weight arrays "
                             f"({', '.join(self._impl.weight_names)}), got {len(weights)}")
        # The shape as given: as_float32 makes 0-d arrays 1-d (np.ascontiguousarray), and weights may be scalars
        # (Normalization's count).
        new = [as_float32(w, f"Layer '{self.name}' set_weights").reshape(np.shape(w)) for w in weights]
        for view, w, wname in zip(views, new, self._impl.weight_names):
            if w.shape != view.shape:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): weight '{wname}' expects shape "
                                 f"{view.shape}, got {w.shape}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"Layer '{self.name}': weight '{wname}' contains NaN or inf")
        if self.quantization_mode is None:
            for view, w in zip(views, new):
                view[...] = w
            return
        # Quantized: write through fresh (writable) views, then re-pack; values the int8 kernels cannot take
        # (not integers in [-127, 127], scales not positive) put the old weights back and raise.
        old = [np.array(v) for v in self._impl.weights]
        raw = self._impl.weights
        for view, w in zip(raw, new):
            view[...] = w
        try:
            self._impl.refresh_quantized()
        except ValueError:
            for view, w in zip(raw, old):
                view[...] = w
            self._impl.refresh_quantized()
            raise

    def count_params(self) -> int:
        return self._impl.count_params()

    # -- configuration -----------------------------------------------------------------------------------
    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments (Keras names), as saved in model files. A custom layer returns Keras's base
        config (name, trainable, dtype); override it to add its own arguments."""
        if self._is_custom:
            return {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        config = json.loads(_core.layer_config(self._config_impl))
        if self.__dict__.get("_activation") is not None:  # a function: Keras's serialized form
            config["activation"] = self._activation.config
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Layer":
        """A new, unbuilt layer of this class from ``get_config()``'s dictionary."""
        if getattr(cls, "call", None) is not None and cls.call is not Layer.call:
            return cls(**{k: v for k, v in config.items() if k != "dtype"})
        from . import callable_activations
        if callable_activations.needs_function(cls, config):
            return callable_activations.from_config(cls, config)
        spec = json.dumps({"class_name": cls.__name__, "config": config})
        return _wrap(_core.layer_from_config(spec))

    @classmethod
    def _wrap(cls, impl: Any) -> "Layer":
        """A Python handle on an existing C++ layer (a loaded model's), without running ``__init__``."""
        obj = cls.__new__(cls)
        obj._impl = impl
        obj._input_shape = None
        return obj

    def _set_regularizers(self, kernel: Any, bias: Any) -> None:
        self._regularize("kernel", kernel)
        self._regularize("bias", bias)

    def _regularize(self, weight: str, identifier: Any, arg: Optional[str] = None) -> None:
        """Penalizes weight ``weight`` by the regularizer given as argument ``arg`` (default ``<weight>_regularizer``):
        a name, a config dict or a built-in regularizer object."""
        config = _regularizers.to_core(identifier, f"{type(self).__name__} {arg or weight + '_regularizer'}")
        if config is not None:
            self._config_impl.set_regularizer_config(weight, json.dumps(config))

    # -- running the layer by itself -----------------------------------------------------------------------
    call = None  # a custom layer's computation (subclasses define it)

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        if self._is_custom:
            from .. import _custom
            return _custom.eager_call(self, x, training, {})
        x = as_float32(x, f"Layer '{self.name}' input")
        if not self.built:
            if x.ndim < 2:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): expected input of shape "
                                 f"(batch, ...), got {x.shape}")
            self._prepare([tuple(x.shape[1:])])
            self._impl.build(list(x.shape[1:]))
        return self._impl.forward(x, training)

    def __call__(self, x: Any, *args: Any, training: Optional[bool] = None) -> Any:
        """On arrays: ``forward``. On KerasTensors (``nncore.Input`` or other layers' outputs): records the call
        for the functional API and returns the symbolic output (a list for a layer with several outputs). A layer
        may be called any number of times; its calls share its weights. ``training`` fixes the call's mode in a
        model (``False``: always inference, e.g. a frozen base model; ``True``: always training; ``None``: the
        model's mode: training in ``fit``, inference in ``predict`` and ``evaluate``). A custom layer whose call()
        takes several inputs one by one (``call(self, targets, logits)``) is called the same way."""
        from ..models import _is_symbolic, _symbolic_call
        if args:
            if len(args) == 1 and (args[0] is None or isinstance(args[0], bool)) and training is None:
                training = args[0]  # layer(x, True): the positional training flag
            elif self._is_custom:
                self.__dict__["_spread_call"] = True  # call(self, a, b, ...): the inputs one by one
                x = [x, *[a for a in args if a is not None]]
            else:
                raise TypeError(f"Layer '{self.name}' ({type(self).__name__}) takes one input, or a list of them; got "
                                f"{1 + len(args)} positional arguments")
        if self._is_custom:
            from .. import _custom
            if _is_symbolic(x):
                return _custom.symbolic_call(self, x, training)
            return _custom.eager_call(self, x, training, {})
        if not _is_symbolic(x) and not isinstance(x, (list, tuple)):
            from .. import _custom
            if _custom.tracing():  # inside a custom layer's call(): a constant (positions) becomes a graph tensor
                x = _custom.batch_constant(x)
        if _is_symbolic(x):
            self._prepare([tuple(t.shape[1:]) for t in (x if isinstance(x, (list, tuple)) else [x])])
            return _symbolic_call(self, x, training)
        return self.forward(x, bool(training))

    def backward(self, dy: Any) -> np.ndarray:
        return self._impl.backward(as_float32(dy, f"Layer '{self.name}' gradient"), True)

    def zero_grad(self) -> None:
        self._impl.zero_grad()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name='{self.name}' built={self.built}>"


def _init_arg(value: Any, cls: str, arg: str) -> Any:
    """A layer's initializer argument in the form C++ takes: a name, a built-in initializer object or config, or a
    user's callable (run in Python when the layer is built)."""
    return _initializers.to_core(value, f"{cls} {arg}")


class WeightAttribute:
    """``layer.kernel``, ``layer.bias``, ``layer.gamma``, ...: the built layer's weight of that (Keras) name as a
    Variable (``.numpy()``, ``.shape``, ``.assign(value)``, ``np.asarray(v)``); None when the layer has no such weight
    by its configuration (``bias`` with ``use_bias=False``). An unbuilt layer raises AttributeError."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, layer: Any, owner: Optional[type] = None) -> Any:
        if layer is None:
            return self
        impl = layer._config_impl  # its weights come first in a traced graph's, so the indices agree
        if not impl.built:
            raise AttributeError(f"Layer '{layer.name}' ({type(layer).__name__}) is not built yet, so it has no "
                                 f"'{self.name}': build it (layer.build(input_shape)) or call it on data first")
        names = list(impl.weight_names)
        if self.name not in names:
            return None
        cache = layer.__dict__.setdefault("_weight_variables", {})
        var = cache.get(self.name)
        if var is None:
            from .._custom import Variable
            index = names.index(self.name)
            var = Variable(layer, index, self.name, bool(impl.weight_trainable[index]))
            cache[self.name] = var
        return var


def snake_case_name(class_name: str) -> str:
    """"MyDenseLayer" -> "my_dense_layer": a custom layer's default name (made unique by the C++ side)."""
    import re
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", class_name).lower()


def _check_kwargs(cls: str, kwargs: dict) -> None:
    allowed = {"dtype"}
    unknown = set(kwargs) - allowed
    if unknown:
        raise TypeError(f"{cls}: unexpected keyword argument(s): {', '.join(sorted(unknown))}")


def _check_axis(cls: str, axis: Any) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{cls}: only axis=-1 (the last axis) is supported, got axis={axis!r}")
    if int(axis) != -1 and int(axis) < 1:
        raise ValueError(f"{cls}: only axis=-1 (the last axis) is supported, got axis={int(axis)}")
    return int(axis)


def _python_classes() -> Dict[str, type]:
    found: Dict[str, type] = {}
    todo = [Layer]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            found.setdefault(sub.__name__, sub)
            todo.append(sub)
    return found


def _wrap(impl: Any) -> Layer:
    """The Python layer class matching a C++ layer's class_name, wrapped around it (a nested model too)."""
    if impl.class_name in ("Sequential", "Functional"):
        from ..models import _wrap_model
        return _wrap_model(impl)
    if impl.class_name == "TracedLayer":
        from . import callable_activations
        cls = callable_activations.layer_class(impl.user_class)
        if cls is not None:  # a built-in layer with a function as activation
            return callable_activations.wrap_loaded(cls, impl)
        from .. import _custom
        return _custom.wrap_loaded(impl)
    cls = _python_classes().get(impl.class_name)
    if cls is None:
        raise TypeError(f"no Python layer class for the C++ layer class '{impl.class_name}'")
    return cls._wrap(impl)


# ---- sequence layers -------------------------------------------------------------------------------------------
def _positive(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
        raise TypeError(f"{what} must be a positive int, got {v!r}")
    return int(v)


def _single(v: Any, what: str) -> int:
    """Keras's int-or-1-tuple arguments of the 1-D layers (kernel_size=3 or (3,))."""
    if isinstance(v, (tuple, list)) and len(v) == 1:
        v = v[0]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
        raise ValueError(f"{what}: expected a positive int (or a 1-tuple), got {v!r}")
    return int(v)


def _channels_last(cls: str, data_format: Optional[str]) -> None:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{cls}: only data_format='channels_last' is supported, got {data_format!r}")


# ---- argument checks of the utility layers: ValueError naming the layer and the argument ---------------------------
def _number(v: Any, cls: str, arg: str, low: Optional[float] = None, high: Optional[float] = None,
            high_open: bool = False) -> float:
    """A finite real number for argument ``arg`` of layer ``cls``, within [low, high] (or [low, high))."""
    ok = not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) and np.isfinite(v)
    if ok:
        f = float(v)
        ok = (low is None or f >= low) and (high is None or (f < high if high_open else f <= high))
    if not ok:
        bounds = ""
        if low is not None and high is not None:
            bounds = f" in [{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            bounds = f" >= {low:g}"
        raise ValueError(f"{cls}: {arg} must be a finite number{bounds}, got {v!r}")
    return float(v)


def _int_arg(v: Any, cls: str, arg: str, low: int = 1) -> int:
    """An int >= low for argument ``arg`` of layer ``cls``."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < low:
        raise ValueError(f"{cls}: {arg} must be an int >= {low}, got {v!r}")
    return int(v)


def _seed_arg(seed: Any, cls: str) -> Optional[int]:
    """Keras's seed argument: None or an int >= 0."""
    if seed is None:
        return None
    return _int_arg(seed, cls, "seed", 0)


def _pair_arg(v: Any, cls: str, arg: str) -> tuple:
    """An int or a pair of ints >= 0 (a symmetric or (before, after) cropping/padding)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) and int(a) >= 0 for a in v):
        return (int(v[0]), int(v[1]))
    raise ValueError(f"{cls}: {arg} must be an int or a pair of ints >= 0, got {v!r}")


def _check_quantize_args(mode: Any, config: Any, kwargs: Dict[str, Any]) -> None:
    """Keras's quantize(mode, config, ...) arguments that nncore runs: mode "int8", no config."""
    if kwargs:
        raise TypeError(f"quantize: unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
    if mode != "int8":
        raise ValueError("Invalid quantization mode. Expected 'int8' (Keras's 'float8', 'int4', 'gptq' and 'awq' "
                         f"modes are not supported by nncore). Received: mode={mode!r}")
    if config is not None:
        raise ValueError("quantize: a quantization config is not supported: nncore's int8 mode is Keras's default "
                         "(absmax per output channel for weights, per row for inputs); leave config=None")
