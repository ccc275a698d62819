"""ONNX export of nncore models (``model.export_onnx(path)``).

The model is read as a graph from its ``get_config()`` (a Sequential is a chain, a functional ``Model`` lists each
layer's inbound layers) and its layers' weights, and written with ``onnx.helper``; the optional dependency ``onnx``
is imported only here. The batch axis is symbolic (``"batch"``); inputs and outputs keep nncore's channels-last
layout. ONNX's Conv and pooling want channels first: each tensor remembers its layout and is transposed only where
a layer needs the other one (Dense, Flatten, Reshape and LayerNormalization work on channels-last data, so the
flatten order stays nncore's).

Example:
    >>> model.export_onnx("model.onnx")
    >>> sess = onnxruntime.InferenceSession("model.onnx")
    >>> y = sess.run(None, {sess.get_inputs()[0].name: x})[0]     # equals model.predict(x)
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["export_onnx", "model_graph", "SUPPORTED_LAYERS", "PENDING_LAYERS", "MIN_OPSET"]

MIN_OPSET = 17  # LayerNormalization became an ONNX op in opset 17


def _import_onnx() -> Any:
    try:
        import onnx
        import onnx.helper
        import onnx.numpy_helper
    except ImportError as exc:
        raise ImportError("export_onnx needs the optional 'onnx' package: pip install onnx") from exc
    return onnx


# ---- the model as a graph ----------------------------------------------------------------------------------------
@dataclass
class GraphNode:
    """One layer call: the layer object, the names of the tensors feeding it (in order) and its output's name."""

    layer: Any
    class_name: str
    config: Dict[str, Any]
    inputs: List[str]
    output: str


def model_graph(model: Any) -> Tuple[List[Tuple[str, Tuple[int, ...]]], List[GraphNode], List[str]]:
    """``(inputs, nodes, outputs)`` of a model: inputs as ``(name, per-sample shape)``, nodes in an order where
    every node comes after the nodes feeding it, outputs as tensor names. A tensor is named after the layer (or
    input) that produces it. Works from ``get_config()`` and ``get_layer(name)``: a Sequential is a chain from its
    one input; a functional model ("Functional") lists each layer's inbound names."""
    config = model.get_config()
    kind = config.get("class_name")
    if kind == "Sequential":
        shape = config.get("input_shape")
        if shape is None:
            raise ValueError(f"export_onnx: model '{config.get('name')}' is not built; give the first layer an "
                             "input_shape or call model.build(input_shape) first")
        names = list(getattr(model, "inputs", None) or ["input"])
        prev = names[0]
        nodes = []
        for spec in config["layers"]:
            name = spec["config"]["name"]
            nodes.append(GraphNode(model.get_layer(name), spec["class_name"], spec["config"], [prev], name))
            prev = name
        return [(names[0], tuple(int(d) for d in shape))], nodes, [prev]
    if kind == "Functional":
        inputs = [(i["name"], tuple(int(d) for d in i["shape"])) for i in config["inputs"]]
        nodes = [GraphNode(model.get_layer(s["config"]["name"]), s["class_name"], s["config"], list(s["inbound"]),
                           s["config"]["name"]) for s in config["layers"]]
        known = {n for n, _ in inputs}
        ordered: List[GraphNode] = []
        pending = nodes
        while pending:  # the config lists layers in call order; this also accepts any other order
            ready = [n for n in pending if all(i in known for i in n.inputs)]
            if not ready:
                missing = sorted({i for n in pending for i in n.inputs if i not in known})
                raise ValueError(f"export_onnx: model '{config.get('name')}' has layers fed by unknown tensors: "
                                 f"{', '.join(missing)}")
            for n in ready:
                ordered.append(n)
                known.add(n.output)
            pending = [n for n in pending if n not in ready]
        outputs = list(config["outputs"])
        for o in outputs:
            if o not in known:
                raise ValueError(f"export_onnx: model output '{o}' is not a layer or input of the model")
        return inputs, ordered, outputs
    raise ValueError(f"export_onnx: unknown model class '{kind}'; expected 'Sequential' or 'Functional'")


# ---- tensors and the ONNX graph under construction ---------------------------------------------------------------
@dataclass
class _T:
    """A tensor of the ONNX graph: its ONNX name, nncore's per-sample shape (channels last), whether it is stored
    channels-first (ONNX's (N, C, spatial...) order) and the name of its (batch, time) float mask, if any."""

    name: str
    shape: Tuple[int, ...]
    cf: bool = False
    mask: Optional[str] = None

    @property
    def rank(self) -> int:  # with the batch axis
        return len(self.shape) + 1

    def perm(self) -> List[int]:
        """Physical axis i holds nncore axis perm[i]."""
        r = self.rank
        return [0, r - 1] + list(range(1, r - 1)) if self.cf else list(range(r))

    def axis(self, nncore_axis: int) -> int:
        """The physical axis of an nncore axis (negative counts from the end, batch included)."""
        a = nncore_axis % self.rank
        return self.perm().index(a)


class _Builder:
    def __init__(self, onnx: Any, opset: int) -> None:
        self.onnx = onnx
        self.h = onnx.helper
        self.opset = opset
        self.nodes: List[Any] = []
        self.inits: List[Any] = []
        self.used: set = set()

    def fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.used:
            k += 1
            name = f"{hint}_{k}"
        self.used.add(name)
        return name

    def const(self, hint: str, value: Any, dtype: Any = np.float32) -> str:
        name = self.fresh(hint)
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(np.asarray(value, dtype)), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str, **attrs: Any) -> str:
        out = self.fresh(hint)
        self.nodes.append(self.h.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def to_layout(self, t: _T, cf: bool, hint: str) -> _T:
        if t.rank <= 2 or t.cf == cf:  # (batch, C) is the same in both layouts
            return _T(t.name, t.shape, t.cf if t.rank > 2 else False, t.mask)
        r = t.rank
        perm = [0, r - 1] + list(range(1, r - 1)) if cf else [0] + list(range(2, r)) + [1]
        return _T(self.op("Transpose", [t.name], f"{hint}/to_{'nchw' if cf else 'nhwc'}", perm=perm), t.shape, cf,
                  t.mask)

    def native(self, t: _T, hint: str) -> _T:
        return self.to_layout(t, False, hint)

    def channels_first(self, t: _T, hint: str) -> _T:
        return self.to_layout(t, True, hint)


# ---- converters: (builder, node, weights by name, input tensors) -> output tensor ---------------------------------
def _weights(layer: Any) -> Dict[str, np.ndarray]:
    names = list(layer._impl.weight_names)
    return dict(zip(names, layer.get_weights()))


def _out_shape(node: GraphNode) -> Tuple[int, ...]:
    return tuple(int(d) for d in node.layer.output_shape[1:])


_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "gelu", "elu")
# nncore's activation parameters (cpp/src/layers/activations.cpp: activation_default_alpha).
_DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}


def _activation(b: _Builder, t: _T, act: Optional[str], hint: str, alpha: Optional[float] = None) -> _T:
    act = act or "linear"

    def same(name: str) -> _T:
        return _T(name, t.shape, t.cf, t.mask)

    if act == "linear":
        return t
    if act == "relu":
        return same(b.op("Relu", [t.name], f"{hint}/Relu"))
    if act == "sigmoid":
        return same(b.op("Sigmoid", [t.name], f"{hint}/Sigmoid"))
    if act == "tanh":
        return same(b.op("Tanh", [t.name], f"{hint}/Tanh"))
    if act == "softmax":  # over nncore's last axis, wherever the layout keeps it
        return same(b.op("Softmax", [t.name], f"{hint}/Softmax", axis=t.axis(-1)))
    if act == "leaky_relu":
        a = _DEFAULT_ALPHA["leaky_relu"] if alpha is None else alpha
        return same(b.op("LeakyRelu", [t.name], f"{hint}/LeakyRelu", alpha=float(a)))
    if act == "elu":
        a = _DEFAULT_ALPHA["elu"] if alpha is None else alpha
        return same(b.op("Elu", [t.name], f"{hint}/Elu", alpha=float(a)))
    if act == "gelu":  # exact form, as nncore: 0.5 * x * (1 + erf(x / sqrt(2)))
        z = b.op("Mul", [t.name, b.const(f"{hint}/inv_sqrt2", 1.0 / math.sqrt(2.0))], f"{hint}/gelu_scale")
        e = b.op("Erf", [z], f"{hint}/gelu_erf")
        e1 = b.op("Add", [e, b.const(f"{hint}/one", 1.0)], f"{hint}/gelu_add")
        xe = b.op("Mul", [t.name, e1], f"{hint}/gelu_mul")
        return same(b.op("Mul", [xe, b.const(f"{hint}/half", 0.5)], f"{hint}/Gelu"))
    raise ValueError(f"export_onnx: layer '{hint}': activation '{act}' is not supported; supported activations: "
                     f"{', '.join(_ACTIVATIONS)}")


def _layer_activation(b: _Builder, n: GraphNode, t: _T) -> _T:
    return _activation(b, t, n.config.get("activation"), n.output, n.config.get("alpha"))


def _dense(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)
    y = b.op("MatMul", [x.name, b.const(f"{n.output}/kernel", w["kernel"])], f"{n.output}/MatMul")
    if "bias" in w:
        y = b.op("Add", [y, b.const(f"{n.output}/bias", w["bias"])], f"{n.output}/BiasAdd")
    # Its own shape, not the layer's: inside TimeDistributed the layer was built per step.
    return _layer_activation(b, n, _T(y, tuple(x.shape[:-1]) + (int(w["kernel"].shape[1]),)))


def _conv_pads(n: GraphNode, in_sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
               dilation: Sequence[int]) -> List[int]:
    """Explicit ONNX pads (all begins, then all ends) for nncore's padding: 'valid' none, 'same' TensorFlow's
    (the odd pixel after), 'causal' all before (cpp/src/ops/conv_geometry.hpp)."""
    padding = str(n.config.get("padding", "valid")).lower()
    begins, ends = [], []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilation):
        span = (k - 1) * d + 1
        if padding == "valid":
            before = after = 0
        elif padding == "causal":
            before, after = span - 1, 0
        elif padding == "same":
            out = (size + s - 1) // s
            total = max((out - 1) * s + span - size, 0)
            before, after = total // 2, total - total // 2
        else:
            raise ValueError(f"export_onnx: layer '{n.output}' ({n.class_name}): unknown padding '{padding}'")
        begins.append(before)
        ends.append(after)
    return begins + ends


def _ints(v: Any, rank: int) -> List[int]:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return [int(i) for i in (v * rank if len(v) == 1 else v)]


def _conv(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    kernel = w["kernel"]  # (k..., C_in, filters)
    rank = kernel.ndim - 2
    x = b.channels_first(xs[0], n.output)
    ks = list(kernel.shape[:rank])
    strides, dilation = _ints(n.config.get("strides", 1), rank), _ints(n.config.get("dilation_rate", 1), rank)
    pads = _conv_pads(n, x.shape[:rank], ks, strides, dilation)
    onnx_w = np.transpose(kernel, [rank + 1, rank] + list(range(rank)))  # (filters, C_in, k...)
    ins = [x.name, b.const(f"{n.output}/kernel", onnx_w)]
    if "bias" in w:
        ins.append(b.const(f"{n.output}/bias", w["bias"]))
    y = b.op("Conv", ins, f"{n.output}/Conv", kernel_shape=ks, strides=strides, dilations=dilation, pads=pads)
    return _layer_activation(b, n, _T(y, _out_shape(n), True))


def _pool(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    rank = len(xs[0].shape) - 1
    x = b.channels_first(xs[0], n.output)
    pool = _ints(n.config.get("pool_size", 2), rank)
    strides = [s if s > 0 else p for s, p in zip(_ints(n.config.get("strides") or 0, rank), pool)]
    pads = _conv_pads(n, x.shape[:rank], pool, strides, [1] * rank)
    if n.class_name.startswith("Max"):
        y = b.op("MaxPool", [x.name], f"{n.output}/MaxPool", kernel_shape=pool, strides=strides, pads=pads)
    else:  # the padding is not counted in the mean, as in Keras
        y = b.op("AveragePool", [x.name], f"{n.output}/AveragePool", kernel_shape=pool, strides=strides, pads=pads,
                 count_include_pad=0)
    return _T(y, _out_shape(n), True)


def _global_pool(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = xs[0]
    if n.class_name == "GlobalAveragePooling1D" and x.mask is not None:
        # nncore's masked mean: sum over the valid steps times 1/count (0 for a sample without any).
        x = b.native(x, n.output)
        axis1 = b.const(f"{n.output}/axis1", [1], np.int64)
        m3 = b.op("Unsqueeze", [x.mask, b.const(f"{n.output}/axis2", [2], np.int64)], f"{n.output}/mask3")
        s = b.op("ReduceSum", [b.op("Mul", [x.name, m3], f"{n.output}/masked"), axis1], f"{n.output}/sum",
                 keepdims=0)
        count = b.op("ReduceSum", [x.mask, axis1], f"{n.output}/count", keepdims=1)
        inv = b.op("Reciprocal", [b.op("Max", [count, b.const(f"{n.output}/one", [1.0])], f"{n.output}/count1")],
                   f"{n.output}/inv_count")
        return _T(b.op("Mul", [s, inv], f"{n.output}/mean"), _out_shape(n))
    x = b.channels_first(x, n.output)
    op = "GlobalMaxPool" if "Max" in n.class_name else "GlobalAveragePool"
    y = b.op(op, [x.name], f"{n.output}/{op}")
    return _T(b.op("Flatten", [y], f"{n.output}/Flatten", axis=1), _out_shape(n))


def _zero_padding(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = xs[0]
    (top, bottom), (left, right) = n.config["padding"]
    begin, end = [0] * x.rank, [0] * x.rank
    begin[x.axis(1)], end[x.axis(1)] = int(top), int(bottom)
    begin[x.axis(2)], end[x.axis(2)] = int(left), int(right)
    y = b.op("Pad", [x.name, b.const(f"{n.output}/pads", begin + end, np.int64)], f"{n.output}/Pad")
    return _T(y, _out_shape(n), x.cf)


def _flatten(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)
    return _T(b.op("Flatten", [x.name], f"{n.output}/Flatten", axis=1), _out_shape(n))


def _reshape(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)
    target = b.const(f"{n.output}/shape", [0] + [int(d) for d in n.config["target_shape"]], np.int64)
    return _T(b.op("Reshape", [x.name, target], f"{n.output}/Reshape"), _out_shape(n))


def _identity(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    return xs[0]  # Dropout and SpatialDropout2D: the identity at inference


def _activation_layer(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    return _layer_activation(b, n, xs[0])


def _batch_norm(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """Inference form on the moving statistics. ONNX's BatchNormalization wants the channels on axis 1: a
    channels-first tensor (or (batch, C)) uses it; a channels-last image goes through it channels-first."""
    x = b.channels_first(xs[0], n.output) if xs[0].rank > 2 else xs[0]
    c = x.shape[-1]
    gamma = w.get("gamma", np.ones(c, np.float32))
    beta = w.get("beta", np.zeros(c, np.float32))
    ins = [x.name] + [b.const(f"{n.output}/{k}", v) for k, v in
                      (("gamma", gamma), ("beta", beta), ("moving_mean", w["moving_mean"]),
                       ("moving_variance", w["moving_variance"]))]
    y = b.op("BatchNormalization", ins, f"{n.output}/BatchNormalization", epsilon=float(n.config["epsilon"]))
    return _T(y, x.shape, x.cf)


def _layer_norm(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)  # over nncore's last axis, which ONNX normalizes when it is last
    c = x.shape[-1]
    ins = [x.name, b.const(f"{n.output}/gamma", w.get("gamma", np.ones(c, np.float32)))]
    if "beta" in w:
        ins.append(b.const(f"{n.output}/beta", w["beta"]))
    y = b.op("LayerNormalization", ins, f"{n.output}/LayerNormalization", axis=-1,
             epsilon=float(n.config["epsilon"]))
    return _T(y, x.shape)


def _merge(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    cf = xs[0].cf and all(x.rank == xs[0].rank for x in xs)
    ins = [b.to_layout(x, cf, n.output) for x in xs]
    names = [x.name for x in ins]
    cls = n.class_name
    if cls == "Add":
        y = b.op("Sum", names, f"{n.output}/Sum") if len(names) > 2 else b.op("Add", names, f"{n.output}/Add")
    elif cls == "Subtract":
        y = b.op("Sub", names, f"{n.output}/Sub")
    elif cls == "Multiply":
        y = names[0]
        for other in names[1:]:
            y = b.op("Mul", [y, other], f"{n.output}/Mul")
    elif cls == "Average":
        y = b.op("Mean", names, f"{n.output}/Mean")
    else:  # Concatenate: Keras's axis counts the batch axis
        y = b.op("Concat", names, f"{n.output}/Concat", axis=ins[0].axis(int(n.config.get("axis", -1))))
    return _T(y, _out_shape(n), ins[0].cf)


def _embedding(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)  # float ids, as nncore takes them
    ids = b.op("Cast", [x.name], f"{n.output}/ids", to=b.onnx.TensorProto.INT64)
    y = b.op("Gather", [b.const(f"{n.output}/embeddings", w["embeddings"]), ids], f"{n.output}/Gather", axis=0)
    mask = None
    if n.config.get("mask_zero"):
        zero = b.op("Equal", [x.name, b.const(f"{n.output}/zero", 0.0)], f"{n.output}/is_pad")
        valid = b.op("Not", [zero], f"{n.output}/is_valid")
        mask = b.op("Cast", [valid], f"{n.output}/mask", to=b.onnx.TensorProto.FLOAT)
    return _T(y, _out_shape(n), False, mask)


def _time_distributed(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    inner = n.layer.layer
    spec = n.config["layer"]
    inner_node = GraphNode(inner, spec["class_name"], spec["config"], [], n.output + "/" + spec["config"]["name"])
    x = b.native(xs[0], n.output)
    if inner_node.class_name == "Dense":  # MatMul applies to every step of (batch, time, ...) as it is
        y = _convert(b, inner_node, [_T(x.name, x.shape)])
        return _T(y.name, _out_shape(n))
    # Time folded into the batch, as nncore runs it: (batch * time, ...) -> inner layer -> (batch, time, ...).
    steps = x.shape[0]
    fold = b.const(f"{n.output}/fold_shape", [-1] + list(x.shape[1:]), np.int64)
    folded = _T(b.op("Reshape", [x.name, fold], f"{n.output}/fold"), tuple(x.shape[1:]))
    y = b.native(_convert(b, inner_node, [folded]), inner_node.output)
    out = _out_shape(n)
    unfold = b.const(f"{n.output}/unfold_shape", [-1, steps] + list(out[1:]), np.int64)
    return _T(b.op("Reshape", [y.name, unfold], f"{n.output}/unfold"), out)


_Converter = Callable[[_Builder, GraphNode, Dict[str, np.ndarray], List[_T]], _T]
_CONVERTERS: Dict[str, _Converter] = {
    "Dense": _dense,
    "Activation": _activation_layer,
    "Dropout": _identity,
    "SpatialDropout2D": _identity,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Conv2D": _conv,
    "Conv1D": _conv,
    "MaxPooling2D": _pool,
    "AveragePooling2D": _pool,
    "MaxPooling1D": _pool,
    "AveragePooling1D": _pool,
    "GlobalAveragePooling2D": _global_pool,
    "GlobalMaxPooling2D": _global_pool,
    "GlobalAveragePooling1D": _global_pool,
    "GlobalMaxPooling1D": _global_pool,
    "ZeroPadding2D": _zero_padding,
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    "Embedding": _embedding,
    "TimeDistributed": _time_distributed,
    "Add": _merge,
    "Subtract": _merge,
    "Multiply": _merge,
    "Average": _merge,
    "Concatenate": _merge,
}
SUPPORTED_LAYERS: Tuple[str, ...] = tuple(sorted(_CONVERTERS))
# Not exported yet: nncore's masks let padded steps anywhere keep the state and repeat the previous output, which
# ONNX's LSTM/GRU/RNN ops (sequence_lens: trailing padding, zeros after it) do not express.
PENDING_LAYERS: Tuple[str, ...] = ("SimpleRNN", "LSTM", "GRU", "Bidirectional")

# Layers that end the mask (nncore's output_mask overrides): no time axis left, or Keras drops it.
_DROPS_MASK = {"Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
               "GlobalAveragePooling2D", "GlobalMaxPooling2D"}


def _convert(b: _Builder, node: GraphNode, xs: List[_T]) -> _T:
    conv = _CONVERTERS.get(node.class_name)
    if conv is None:
        raise ValueError(f"export_onnx: layer '{node.output}' ({node.class_name}) has no ONNX export"
                         f"{' yet' if node.class_name in PENDING_LAYERS else ''}; supported layers: "
                         f"{', '.join(SUPPORTED_LAYERS)}")
    y = conv(b, node, _weights(node.layer), xs)
    # The mask, as nncore's Layer::output_mask: Embedding makes its own; the layers in _DROPS_MASK end it; any
    # other layer passes its first input's mask on while it keeps the time axis.
    if node.class_name == "Embedding":
        mask = y.mask
    elif node.class_name in _DROPS_MASK:
        mask = None
    else:
        keeps_time = len(xs[0].shape) >= 2 and len(y.shape) >= 2 and y.shape[0] == xs[0].shape[0]
        mask = xs[0].mask if keeps_time else None
    return _T(y.name, y.shape, y.cf, mask)


# ---- export ----------------------------------------------------------------------------------------------------
def export_onnx(model: Any, path: Union[str, "os.PathLike[str]", None], opset: int = MIN_OPSET) -> Any:
    """Write ``model`` as an ONNX file at ``path`` (skipped when ``path`` is None) and return the ``onnx.ModelProto``.

    Inputs and outputs are named as the model's inputs and output layers, with shapes ``("batch", *per-sample
    shape)`` in nncore's channels-last layout, so ONNX Runtime's outputs equal ``model.predict``. ``opset`` is the
    ONNX operator set (17 or newer). An unsupported layer raises ``ValueError`` naming it."""
    onnx = _import_onnx()
    max_opset = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= max_opset:
        raise ValueError(f"export_onnx: opset must be an int in [{MIN_OPSET}, {max_opset}] (the installed onnx "
                         f"supports up to {max_opset}), got {opset!r}")
    inputs, nodes, outputs = model_graph(model)
    b = _Builder(onnx, int(opset))
    h = onnx.helper
    tensors: Dict[str, _T] = {}
    graph_inputs = []
    for name, shape in inputs:
        b.used.add(name)
        tensors[name] = _T(name, shape)
        graph_inputs.append(h.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", *shape]))
    for node in nodes:
        b.used.add(node.output)  # the graph's output names stay free for the outputs
    for node in nodes:
        tensors[node.output] = _convert(b, node, [tensors[i] for i in node.inputs])
    graph_outputs = []
    for name in outputs:
        t = b.native(tensors[name], name)
        b.nodes.append(h.make_node("Identity", [t.name], [name], name=f"{name}/output"))
        graph_outputs.append(h.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", *t.shape]))
    config_name = getattr(model, "name", None) or "nncore_model"
    graph = h.make_graph(b.nodes, str(config_name), graph_inputs, graph_outputs, initializer=b.inits)
    opset_id = h.make_opsetid("", int(opset))
    proto = h.make_model(graph, opset_imports=[opset_id], producer_name="nncore",
                         producer_version=_nncore_version())
    proto.ir_version = h.find_min_ir_version_for([opset_id])
    onnx.checker.check_model(proto)
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto


def _nncore_version() -> str:
    from . import __version__
    return str(__version__)
