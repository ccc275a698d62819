"""Keras's file formats, both ways, for the layers nncore and Keras both have: the Keras 3 archive ``.keras`` (a zip
of ``config.json``, ``metadata.json`` and ``model.weights.h5``), the weights file ``.weights.h5`` and the legacy
HDF5 model file ``.h5`` of Keras 2 (also written by Keras 3's ``save("m.h5")``).

Configs: Keras serializes a layer as ``{module, class_name, config, registered_name, build_config}`` with
initializers, regularizers and constraints as serialized objects; nncore's layer configs use Keras's argument names
with plain names for initializers and activations. ``_layer_from_keras`` / ``_layer_to_keras`` are the one place
where they are mapped; ``_model_from_keras`` / ``_model_to_keras`` do Sequential and functional graphs.

Weights (``model.weights.h5``, as Keras's saving_lib walks a model): ``layers/<key>/vars/<i>``, ``<key>`` being the
snake-case class name made unique in the order of ``model.layers`` (``dense``, ``dense_1``, ...), not the layer's
name; a recurrent layer's weights under ``cell``, a Bidirectional's under ``forward_layer/cell`` and
``backward_layer/cell``, a TimeDistributed's under ``layer``, a nested model's under ``layers/...`` again.
``_variable_groups`` is the one place for that walk. Legacy ``.h5``: ``model_weights/<layer name>`` with a
``weight_names`` attribute listing the layer's weights in Keras's order.

Custom layers and subclassed models (a user's classes, see nncore._custom) are written as Keras writes them:
``{module, class_name, config: get_config(), registered_name: "package>Name" or the class name, build_config}``, their
weights by Keras's object paths (``_object_groups``: own variables, trainable first, at ``<path>/vars``, sublayers at
``<path>/<attribute>``, a list's items at ``<path>/<attribute>/<snake-case class>``; a subclassed model's at the
root). Reading, a model with such entries is rebuilt through the Python API (``_python_model``: the class found by
registered name, ``custom_objects`` or a ``custom_object_scope``, made by ``from_config``, traced by calling it); a
layer whose activation is a Python function likewise (nncore.layers.callable_activations). The legacy ``.h5`` format
holds neither.

nncore never imports Keras; HDF5 is read and written with h5py (``pip install nncore[h5]``).
"""
from __future__ import annotations

import datetime
import io
import json
import os
import re
import tempfile
import warnings
import zipfile
import zlib
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import _core

ModelFileError = _core.ModelFileError

# The Keras release whose files these readers and writers were checked against (tools/make_keras_files.py).
KERAS_VERSION = "3.15.1"

_CONFIG = "config.json"
_METADATA = "metadata.json"
_WEIGHTS = "model.weights.h5"
_MAX_JSON_BYTES = 16 << 20  # as nncore's kMaxConfigBytes: a larger config.json is not a model this reads
_MODEL_CLASSES = ("Sequential", "Functional", "Model")
_RNN_CLASSES = ("SimpleRNN", "LSTM", "GRU")
# nncore's graph ops (nodes of nncore.ops on KerasTensors) and traced custom layers: no Keras layer class to write.
_NNCORE_ONLY = ("UnaryOp", "BinaryOp", "MatMulOp", "ReduceOp", "SliceOp", "TransposeOp", "RandomOp", "TracedLayer",
                "DotProductAttentionOp")


class _Unsupported(ValueError):
    """Something in a Keras config that nncore cannot represent; the reader adds the file name."""


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is in the h5 and test extras
        raise ImportError("Keras's HDF5 files (.keras, .weights.h5, .h5) need h5py: pip install 'nncore[h5]'") from exc
    return h5py


def _snake(name: str) -> str:
    """Keras's naming.to_snake_case ("PReLU" -> "p_re_lu", "Conv2DTranspose" -> "conv2d_transpose")."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique(name: str, used: Dict[str, int]) -> str:
    """Keras's saving_lib._get_unique_name: "dense", then "dense_1", "dense_2", ..."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


# ---- identifiers: activations, initializers, regularizers -------------------------------------------------------

# Keras's initializers that nncore has, by class name, with the arguments nncore's version fixes. The variance
# scaling family also appears as VarianceScaling(scale, mode, distribution) in older files.
_INITIALIZERS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "GlorotUniform": ("glorot_uniform", {"seed": None}),
    "GlorotNormal": ("glorot_normal", {"seed": None}),
    "HeUniform": ("he_uniform", {"seed": None}),
    "HeNormal": ("he_normal", {"seed": None}),
    "LecunUniform": ("lecun_uniform", {"seed": None}),
    "LecunNormal": ("lecun_normal", {"seed": None}),
    "Zeros": ("zeros", {}),
    "Ones": ("ones", {}),
    "Orthogonal": ("orthogonal", {"gain": 1.0, "seed": None}),
    "RandomUniform": ("random_uniform", {"minval": -0.05, "maxval": 0.05, "seed": None}),
    "RandomNormal": ("random_normal", {"mean": 0.0, "stddev": 0.05, "seed": None}),
    "TruncatedNormal": ("truncated_normal", {"mean": 0.0, "stddev": 0.05, "seed": None}),
}
_VARIANCE_SCALING = {
    (1.0, "fan_avg", "uniform"): "glorot_uniform", (1.0, "fan_avg", "truncated_normal"): "glorot_normal",
    (2.0, "fan_in", "uniform"): "he_uniform", (2.0, "fan_in", "truncated_normal"): "he_normal",
    (1.0, "fan_in", "uniform"): "lecun_uniform", (1.0, "fan_in", "truncated_normal"): "lecun_normal"}
_INITIALIZER_ALIASES = {"uniform": "random_uniform", "normal": "random_normal", "zero": "zeros", "one": "ones"}
# Arguments of an initializer that change nothing nncore computes from (nncore seeds with set_random_seed).
_INITIALIZER_NEUTRAL = {"seed": None, "input_axes": None, "output_axes": None}


def _initializer_from_keras(value: Any, where: str) -> str:
    if isinstance(value, str):
        name = _snake(value)
        name = _INITIALIZER_ALIASES.get(name, name)
        if name not in _core.initializer_names():
            raise _Unsupported(f"{where}: initializer '{value}' is not one nncore has (nncore: "
                               f"{', '.join(_core.initializer_names())})")
        return name
    if not isinstance(value, dict) or "class_name" not in value:
        raise _Unsupported(f"{where}: expected an initializer name or a serialized initializer, got {value!r}")
    cls = value["class_name"]
    args = {k: v for k, v in (value.get("config") or {}).items() if k not in _INITIALIZER_NEUTRAL}
    if cls == "VarianceScaling":
        key = (float(args.get("scale", 1.0)), args.get("mode", "fan_in"), args.get("distribution", "truncated_normal"))
        key = (key[0], key[1], "truncated_normal" if key[2] == "normal" else key[2])
        if key in _VARIANCE_SCALING:
            return _VARIANCE_SCALING[key]
    elif cls in _INITIALIZERS:
        name, fixed = _INITIALIZERS[cls]
        fixed = {k: v for k, v in fixed.items() if k not in _INITIALIZER_NEUTRAL}
        if all(k in fixed and np.isclose(float(v), fixed[k]) for k, v in args.items()):
            return name  # Keras's defaults: nncore's name for them
    # Other arguments (or classes, registered ones included): nncore's initializer objects take Keras's config.
    from . import initializers
    try:
        obj = initializers.deserialize({k: v for k, v in value.items() if k != "module"})
    except (ValueError, TypeError, KeyError) as exc:
        raise _Unsupported(f"{where}: initializer {cls} is not one nncore has ({exc})") from None
    return initializers.serialize(obj)


def _initializer_to_keras(value: Any) -> Dict[str, Any]:
    if isinstance(value, dict):  # an initializer with arguments: already Keras's serialized form
        return value
    name = _INITIALIZER_ALIASES.get(value, value)
    for cls, (nn_name, fixed) in _INITIALIZERS.items():
        if nn_name == name:
            return _keras_object("keras.initializers", cls, dict(fixed))
    raise ValueError(f"initializer '{name}' has no Keras equivalent")  # every nncore initializer has one


def _function_spec(value: Any) -> Any:
    """Keras's serialized function names the function in "config" (its registered name); a function Keras saved
    again after loading it has registered_name "function" (and module "builtins")."""
    if isinstance(value, dict) and value.get("class_name") == "function" and isinstance(value.get("config"), str):
        return {**value, "registered_name": value["config"]}
    return value


def _function_activation(cls: str, value: Any, where: str) -> bool:
    """Whether a layer's activation is a function (Keras's serialized function, or the name of one of
    nncore.activations' functions that the C++ layers do not compute) which the layer's Python class traces in
    (layers/callable_activations.py). An unknown function raises, naming the layer."""
    if value is None or (isinstance(value, str) and value in _core.activation_names()):
        return False
    from .layers import base, callable_activations
    py_cls = base._python_classes().get(cls)
    if py_cls is None or not callable_activations.takes_functions(py_cls) or not isinstance(value, (str, dict)):
        return False
    try:
        callable_activations.resolve(_function_spec(value), where, names_of_functions=True)
    except (ValueError, TypeError) as exc:
        raise _Unsupported(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
    return True


def _activation_from_keras(value: Any, where: str) -> str:
    if value is None:
        return "linear"
    if isinstance(value, dict):  # a function: Keras writes custom ones as {"class_name": "function", ...}
        name = value.get("config") if value.get("class_name") == "function" else value.get("class_name")
        raise _Unsupported(f"{where}: activation {name!r} is a custom function; nncore's layers take the built-in "
                           f"activations by name ({', '.join(_core.activation_names())})")
    if not isinstance(value, str) or value not in _core.activation_names():
        raise _Unsupported(f"{where}: activation {value!r} is not one nncore's layers have (nncore: "
                           f"{', '.join(_core.activation_names())})")
    return value


def _regularizer_from_keras(value: Any, where: str) -> Any:
    """nncore's config form: {"l1", "l2"} for L1/L2/L1L2 (None when both are 0), Keras's dict for the others."""
    if value is None:
        return None
    from . import regularizers
    try:
        r = regularizers.get({k: v for k, v in value.items() if k != "module"} if isinstance(value, dict) else value)
    except (ValueError, TypeError, KeyError) as exc:
        cls = value.get("class_name") if isinstance(value, dict) else value
        raise _Unsupported(f"{where}: regularizer {cls!r} is not one nncore has ({exc})") from None
    if isinstance(r, regularizers.Regularizer) and type(r) in (regularizers.L1, regularizers.L2, regularizers.L1L2):
        return {"l1": r.l1, "l2": r.l2} if (r.l1 or r.l2) else None
    return regularizers.serialize(r)


def _regularizer_to_keras(value: Dict[str, Any]) -> Dict[str, Any]:
    if "class_name" in value:
        return value
    return _keras_object("keras.regularizers", "L1L2", {"l1": float(value.get("l1", 0.0)),
                                                        "l2": float(value.get("l2", 0.0))})


def _keras_object(module: str, class_name: str, config: Any) -> Dict[str, Any]:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


# ---- layer configs ------------------------------------------------------------------------------------------------

_ANY = object()
# Keras arguments that nncore's layers do not take, with the values under which nncore computes the same thing
# (_ANY: every value does, e.g. a seed or the dtype policy). Any other value raises, naming the layer and argument.
_KERAS_ONLY: Dict[str, Any] = {
    "dtype": _ANY, "autocast": _ANY, "seed": _ANY, "unroll": _ANY, "implementation": _ANY, "use_cudnn": _ANY,
    "renorm_momentum": _ANY, "lora_alpha": _ANY, "input_dim": _ANY,
    "noise_shape": (None,), "data_format": ("channels_last", None), "keepdims": (False,), "groups": (1,),
    "activity_regularizer": (None,), "lora_rank": (None,), "quantization_config": (None,), "stateful": (False,),
    "time_major": (False,), "zero_output_for_mask": (False,), "synchronized": (False,), "renorm": (False,),
    "renorm_clipping": (None,), "rms_scaling": (False,), "sparse": (False,), "input_length": (None,),
}


def _check_neutral(table: Dict[str, Any], key: str, value: Any, where: str) -> None:
    """A Keras argument nncore does not take: fine when ``table`` lists it with this value (or _ANY)."""
    allowed = table.get(key, ())
    if allowed is _ANY or (value in allowed if isinstance(allowed, tuple) else False):
        return
    choices = " or ".join(repr(v) for v in allowed) if allowed else "absent"
    raise _Unsupported(f"{where}: argument '{key}' = {value!r} is not supported by nncore (expected {choices})")


def _class_of(spec: Any, where: str) -> str:
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise _Unsupported(f"{where}: expected a serialized layer {{'class_name': ..., 'config': {{...}}}}, got "
                           f"{str(spec)[:80]}")
    return spec["class_name"]


def _layer_from_keras(spec: Dict[str, Any], where: str) -> Dict[str, Any]:
    """A Keras layer spec as nncore's {"class_name", "config"}; raises _Unsupported naming what nncore lacks."""
    cls = _class_of(spec, where)
    cfg = spec.get("config")
    if not isinstance(cfg, dict):
        raise _Unsupported(f"{where}: layer {cls} has no config dict")
    name = cfg.get("name", "?")
    here = f"layer '{name}' ({cls})"
    dtype = cfg.get("dtype")
    if isinstance(dtype, dict) and (dtype.get("class_name") == "QuantizedDTypePolicy" or
                                    str((dtype.get("config") or {}).get("name", "")).startswith(("int8", "int4",
                                                                                                 "float8"))):
        raise _Unsupported(f"{where}: {here} is quantized ({(dtype.get('config') or {}).get('mode') or 'int8'}): "
                           "nncore does not read Keras's quantized weights; load the float model and call "
                           "model.quantize('int8')")
    if _is_custom_spec(spec):  # made by the Python API from its class (_python_model), not by C++
        return {"class_name": _CUSTOM, "config": {"name": spec.get("name") or name}, "keras": spec}
    if cls in _MODEL_CLASSES:
        return {"class_name": "Functional" if cls == "Model" else cls,
                "config": {**_model_from_keras(spec, here), "trainable": bool(cfg.get("trainable", True))}}
    if cls not in _core.layer_class_names() or cls in _NNCORE_ONLY:
        module = spec.get("module") or ""
        what = "the Keras op" if module.startswith("keras.src.ops") else "a Keras layer"
        hint = "" if module else (f"; if {cls} is a custom layer, register its nncore class with "
                                  f"@nncore.saving.register_keras_serializable() or pass custom_objects={{'{cls}': "
                                  f"{cls}}}")
        raise _Unsupported(f"{where}: {here} is {what} that nncore does not have (nncore's layers: "
                           f"{', '.join(c for c in _core.layer_class_names() if c not in _NNCORE_ONLY)}){hint}")
    out: Dict[str, Any] = {}
    function = None  # an activation that is a Python function: the layer is made by its Python class
    for key, value in cfg.items():
        arg = f"{here} argument '{key}'"
        if key == "activation" and _function_activation(cls, value, arg):
            out[key], function = "linear", _function_spec(value)
        elif key in ("activation", "recurrent_activation"):
            out[key] = _activation_from_keras(value, arg)
        elif key.endswith("_initializer"):
            out[key] = _initializer_from_keras(value, arg)
        elif key.endswith("_regularizer") and key != "activity_regularizer":
            out[key] = _regularizer_from_keras(value, arg)
        elif key.endswith("_constraint"):
            if value is not None:
                raise _Unsupported(f"{arg}: constraints are not supported by nncore, got "
                                   f"{value.get('class_name') if isinstance(value, dict) else value!r}")
        elif key == "layer":
            out[key] = _layer_from_keras(value, f"{where}: {here}")
            if out[key]["class_name"] == _CUSTOM:
                raise _Unsupported(f"{where}: {here} wraps the custom layer {_class_of(value, where)}; nncore's "
                                   f"{cls} wraps its built-in layers only")
        elif key == "batch_input_shape" or key == "batch_shape":
            continue  # the model's input (Keras 2 puts it on the first layer)
        else:
            out[key] = value
    if cls == "LeakyReLU" and "alpha" in out:  # Keras 2's name
        out["negative_slope"] = out.pop("alpha")
    if cls in ("BatchNormalization", "LayerNormalization"):
        out["axis"] = _last_axis(out.get("axis", -1), spec.get("build_config"), here)
    if cls == "Bidirectional":
        _check_mirror(out, cfg.get("backward_layer"), where, here)
    result = {"class_name": cls, "config": _drop_keras_only(cls, out, here)}
    if function is not None:  # made by _python_layer: its class's from_config traces the function in
        return {"class_name": _FUNCTION_ACTIVATION, "config": {"name": name},
                "layer": {"class_name": cls, "config": {**result["config"], "activation": function}}}
    return result


def _last_axis(axis: Any, build_config: Any, here: str) -> int:
    """Keras's normalization axis (LayerNormalization writes a list; either may count from the front) as nncore's
    -1; nncore normalizes over the last axis only."""
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    shape = (build_config or {}).get("input_shape")
    if isinstance(axis, int) and isinstance(shape, list) and shape and not isinstance(shape[0], list) \
            and axis == len(shape) - 1:
        axis = -1
    if axis != -1:
        raise _Unsupported(f"{here}: axis={axis!r}; nncore normalizes over the last axis only (axis=-1)")
    return -1


def _check_mirror(out: Dict[str, Any], backward: Any, where: str, here: str) -> None:
    """nncore's Bidirectional always runs a copy of the forward layer backwards: Keras's backward_layer must be one."""
    out.pop("backward_layer", None)
    if backward is None:
        return
    fwd = dict(out["layer"]["config"])
    bwd = dict(_layer_from_keras(backward, f"{where}: {here}")["config"])
    for c in (fwd, bwd):
        c.pop("name", None)
    flipped = not fwd.pop("go_backwards", False)
    if bwd.pop("go_backwards", True) != flipped or fwd != bwd or \
            out["layer"]["class_name"] != _class_of(backward, where):
        raise _Unsupported(f"{where}: {here} has a backward_layer that is not the forward layer run backwards; "
                           "nncore's Bidirectional supports only that")


def _drop_keras_only(cls: str, cfg: Dict[str, Any], here: str) -> Dict[str, Any]:
    """Keeps the arguments nncore's layer reads (those its config gives back); the others must be neutral."""
    try:
        known = set(json.loads(_core.layer_config(_core.layer_from_config(
            json.dumps({"class_name": cls, "config": cfg})))))
    except (ValueError, TypeError, RuntimeError) as exc:
        raise _Unsupported(f"{here}: {exc}") from exc
    kept = {}
    for key, value in cfg.items():
        if key in known or key in ("name", "trainable"):
            kept[key] = value
            continue
        if not (value is None and key.endswith("_regularizer")):
            _check_neutral(_KERAS_ONLY, key, value, here)
    return kept


def _layer_to_keras(layer: Any) -> Dict[str, Any]:
    """An nncore layer as Keras's serialized layer (no build_config: Keras builds the layers of a model by calling
    them as it rebuilds the graph)."""
    from .models import Model
    if isinstance(layer, Model):
        return _model_to_keras(layer)
    if _is_custom_object(layer):
        return _custom_to_keras(layer)
    if "_activation" in layer.__dict__ and layer._impl.class_name == "TracedLayer":
        return _function_layer_to_keras(layer)
    spec = json.loads(_core.layer_config(layer._impl))
    cls = type(layer).__name__
    if layer._impl.class_name in _NNCORE_ONLY:
        raise _Unsupported(f"layer '{layer.name}' ({cls}) has no Keras equivalent that nncore can write (an "
                           f"nncore.ops node); save it as .nncore, or write the computation as a custom layer class")
    return _config_to_keras(layer._impl.class_name, spec)


def _function_layer_to_keras(layer: Any) -> Dict[str, Any]:
    """A built-in layer whose activation is a Python function (its C++ handle a TracedLayer of the linear layer and
    the function's ops): its Python config, the function as Keras serializes one (by registered name)."""
    config = layer.get_config()
    act = config.get("activation")
    if isinstance(act, dict) and act.get("class_name") == "function":
        module = act.get("module")
        config["activation"] = {**act, "module": None if module == "__main__" else module}
    return _config_to_keras(type(layer).__name__, config)


def _config_to_keras(cls: str, cfg: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in cfg.items():
        if key.endswith("_initializer") and isinstance(value, (str, dict)):
            out[key] = _initializer_to_keras(value)
        elif key.endswith("_regularizer") and isinstance(value, dict):
            out[key] = _regularizer_to_keras(value)
        elif key == "layer" and isinstance(value, dict):
            out[key] = _config_to_keras(value["class_name"], value["config"])
        elif key == "input_length":
            continue  # Keras 3's Embedding has none
        else:
            out[key] = value
    return {"module": "keras.layers", "class_name": cls, "config": out, "registered_name": None}


def _keras_shape(shape: Sequence[int]) -> List[Optional[int]]:
    return [None if int(d) < 0 else int(d) for d in shape]


def _nncore_shape(shape: Any, where: str) -> List[int]:
    if not isinstance(shape, (list, tuple)) or not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
        raise _Unsupported(f"{where}: expected a shape (a list of positive ints or null), got {shape!r}")
    return [-1 if d is None else int(d) for d in shape]


# ---- model configs ------------------------------------------------------------------------------------------------

def _model_from_keras(spec: Dict[str, Any], where: str) -> Dict[str, Any]:
    """A Keras Sequential or functional model spec as nncore's model config."""
    cls = _class_of(spec, where)
    cfg = spec.get("config")
    if cls not in _MODEL_CLASSES:
        raise _Unsupported(f"{where}: the model is a {cls} (a subclassed model?); nncore reads Sequential and "
                           "functional models")
    if isinstance(cfg, list):  # Keras 2.0's Sequential: the config is the list of layers
        cfg = {"layers": cfg}
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
        raise _Unsupported(f"{where}: the {cls} config has no list of layers")
    name = cfg.get("name", "")
    if cls == "Sequential":
        return _sequential_from_keras(cfg, spec, name, where)
    return _functional_from_keras(cfg, name, where)


def _sequential_from_keras(cfg: Dict[str, Any], spec: Dict[str, Any], name: str, where: str) -> Dict[str, Any]:
    shape = None
    layers = []
    for entry in cfg["layers"]:
        cls = _class_of(entry, where)
        inner = entry.get("config") or {}
        if cls == "InputLayer":
            shape = inner.get("batch_shape", inner.get("batch_input_shape"))
            continue
        if shape is None and not layers:
            shape = inner.get("batch_input_shape") or inner.get("batch_shape") or \
                (entry.get("build_config") or {}).get("input_shape")
        layers.append(_layer_from_keras(entry, where))
    if shape is None:
        shape = cfg.get("build_input_shape") or (spec.get("build_config") or {}).get("input_shape")
    if shape is None:
        raise _Unsupported(f"{where}: Sequential model '{name}' has no input shape (it was never built)")
    return {"class_name": "Sequential", "name": name,
            "input_shape": _nncore_shape(list(shape)[1:], f"{where}: model '{name}' input shape"), "layers": layers}


def _is_ref(v: Any) -> bool:
    return isinstance(v, list) and len(v) in (3, 4) and isinstance(v[0], str) and isinstance(v[1], int)


def _refs(v: Any) -> List[list]:
    """The [layer, node, tensor] references in Keras's input_layers / output_layers (one or a nested list)."""
    if _is_ref(v):
        return [v]
    if isinstance(v, dict):
        v = list(v.values())
    if not isinstance(v, list):
        raise _Unsupported(f"expected [layer, node, tensor] references, got {v!r}")
    return [r for item in v for r in _refs(item)]


def _tensor_refs(v: Any) -> List[list]:
    """The keras_history [layer, node, tensor] of every serialized KerasTensor in a node's args or kwargs."""
    if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
        return [list(v["config"]["keras_history"])]
    items = v if isinstance(v, (list, tuple)) else list(v.values()) if isinstance(v, dict) else []
    return [r for item in items for r in _tensor_refs(item)]


def _node_inputs(node: Any, where: str, mask_ops: Sequence[str] = ()) -> List[list]:
    """A Keras node (a layer call) as the list of [layer, node, tensor] it reads, in call order: the arguments,
    then an RNN's initial_state. Keras 3 writes {"args", "kwargs"} with serialized KerasTensors; Keras 2 a list of
    [layer, node, tensor, kwargs]. A ``mask`` argument is accepted when it comes from one of ``mask_ops``."""
    if isinstance(node, list):
        return [list(r[:3]) for r in node]
    if not isinstance(node, dict):
        raise _Unsupported(f"{where}: unreadable inbound node {str(node)[:80]}")
    kwargs = dict(node.get("kwargs") or {})
    refs = _tensor_refs(node.get("args", [])) + _tensor_refs(kwargs.pop("initial_state", None))
    if any(m[0] not in mask_ops for m in _tensor_refs(kwargs.pop("mask", None))):
        raise _Unsupported(f"{where}: a layer call with a mask= tensor other than an Embedding's (mask_zero=True) "
                           "is not supported")
    kwargs.pop("training", None)  # the call's training mode: nncore follows the model's mode
    extra = [k for k, v in kwargs.items() if v is not None]
    if extra:
        raise _Unsupported(f"{where}: call arguments {', '.join(extra)} are not supported by nncore")
    return refs


def _is_op(entry: Dict[str, Any]) -> bool:
    """A keras.ops call in a functional graph (not a layer: not in Keras's model.layers)."""
    return str(entry.get("module") or "").startswith("keras.src.ops")


def _mask_ops(layers: List[Dict[str, Any]]) -> List[str]:
    """The ``not_equal(ids, 0)`` ops by which Keras 3 writes the mask of an Embedding(mask_zero=True) into a
    functional graph; nncore derives that mask itself, so they are dropped with the mask= arguments reading them."""
    embeddings = [e for e in layers if e.get("class_name") == "Embedding" and (e.get("config") or {}).get("mask_zero")]
    masked = {tuple(r) for e in embeddings for n in e.get("inbound_nodes", []) for r in _tensor_refs(n)}
    found = []
    for e in layers:
        nodes = e.get("inbound_nodes", [])
        if e.get("class_name") == "NotEqual" and _is_op(e) and len(nodes) == 1 and isinstance(nodes[0], dict):
            args = nodes[0].get("args", [])
            if len(args) == 2 and args[1] == 0 and {tuple(r) for r in _tensor_refs(args[0])} <= masked:
                found.append(e.get("name"))
    return found


def _functional_from_keras(cfg: Dict[str, Any], name: str, where: str) -> Dict[str, Any]:
    inputs: Dict[str, List[int]] = {}
    specs: List[Dict[str, Any]] = []
    classes: Dict[str, str] = {}
    pending: Dict[str, List[List[list]]] = {}
    mask_ops = _mask_ops(cfg["layers"])
    for entry in cfg["layers"]:
        cls = _class_of(entry, where)
        lname = entry.get("name") or (entry.get("config") or {}).get("name")
        if lname in mask_ops:
            continue
        if cls == "InputLayer":
            inner = entry.get("config") or {}
            shape = inner.get("batch_shape", inner.get("batch_input_shape"))
            inputs[lname] = _nncore_shape(list(shape or [None])[1:], f"{where}: input '{lname}' shape")
            continue
        spec = _layer_from_keras(entry, where)
        spec["config"]["name"] = lname
        specs.append(spec)
        classes[lname] = cls
        pending[lname] = [_node_inputs(n, f"{where}: layer '{lname}'", mask_ops)
                          for n in entry.get("inbound_nodes", [])]
    # Layer calls in an order where each reads only inputs and earlier calls (Keras's functional_from_config:
    # repeated passes, each layer's calls in their order, so call k is Keras's node k).
    done: Dict[str, int] = {n: 1 for n in inputs}
    nodes = []
    progress = True
    while progress and any(pending.values()):
        progress = False
        for spec in specs:
            lname = spec["config"]["name"]
            while pending[lname] and all(done.get(r[0], 0) > r[1] for r in pending[lname][0]):
                refs = pending[lname].pop(0)
                nodes.append({"layer": lname, "inbound": [[r[0], r[1], r[2]] for r in refs]})
                done[lname] = done.get(lname, 0) + 1
                progress = True
    stuck = [n for n, p in pending.items() if p]
    if stuck:
        raise _Unsupported(f"{where}: the calls of layer(s) {', '.join(stuck)} read tensors that no layer makes")

    def io_refs(key: str) -> List[list]:
        # Keras numbers a nested functional model's calls from 1 in input_layers/output_layers (its node 0 is the
        # model's own graph), from 0 in the calls' arguments.
        refs = _refs(cfg.get(key, []))
        return [[r[0], r[1] - 1 if classes.get(r[0]) in ("Functional", "Model") else r[1], r[2]] for r in refs]

    input_names = [r[0] for r in io_refs("input_layers")]
    unknown = [n for n in input_names if n not in inputs]
    if unknown:
        raise _Unsupported(f"{where}: model inputs {unknown} are not InputLayers of the model")
    return {"class_name": "Functional", "name": name,
            "inputs": [{"name": n, "shape": inputs[n]} for n in input_names],
            "layers": specs, "nodes": nodes, "outputs": io_refs("output_layers")}


def _model_to_keras(model: Any) -> Dict[str, Any]:
    """An nncore Sequential or functional model as Keras's serialized model (layers in Keras's model.layers order,
    which names the weights' groups)."""
    impl = model._impl
    if impl is None or not impl.built:
        raise _Unsupported(f"model '{model.name}' is not built yet; build it before saving in Keras's format")
    if _is_custom_object(model):
        return _custom_to_keras(model)
    if impl.class_name == "Sequential":
        shape = [None, *_keras_shape(impl.input_shape)]
        layers = [{"module": "keras.layers", "class_name": "InputLayer",
                   "config": {"batch_shape": shape, "dtype": "float32", "sparse": False, "name": f"{model.name}_input"},
                   "registered_name": None}]
        layers += [_layer_to_keras(layer) for layer in model._layers]
        return {"module": "keras", "class_name": "Sequential",
                "config": {"name": model.name, "trainable": model.trainable, "layers": layers},
                "registered_name": None, "build_config": {"input_shape": shape}}
    by_name = {layer.name: layer for layer in model._layers}
    calls: Dict[str, List[Dict[str, Any]]] = {}
    shapes: Dict[Tuple[str, int, int], List[int]] = {}  # per sample, nncore's -1 for an unknown length
    for i in range(impl.num_inputs):
        shapes[(impl.input_name(i), 0, 0)] = list(impl.input_shape_of(i))
    for k in range(impl.num_nodes):
        lname = impl.node_layer(k).name
        refs = [(r.layer, r.call, r.output) for r in impl.node_inputs(k)]
        tensors = [{"class_name": "__keras_tensor__",
                    "config": {"shape": [None, *_keras_shape(shapes[r])], "dtype": "float32",
                               "keras_history": list(r)}} for r in refs]
        layer = by_name[lname]
        if type(layer).__name__ in _RNN_CLASSES + ("Bidirectional",) and len(tensors) > 1:
            node = {"args": [tensors[0]], "kwargs": {"initial_state": tensors[1:]}}
        else:
            node = {"args": [tensors if len(tensors) > 1 else tensors[0]], "kwargs": {}}
        call = impl.node_call_index(k)
        calls.setdefault(lname, []).append(node)
        for j, shape in enumerate(impl.node_layer(k).output_shapes_for([shapes[r] for r in refs])):
            shapes[(lname, call, j)] = list(shape)
    layers = []
    for name in _keras_layer_order(impl):
        if name in by_name:
            spec = _layer_to_keras(by_name[name])
            spec["name"] = name
            spec["inbound_nodes"] = calls.get(name, [])
        else:
            i = [impl.input_name(j) for j in range(impl.num_inputs)].index(name)
            spec = {"module": "keras.layers", "class_name": "InputLayer",
                    "config": {"batch_shape": [None, *_keras_shape(impl.input_shape_of(i))], "dtype": "float32",
                               "sparse": False, "name": name},
                    "registered_name": None, "name": name, "inbound_nodes": []}
        layers.append(spec)

    def ref(r: Any) -> list:
        # See io_refs in _functional_from_keras: a nested functional model's calls count from 1 here.
        nested = type(by_name.get(r.layer)).__name__ == "Model"
        return [r.layer, r.call + 1 if nested else r.call, r.output]

    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": model.name, "trainable": model.trainable, "layers": layers,
                       "input_layers": [[impl.input_name(i), 0, 0] for i in range(impl.num_inputs)],
                       "output_layers": [ref(impl.output_ref(j)) for j in range(impl.num_outputs)]},
            "registered_name": "Functional", "build_config": {"input_shape": None}}


def _keras_layer_order(impl: Any) -> List[str]:
    """The names of a functional model's inputs and layers in the order of Keras's ``model.layers`` for the same
    graph (keras/src/ops/function.py map_graph): by decreasing depth from the outputs, ties in the order a
    depth-first walk from the outputs first meets them. Keras names the weights' groups by this order."""
    input_names = [impl.input_name(i) for i in range(impl.num_inputs)]
    parents: Dict[Tuple[str, int], List[Tuple[str, int]]] = {}
    for k in range(impl.num_nodes):
        key = (impl.node_layer(k).name, impl.node_call_index(k))
        parents[key] = [(r.layer, 0 if r.layer in input_names else r.call) for r in impl.node_inputs(k)]
    for name in input_names:
        parents[(name, 0)] = []
    first_seen: Dict[str, int] = {}
    finished: set = set()
    post_order: List[Tuple[str, int]] = []
    for j in range(impl.num_outputs):
        r = impl.output_ref(j)
        stack = [((r.layer, 0 if r.layer in input_names else r.call), False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                if node not in finished:
                    finished.add(node)
                    post_order.append(node)
                continue
            if node in finished:
                continue
            first_seen.setdefault(node[0], len(first_seen))
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(parents[node]) if p not in finished)
    node_depth: Dict[Tuple[str, int], int] = {}
    op_depth: Dict[str, int] = {}
    for node in reversed(post_order):
        depth = max(node_depth.setdefault(node, 0), op_depth.get(node[0], 0))
        op_depth[node[0]] = depth
        node_depth[node] = depth
        for p in parents[node]:
            node_depth[p] = max(depth + 1, node_depth.get(p, 0))
    for name in input_names:  # inputs no output depends on
        if name not in op_depth:
            op_depth[name], first_seen[name] = 0, -1
    return sorted(op_depth, key=lambda n: (-op_depth[n], first_seen[n]))


# ---- custom layers and models -------------------------------------------------------------------------------------
# Keras writes a custom layer (a user's subclass) or a subclassed model as {module, class_name, config (its
# get_config()), registered_name ("package>Name" when registered, else the class name), build_config}. nncore writes
# the same for its own subclasses, and reads such entries back through the Python API: the class is looked up by
# registered name (register_keras_serializable, custom_objects, custom_object_scope), made with from_config and
# traced by calling it, as Keras's functional_from_config does; its weights are then found by Keras's object paths
# (_object_groups).

_CUSTOM = "__custom__"  # the class_name of a custom layer's placeholder in an nncore config made from Keras's
_FUNCTION_ACTIVATION = "__function_activation__"  # and of a built-in layer's whose activation is a function


def _is_custom_spec(spec: Dict[str, Any]) -> bool:
    """Whether a serialized layer or model is a user's class: Keras 3 writes the class's module (None for
    ``__main__``), ``keras...`` for its own; Keras 2 writes no module, so there a class nncore has is built-in."""
    cls = spec.get("class_name")
    if "module" in spec:
        module = spec.get("module")
        return not (isinstance(module, str) and (module == "keras" or module.startswith("keras.")))
    if cls in _MODEL_CLASSES or cls == "InputLayer" or cls in _core.layer_class_names():
        return False
    from . import _custom
    return _custom.find_class(str(spec.get("registered_name") or cls)) is not None


def _is_custom_object(obj: Any) -> bool:
    """A custom layer (a subclass with call) or a subclassed model."""
    return bool(obj.__dict__.get("_custom") or obj.__dict__.get("_subclassed"))


def _contains_custom(model: Any) -> bool:
    """Whether a model is, or holds (in nested models too), a custom layer or subclassed model."""
    from .models import Model
    return _is_custom_object(model) or any(
        _is_custom_object(l) or (isinstance(l, Model) and _contains_custom(l)) for l in model._layers)


def _has_custom(config: Any) -> bool:
    if isinstance(config, dict):
        return config.get("class_name") in (_CUSTOM, _FUNCTION_ACTIVATION) or any(_has_custom(v)
                                                                                   for v in config.values())
    if isinstance(config, list):
        return any(_has_custom(v) for v in config)
    return False


def _plain(value: Any, where: str) -> Any:
    """A get_config() value as JSON: numpy numbers and arrays as numbers and lists, tuples as lists, nncore objects
    (layers, regularizers, initializers, registered functions) as Keras's serialized objects."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, where) for k, v in value.items()}
    from .saving import serialize_keras_object
    try:
        return serialize_keras_object(value)
    except (TypeError, ValueError) as exc:
        raise _Unsupported(f"{where}: get_config() holds {type(value).__name__} {value!r}, which has no Keras form "
                           f"({exc})") from None


def _registered_name(cls: type) -> str:
    """Keras's registered_name: "package>Name" for a class registered itself (not inherited), else its name."""
    return cls.__dict__.get("_registered_name") or cls.__name__


def _custom_to_keras(obj: Any) -> Dict[str, Any]:
    """A custom layer or subclassed model as Keras serializes it, with its build_config (the input shape(s) it was
    traced for)."""
    cls = type(obj)
    here = f"layer '{obj.name}' ({cls.__name__})"
    if cls.__module__.startswith("nncore."):
        raise _Unsupported(f"{here} holds a Python function, which a Keras file cannot hold safely; save it as "
                           ".nncore (which holds the traced graph), or write the computation as a custom layer class")
    subclassed = bool(obj.__dict__.get("_subclassed"))
    impl = obj._impl
    if subclassed:
        shapes = [impl.input_shape_of(i) for i in range(impl.num_inputs)]
        loaded = "_model_class" in obj.__dict__["_core"].__dict__
    else:
        if not impl.traced:
            raise _Unsupported(f"{here} has not been called yet; call it (in a model) before saving")
        shapes = list(impl.input_shapes)
        loaded = "_model_class" in obj.__dict__
    # A layer loaded from an .nncore file did not run __init__ (its graph came from the file): the config it was
    # saved with stands for get_config().
    core = obj.__dict__["_core"] if subclassed else obj
    config = json.loads(core._impl.user_config or "{}") if loaded else obj.get_config()
    if not isinstance(config, dict):
        raise _Unsupported(f"{here}: get_config() must return a dict, got {type(config).__name__}")
    batch_shapes = [[None, *_keras_shape(s)] for s in shapes]
    module = cls.__module__
    return {"module": None if module == "__main__" else module, "class_name": cls.__name__,
            "config": _plain(config, here), "registered_name": _registered_name(cls),
            "build_config": {"input_shape": batch_shapes[0] if len(batch_shapes) == 1 else batch_shapes}}


def _custom_class(spec: Dict[str, Any], model: bool = False) -> type:
    """The class for a serialized custom layer or (``model``) the file's subclassed model: registered, in
    custom_objects or in a custom_object_scope; otherwise an error naming it and how to register it."""
    from . import _custom
    from .layers import Layer
    cls_name = str(spec.get("class_name"))
    registered = str(spec.get("registered_name") or cls_name)
    found = _custom.find_class(registered)
    if found is None and registered != cls_name:
        found = _custom.find_class(cls_name)
    lname = spec.get("name") or (spec.get("config") or {}).get("name")
    what = f"is a subclassed model of class '{cls_name}'" if model else \
        f"has a custom layer {repr(lname) + ' ' if lname else ''}of class '{cls_name}'"
    if found is None:
        package, _, short = registered.rpartition(">")
        args = ", ".join(([f"package='{package}'"] if package else []) +
                         ([f"name='{short}'"] if short != cls_name else []))
        module = spec.get("module")
        origin = f" from module '{module}'" if module else ""
        raise _Unsupported(f"the model {what}{origin} (registered name '{registered}'), which is not known "
                           f"here: decorate the class with "
                           f"@nncore.saving.register_keras_serializable({args}) or pass custom_objects="
                           f"{{'{cls_name}': {cls_name}}} to load_model (or load inside "
                           "nncore.saving.custom_object_scope)")
    if not (isinstance(found, type) and issubclass(found, Layer)):
        raise _Unsupported(f"the model {what}, registered here as {found!r}, which is not an nncore layer or "
                           "model class")
    return found


def _custom_from_keras(spec: Dict[str, Any], where: str, model: bool = False) -> Any:
    """A new custom layer or model from its serialized form: ``cls.from_config(config)``, as Keras does (the config
    as written; a dtype policy as its name)."""
    cls = _custom_class(spec, model)
    config = spec.get("config")
    config = dict(config) if isinstance(config, dict) else {}
    if isinstance(config.get("dtype"), dict):  # Keras's DTypePolicy: nncore computes in float32 either way
        config["dtype"] = (config["dtype"].get("config") or {}).get("name", "float32")
    try:
        return cls.from_config(config)
    except Exception as exc:  # the user's from_config / __init__: any error, named with the class
        raise _Unsupported(f"{where}: {cls.__name__}.from_config({config}) failed: {type(exc).__name__}: "
                           f"{exc}") from exc


def _batch_shapes(build_config: Any) -> Optional[List[tuple]]:
    """The per-sample input shapes of Keras's build_config ([batch, ...] or a list of them), or None."""
    shape = (build_config or {}).get("input_shape") if isinstance(build_config, dict) else None
    if not isinstance(shape, (list, tuple)) or not shape:
        return None
    shapes = shape if isinstance(shape[0], (list, tuple)) else [shape]
    return [tuple(None if d is None else int(d) for d in s[1:]) for s in shapes]


def _subclassed_from_keras(spec: Dict[str, Any], where: str) -> Any:
    """A subclassed model: its class from its config, traced for the input shape of its build_config."""
    from .models import Model
    model = _custom_from_keras(spec, where, model=True)
    if not isinstance(model, Model):
        raise _Unsupported(f"{where}: the file's model is of class {type(model).__name__}, a layer, not a Model")
    if model._impl is None:
        shapes = _batch_shapes(spec.get("build_config"))
        if shapes is None:
            raise _Unsupported(f"{where}: the subclassed model {type(model).__name__} has no build_config input "
                               "shape (it was saved before it was built)")
        model._build_subclassed(shapes)
    return model


def _python_layer(spec: Dict[str, Any], where: str) -> Any:
    """The layer for one entry of an nncore config made by _model_from_keras (custom placeholders included)."""
    from . import layers
    cls = spec["class_name"]
    if cls == _CUSTOM:
        return _custom_from_keras(spec["keras"], where)
    if cls == _FUNCTION_ACTIVATION:
        from .layers import base
        layer = spec["layer"]
        return base._python_classes()[layer["class_name"]].from_config(layer["config"])
    if cls in ("Sequential", "Functional"):
        return _python_model(spec["config"], where)
    return layers._wrap(_core.layer_from_config(json.dumps(spec)))


def _call(layer: Any, args: List[Any]) -> Any:
    """One recorded call of a layer on KerasTensors, through its __call__ (which traces custom layers and functions
    given as activations); a built-in layer of several inputs as C++ calls it (an RNN's initial states after its
    input)."""
    from .models import Model, _symbolic_call
    if len(args) == 1 or _is_custom_object(layer) or isinstance(layer, Model):
        return layer(args[0] if len(args) == 1 else args)
    return _symbolic_call(layer, args)


def _python_model(config: Dict[str, Any], where: str) -> Any:
    """An nncore model config with custom layers in it, built through the Python API (Keras's functional_from_config):
    each layer made, then called in the order of the config's calls; without custom layers, by C++."""
    from .models import Input, Model, Sequential, _wrap_model
    trainable = config.get("trainable", True)
    config = {k: v for k, v in config.items() if k != "trainable"}
    if not _has_custom(config):
        model = _wrap_model(_core.model_from_config(json.dumps(config)))
    elif config["class_name"] == "Sequential":
        shape = tuple(None if d < 0 else d for d in config["input_shape"])
        model = Sequential([Input(shape), *[_python_layer(s, where) for s in config["layers"]]],
                           name=config.get("name") or None)
    else:
        tensors: Dict[Tuple[str, int, int], Any] = {}
        inputs = []
        for spec in config["inputs"]:
            t = Input(tuple(None if d < 0 else d for d in spec["shape"]), name=spec["name"])
            tensors[(spec["name"], 0, 0)] = t
            inputs.append(t)
        objs = {s["config"]["name"]: _python_layer(s, where) for s in config["layers"]}
        calls: Dict[str, int] = {}
        for node in config["nodes"]:
            lname = node["layer"]
            out = _call(objs[lname], [tensors[tuple(r)] for r in node["inbound"]])
            k = calls.get(lname, 0)
            calls[lname] = k + 1
            for j, t in enumerate(out if isinstance(out, list) else [out]):
                tensors[(lname, k, j)] = t
        outputs = [tensors[tuple(r)] for r in config["outputs"]]
        model = Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                      name=config.get("name") or None)
    if not trainable:
        model.trainable = False
    return model


def build_from_keras(spec: Dict[str, Any], where: str) -> Any:
    """The nncore model (fresh weights) for a serialized Keras model: Sequential and functional models of built-in
    layers by C++; with custom layers, or a subclassed model, through the Python API. Raises _Unsupported."""
    from .models import _wrap_model
    if not isinstance(spec, dict):
        raise _Unsupported(f"{where}: expected a serialized model {{'class_name': ..., 'config': {{...}}}}, got "
                           f"{type(spec).__name__}")
    if _is_custom_spec(spec):
        return _subclassed_from_keras(spec, where)
    config = _model_from_keras(spec, where)
    if _has_custom(config):
        return _python_model(config, where)
    return _wrap_model(_core.model_from_config(json.dumps(config)))


def keras_model_spec(config: Any) -> Optional[Dict[str, Any]]:
    """Keras's serialized model for what ``keras_model.to_json()`` gives (``{"class_name", "config", ...}``) or
    ``keras_model.get_config()`` (the inner dict of a Sequential or functional model); None for nncore's own
    configs (``{"class_name": "Sequential" | "Functional", "layers": [...], ...}``, no "config")."""
    if not isinstance(config, dict):
        return None
    if "class_name" in config and isinstance(config.get("config"), (dict, list)):
        return config
    layers = config.get("layers")
    if "class_name" not in config and isinstance(layers, list) and all(
            isinstance(l, dict) and "class_name" in l for l in layers):
        return {"class_name": "Functional" if "input_layers" in config else "Sequential", "config": config}
    return None


_INTERNAL_ATTRS = frozenset({  # nncore's own attributes of layers and models (never a user's sublayer)
    "_custom", "_variables", "_sublayers", "_graphs", "_py_built", "_impl", "_input_shape", "_inbound_calls",
    "_weight_variables", "_eager_losses", "_trace_losses", "_trace_updates", "_trace_inputs", "_model_class",
    "_owner", "_registered_name", "_core", "_subclassed", "_pending_compile", "_layers", "_symbolic", "_losses",
    "_multi_in", "_multi_out", "_seq_input", "history"})
_BASE_ATTRS: Dict[str, frozenset] = {}


def _base_attrs(obj: Any) -> frozenset:
    """What saving_lib's get_attr_skipset skips: the attributes every layer (or model) has."""
    from .layers import Layer
    from .models import Model
    base = Model if obj.__dict__.get("_subclassed") else Layer
    if base.__name__ not in _BASE_ATTRS:
        _BASE_ATTRS[base.__name__] = frozenset(dir(base)) | _INTERNAL_ATTRS
    return _BASE_ATTRS[base.__name__]


def _name_key(name: str) -> str:
    """saving_lib._name_key: private attributes last."""
    return f"~{name}" if name.startswith("_") else name


def _keras_class(layer: Any) -> str:
    """The class name Keras gives the layer (snake-cased, it names the layer's group in a list of layers)."""
    from .models import Model
    if _is_custom_object(layer):
        return type(layer).__name__
    if isinstance(layer, Model):
        return "Sequential" if layer._impl.class_name == "Sequential" else "Functional"
    return layer._impl.class_name


def _object_groups(obj: Any, path: str, visited: set) -> Iterator[Tuple[str, Any, List[Any]]]:
    """saving_lib._save_state for a custom layer or subclassed model: its own variables (trainable ones first) at
    ``<path>/vars``, then each attribute holding a layer, or a list / tuple / dict of them, in sorted order (private
    ones last), at ``<path>/<attribute>`` (list items at ``<attribute>/<snake-case class>``). A layer met twice is
    written where it was met first."""
    core = obj.__dict__["_core"] if obj.__dict__.get("_subclassed") else obj
    visited.update((id(obj), id(core)))
    own = list(core.__dict__.get("_variables", []))
    yield path, obj, [v.value for v in own if v.trainable] + [v.value for v in own if not v.trainable]
    skip = _base_attrs(obj)
    for attr in sorted(dir(obj), key=_name_key):
        if attr.startswith("__") or attr in skip:
            continue
        try:
            child = getattr(obj, attr)
        except Exception:  # a property that cannot be read now: Keras skips it too
            continue
        yield from _child_groups(child, _join(path, attr), visited, set())


def _child_groups(child: Any, path: str, visited: set, containers: set) -> Iterator[Tuple[str, Any, List[Any]]]:
    from .layers import Layer
    if isinstance(child, Layer):
        if id(child) not in visited:
            yield from _variable_groups(None, child, path, visited)
    elif isinstance(child, (list, tuple, dict)) and id(child) not in containers:
        containers.add(id(child))
        used: Dict[str, int] = {}
        for item in (child.values() if isinstance(child, dict) else child):
            if isinstance(item, Layer):
                yield from _child_groups(item, _join(path, _unique(_snake(_keras_class(item)), used)), visited,
                                         containers)
            elif isinstance(item, (list, tuple, dict)):
                yield from _child_groups(item, _join(path, _unique("container", used)), visited, containers)


# ---- weights ------------------------------------------------------------------------------------------------------

def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _variable_groups(spec: Optional[Dict[str, Any]], layer: Any, path: str = "",
                     visited: Optional[set] = None) -> Iterator[Tuple[str, Any, List[Any]]]:
    """(h5 path of the group, layer, its weights there) for the layer of Keras spec ``spec`` (None: the layer's
    own) and its nncore layer, as Keras's saving_lib walks them (see the module docs); custom layers and subclassed
    models by their attributes (_object_groups). The weights are views onto the layer's buffers."""
    from .models import Model
    visited = set() if visited is None else visited
    if _is_custom_object(layer):
        yield from _object_groups(layer, path, visited)
        return
    visited.add(id(layer))
    if spec is None:
        spec = _model_to_keras(layer) if isinstance(layer, Model) else {"class_name": layer._impl.class_name}
    cls = spec["class_name"]
    if cls in _MODEL_CLASSES:
        used: Dict[str, int] = {}
        for sub in spec["config"]["layers"]:
            if _is_op(sub):
                continue
            key = _unique(_snake(sub["class_name"]), used)
            if sub["class_name"] == "InputLayer":
                continue
            sub_layer = layer.get_layer(sub.get("name") or sub["config"]["name"])
            if id(sub_layer) not in visited:
                yield from _variable_groups(sub, sub_layer, _join(path, "layers", key), visited)
    elif cls in _RNN_CLASSES:
        yield _join(path, "cell"), layer, layer.weights
    elif cls == "Bidirectional":
        weights = layer.weights
        half = len(weights) // 2
        yield _join(path, "forward_layer", "cell"), layer, weights[:half]
        yield _join(path, "backward_layer", "cell"), layer, weights[half:]
    elif cls == "TimeDistributed":
        inner = spec["config"]["layer"] if "config" in spec else None
        yield from _variable_groups(inner, layer.layer, _join(path, "layer"), visited)
    else:
        yield path, layer, layer.weights


def _groups_covering(spec: Dict[str, Any], model: Any) -> List[Tuple[str, Any, List[Any]]]:
    """_variable_groups of the model, checked to hold every weight of the model: a custom layer's weight that no
    attribute leads to (a sublayer kept where Keras does not look, or a layer loaded from an .nncore file, whose
    sublayers have no Python objects) would otherwise be left out silently."""
    groups = list(_variable_groups(spec, model))
    found = {_address(w) for _, _, ws in groups for w in ws}
    for layer in [model] if _is_custom_object(model) else model._layers:
        missing = [w for w in (layer._impl.weights if _is_custom_object(layer) else layer.weights)
                   if _address(w) not in found and np.size(w)]
        if missing:
            raise _Unsupported(
                f"layer '{layer.name}' ({type(layer).__name__}): {len(missing)} of its weights are not reachable "
                "by Keras's object paths (the attributes of custom layers and models, as keras.saving walks them); "
                "keep sublayers in public attributes (or lists of them)"
                + (", and rebuild a model loaded from .nncore from its classes" if _loaded_custom(layer) else ""))
    return groups


def _address(w: Any) -> int:
    return int(np.asarray(w).__array_interface__["data"][0])


def _loaded_custom(layer: Any) -> bool:
    core = layer.__dict__.get("_core", layer)
    return "_model_class" in core.__dict__


def _write_variables(h5: Any, spec: Dict[str, Any], model: Any) -> None:
    for path, layer, weights in _groups_covering(spec, model):
        group = h5.require_group(_join(path, "vars"))
        group.attrs["name"] = layer.name
        for i, w in enumerate(weights):
            group.create_dataset(str(i), data=np.asarray(w, dtype=np.float32))


def _assign(views: List[Any], arrays: List[Any], where: str) -> None:
    """Checks every array (count, shape, finite values) before copying any of them into the layer's weights."""
    if len(arrays) != len(views):
        raise ModelFileError(f"{where}: the file holds {len(arrays)} weight(s), the nncore layer has {len(views)} "
                             f"(shapes {[tuple(v.shape) for v in views]})")
    values = []
    for i, (view, a) in enumerate(zip(views, arrays)):
        if tuple(a.shape) != tuple(view.shape):
            raise ModelFileError(f"{where}: weight {i} has shape {tuple(a.shape)} in the file, expected "
                                 f"{tuple(view.shape)}")
        if a.dtype.kind not in "fiu":
            raise ModelFileError(f"{where}: weight {i} has dtype {a.dtype}, expected float32")
        v = np.asarray(a[()], dtype=np.float32)
        if not np.all(np.isfinite(v)):
            raise ModelFileError(f"{where}: weight {i} contains NaN or inf")
        values.append(v)
    for view, v in zip(views, values):
        view[...] = v


def _read_variables(h5: Any, spec: Dict[str, Any], model: Any, src: str) -> None:
    for path, layer, weights in _groups_covering(spec, model):
        if not weights:
            continue
        where = f"{src}: layer '{layer.name}' ({type(layer).__name__}), weights at '{_join(path, 'vars')}'"
        group = h5.get(_join(path, "vars"))
        if group is None:
            raise ModelFileError(f"{where}: missing from the file")
        keys = sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)
        if keys != [str(i) for i in range(len(keys))]:
            raise ModelFileError(f"{where}: expected datasets 0..{len(weights) - 1}, found {keys}")
        _assign(weights, [group[k] for k in keys], where)


# ---- compile configs ----------------------------------------------------------------------------------------------

_OPTIMIZER_KERAS_ONLY = {"name": _ANY, "use_ema": (False,), "ema_momentum": _ANY, "ema_overwrite_frequency": _ANY,
                         "loss_scale_factor": (None,), "gradient_accumulation_steps": (None, 1),
                         "is_legacy_optimizer": _ANY, "jit_compile": _ANY, "decay": (0, 0.0, None)}
_LOSS_KERAS_ONLY = {"name": _ANY, "dtype": _ANY, "ignore_class": (None,), "axis": (-1,), "label_smoothing": (0, 0.0),
                    "reduction": ("sum_over_batch_size", "auto")}
_LOSS_CLASSES = {"mse": "MeanSquaredError", "mean_squared_error": "MeanSquaredError", "mae": "MeanAbsoluteError",
                 "mean_absolute_error": "MeanAbsoluteError", "binary_crossentropy": "BinaryCrossentropy",
                 "categorical_crossentropy": "CategoricalCrossentropy",
                 "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy"}


def _optimizer_from_keras(value: Any) -> Any:
    if isinstance(value, str):
        return _core.make_optimizer(value.lower())
    cls = value.get("class_name") if isinstance(value, dict) else None
    if not isinstance(cls, str):
        raise _Unsupported(f"unreadable optimizer {str(value)[:80]}")
    try:
        defaults = json.loads(_core.optimizer_config(_core.make_optimizer(cls.lower())))["config"]
    except (ValueError, RuntimeError) as exc:
        raise _Unsupported(f"optimizer {cls} is not one nncore has") from exc
    cfg = {}
    for key, v in (value.get("config") or {}).items():
        if key in defaults:
            if key == "learning_rate" and isinstance(v, dict):
                v = {"class_name": v.get("class_name"), "config": v.get("config")}
            cfg[key] = v
        else:
            _check_neutral(_OPTIMIZER_KERAS_ONLY, key, v, f"optimizer {cls}")
    try:
        return _core.optimizer_from_config(json.dumps({"class_name": cls, "config": cfg}))
    except (ValueError, RuntimeError, TypeError) as exc:
        raise _Unsupported(f"optimizer {cls}: {exc}") from exc


def _loss_from_keras(value: Any) -> Any:
    from . import losses
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_loss_from_keras(v) for v in value]
    if isinstance(value, dict) and "class_name" not in value:  # per output
        return {k: _loss_from_keras(v) for k, v in value.items()}
    cls = value.get("class_name") if isinstance(value, dict) else None
    found = getattr(losses, cls, None) if isinstance(cls, str) else None
    if not isinstance(found, type):
        raise _Unsupported(f"loss {cls or value!r} is not one nncore has")
    import inspect
    accepted = inspect.signature(found.__init__).parameters
    args = {}
    for key, v in (value.get("config") or {}).items():
        if key in accepted and key != "name":
            args[key] = v
        else:
            _check_neutral(_LOSS_KERAS_ONLY, key, v, f"loss {cls}")
    try:
        return found(**args)
    except (TypeError, ValueError) as exc:
        raise _Unsupported(f"loss {cls}: {exc}") from exc


def _metrics_from_keras(value: Any) -> Optional[List[str]]:
    if value is None:
        return None
    items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
    names = []
    for m in items:
        if isinstance(m, list):
            names.extend(_metrics_from_keras(m) or [])
        elif isinstance(m, str):
            names.append(m)
        elif isinstance(m, dict):
            names.append((m.get("config") or {}).get("name") or _snake(str(m.get("class_name"))))
        elif m is not None:
            raise _Unsupported(f"unreadable metric {m!r}")
    return names


def _compile_from_keras(model: Any, cfg: Any, src: str) -> None:
    """Compiles ``model`` as Keras's compile_config (or a legacy training_config) says, when nncore has its
    optimizer, loss and metrics; otherwise warns and leaves the model uncompiled (Keras does the same)."""
    if not isinstance(cfg, dict):
        return
    if cfg.get("loss") is None and not cfg.get("metrics") and not _contains_add_loss(model):
        return  # compiled without a loss (Keras writes that for a model it loaded uncompiled): nothing to train
    try:
        optimizer = _optimizer_from_keras(cfg.get("optimizer", cfg.get("optimizer_config", "rmsprop")))
        loss = _loss_from_keras(cfg.get("loss"))
        metrics = _metrics_from_keras(cfg.get("metrics"))
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=cfg.get("loss_weights"))
    except (_Unsupported, ValueError, TypeError) as exc:
        warnings.warn(f"{src}: the model is loaded uncompiled: its compile settings could not be restored ({exc})",
                      stacklevel=6)


def _contains_add_loss(model: Any) -> bool:
    """Whether the model's layers add losses (custom layers' add_loss), so that it trains without a compiled loss."""
    from .models import Model
    return any(_contains_add_loss(l) if isinstance(l, Model) else getattr(l._impl, "num_losses", 0)
               for l in model._layers)


def _compile_to_keras(model: Any) -> Optional[Dict[str, Any]]:
    """Keras's compile_config for a compiled nncore model, or None (uncompiled, or a loss Keras cannot name)."""
    impl = model._impl
    if not impl.compiled:
        return None
    loss_specs = []
    for j in range(impl.num_outputs):
        name = impl.loss_name(j)
        if impl.loss_is_custom(j) or name not in _LOSS_CLASSES:
            return None
        loss_specs.append(_loss_to_keras(name, True) if impl.loss_from_logits(j) else name)
    metrics: List[str] = []
    for m in _flat_names(getattr(impl, "compiled_metrics", [])):
        if m not in metrics:
            metrics.append(m)
    weights = list(impl.loss_weights)
    return {"optimizer": serialize_optimizer(impl.optimizer),
            "loss": loss_specs[0] if len(loss_specs) == 1 else loss_specs,
            "loss_weights": None if all(w == 1.0 for w in weights) else weights, "metrics": metrics or None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def serialize_optimizer(optimizer: Any) -> Dict[str, Any]:
    """An nncore optimizer as Keras's serialized optimizer."""
    opt = json.loads(_core.optimizer_config(optimizer))
    cfg: Dict[str, Any] = {"name": _snake(opt["class_name"])}
    for key, v in opt["config"].items():
        if isinstance(v, dict):  # a learning-rate schedule
            v = _keras_object("keras.optimizers.schedules", v["class_name"], v["config"])
        elif isinstance(v, int) and not isinstance(v, bool):
            v = float(v)  # Keras checks momentum & co. with isinstance(v, float)
        cfg[key] = v
    return _keras_object("keras.optimizers", opt["class_name"], cfg)


def _loss_to_keras(name: str, from_logits: bool) -> Dict[str, Any]:
    cfg: Dict[str, Any] = {"name": name, "reduction": "sum_over_batch_size"}
    if name.endswith("crossentropy"):
        cfg["from_logits"] = bool(from_logits)
    return _keras_object("keras.losses", _LOSS_CLASSES[name], cfg)


def serialize_loss(loss: Any) -> Dict[str, Any]:
    """A built-in nncore loss as Keras's serialized loss."""
    return _loss_to_keras(loss.kernel_name, loss.from_logits)


def serialize_regularizer(reg: Any) -> Dict[str, Any]:
    """nncore's L1 / L2 / L1L2 as Keras's serialized regularizer."""
    cls = type(reg).__name__
    if cls == "L1":
        return _keras_object("keras.regularizers", cls, {"l1": reg.l1})
    if cls == "L2":
        return _keras_object("keras.regularizers", cls, {"l2": reg.l2})
    return _regularizer_to_keras({"l1": reg.l1, "l2": reg.l2})


def serialize_layer(layer: Any) -> Dict[str, Any]:
    """A built-in nncore layer or model as Keras writes it in a .keras file."""
    return _layer_to_keras(layer)


def deserialize_builtin(spec: Dict[str, Any]) -> Any:
    """nncore's object for Keras's serialized built-in layer, model, regularizer, optimizer, loss or initializer
    (an initializer as nncore's name for it)."""
    from . import layers, regularizers
    cls = spec["class_name"]
    module = str(spec.get("module") or "")
    if _is_custom_spec(spec):
        try:
            _custom_class(spec)  # raises: a registered class would have been found
        except _Unsupported as exc:
            raise _Unsupported(f"deserialize_keras_object: {exc}") from None
    if cls in _MODEL_CLASSES:
        return _build(spec, "deserialize_keras_object")
    if module.startswith("keras.layers") or (not module and cls in _core.layer_class_names()):
        return layers._wrap(_core.layer_from_config(json.dumps(_layer_from_keras(spec, "deserialize_keras_object"))))
    if module.startswith("keras.regularizers") or cls in ("L1", "L2", "L1L2"):
        r = _regularizer_from_keras(spec, "deserialize_keras_object") or {"l1": 0.0, "l2": 0.0}
        if cls == "L1":
            return regularizers.L1(r["l1"])
        if cls == "L2":
            return regularizers.L2(r["l2"])
        return regularizers.L1L2(r["l1"], r["l2"])
    if module.startswith("keras.optimizers") or cls in ("SGD", "Adam", "AdamW", "Adagrad", "RMSprop"):
        return _optimizer_from_keras(spec)
    if module.startswith("keras.losses"):
        return _loss_from_keras(spec)
    if module.startswith("keras.initializers"):
        return _initializer_from_keras(spec, "deserialize_keras_object")
    raise _Unsupported(f"deserialize_keras_object: {cls} (module {module or 'unknown'}) is not an object nncore "
                       "knows; register custom classes with register_keras_serializable or pass custom_objects")


def _flat_names(v: Any) -> List[str]:
    if isinstance(v, str):
        return [v]
    if hasattr(v, "name") and isinstance(v.name, str):
        return [v.name]
    try:
        return [n for item in v for n in _flat_names(item)]
    except TypeError:
        return []


# ---- files --------------------------------------------------------------------------------------------------------

# What a file name's ending selects: nncore's own format (safetensors; the one C++ reads), Keras 3's archive and
# weights file, Keras 2's HDF5 model file.
MODEL_SUFFIXES = {".nncore": "nncore", ".safetensors": "nncore", ".keras": "keras", ".h5": "h5", ".hdf5": "h5"}
_WEIGHTS_SUFFIXES = {".nncore": "nncore", ".safetensors": "nncore", ".weights.h5": "keras"}


def file_format(path: str, what: str, weights: bool = False) -> str:
    """"nncore", "keras" or "h5" for a file name by its ending; any other name raises ValueError listing the valid
    endings (an unknown name is never written in nncore's format under another name)."""
    table = _WEIGHTS_SUFFIXES if weights else MODEL_SUFFIXES
    lower = os.fspath(path).lower()
    for suffix in sorted(table, key=len, reverse=True):
        if lower.endswith(suffix):
            return table[suffix]
    valid = ("'.weights.h5' (Keras's weights file), '.nncore' or '.safetensors' (nncore's)" if weights else
             "'.nncore' or '.safetensors' (nncore's format, read by C++), '.keras' (Keras 3) or '.h5' (legacy Keras)")
    raise ValueError(f"{what}: cannot tell the file format from the name '{path}'; end it with {valid}")


def _atomic_write(path: str, write: Any) -> None:
    """write(temp_path), then rename it over ``path``: a crash never leaves a half-written file there."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".nncore-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _metadata() -> Dict[str, str]:
    return {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "saved_by": f"nncore {_core.__version__}"}


def _spec_for_saving(model: Any, what: str) -> Dict[str, Any]:
    """The model's Keras spec, checked (before anything is written) to reach every weight by Keras's paths."""
    impl = getattr(model, "_impl", None)
    if impl is not None and impl.has_quantized_layers:
        raise ValueError(f"{what}: model '{model.name}' is int8-quantized, and nncore writes Keras files of float "
                         "models only: save it as .nncore (int8 weights, read by Python and C++) or export_onnx, or "
                         "save the float model before quantize")
    try:
        spec = _model_to_keras(model)
        _groups_covering(spec, model)
        return spec
    except _Unsupported as exc:
        raise ValueError(f"{what}: {exc}") from None


def save_keras(model: Any, path: str) -> None:
    """``model.save("m.keras")``: a Keras 3 archive that ``keras.saving.load_model`` opens."""
    h5py = _h5py()
    spec = _spec_for_saving(model, "save")
    spec["compile_config"] = _compile_to_keras(model)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        h5.create_group("vars").attrs["name"] = model.name
        _write_variables(h5, spec, model)

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr(_METADATA, json.dumps(_metadata()))
            zf.writestr(_CONFIG, json.dumps(spec))
            zf.writestr(_WEIGHTS, buf.getvalue())

    _atomic_write(path, write)


def _read_member(zf: zipfile.ZipFile, name: str, src: str, limit: Optional[int] = None) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ModelFileError(f"{src}: not a Keras archive: it has no {name} (members: "
                             f"{', '.join(zf.namelist()[:10]) or 'none'})") from None
    if limit is not None and info.file_size > limit:
        raise ModelFileError(f"{src}: {name} is {info.file_size} bytes, over the limit of {limit}")
    return zf.read(name)  # checks the member's CRC: a damaged archive raises here


def _json(data: Any, what: str, src: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{src}: {what} is not valid JSON ({exc})") from None


def _open_h5(source: Any, src: str) -> Any:
    h5py = _h5py()
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{src}: not a readable HDF5 file ({exc})") from None


def _build(spec: Dict[str, Any], src: str) -> Any:
    """The nncore model (fresh weights) for a Keras model spec."""
    try:
        return build_from_keras(spec, "the model")
    except _Unsupported as exc:
        raise ModelFileError(f"{src}: {exc}") from None
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"{src}: nncore cannot build the model: {exc}") from None


def _guarded(src: str, action: Any) -> Any:
    """Runs action(); a malformed file's KeyError / TypeError / OSError becomes a ModelFileError naming ``src``."""
    try:
        return action()
    except ModelFileError:
        raise
    except _Unsupported as exc:
        raise ModelFileError(f"{src}: {exc}") from None
    except (KeyError, TypeError, IndexError, AttributeError, OSError, ValueError, zipfile.BadZipFile, zlib.error,
            RuntimeError, EOFError) as exc:
        raise ModelFileError(f"{src}: malformed or truncated Keras file ({type(exc).__name__}: {exc})") from exc


def load_keras(path: str, compile: bool = True) -> Any:
    """``nncore.load_model("m.keras")``: a Keras 3 archive (written by Keras or by nncore)."""
    src = os.fspath(path)

    def run() -> Any:
        try:
            zf = zipfile.ZipFile(src)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelFileError(f"{src}: not a Keras archive (.keras is a zip file): {exc}") from None
        with zf:
            spec = _json(_read_member(zf, _CONFIG, src, _MAX_JSON_BYTES), _CONFIG, src)
            weights = _read_member(zf, _WEIGHTS, src)
        model = _build(spec, src)
        # Built through the Python API, the model is walked as Keras walks its own (custom layers' names may differ
        # from the file's when their get_config() leaves the name out).
        walk = _model_to_keras(model) if _contains_custom(model) else spec
        with _open_h5(io.BytesIO(weights), f"{src} ({_WEIGHTS})") as h5:
            _read_variables(h5, walk, model, src)
        if compile:
            _compile_from_keras(model, spec.get("compile_config"), src)
        return model

    return _guarded(src, run)


def save_weights_h5(model: Any, path: str) -> None:
    """``model.save_weights("x.weights.h5")``: Keras 3's weights file."""
    h5py = _h5py()
    spec = _spec_for_saving(model, "save_weights")

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as h5:
            h5.create_group("vars").attrs["name"] = model.name
            _write_variables(h5, spec, model)

    _atomic_write(path, write)


def load_weights_file(model: Any, path: str) -> None:
    """``model.load_weights(...)`` from a ``.weights.h5`` (Keras 3), a legacy ``.h5`` (Keras 2 weights or model
    file) or a ``.keras`` archive; matched by the model's structure, as Keras does."""
    src = os.fspath(path)

    def run() -> None:
        spec = _model_to_keras(model)
        if src.endswith(".keras"):
            with zipfile.ZipFile(src) as zf:
                data = io.BytesIO(_read_member(zf, _WEIGHTS, src))
            with _open_h5(data, src) as h5:
                _read_variables(h5, spec, model, src)
            return
        with _open_h5(src, src) as h5:
            if "layer_names" in h5.attrs or "model_weights" in h5:
                _no_custom_in_legacy(model, src, ModelFileError)
                _read_legacy_weights(h5.get("model_weights", h5), spec, model, src)
            else:
                _read_variables(h5, spec, model, src)

    _guarded(src, run)


# ---- legacy HDF5 model files (Keras 2; Keras 3's save("m.h5")) -----------------------------------------------------

def _text(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _names_attr(group: Any, key: str) -> List[str]:
    return [_text(n) for n in group.attrs.get(key, [])]


def _legacy_weight_paths(spec: Dict[str, Any], layer: Any, prefix: str) -> List[Tuple[str, Any]]:
    """(weight name, view) for a layer as Keras's legacy format lists them: trainable weights, then the others
    (for a nested model, over all its layers in Keras's order), each named "<layer>/<weight>"."""
    if spec["class_name"] in _MODEL_CLASSES:
        pairs = [(sub, layer.get_layer(sub.get("name") or sub["config"]["name"])) for sub in spec["config"]["layers"]
                 if sub["class_name"] != "InputLayer"]
        named = [(t, f"{prefix}/{n}", w) for sub, sl in pairs
                 for t, n, w in _legacy_named(sl, sl.name)]
        return [(n, w) for t, n, w in named if t] + [(n, w) for t, n, w in named if not t]
    return [(n, w) for _, n, w in _legacy_named(layer, prefix)]


def _legacy_named(layer: Any, prefix: str) -> List[Tuple[bool, str, Any]]:
    from .models import Model
    if isinstance(layer, Model):
        return [(t, f"{prefix}/{n}", w) for sub in layer._layers for t, n, w in _legacy_named(sub, sub.name)]
    flags = [t and layer.trainable for _, t in layer._weights_and_flags()]
    return [(t, f"{prefix}/{n}", w) for t, n, w in zip(flags, layer._impl.weight_names, layer.weights)]


def _read_legacy_weights(group: Any, spec: Dict[str, Any], model: Any, src: str) -> None:
    """Keras 2's layout: a group per layer name, its weights in the order of its ``weight_names``. A nested model's
    weights are routed to its layers by the layer names inside the weight names."""
    names = set(_names_attr(group, "layer_names"))
    for sub in spec["config"]["layers"]:
        if sub["class_name"] == "InputLayer":
            continue
        lname = sub.get("name") or sub["config"]["name"]
        layer = model.get_layer(lname)
        if not layer.weights:
            continue
        where = f"{src}: layer '{lname}' ({type(layer).__name__})"
        if lname not in names or lname not in group:
            raise ModelFileError(f"{where}: no weights for it in the file (layers there: "
                                 f"{', '.join(sorted(names)) or 'none'})")
        g = group[lname]
        wnames = _names_attr(g, "weight_names")
        arrays = [g[n] for n in wnames]
        if sub["class_name"] in _MODEL_CLASSES:
            _assign_nested(layer, wnames, arrays, where)
        else:
            _assign(layer.weights, arrays, where)


def _assign_nested(model: Any, wnames: List[str], arrays: List[Any], where: str) -> None:
    by_layer: Dict[str, List[Any]] = {}
    subs = {sub.name: sub for sub in model._layers}
    for wname, a in zip(wnames, arrays):
        owner = next((p for p in wname.split("/") if p in subs), None)
        if owner is None:
            raise ModelFileError(f"{where}: weight '{wname}' names none of the nested model's layers "
                                 f"({', '.join(subs)})")
        by_layer.setdefault(owner, []).append(a)
    for name, sub in subs.items():
        _assign(sub.weights, by_layer.get(name, []), f"{where}, nested layer '{name}'")


def load_legacy_h5(path: str, compile: bool = True) -> Any:
    """``nncore.load_model("m.h5")``: a Keras 2 (or Keras 3 legacy) HDF5 model file."""
    src = os.fspath(path)

    def run() -> Any:
        with _open_h5(src, src) as h5:
            if "model_config" not in h5.attrs:
                raise ModelFileError(f"{src}: an HDF5 file without model_config (a weights-only file? build the "
                                     "model and use load_weights)")
            spec = _json(_text(h5.attrs["model_config"]), "model_config", src)
            model = _build(spec, src)
            _no_custom_in_legacy(model, src, ModelFileError)
            _read_legacy_weights(h5.get("model_weights", h5), spec, model, src)
            training = h5.attrs.get("training_config")
        if compile and training is not None:
            _compile_from_keras(model, _json(_text(training), "training_config", src), src)
        return model

    return _guarded(src, run)


def _no_custom_in_legacy(model: Any, where: str, error: type = ValueError) -> None:
    """The legacy HDF5 format lists a layer's weights flat, in an order nncore does not reproduce for the nested
    weights of custom layers: nncore reads and writes those in .keras (by object paths) and .nncore only."""
    from .models import Model
    found = model if _is_custom_object(model) else next(
        (l for l in model._layers if _is_custom_object(l) or (isinstance(l, Model) and _contains_custom(l))), None)
    if found is not None:
        raise error(f"{where}: layer '{found.name}' ({type(found).__name__}) is a custom layer or model, which "
                    "nncore does not read or write in the legacy .h5 format; use .keras (Keras 3's format) or "
                    ".nncore")


def save_legacy_h5(model: Any, path: str) -> None:
    """``model.save("m.h5")``: Keras's legacy HDF5 model file (Keras 3 and 2 load it)."""
    h5py = _h5py()
    _no_custom_in_legacy(model, "save")
    spec = _spec_for_saving(model, "save")
    compile_config = _compile_to_keras(model)

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["keras_version"] = KERAS_VERSION
            h5.attrs["backend"] = "nncore"
            h5.attrs["model_config"] = json.dumps({"class_name": spec["class_name"], "config": spec["config"]})
            if compile_config is not None:
                h5.attrs["training_config"] = json.dumps(
                    {**{k: v for k, v in compile_config.items() if k != "optimizer"},
                     "optimizer_config": {"class_name": compile_config["optimizer"]["class_name"],
                                          "config": compile_config["optimizer"]["config"]}})
            group = h5.create_group("model_weights")
            names = []
            for sub in spec["config"]["layers"]:
                lname = sub.get("name") or sub["config"]["name"]
                names.append(lname)
                g = group.create_group(lname)
                pairs = [] if sub["class_name"] == "InputLayer" else \
                    _legacy_weight_paths(sub, model.get_layer(lname), lname)
                g.attrs["weight_names"] = np.array([n.encode() for n, _ in pairs], dtype=object) if pairs else \
                    np.zeros((0,), "S1")
                for n, w in pairs:
                    g.create_dataset(n, data=np.asarray(w, dtype=np.float32))
            group.attrs["layer_names"] = np.array([n.encode() for n in names], dtype=object)
            group.attrs["backend"] = "nncore"
            group.attrs["keras_version"] = KERAS_VERSION

    _atomic_write(path, write)
