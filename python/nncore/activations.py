"""Keras's ``keras.activations``: functions of ``nncore.ops``, so each works on numpy arrays (eagerly) and on
KerasTensors (graph nodes of a model, inside custom layers too). Layers take them, and any function of one
tensor written with ``nncore.ops``, as ``activation=``: the ones the C++ layers compute (relu, sigmoid, tanh,
softmax, leaky_relu, gelu, elu, linear) run fused in the layer; others are traced into op nodes (see
``nncore.layers.callable_activations``). ``get`` / ``serialize`` / ``deserialize`` work as Keras's, finding a
user's function by its registered name (``nncore.saving.register_keras_serializable``) or in ``custom_objects``.

Example:
    >>> h = nncore.activations.relu(nncore.ops.matmul(x, w) + b)
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Optional, Union

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


def builtin_name(fn: Any) -> Optional[str]:
    """The name of ``fn`` if it is one of these functions (``nncore.activations.relu``), or Keras's function of
    a name these functions have (``keras.activations.gelu``: the same defaults); else None. A user's function that
    happens to be called "relu" is not one of them."""
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or name not in _BY_NAME:
        return None
    if _BY_NAME[name] is fn:
        return name
    module = getattr(fn, "__module__", None) or ""
    if module == "keras" or module.startswith("keras."):
        return name
    return None


def _lookup(name: str, custom_objects: Optional[Dict[str, Any]]) -> Any:
    """A user's function (or class) by its registered name ("my_package>custom_fn") or short name, from
    ``custom_objects``, an open ``custom_object_scope`` or ``register_keras_serializable``'s registry."""
    from ._custom import find_class, lookup_custom
    found = find_class(name, custom_objects)
    if found is None and ">" not in name:
        found = lookup_custom(name)
    return found


def _unknown(name: Any) -> ValueError:
    short = str(name).split(">")[-1]
    return ValueError(f"unknown activation {name!r}: not one of nncore.activations ({', '.join(sorted(_BY_NAME))}) "
                      "and not a registered function; decorate yours with "
                      f"@nncore.saving.register_keras_serializable() or pass custom_objects={{{short!r}: fn}}")


def get(identifier: Union[str, Dict[str, Any], Callable[..., Any], None]) -> Callable[..., Any]:
    """An activation function (Keras's ``keras.activations.get``): None is linear; a name of these functions or of
    a registered function; a serialized function (``serialize``'s dict); a callable is returned as it is."""
    if identifier is None:
        return linear
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r} (expected a name such as "
                     "'relu', a function, or a serialized function)")


def serialize(activation: Callable[..., Any]) -> Union[str, Dict[str, Any]]:
    """Keras's ``keras.activations.serialize``: these functions (and Keras's own) by name; another function as
    ``{"module", "class_name": "function", "config", "registered_name"}`` where both names are its registered name
    (``register_keras_serializable``) or its ``__name__``; a callable object with ``get_config`` as its class's
    serialized form. ``deserialize`` (and layers' ``from_config``) find it again by that name."""
    from ._custom import get_registered_name
    if not callable(activation):
        raise ValueError(f"serialize: {activation!r} is not an activation function")
    name = builtin_name(activation)
    if name is not None:
        return name
    module = getattr(activation, "__module__", None)
    if not inspect.isfunction(activation) and not inspect.isbuiltin(activation) and hasattr(activation, "get_config"):
        cls = type(activation)
        return {"module": cls.__module__, "class_name": cls.__name__, "config": activation.get_config(),
                "registered_name": get_registered_name(cls)}
    fn_name = getattr(activation, "__name__", None) or type(activation).__name__
    registered = getattr(activation, "_registered_name", None) or fn_name
    return {"module": module, "class_name": "function", "config": registered, "registered_name": registered}


def deserialize(config: Union[str, Dict[str, Any]], custom_objects: Optional[Dict[str, Any]] = None
                ) -> Callable[..., Any]:
    """The function ``serialize`` wrote (Keras's ``keras.activations.deserialize``): a name of these functions, or
    a user's function or callable class found by its registered name in ``custom_objects``, a
    ``custom_object_scope`` or the registry."""
    if isinstance(config, str):
        if config in _BY_NAME:
            return _BY_NAME[config]
        found = _lookup(config, custom_objects)
        if found is None or inspect.isclass(found):
            raise _unknown(config)
        return found
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret activation function identifier: {config!r} (expected a name or a "
                         "dict with 'class_name' and 'config')")
    if config["class_name"] == "function":
        name = config.get("registered_name") or config.get("config")
        found = _lookup(str(name), custom_objects)
        if found is None and name in _BY_NAME:
            return _BY_NAME[name]
        if found is None or inspect.isclass(found):
            raise _unknown(name)
        return found
    name = config.get("registered_name") or config["class_name"]
    cls = _lookup(str(name), custom_objects) or _lookup(str(config["class_name"]), custom_objects)
    if not inspect.isclass(cls):
        raise _unknown(name)
    inner = dict(config.get("config") or {})
    return cls.from_config(inner) if hasattr(cls, "from_config") else cls(**inner)
