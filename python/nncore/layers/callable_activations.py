"""What a layer's ``activation=`` argument means, and how a Python function becomes part of the C++ graph (Keras 3
takes any callable there). The one place for it: the layers call ``resolve`` and ``attach``.

* None, a name the C++ layers compute (``"relu"``, ...), or one of those functions given as a callable
  (``nncore.activations.relu``, Keras's ``keras.activations.gelu``): the C++ layer computes it, fused.
* Any other function of one tensor written with ``nncore.ops`` / ``nncore.activations`` (``nncore.activations.silu``,
  ``def custom_fn(x): return x ** 2``): the C++ layer runs with a linear activation and, once the input shape is
  known, the function is traced once on the layer's symbolic output into op nodes. The layer's C++ handle
  (``_impl``) is then a ``TracedLayer`` whose graph is ``input -> the linear layer -> the function's ops``: it
  trains in the C++ loop with no Python per step, model files hold the graph (so C++ loads them, and Python loads
  them without the function), and ``clone_model`` / ``Model.from_config`` rebuild it from the graph. The Python
  object keeps its class, arguments and weights (``kernel``, ``bias``); ``get_config()["activation"]`` is the
  function's serialized form (``nncore.activations.serialize``: by its registered name), which ``from_config``
  looks up in the registry or ``custom_objects``.

Recurrent layers run their cells in fused kernels, so they take only the activations those compute (``builtin_only``).

Example:
    >>> @nncore.saving.register_keras_serializable(package="my_package", name="custom_fn")
    ... def custom_fn(x):
    ...     return x ** 2
    >>> layer = nncore.layers.Dense(1, activation=custom_fn)
    >>> layer.get_config()["activation"]["registered_name"]
    'my_package>custom_fn'
"""
from __future__ import annotations

import inspect
import json
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence

from .. import _core
from .._convert import py_shape

# The TracedLayer behind a layer with a function as activation names its Python class so: "nncore>Dense".
USER_CLASS_PREFIX = "nncore>"


class ActivationSpec(NamedTuple):
    builtin: str                            # the activation the C++ layer computes ("linear" when a function follows)
    function: Optional[Callable[..., Any]]  # the function traced after the C++ layer, or None
    config: Any                             # what get_config() shows as "activation"


def describe(fn: Any) -> str:
    """``fn`` as an error message names it: ``my_module.custom_fn``."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        return repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else name


def _builtins() -> list:
    return list(_core.activation_names())


def resolve(activation: Any, where: str, arg: str = "activation", names_of_functions: bool = False
            ) -> ActivationSpec:
    """What ``activation`` (a layer's argument ``arg``) computes. ``names_of_functions``: a name of a function of
    ``nncore.activations`` that the C++ layers lack (``"silu"``, as Keras writes it in a config) means that
    function; the constructors take only the C++ names as strings."""
    from .. import activations
    if activation is None:
        return ActivationSpec("linear", None, "linear")
    config = activation
    if isinstance(activation, str):
        if activation in ("", "None") or activation in _builtins():
            return ActivationSpec(activation if activation in _builtins() else "linear", None, activation)
        if names_of_functions and activation in activations._BY_NAME:
            return ActivationSpec("linear", activations._BY_NAME[activation], activation)
        hint = activation if activation in activations._BY_NAME else "silu"
        raise ValueError(f"{where}: unknown activation '{activation}'; valid activations: {', '.join(_builtins())}. "
                         f"Other functions go in as callables, e.g. {arg}=nncore.activations.{hint} or your own function "
                         "of one tensor written with nncore.ops")
    if isinstance(activation, dict):  # a serialized function (a config's): found by its registered name
        activation = activations.deserialize(activation)
    if not callable(activation):
        raise TypeError(f"{where}: {arg} must be a name such as 'relu' ({', '.join(_builtins())}), a function of one "
                        f"tensor, or None; got {activation!r} ({type(activation).__name__})")
    name = activations.builtin_name(activation)
    if name is not None:
        if name in _builtins():  # computed by the C++ layer itself
            return ActivationSpec(name, None, name)
        return ActivationSpec("linear", activations._BY_NAME[name], name)  # nncore's version of the function
    module = getattr(activation, "__module__", None) or ""
    if module == "keras" or module.startswith("keras."):
        raise ValueError(f"{where}: {arg}={describe(activation)} is a Keras function that nncore.activations does "
                         f"not have ({', '.join(sorted(activations._BY_NAME))}); write it with nncore.ops")
    if config is activation:
        config = activations.serialize(activation)
    return ActivationSpec("linear", activation, config)


def builtin_only(activation: Any, where: str, arg: str, use: str) -> str:
    """The C++ name of ``activation`` for a layer whose kernel fuses it (a recurrent cell), where a Python function
    cannot be traced in: a ValueError naming the layer, the argument and what to use instead."""
    spec = resolve(activation, where, arg)
    if spec.function is not None:
        raise ValueError(f"{where}: {arg}={describe(spec.function)} is a Python function, but the {where} cell runs in "
                         f"a fused C++ kernel, so a function cannot be traced into it; use {use}, or write the "
                         "recurrence as a custom layer (a subclass of nncore.layers.Layer with call()) to apply your "
                         "function")
    return spec.builtin


def attach(layer: Any, spec: ActivationSpec) -> None:
    """Makes ``layer`` (a built-in layer just made with ``spec.builtin``) apply ``spec.function`` after its C++ layer:
    its ``_impl`` becomes a TracedLayer, traced now if the layer knows its input shape, else on its first build
    (``Layer._prepare``). Nothing to do without a function."""
    if spec.function is None:
        return
    linear = layer._impl
    outer = _core.TracedLayer(linear.name, USER_CLASS_PREFIX + type(layer).__name__, "{}")
    outer.trainable = linear.trainable
    d = layer.__dict__
    d["_linear"] = linear
    d["_activation"] = spec
    d["_impl"] = outer
    if layer._input_shape is not None:
        trace(layer, [py_shape(layer._input_shape)])


def trace(layer: Any, shapes: Sequence[Sequence[Optional[int]]]) -> None:
    """Traces the graph ``input -> linear layer -> function`` for per-sample input ``shapes`` (once)."""
    from ..models import Input, KerasTensor, Model, _symbolic_call
    outer = layer._impl
    if outer.traced:
        return
    cls, spec = type(layer).__name__, layer.__dict__["_activation"]
    fn = spec.function
    if len(shapes) != 1:
        raise ValueError(f"{cls} '{layer.name}': expected one input, got {len(shapes)}")
    x = Input(tuple(shapes[0]))
    h = _symbolic_call(type(layer)._wrap(layer.__dict__["_linear"]), x)
    what = f"{cls} '{layer.name}': activation={describe(fn)}"
    try:
        y = fn(h)
    except Exception as exc:  # anything the function raises on a KerasTensor: say what went wrong and why
        raise TypeError(f"{what} could not be traced into nncore ops on its input of shape {h.shape} "
                        f"({type(exc).__name__}: {exc}). An activation must be a function of one tensor written with "
                        "nncore.ops / nncore.activations, so that it runs in C++; numpy or math functions and Python "
                        "branches on tensor values cannot be traced") from exc
    if not isinstance(y, KerasTensor):
        raise TypeError(f"{what} must return a tensor computed from its input with nncore.ops, got "
                        f"{type(y).__name__}")
    if tuple(y.shape) != tuple(h.shape):
        raise ValueError(f"{what} must return a tensor of its input's shape {h.shape} (an activation maps each value, "
                         f"or each row as softmax does), got shape {y.shape}")
    try:
        graph = Model(x, y, name=f"{layer.name}_activation")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must compute from its input alone (it uses other tensors of a model): {exc}") from exc
    outer.set_graphs(graph._impl, graph._impl, [], [], [])
    outer.set_user_config(json.dumps(layer.get_config()))


def takes_functions(cls: type) -> bool:
    """Whether layers of class ``cls`` take a function as activation (they have the ``activation`` attribute)."""
    return isinstance(inspect.getattr_static(cls, "activation", None), ActivationAttribute)


def layer_class(user_class: str) -> Optional[type]:
    """The built-in layer class behind a TracedLayer of user_class ``nncore>Dense`` (a layer with a function as
    activation), or None (a user's custom layer)."""
    if not user_class.startswith(USER_CLASS_PREFIX):
        return None
    from .base import _python_classes
    cls = _python_classes().get(user_class[len(USER_CLASS_PREFIX):])
    return cls if cls is not None and takes_functions(cls) else None


def _find_function(config: Any) -> Optional[Callable[..., Any]]:
    from .. import activations
    try:
        return activations.deserialize(config)
    except (ValueError, TypeError):
        return None


def wrap_loaded(cls: type, impl: Any) -> Any:
    """A loaded (or from_config) layer of class ``cls`` around its TracedLayer: the graph came with the file, so the
    function is needed only for ``layer.activation``; it is looked up by its registered name (None when unknown)."""
    layer = cls.__new__(cls)
    d = layer.__dict__
    d["_impl"] = impl
    d["_input_shape"] = None
    d["_linear"] = impl.graph(False).node_layer(0)
    config = json.loads(impl.user_config).get("activation")
    d["_activation"] = ActivationSpec("linear", _find_function(config), config)
    return layer


def needs_function(cls: type, config: Dict[str, Any]) -> bool:
    """Whether ``config`` (a layer config of class ``cls``) names an activation that is a function."""
    act = config.get("activation")
    return takes_functions(cls) and not (act is None or (isinstance(act, str) and (act in _builtins() or
                                                                                  act in ("", "None"))))


def from_config(cls: type, config: Dict[str, Any]) -> Any:
    """``cls.from_config(config)`` for a config whose activation is a function: the layer with the C++ part of the
    config, then the function (found by its registered name in the registry, a ``custom_object_scope`` or
    ``custom_objects``)."""
    from .base import _wrap
    spec = resolve(config["activation"], cls.__name__, names_of_functions=True)
    spec = spec._replace(config=config["activation"])
    core = json.dumps({"class_name": cls.__name__, "config": dict(config, activation=spec.builtin)})
    layer = _wrap(_core.layer_from_config(core))
    attach(layer, spec)
    return layer


class ActivationAttribute:
    """``layer.activation`` (Keras's attribute): the function the layer applies: ``nncore.activations``' function of
    a built-in name, or the function given; None for a loaded layer whose function is not registered here (its
    traced ops run all the same)."""

    def __get__(self, layer: Any, owner: Optional[type] = None) -> Any:
        if layer is None:
            return self
        spec = layer.__dict__.get("_activation")
        if spec is not None:
            return spec.function
        from .. import activations
        return activations.get(json.loads(_core.layer_config(layer._impl)).get("activation") or "linear")
