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
_NNCORE_ONLY = ("UnaryOp", "BinaryOp", "MatMulOp", "ReduceOp", "SliceOp", "TransposeOp", "RandomOp", "TracedLayer")


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
    if cls in _MODEL_CLASSES:
        return {"class_name": "Functional" if cls == "Model" else cls,
                "config": {**_model_from_keras(spec, here), "trainable": bool(cfg.get("trainable", True))}}
    if cls not in _core.layer_class_names() or cls in _NNCORE_ONLY:
        module = spec.get("module") or ""
        what = "the Keras op" if module.startswith("keras.src.ops") else \
            "a custom layer" if spec.get("registered_name") and not module.startswith("keras") else "a Keras layer"
        raise _Unsupported(f"{where}: {here} is {what} that nncore does not have (nncore's layers: "
                           f"{', '.join(c for c in _core.layer_class_names() if c not in _NNCORE_ONLY)})")
    out: Dict[str, Any] = {}
    for key, value in cfg.items():
        arg = f"{here} argument '{key}'"
        if key in ("activation", "recurrent_activation"):
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
    return {"class_name": cls, "config": _drop_keras_only(cls, out, here)}


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
    spec = json.loads(_core.layer_config(layer._impl)) if not layer._is_custom else None
    cls = type(layer).__name__
    if spec is None or layer._impl.class_name in _NNCORE_ONLY:
        raise _Unsupported(f"layer '{layer.name}' ({cls}) has no Keras equivalent that nncore can write (a custom "
                           f"layer or an nncore.ops node); save it as .nncore")
    return _config_to_keras(layer._impl.class_name, spec)


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


# ---- weights ------------------------------------------------------------------------------------------------------

def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _variable_groups(spec: Dict[str, Any], layer: Any, path: str = "") -> Iterator[Tuple[str, Any, List[Any]]]:
    """(h5 path of the group, layer, its weights there) for the layer of Keras spec ``spec`` and its nncore layer,
    as Keras's saving_lib walks them (see the module docs). The weights are views onto the layer's buffers."""
    cls = spec["class_name"]
    if cls in _MODEL_CLASSES:
        used: Dict[str, int] = {}
        for sub in spec["config"]["layers"]:
            if _is_op(sub):
                continue
            key = _unique(_snake(sub["class_name"]), used)
            if sub["class_name"] == "InputLayer":
                continue
            name = sub.get("name") or sub["config"]["name"]
            yield from _variable_groups(sub, layer.get_layer(name), _join(path, "layers", key))
    elif cls in _RNN_CLASSES:
        yield _join(path, "cell"), layer, layer.weights
    elif cls == "Bidirectional":
        weights = layer.weights
        half = len(weights) // 2
        yield _join(path, "forward_layer", "cell"), layer, weights[:half]
        yield _join(path, "backward_layer", "cell"), layer, weights[half:]
    elif cls == "TimeDistributed":
        yield from _variable_groups(spec["config"]["layer"], layer.layer, _join(path, "layer"))
    else:
        yield path, layer, layer.weights


def _write_variables(h5: Any, spec: Dict[str, Any], model: Any) -> None:
    for path, layer, weights in _variable_groups(spec, model):
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
    for path, layer, weights in _variable_groups(spec, model):
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
    try:
        optimizer = _optimizer_from_keras(cfg.get("optimizer", cfg.get("optimizer_config", "rmsprop")))
        loss = _loss_from_keras(cfg.get("loss"))
        metrics = _metrics_from_keras(cfg.get("metrics"))
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=cfg.get("loss_weights"))
    except (_Unsupported, ValueError, TypeError) as exc:
        warnings.warn(f"{src}: the model is loaded uncompiled: its compile settings could not be restored ({exc})",
                      stacklevel=6)


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
    try:
        return _model_to_keras(model)
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
    from .models import Model
    try:
        config = _model_from_keras(spec, "the model")
    except _Unsupported as exc:
        raise ModelFileError(f"{src}: {exc}") from None
    try:
        return Model.from_config(config)
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
        with _open_h5(io.BytesIO(weights), f"{src} ({_WEIGHTS})") as h5:
            _read_variables(h5, spec, model, src)
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
            _read_legacy_weights(h5.get("model_weights", h5), spec, model, src)
            training = h5.attrs.get("training_config")
        if compile and training is not None:
            _compile_from_keras(model, _json(_text(training), "training_config", src), src)
        return model

    return _guarded(src, run)


def save_legacy_h5(model: Any, path: str) -> None:
    """``model.save("m.h5")``: Keras's legacy HDF5 model file (Keras 3 and 2 load it)."""
    h5py = _h5py()
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
