"""Saving and loading, as Keras's ``keras.saving``: whole models (``save_model`` / ``load_model``: nncore's ``.nncore``,
Keras 3's ``.keras``, Keras's legacy ``.h5``), the registry of custom layers, models and functions, and Keras's
serialized form of objects (``serialize_keras_object`` / ``deserialize_keras_object``).

Example:
    >>> @nncore.saving.register_keras_serializable(package="MyLayers")
    ... class Scale(nncore.layers.Layer): ...
    >>> nncore.saving.save_model(model, "m.keras")
    >>> same = nncore.saving.load_model("m.keras")
    >>> cfg = nncore.saving.serialize_keras_object(nncore.regularizers.L1(0.005))
    >>> reg = nncore.saving.deserialize_keras_object(cfg)
"""
from __future__ import annotations

import inspect
import os
from typing import Any, Dict, Optional, Union

from . import _core, _custom, _keras_files
from ._custom import custom_object_scope, get_registered_name, register_keras_serializable
from .models import load_model

__all__ = ["save_model", "load_model", "register_keras_serializable", "custom_object_scope", "get_custom_objects",
           "get_registered_name", "get_registered_object", "serialize_keras_object", "deserialize_keras_object"]


def save_model(model: Any, filepath: Union[str, "os.PathLike[str]"], overwrite: bool = True, **kwargs: Any) -> None:
    """``model.save(filepath, overwrite)``: the name's ending picks the format (.nncore, .keras or .h5)."""
    model.save(filepath, overwrite=overwrite, **kwargs)


def get_custom_objects() -> Dict[str, Any]:
    """The global registry of ``register_keras_serializable``, keyed ``"<package>><name>"`` (Keras's form). It is
    the registry itself: ``get_custom_objects().clear()`` unregisters everything."""
    return _custom._REGISTRY


def get_registered_object(name: str, custom_objects: Optional[Dict[str, Any]] = None,
                          module_objects: Optional[Dict[str, Any]] = None) -> Any:
    """The class or function registered (or given in ``custom_objects`` / a ``custom_object_scope``) as ``name``,
    or None."""
    found = _custom.find_class(name, custom_objects)
    if found is None and module_objects:
        found = module_objects.get(name)
    return found


def serialize_keras_object(obj: Any) -> Any:
    """Keras's serialized form ``{"module", "class_name", "config", "registered_name"}`` of a layer, model,
    regularizer, optimizer, loss or registered function; plain values (numbers, strings, lists, dicts) as they are.
    Layers and models are written as Keras writes them in a ``.keras`` file."""
    from .layers import Layer
    from .losses import Loss
    from .regularizers import Regularizer
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, Layer) and not obj._is_custom:
        return _keras_files.serialize_layer(obj)
    if isinstance(obj, Regularizer):
        return _keras_files.serialize_regularizer(obj)
    if isinstance(obj, _core.Optimizer):
        return _keras_files.serialize_optimizer(obj)
    if isinstance(obj, Loss) and not obj.is_custom:
        return _keras_files.serialize_loss(obj)
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        registered = getattr(obj, "_registered_name", None)
        return {"module": "builtins", "class_name": "function", "config": obj.__name__,
                "registered_name": registered or obj.__name__}
    config = obj.get_config() if hasattr(obj, "get_config") else None
    if config is None:
        raise TypeError(f"serialize_keras_object: cannot serialize {obj!r} (a {type(obj).__name__} without "
                        "get_config)")
    return {"module": type(obj).__module__, "class_name": type(obj).__name__,
            "config": serialize_keras_object(config), "registered_name": get_registered_name(type(obj))}


def deserialize_keras_object(config: Any, custom_objects: Optional[Dict[str, Any]] = None, safe_mode: bool = True,
                             **kwargs: Any) -> Any:
    """The object for ``serialize_keras_object``'s form (or Keras's): nncore's layer, model, regularizer, optimizer
    or loss for Keras's built-ins nncore has; a registered (or ``custom_objects``) class through its
    ``from_config``, or a registered function. Anything else raises ``ValueError`` naming the class."""
    if isinstance(config, str):
        found = get_registered_object(config, custom_objects)
        return config if found is None else found
    if isinstance(config, list):
        return [deserialize_keras_object(v, custom_objects, safe_mode) for v in config]
    if not isinstance(config, dict) or "class_name" not in config:
        if isinstance(config, dict):
            return {k: deserialize_keras_object(v, custom_objects, safe_mode) for k, v in config.items()}
        return config
    with custom_object_scope(custom_objects or {}):
        if config["class_name"] == "function":
            name = config.get("registered_name") or config.get("config")
            found = get_registered_object(str(name))
            if found is None:
                raise ValueError(f"deserialize_keras_object: unknown function '{name}'; register it with "
                                 "register_keras_serializable or pass it in custom_objects")
            return found
        registered = config.get("registered_name") or config["class_name"]
        found = get_registered_object(registered)
        if isinstance(found, type):
            inner = deserialize_keras_object(config.get("config") or {}, custom_objects, safe_mode)
            return found.from_config(inner) if hasattr(found, "from_config") else found(**inner)
        return _keras_files.deserialize_builtin(config)
