"""Keras 3's serialized form of small objects (initializers, regularizers): ``{"module", "class_name", "config",
"registered_name"}``, and back, finding a user's classes and functions by their registered names
(``nncore.saving.register_keras_serializable``), in ``custom_objects`` or in a ``custom_object_scope``."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Optional

from ._custom import find_class, get_registered_name, lookup_custom


class NotFound(ValueError):
    """A config names a class or function that is neither built in nor registered."""


def serialize(obj: Any, module: str, builtins: Dict[str, type]) -> Dict[str, Any]:
    """Keras's serialize_keras_object for an object of a built-in class (module ``module``), a user's class (with
    get_config) or a function."""
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or (callable(obj) and not hasattr(obj, "get_config")):
        name = get_registered_name(obj) if hasattr(obj, "__name__") else type(obj).__name__
        return {"module": getattr(obj, "__module__", None), "class_name": "function", "config": name,
                "registered_name": name}
    cls = type(obj)
    builtin = builtins.get(cls.__name__) is cls
    return {"module": module if builtin else cls.__module__, "class_name": cls.__name__, "config": obj.get_config(),
            "registered_name": None if builtin else get_registered_name(cls)}


def _custom(name: str, custom_objects: Optional[Dict[str, Any]]) -> Any:
    found = find_class(name, custom_objects)
    if found is None and ">" not in name:
        found = lookup_custom(name)
    return found


def _instance(cls: Any, config: Dict[str, Any]) -> Any:
    if not inspect.isclass(cls):
        return cls
    from_config = getattr(cls, "from_config", None)
    return from_config(config) if from_config is not None else cls(**config)


def deserialize(config: Any, builtins: Dict[str, type], what: str,
                custom_objects: Optional[Dict[str, Any]] = None) -> Any:
    """The object a name or a serialized dict stands for: a built-in class (by class or snake-case name), or a user's
    class or function. Raises NotFound for names that are neither."""
    if isinstance(config, str):
        if config in builtins:
            return builtins[config]()
        found = _custom(config, custom_objects)
        if found is None:
            raise NotFound(f"unknown {what} '{config}'; valid: {', '.join(sorted(builtins))}")
        return found() if inspect.isclass(found) else found
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret {what} identifier: {config!r} (expected a name or a dict with "
                         "'class_name' and 'config')")
    class_name = config["class_name"]
    inner = config.get("config") or {}
    registered = config.get("registered_name")
    if class_name in ("function", "__lambda__"):
        name = registered or (inner if isinstance(inner, str) else None)
        fn = _custom(name, custom_objects) if name else None
        if fn is None:
            raise NotFound(f"the {what} function '{name}' is not known here: decorate it with "
                           "@nncore.saving.register_keras_serializable() or pass custom_objects={'" + str(name)
                           + "': ...}")
        return fn
    if registered in (None, class_name) and class_name in builtins:
        return builtins[class_name].from_config(dict(inner))
    cls = _custom(registered or class_name, custom_objects)
    if cls is None and registered:
        cls = _custom(class_name, custom_objects)
    if cls is None:
        raise NotFound(f"unknown {what} class '{class_name}' (registered name {registered!r}): built-in ones are "
                       f"{', '.join(sorted(k for k in builtins if k[0].isupper()))}; register yours with "
                       "@nncore.saving.register_keras_serializable() or pass custom_objects=")
    return _instance(cls, dict(inner))
