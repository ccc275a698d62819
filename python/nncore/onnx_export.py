"""ONNX export of nncore models (``model.export_onnx(path)``).

The model is read as a graph from its ``get_config()`` (a Sequential is a chain, a functional ``Model`` lists each
layer's inbound layers) and its layers' weights, and written with ``onnx.helper``; the optional dependency ``onnx``
is imported only here. The batch axis is symbolic (``"batch"``); inputs and outputs keep nncore's channels-last
layout. ONNX's Conv and pooling want channels first: each tensor remembers its layout and is transposed only where
a layer needs the other one (Dense, Flatten, Reshape and LayerNormalization work on channels-last data, so the
flatten order stays nncore's). Recurrent layers become ONNX's RNN/LSTM/GRU ops, or a Scan over time when a mask
from ``Embedding(mask_zero=True)`` reaches them (see "recurrent layers" below). MultiHeadAttention and
``ops.dot_product_attention`` share one attention builder of MatMul, Softmax and Where (see "attention" below).
An int8-quantized model (``model.quantize("int8")``) keeps its kernels int8 in the file and quantizes its inputs
in the graph exactly as nncore does (see "int8-quantized layers"); its recurrent layers run as a Scan.

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
    """One layer call: the layer object, the names of the tensors feeding it (in order) and its output's name
    (and, for a layer with several outputs, the names of the others)."""

    layer: Any
    class_name: str
    config: Dict[str, Any]
    inputs: List[str]
    output: str
    extra_outputs: Tuple[str, ...] = ()


def _tensor_name(ref: Any) -> str:
    """The ONNX name of a config's tensor reference [layer, call, output]: the layer's name for its first call's
    output (as before shared layers existed), ``layer:call:output`` otherwise."""
    if isinstance(ref, str):
        return ref
    name, call, out = ref
    return name if call == 0 and out == 0 else f"{name}:{call}:{out}"


def _inline_models(nodes: List[GraphNode]) -> List[GraphNode]:
    """Replaces each call of a nested model by its own nodes, their tensors named ``<call>/<inner tensor>`` and
    the inner output named as the call's output, so the rest of the graph reads it unchanged."""
    out: List[GraphNode] = []
    for node in nodes:
        if node.class_name not in ("Sequential", "Functional", "TracedLayer"):
            out.append(node)
            continue
        inner_model = node.layer
        if node.class_name == "TracedLayer":  # a custom layer: its traced inference graph
            graphs = node.layer.__dict__.get("_graphs") or {}
            inner_model = graphs.get(False, graphs.get(None))
            if inner_model is None:  # loaded from a file: the graph the file held
                from .models import _wrap_model
                inner_model = _wrap_model(node.layer._impl.graph(False))
        inputs, inner, outputs = model_graph(inner_model)
        if len(outputs) != 1:
            raise ValueError(f"export_onnx: nested model '{node.config.get('name')}' has {len(outputs)} outputs; the "
                             "ONNX export inlines nested models with one output")
        if len(inputs) != len(node.inputs):
            raise ValueError(f"export_onnx: nested model '{node.config.get('name')}' takes {len(inputs)} inputs, "
                             f"called on {len(node.inputs)}")
        names = {name: outer for (name, _), outer in zip(inputs, node.inputs)}
        for n in inner:
            renamed = [node.output if o == outputs[0] else f"{node.output}/{o}" for o in (n.output, *n.extra_outputs)]
            out.append(GraphNode(n.layer, n.class_name, n.config, [names[i] for i in n.inputs], renamed[0],
                                 tuple(renamed[1:])))
            names.update(zip((n.output, *n.extra_outputs), renamed))
        if outputs[0] not in {o for n in inner for o in (n.output, *n.extra_outputs)}:  # returns one of its inputs
            raise ValueError(f"export_onnx: nested model '{node.config.get('name')}' returns its input unchanged")
    return out


def model_graph(model: Any) -> Tuple[List[Tuple[str, Tuple[int, ...]]], List[GraphNode], List[str]]:
    """``(inputs, nodes, outputs)`` of a model: inputs as ``(name, per-sample shape)``, nodes in an order where
    every node comes after the nodes feeding it, outputs as tensor names. A tensor is named after the layer (or
    input) that produces it. Works from ``get_config()`` and ``get_layer(name)``: a Sequential is a chain from its
    one input; a functional model ("Functional") lists its layer calls ("nodes") in an order where each reads only
    inputs and earlier calls. A shared layer's calls each become ONNX nodes (its weights are written per call)."""
    config = model.get_config()
    kind = config.get("class_name")
    if kind == "Sequential":
        shape = config.get("input_shape")
        if shape is None:
            raise ValueError(f"export_onnx: model '{config.get('name')}' is not built; give the first layer an "
                             "input_shape or call model.build(input_shape) first")
        names = list(getattr(model, "input_names", None) or ["input"])
        prev = names[0]
        nodes = []
        for spec in config["layers"]:
            name = spec["config"]["name"]
            nodes.append(GraphNode(model.get_layer(name), spec["class_name"], spec["config"], [prev], name))
            prev = name
        return [(names[0], tuple(int(d) for d in shape))], _inline_models(nodes), [prev]
    if kind == "Functional":
        inputs = [(i["name"], tuple(int(d) for d in i["shape"])) for i in config["inputs"]]
        specs = {s["config"]["name"]: s for s in config["layers"]}
        # Format 1 configs (and hand-written ones) give each layer's one call as its "inbound" names.
        calls_in = config.get("nodes") or [{"layer": s["config"]["name"], "inbound": s["inbound"]}
                                           for s in config["layers"]]
        nodes = []
        calls: Dict[str, int] = {}
        for node in calls_in:
            name = node["layer"]
            spec = specs[name]
            layer = model.get_layer(name)
            n_out = getattr(getattr(layer, "_impl", None), "num_outputs", 1)
            if n_out != 1 and spec["class_name"] not in _MULTI_OUTPUT:
                raise ValueError(f"export_onnx: layer '{name}' ({spec['class_name']}) returns {n_out} tensors "
                                 "(return_state=True); the ONNX export supports layers with one output")
            k = calls.get(name, 0)
            calls[name] = k + 1
            nodes.append(GraphNode(layer, spec["class_name"], spec["config"],
                                   [_tensor_name(r) for r in node["inbound"]], _tensor_name([name, k, 0]),
                                   tuple(_tensor_name([name, k, j]) for j in range(1, n_out))))
        known = {n for n, _ in inputs}
        ordered: List[GraphNode] = []
        pending = nodes
        while pending:  # saved configs list calls in order; this also accepts any other order
            ready = [n for n in pending if all(i in known for i in n.inputs)]
            if not ready:
                missing = sorted({i for n in pending for i in n.inputs if i not in known})
                raise ValueError(f"export_onnx: model '{config.get('name')}' has layers fed by unknown tensors: "
                                 f"{', '.join(missing)}")
            for n in ready:
                ordered.append(n)
                known.update((n.output, *n.extra_outputs))
            pending = [n for n in pending if n not in ready]
        outputs = [_tensor_name(r) for r in config["outputs"]]
        for o in outputs:
            if o not in known:
                raise ValueError(f"export_onnx: model output '{o}' is not a layer or input of the model")
        return inputs, _inline_models(ordered), outputs
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
        array = np.array(value, dtype, order="C")  # a scalar stays 0-d (np.ascontiguousarray would make it 1-d)
        self.inits.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str, **attrs: Any) -> str:
        return self.ops(op_type, inputs, [hint], **attrs)[0]

    def ops(self, op_type: str, inputs: Sequence[str], hints: Sequence[str], **attrs: Any) -> List[str]:
        """A node with several outputs (an empty hint leaves that optional output out)."""
        outs = [self.fresh(h) if h else "" for h in hints]
        self.nodes.append(self.h.make_node(op_type, list(inputs), outs, name=next(o for o in outs if o), **attrs))
        return outs

    def subgraph(self) -> "_Builder":
        """A builder for a control-flow body: its own nodes; names unique across both graphs (ONNX wants them
        unique over the scopes) and constants stored in this graph, which the body reads from the outer scope."""
        sub = _Builder(self.onnx, self.opset)
        sub.used = self.used
        sub.inits = self.inits
        return sub

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


# ---- int8-quantized layers (model.quantize("int8")) ---------------------------------------------------------------
# The inputs are quantized as nncore does at each call, in float32 ops whose results are nncore's: per row (Dense) or
# per sample (convolution) scale s = 127 / (max |x| + 1e-7), q = Clip(Round(x * s), -127, 127) (Round is half to
# even in both); Dense then runs MatMulInteger on int8 q and the int8 kernel (exact int32 sums) and multiplies by
# 1 / s and 1 / kernel_scale; a convolution runs ONNX's Conv on q and the int8 kernel as floats (integer products,
# exact while a filter's sums stay below 2^24) and rescales likewise. The file keeps the kernels int8.
def _quantize_input(b: _Builder, x: str, axes: List[int], hint: str) -> Tuple[str, str]:
    """(q as float, s) for x with the max over `axes` (kept)."""
    a = b.op("Abs", [x], f"{hint}/abs")
    if b.opset >= 18:
        m = b.op("ReduceMax", [a, b.const(f"{hint}/axes", axes, np.int64)], f"{hint}/absmax", keepdims=1)
    else:
        m = b.op("ReduceMax", [a], f"{hint}/absmax", axes=axes, keepdims=1)
    s = b.op("Div", [b.const(f"{hint}/range", 127.0), b.op("Add", [m, b.const(f"{hint}/eps", 1e-7)], f"{hint}/den")],
             f"{hint}/scale")
    r = b.op("Round", [b.op("Mul", [x, s], f"{hint}/scaled")], f"{hint}/round")
    q = b.op("Clip", [r, b.const(f"{hint}/lo", -127.0), b.const(f"{hint}/hi", 127.0)], f"{hint}/q")
    return q, s


def _int8(w: Dict[str, np.ndarray], name: str) -> bool:
    return w.get(name) is not None and w[name].dtype == np.int8


def _matmul_int8(b: _Builder, x: str, rank: int, kernel: np.ndarray, scale: np.ndarray, hint: str) -> str:
    """x's rows (its last axis) quantized, times the int8 kernel, dequantized: nncore's gemm_q8."""
    q, s = _quantize_input(b, x, [rank - 1], f"{hint}/quantize")
    qi = b.op("Cast", [q], f"{hint}/q_int8", to=b.onnx.TensorProto.INT8)
    acc = b.op("MatMulInteger", [qi, b.const(f"{hint}/kernel", kernel, np.int8)], f"{hint}/MatMulInteger")
    accf = b.op("Cast", [acc], f"{hint}/acc", to=b.onnx.TensorProto.FLOAT)
    return _dequantize(b, accf, s, scale, hint)


def _dequantize(b: _Builder, acc: str, s: str, kernel_scale: np.ndarray, hint: str) -> str:
    """acc * (1 / s) * (1 / kernel_scale), in nncore's order (kernels/gemm_s8.cpp: dequant_rows)."""
    inv_s = b.op("Div", [b.const(f"{hint}/one", 1.0), s], f"{hint}/inv_scale")
    inv_k = np.float32(1) / np.asarray(kernel_scale, np.float32)
    return b.op("Mul", [b.op("Mul", [acc, inv_s], f"{hint}/rescaled"), b.const(f"{hint}/inv_kernel_scale", inv_k)],
                f"{hint}/dequantize")


def _dense_int8(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], x: _T) -> str:
    return _matmul_int8(b, x.name, x.rank, w["kernel"], w["kernel_scale"], n.output)


def _dense(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)
    if _int8(w, "kernel"):
        y = _dense_int8(b, n, w, x)
    else:
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
    if _int8(w, "kernel"):  # per sample, as nncore (see "int8-quantized layers")
        q, sx = _quantize_input(b, x.name, list(range(1, rank + 2)), f"{n.output}/quantize")
        wf = b.op("Cast", [b.const(f"{n.output}/kernel", onnx_w, np.int8)], f"{n.output}/kernel_f",
                  to=b.onnx.TensorProto.FLOAT)
        acc = b.op("Conv", [q, wf], f"{n.output}/Conv", kernel_shape=ks, strides=strides, dilations=dilation,
                   pads=pads)
        ks_cf = np.asarray(w["kernel_scale"], np.float32).reshape([-1] + [1] * rank)  # per filter, channels first
        y = _dequantize(b, acc, sx, ks_cf, n.output)
        if "bias" in w:
            y = b.op("Add", [y, b.const(f"{n.output}/bias", np.asarray(w["bias"]).reshape([-1] + [1] * rank))],
                     f"{n.output}/BiasAdd")
        return _layer_activation(b, n, _T(y, _out_shape(n), True))
    ins = [x.name, b.const(f"{n.output}/kernel", onnx_w)]
    if "bias" in w:
        ins.append(b.const(f"{n.output}/bias", w["bias"]))
    y = b.op("Conv", ins, f"{n.output}/Conv", kernel_shape=ks, strides=strides, dilations=dilation, pads=pads,
             group=int(n.config.get("groups", 1)))  # ONNX's grouped weight (filters, C_in / groups, k...) is ours
    return _layer_activation(b, n, _T(y, _out_shape(n), True))


def _depthwise(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """DepthwiseConv1D/2D: a Conv with group = C (output channel c * M + m is group c's filter m); the separable
    ones add the pointwise kernel as a 1 x 1 Conv, with the bias on it."""
    kernel = w["depthwise_kernel"]  # (k..., C, M)
    rank = kernel.ndim - 2
    ks, (C, M) = list(kernel.shape[:rank]), kernel.shape[rank:]
    x = b.channels_first(xs[0], n.output)
    strides, dilation = _ints(n.config.get("strides", 1), rank), _ints(n.config.get("dilation_rate", 1), rank)
    pads = _conv_pads(n, x.shape[:rank], ks, strides, dilation)
    onnx_w = np.transpose(kernel, [rank, rank + 1] + list(range(rank))).reshape(C * M, 1, *ks)
    separable = "pointwise_kernel" in w
    ins = [x.name, b.const(f"{n.output}/depthwise_kernel", onnx_w)]
    if "bias" in w and not separable:
        ins.append(b.const(f"{n.output}/bias", w["bias"]))
    y = b.op("Conv", ins, f"{n.output}/DepthwiseConv", kernel_shape=ks, strides=strides, dilations=dilation,
             pads=pads, group=int(C))
    if separable:
        pw = w["pointwise_kernel"].reshape(C * M, -1)  # (C * M, filters)
        ins = [y, b.const(f"{n.output}/pointwise_kernel", np.ascontiguousarray(pw.T).reshape(-1, C * M,
                                                                                            *([1] * rank)))]
        if "bias" in w:
            ins.append(b.const(f"{n.output}/bias", w["bias"]))
        y = b.op("Conv", ins, f"{n.output}/PointwiseConv", kernel_shape=[1] * rank)
    return _layer_activation(b, n, _T(y, _out_shape(n), True))


def _conv_transpose(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """ONNX's ConvTranspose is the same adjoint as nncore's: output pixel o collects input pixel i through tap t
    where o = i * stride - pad_begin + t * dilation. pad_begin is nncore's (cpp/src/ops/conv_geometry.hpp:
    conv_transpose_axis); the end is cut (pads) or extended (output_padding) to the layer's output length."""
    kernel = w["kernel"]  # (k..., filters, C_in)
    rank = kernel.ndim - 2
    x = b.channels_first(xs[0], n.output)
    ks = list(kernel.shape[:rank])
    strides, dilation = _ints(n.config.get("strides", 1), rank), _ints(n.config.get("dilation_rate", 1), rank)
    same = str(n.config.get("padding", "valid")).lower() == "same"
    out = _out_shape(n)[:rank]
    begins, ends, extra = [], [], []
    for size, o, k, s, d in zip(x.shape[:rank], out, ks, strides, dilation):
        full = (size - 1) * s + (k - 1) * d + 1   # the output length without any padding
        before = max(full - o, 0) // 2 if same else 0
        after = full - before - o
        begins.append(before)
        ends.append(max(after, 0))
        extra.append(max(-after, 0))
    onnx_w = np.transpose(kernel, [rank + 1, rank] + list(range(rank)))  # (C_in, filters, k...)
    ins = [x.name, b.const(f"{n.output}/kernel", onnx_w)]
    if "bias" in w:
        ins.append(b.const(f"{n.output}/bias", w["bias"]))
    y = b.op("ConvTranspose", ins, f"{n.output}/ConvTranspose", kernel_shape=ks, strides=strides,
             dilations=dilation, pads=begins + ends, output_padding=extra)
    return _layer_activation(b, n, _T(y, _out_shape(n), True))


def _upsampling(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """Resize by the integer factors on the spatial axes, in whichever layout the tensor is: nearest as
    asymmetric + floor (output o reads input o // size, exactly), bilinear with half-pixel centers (as Keras)."""
    x = xs[0]
    rank = len(x.shape) - 1
    size = _ints(n.config.get("size", 2), rank)
    scales = [1.0] * x.rank
    for i, f in enumerate(size):
        scales[x.axis(1 + i)] = float(f)
    scales_name = b.const(f"{n.output}/scales", scales)
    if n.config.get("interpolation", "nearest") == "bilinear":
        attrs = dict(mode="linear", coordinate_transformation_mode="half_pixel")
    else:
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    y = b.op("Resize", [x.name, "", scales_name], f"{n.output}/Resize", **attrs)
    return _T(y, _out_shape(n), x.cf)


def _resizing(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """Resizing, CenterCrop and RandomCrop (its inference) as nncore computes them (cpp/src/layers/augment.cpp):
    a Slice of the window (crops), a Pad with fill_value (pad_to_aspect_ratio), then a Resize to the output size
    with half-pixel centres (tf.image.resize: linear, or nearest rounding halves up)."""
    x, h, c = xs[0], n.output, n.config
    H, W = (int(v) for v in x.shape[:2])
    if H < 1 or W < 1:
        raise ValueError(f"export_onnx: {n.class_name} '{h}' needs the image size to be known (the input's is "
                         f"{x.shape}); give the model's Input a fixed height and width")
    oh, ow = int(c["height"]), int(c["width"])
    aspect = ow / oh
    name, hax, wax = x.name, x.axis(1), x.axis(2)
    exact_crop = n.class_name == "CenterCrop" and H >= oh and W >= ow
    if exact_crop or n.class_name != "Resizing" or c.get("crop_to_aspect_ratio"):
        if exact_crop:
            ch, cw = oh, ow
        else:
            ch = max(min(H, int(W / aspect)), 1)
            cw = max(min(W, int(H * aspect)), 1)
        y0, x0 = (H - ch) // 2, (W - cw) // 2
        name = b.op("Slice", [name, b.const(f"{h}/starts", [y0, x0], np.int64),
                              b.const(f"{h}/ends", [y0 + ch, x0 + cw], np.int64),
                              b.const(f"{h}/axes", [hax, wax], np.int64)], f"{h}/Slice")
        if exact_crop:
            return _T(name, _out_shape(n), x.cf)
    elif c.get("pad_to_aspect_ratio"):
        ph, pw = max(H, int(W / aspect)), max(W, int(H * aspect))
        pads = [0] * (2 * x.rank)
        pads[hax], pads[wax] = (ph - H) // 2, (pw - W) // 2
        pads[x.rank + hax], pads[x.rank + wax] = ph - H - (ph - H) // 2, pw - W - (pw - W) // 2
        name = b.op("Pad", [name, b.const(f"{h}/pads", pads, np.int64),
                            b.const(f"{h}/fill", np.float32(c.get("fill_value", 0.0)))], f"{h}/Pad", mode="constant")
    # The output size: the batch from the tensor, the rest known.
    batch = b.op("Slice", [b.op("Shape", [name], f"{h}/Shape"), b.const(f"{h}/b0", [0], np.int64),
                           b.const(f"{h}/b1", [1], np.int64)], f"{h}/Batch")
    rest = [0] * (x.rank - 1)
    rest[hax - 1], rest[wax - 1] = oh, ow
    rest[x.axis(3) - 1] = int(x.shape[2])
    sizes = b.op("Concat", [batch, b.const(f"{h}/rest", rest, np.int64)], f"{h}/Sizes", axis=0)
    if c.get("interpolation", "bilinear") == "bilinear":
        attrs = dict(mode="linear", coordinate_transformation_mode="half_pixel")
    else:
        attrs = dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
    y = b.op("Resize", [name, "", "", sizes], f"{h}/Resize", **attrs)
    return _T(y, _out_shape(n), x.cf)


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
    # Dropout, SpatialDropout2D, GaussianNoise, GaussianDropout, ActivityRegularization: the identity at inference.
    return xs[0]


def _activation_layer(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    return _layer_activation(b, n, xs[0])


def _relu_layer(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """Keras's ReLU: x > t ? min(x, max_value) : slope * (x - t); Relu or LeakyRelu where the arguments allow."""
    x, h = xs[0], n.output
    cap, slope, t = n.config.get("max_value"), float(n.config.get("negative_slope") or 0.0), \
        float(n.config.get("threshold") or 0.0)
    if cap is None and t == 0.0:
        if slope == 0.0:
            return _activation(b, x, "relu", h)
        return _activation(b, x, "leaky_relu", h, slope)
    pos = x.name if cap is None else b.op("Min", [x.name, b.const(f"{h}/max_value", np.float32(cap))], f"{h}/Min")
    shifted = b.op("Sub", [x.name, b.const(f"{h}/threshold", np.float32(t))], f"{h}/shifted")
    neg = b.op("Mul", [shifted, b.const(f"{h}/negative_slope", np.float32(slope))], f"{h}/negative")
    above = b.op("Greater", [x.name, b.const(f"{h}/threshold_cmp", np.float32(t))], f"{h}/above")
    return _T(b.op("Where", [above, pos, neg], f"{h}/ReLU"), x.shape, x.cf)


def _leaky_relu_layer(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    return _activation(b, xs[0], "leaky_relu", n.output, float(n.config["negative_slope"]))


def _elu_layer(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    return _activation(b, xs[0], "elu", n.output, float(n.config["alpha"]))


def _softmax_layer(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    return _activation(b, xs[0], "softmax", n.output)  # nncore's Softmax is over the last axis only


def _prelu(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """PRelu with alpha (the per-sample shape, 1 on shared axes) broadcast from the right over (batch, ...)."""
    x = b.native(xs[0], n.output)
    y = b.op("PRelu", [x.name, b.const(f"{n.output}/alpha", w["alpha"])], f"{n.output}/PRelu")
    return _T(y, x.shape)


def _repeat_vector(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)
    u = b.op("Unsqueeze", [x.name, b.const(f"{n.output}/axis1", [1], np.int64)], f"{n.output}/Unsqueeze")
    reps = b.const(f"{n.output}/repeats", [1, int(n.config["n"]), 1], np.int64)
    return _T(b.op("Tile", [u, reps], f"{n.output}/Tile"), _out_shape(n))


def _permute(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)
    perm = [0] + [int(d) for d in n.config["dims"]]
    return _T(b.op("Transpose", [x.name], f"{n.output}/Transpose", perm=perm), _out_shape(n))


def _cropping(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """Slice on the spatial axes (steps for Cropping1D) in whichever layout the tensor is."""
    x = xs[0]
    crop = n.config["cropping"]
    pairs = [crop] if n.class_name == "Cropping1D" else list(crop)
    starts, ends, axes = [], [], []
    for i, (before, after) in enumerate(pairs):
        length = x.shape[i]
        starts.append(int(before))
        ends.append(int(length) - int(after))
        axes.append(x.axis(1 + i))
    h = n.output
    y = b.op("Slice", [x.name, b.const(f"{h}/starts", starts, np.int64), b.const(f"{h}/ends", ends, np.int64),
                       b.const(f"{h}/axes", axes, np.int64)], f"{h}/Slice")
    return _T(y, _out_shape(n), x.cf)


def _rescaling(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x, h = xs[0], n.output
    y = b.op("Mul", [x.name, b.const(f"{h}/scale", np.float32(n.config["scale"]))], f"{h}/Mul")
    y = b.op("Add", [y, b.const(f"{h}/offset", np.float32(n.config.get("offset", 0.0)))], f"{h}/Add")
    return _T(y, x.shape, x.cf)


def _masking(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """y = x * any(x != mask_value) over the last axis; the (batch, ...) mask goes to the layers after it."""
    x, h = b.native(xs[0], n.output), n.output
    value = b.const(f"{h}/mask_value", np.float32(n.config.get("mask_value", 0.0)))
    differs = b.op("Cast", [b.op("Not", [b.op("Equal", [x.name, value], f"{h}/equal")], f"{h}/differs")],
                   f"{h}/differs_f", to=b.onnx.TensorProto.FLOAT)
    last = b.const(f"{h}/last_axis", [-1], np.int64)
    count = b.op("ReduceSum", [differs, last], f"{h}/count", keepdims=1)      # features that differ, per step
    keep = b.op("Min", [count, b.const(f"{h}/one", np.float32(1.0))], f"{h}/keep")   # 1 or 0
    y = b.op("Mul", [x.name, keep], f"{h}/Mul")
    mask = b.op("Squeeze", [keep, last], f"{h}/mask")
    return _T(y, x.shape, False, mask)


def _dot(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """Keras's batch dot: each input (normalized along its axis with normalize) is transposed to (batch, M, K) and
    (batch, K, N) around its summed axis and reshaped to rank 3; MatMul; reshaped to the output shape."""
    h = n.output
    spec = n.config["axes"]
    axes = [int(spec), int(spec)] if not isinstance(spec, (list, tuple)) else [int(a) for a in spec]
    ins = [b.native(x, h) for x in xs]
    ops = []
    for i, (x, a) in enumerate(zip(ins, axes)):
        r = len(x.shape)
        d = a if a > 0 else a + r + 1  # Keras's axis counts the batch axis
        name = x.name
        if n.config.get("normalize"):
            ax = b.const(f"{h}/axis{i}", [d], np.int64)
            ss = b.op("ReduceSum", [b.op("Mul", [name, name], f"{h}/square{i}"), ax], f"{h}/sum_squares{i}",
                      keepdims=1)
            inv = b.op("Reciprocal", [b.op("Sqrt", [ss], f"{h}/norm{i}")], f"{h}/inv_norm{i}")
            inv = b.op("Min", [inv, b.const(f"{h}/inv_eps{i}", np.float32(1e7))], f"{h}/inv_norm_clamped{i}")
            name = b.op("Mul", [name, inv], f"{h}/normalized{i}")
        others = [j for j in range(1, r + 1) if j != d]
        perm = [0] + (others + [d] if i == 0 else [d] + others)
        if perm != list(range(r + 1)):
            name = b.op("Transpose", [name], f"{h}/Transpose{i}", perm=perm)
        k = int(x.shape[d - 1])
        shape = [0, -1, k] if i == 0 else [0, k, -1]
        ops.append(b.op("Reshape", [name, b.const(f"{h}/shape{i}", shape, np.int64)], f"{h}/operand{i}"))
    y = b.op("MatMul", ops, f"{h}/MatMul")
    out = _out_shape(n)
    y = b.op("Reshape", [y, b.const(f"{h}/out_shape", [0] + list(out), np.int64)], f"{h}/Reshape")
    return _T(y, out)


def _normalization(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """(x - mean) / max(sqrt(variance), 1e-7) (invert: x * that + mean) with the statistics broadcast as constants
    of shape (1, per-sample shape with 1 on the axes that are not kept)."""
    x, h = b.native(xs[0], n.output), n.output
    impl = n.layer._impl
    kept = set(int(k) for k in impl.kept_axes)
    shape = [1] + [int(d) if k in kept else 1 for k, d in enumerate(x.shape)]
    mean = np.asarray(impl.mean_values, np.float32).reshape(shape)
    scale = np.maximum(np.sqrt(np.asarray(impl.variance_values, np.float32)), np.float32(1e-7)).reshape(shape)
    m, s = b.const(f"{h}/mean", mean), b.const(f"{h}/scale", scale)
    if n.config.get("invert"):
        y = b.op("Add", [b.op("Mul", [x.name, s], f"{h}/Mul"), m], f"{h}/Add")
    else:
        y = b.op("Div", [b.op("Sub", [x.name, m], f"{h}/Sub"), s], f"{h}/Div")
    return _T(y, x.shape)


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
    elif cls == "Maximum":
        y = b.op("Max", names, f"{n.output}/Max")
    elif cls == "Minimum":
        y = b.op("Min", names, f"{n.output}/Min")
    else:  # Concatenate: Keras's axis counts the batch axis
        y = b.op("Concat", names, f"{n.output}/Concat", axis=ins[0].axis(int(n.config.get("axis", -1))))
    return _T(y, _out_shape(n), ins[0].cf)


def _embedding(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)  # float ids, as nncore takes them
    ids = b.op("Cast", [x.name], f"{n.output}/ids", to=b.onnx.TensorProto.INT64)
    if _int8(w, "embeddings"):  # int8 rows divided by their scales (Keras's quantized Embedding)
        rows = b.op("Gather", [b.const(f"{n.output}/embeddings", w["embeddings"], np.int8), ids], f"{n.output}/Gather",
                    axis=0)
        rows = b.op("Cast", [rows], f"{n.output}/rows", to=b.onnx.TensorProto.FLOAT)
        scale = b.op("Gather", [b.const(f"{n.output}/embeddings_scale", w["embeddings_scale"].reshape(-1, 1)), ids],
                     f"{n.output}/row_scale", axis=0)
        y = b.op("Div", [rows, scale], f"{n.output}/dequantize")
    else:
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


# ---- recurrent layers ------------------------------------------------------------------------------------------
# Without a mask, SimpleRNN, LSTM, GRU and Bidirectional become ONNX's RNN, LSTM and GRU ops. Under a mask (from
# Embedding(mask_zero=True)) nncore, as Keras, lets a padded step anywhere in the sequence keep the state (h, and an
# LSTM's c) and output the previous state (zeros with zero_output_for_mask, which a Bidirectional that returns
# sequences sets); ONNX's ops know only trailing padding (sequence_lens) and output zeros there. A masked layer is
# therefore a Scan over time whose body is the cell followed by a Where on the step's mask
# (cpp/src/kernels/rnn.cpp: rnn_forward).
_RNN_OPS = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
_RNN_ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")  # SimpleRNN's in nncore; LSTM and GRU: tanh/sigmoid only
_ONNX_RNN_ACT = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}
_INT64_MIN = -(2 ** 63)


@dataclass
class _Rnn:
    """One direction of a recurrent layer in Keras's layout: kernel (I, G*U) and recurrent (U, G*U) with gates
    i, f, c, o (LSTM) or z, r, h (GRU); bias (G*U,), or (2, 3U) for a GRU (input bias, recurrent bias), or None."""

    cls: str
    units: int
    activation: str
    kernel: np.ndarray
    recurrent: np.ndarray
    bias: Optional[np.ndarray]
    go_backwards: bool
    return_sequences: bool
    zero_output_for_mask: bool
    # int8-quantized (kernel and recurrent int8): their per-column scales; the layer then runs as a Scan whose
    # products quantize their rows as nncore does.
    kernel_scale: Optional[np.ndarray] = None
    recurrent_scale: Optional[np.ndarray] = None


def _rnn_spec(where: str, cls: str, config: Dict[str, Any], w: Dict[str, np.ndarray], zero_output_for_mask: bool,
              go_backwards: Optional[bool] = None) -> _Rnn:
    if cls not in _RNN_OPS:
        raise ValueError(f"export_onnx: {where}: expected a SimpleRNN, LSTM or GRU, got {cls}")
    if config.get("return_state"):
        raise ValueError(f"export_onnx: {where}: return_state=True is not supported (an exported layer has one "
                         "output)")
    for flag in ("stateful", "unroll", "time_major"):
        if config.get(flag):
            raise ValueError(f"export_onnx: {where}: {flag}=True is not supported")
    act = config.get("activation", "tanh") or "linear"
    if cls == "SimpleRNN":
        if act not in _RNN_ACTIVATIONS:
            raise ValueError(f"export_onnx: {where}: activation '{act}' is not supported in a SimpleRNN; supported: "
                             f"{', '.join(_RNN_ACTIVATIONS)}")
    else:
        rec_act = config.get("recurrent_activation", "sigmoid") or "linear"
        if act != "tanh" or rec_act != "sigmoid":
            raise ValueError(f"export_onnx: {where}: only activation 'tanh' with recurrent_activation 'sigmoid' is "
                             f"supported, got '{act}' and '{rec_act}'")
        if cls == "GRU" and not config.get("reset_after", True):
            raise ValueError(f"export_onnx: {where}: only reset_after=True is supported")
    units = int(config["units"])
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[cls]
    kernel, recurrent, bias = w["kernel"], w["recurrent_kernel"], w.get("bias")
    bias_shape = (2, gates * units) if cls == "GRU" else (gates * units,)
    if recurrent.shape != (units, gates * units) or kernel.shape[1:] != (gates * units,) or \
            (bias is not None and bias.shape != bias_shape):
        raise ValueError(f"export_onnx: {where}: weights of shapes {kernel.shape}, {recurrent.shape}"
                         f"{'' if bias is None else ', ' + str(bias.shape)} do not fit {cls}({units})")
    backwards = bool(config.get("go_backwards", False)) if go_backwards is None else go_backwards
    return _Rnn(cls, units, act, kernel, recurrent, bias, backwards, bool(config.get("return_sequences")),
                bool(zero_output_for_mask), w.get("kernel_scale") if _int8(w, "kernel") else None,
                w.get("recurrent_kernel_scale") if _int8(w, "kernel") else None)


def _lstm_iofc(a: np.ndarray) -> np.ndarray:
    """Keras's LSTM gate blocks i, f, c, o (last axis) in ONNX's order i, o, f, c."""
    i, f, c, o = np.split(a, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


def _onnx_rnn_weights(d: _Rnn) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """ONNX's W (G*U, I), R (G*U, U) and B (2*G*U,) = [input bias, recurrent bias] of one direction."""
    kernel, recurrent, bias = d.kernel, d.recurrent, d.bias
    if d.cls == "LSTM":
        kernel, recurrent = _lstm_iofc(kernel), _lstm_iofc(recurrent)
        bias = None if bias is None else _lstm_iofc(bias)
    if bias is not None:
        bias = bias.reshape(-1) if d.cls == "GRU" else np.concatenate([bias, np.zeros_like(bias)])
    return kernel.T, recurrent.T, bias


def _rnn_native(b: _Builder, hint: str, dirs: List[_Rnn], x: str) -> List[str]:
    """The layer (dirs: [layer]) or a Bidirectional (dirs: [forward, backward]) as one ONNX RNN/LSTM/GRU op on
    x (batch, T, I). Returns each direction's output, (batch, T, U) or (batch, U), placed as the merge wants it:
    a backward half's sequence in input order (nncore merges its step T-1-t with the forward half's step t)."""
    first = dirs[0]
    if first.go_backwards:
        # Reversing the input makes "go_backwards" the ONNX forward direction (the outputs then come in nncore's
        # step order) and the backward half of a Bidirectional the ONNX reverse direction.
        x = b.op("Slice", [x, b.const(f"{hint}/rev_starts", [-1], np.int64),
                           b.const(f"{hint}/rev_ends", [_INT64_MIN], np.int64),
                           b.const(f"{hint}/rev_axes", [1], np.int64), b.const(f"{hint}/rev_steps", [-1], np.int64)],
                 f"{hint}/reverse_time")
    xt = b.op("Transpose", [x], f"{hint}/time_major", perm=[1, 0, 2])   # layout 0: (T, batch, I)
    ws = [_onnx_rnn_weights(d) for d in dirs]
    ins = [xt, b.const(f"{hint}/W", np.stack([w[0] for w in ws])), b.const(f"{hint}/R", np.stack([w[1] for w in ws]))]
    if first.bias is not None:
        ins.append(b.const(f"{hint}/B", np.stack([w[2] for w in ws])))
    attrs: Dict[str, Any] = dict(hidden_size=first.units,
                                 direction="bidirectional" if len(dirs) == 2 else "forward")
    if first.cls == "GRU":
        attrs["linear_before_reset"] = 1   # Keras's reset_after=True
    elif first.cls == "LSTM":
        attrs["activations"] = ["Sigmoid", "Tanh", "Tanh"] * len(dirs)
    elif first.activation == "linear":
        attrs.update(activations=["Affine"] * len(dirs), activation_alpha=[1.0] * len(dirs),
                     activation_beta=[0.0] * len(dirs))
    else:
        attrs["activations"] = [_ONNX_RNN_ACT[first.activation]] * len(dirs)
    op = _RNN_OPS[first.cls]
    if first.return_sequences:
        y = b.ops(op, ins, [f"{hint}/{op}_Y"], **attrs)[0]                 # (T, dirs, batch, U)
        y = b.op("Transpose", [y], f"{hint}/batch_major", perm=[2, 0, 1, 3])   # (batch, T, dirs, U)
        axis = 2
    else:
        y = b.ops(op, ins, ["", f"{hint}/{op}_Y_h"], **attrs)[1]           # (dirs, batch, U)
        axis = 0
    if len(dirs) == 1:
        return [b.op("Squeeze", [y, b.const(f"{hint}/dir_axis", [axis], np.int64)], f"{hint}/one_direction")]
    return [b.op("Gather", [y, b.const(f"{hint}/dir{k}", k, np.int64)], f"{hint}/{half}", axis=axis)
            for k, half in enumerate(("forward", "backward"))]


def _rnn_body(b: _Builder, hint: str, d: _Rnn) -> Any:
    """The Scan body of one masked step: states h (batch, U) [and c], inputs xw = x W + b (batch, G*U) and the
    step's mask (batch, 1) -> new states [and the step's output]. The cell's math as nncore's row kernels."""
    s = b.subgraph()
    onnx, U = b.onnx, d.units
    lstm = d.cls == "LSTM"
    h_in = s.fresh(f"{hint}/h_prev")
    c_in = s.fresh(f"{hint}/c_prev") if lstm else ""
    xw_in, m_in = s.fresh(f"{hint}/xw_t"), s.fresh(f"{hint}/mask_t")
    if d.recurrent_scale is not None:
        rec = _matmul_int8(s, h_in, 2, d.recurrent, d.recurrent_scale, f"{hint}/rec")
    else:
        rec = s.op("MatMul", [h_in, s.const(f"{hint}/recurrent_kernel", d.recurrent)], f"{hint}/rec")
    c_new = None
    if d.cls == "SimpleRNN":
        a = s.op("Add", [xw_in, rec], f"{hint}/preact")
        h_cell = a if d.activation == "linear" else s.op(_ONNX_RNN_ACT[d.activation], [a], f"{hint}/h_cell")
    elif lstm:
        g = s.op("Add", [xw_in, rec], f"{hint}/gates")
        gi, gf, gc, go = s.ops("Split", [g, s.const(f"{hint}/split4", [U] * 4, np.int64)],
                               [f"{hint}/g{k}" for k in "ifco"], axis=1)
        i, f, o = (s.op("Sigmoid", [v], f"{hint}/{k}") for v, k in ((gi, "i"), (gf, "f"), (go, "o")))
        cc = s.op("Tanh", [gc], f"{hint}/cc")
        c_cell = s.op("Add", [s.op("Mul", [f, c_in], f"{hint}/fc"), s.op("Mul", [i, cc], f"{hint}/ic")],
                      f"{hint}/c_cell")
        h_cell = s.op("Mul", [o, s.op("Tanh", [c_cell], f"{hint}/tanh_c")], f"{hint}/h_cell")
        c_new = s.op("Where", [m_in, c_cell, c_in], f"{hint}/c")
    else:  # GRU, reset_after: h = z*h_prev + (1-z)*tanh(xw_h + r*(h U_h + rb_h))
        if d.bias is not None:
            rec = s.op("Add", [rec, s.const(f"{hint}/recurrent_bias", d.bias[1])], f"{hint}/rec_b")
        split3 = s.const(f"{hint}/split3", [U] * 3, np.int64)
        pz, pr, ph = s.ops("Split", [xw_in, split3], [f"{hint}/x{k}" for k in "zrh"], axis=1)
        rz, rr, rh = s.ops("Split", [rec, split3], [f"{hint}/r{k}" for k in "zrh"], axis=1)
        z = s.op("Sigmoid", [s.op("Add", [pz, rz], f"{hint}/az")], f"{hint}/z")
        r = s.op("Sigmoid", [s.op("Add", [pr, rr], f"{hint}/ar")], f"{hint}/r")
        hh = s.op("Tanh", [s.op("Add", [ph, s.op("Mul", [r, rh], f"{hint}/r_rec")], f"{hint}/ah")], f"{hint}/hh")
        one_z = s.op("Sub", [s.const(f"{hint}/one", 1.0), z], f"{hint}/one_minus_z")
        h_cell = s.op("Add", [s.op("Mul", [z, h_in], f"{hint}/zh"), s.op("Mul", [one_z, hh], f"{hint}/zhh")],
                      f"{hint}/h_cell")
    h_new = s.op("Where", [m_in, h_cell, h_in], f"{hint}/h")
    outs = [h_new] + ([c_new] if lstm else [])
    if d.return_sequences:   # the step's output: the new state, or zeros at a masked step
        outs.append(s.op("Where", [m_in, h_cell, s.const(f"{hint}/zero", 0.0)], f"{hint}/y_t")
                    if d.zero_output_for_mask else s.op("Identity", [h_new], f"{hint}/y_t"))

    def info(name: str, elem: int, last: int) -> Any:
        return onnx.helper.make_tensor_value_info(name, elem, ["batch", last])

    f32 = onnx.TensorProto.FLOAT
    inputs = [info(h_in, f32, U)] + ([info(c_in, f32, U)] if lstm else [])
    inputs += [info(xw_in, f32, int(d.recurrent.shape[1])), info(m_in, onnx.TensorProto.BOOL, 1)]
    outputs = [info(v, f32, U) for v in outs]
    return onnx.helper.make_graph(s.nodes, f"{hint}/step", inputs, outputs)


def _rnn_scan(b: _Builder, hint: str, d: _Rnn, x: str, mask: str, mask_bool: str, zeros: str,
              reverse_output: bool) -> str:
    """One direction under a mask as a Scan over time on x (batch, T, I) with mask (batch, T) (and mask_bool, its
    (batch, T, 1) boolean form). go_backwards scans the steps from the end; reverse_output stores the sequence
    reversed (a Bidirectional's backward half). Returns (batch, T, U) or the last step's (batch, U)."""
    if d.kernel_scale is not None:
        xw = _matmul_int8(b, x, 3, d.kernel, d.kernel_scale, f"{hint}/xw")
    else:
        xw = b.op("MatMul", [x, b.const(f"{hint}/kernel", d.kernel)], f"{hint}/xw")
    if d.bias is not None:
        xw = b.op("Add", [xw, b.const(f"{hint}/bias", d.bias[0] if d.cls == "GRU" else d.bias)], f"{hint}/xw_b")
    lstm = d.cls == "LSTM"
    states = [zeros, zeros] if lstm else [zeros]
    direction = int(d.go_backwards)
    hints = [f"{hint}/h_last"] + ([f"{hint}/c_last"] if lstm else [])
    if d.return_sequences:
        hints.append(f"{hint}/sequence")
    outs = b.ops("Scan", states + [xw, mask_bool], hints, body=_rnn_body(b, hint, d), num_scan_inputs=2,
                 scan_input_axes=[1, 1], scan_input_directions=[direction, direction],
                 **({"scan_output_axes": [1], "scan_output_directions": [int(reverse_output)]}
                    if d.return_sequences else {}))
    if d.return_sequences:
        return outs[-1]
    if not d.zero_output_for_mask:
        return outs[0]   # the last output is the last state (a masked last step repeats it)
    last = b.const(f"{hint}/last_step", [0 if d.go_backwards else -1], np.int64)
    m_last = b.op("Gather", [mask, last], f"{hint}/mask_last", axis=1)   # (batch, 1)
    return b.op("Mul", [outs[0], m_last], f"{hint}/y_last")


def _merge_directions(b: _Builder, hint: str, mode: str, yf: str, yb: str) -> str:
    if mode == "concat":
        return b.op("Concat", [yf, yb], f"{hint}/Concat", axis=-1)
    if mode == "sum":
        return b.op("Add", [yf, yb], f"{hint}/Sum")
    if mode == "mul":
        return b.op("Mul", [yf, yb], f"{hint}/Mul")
    if mode == "ave":
        return b.op("Mul", [b.op("Add", [yf, yb], f"{hint}/Sum"), b.const(f"{hint}/half", 0.5)], f"{hint}/Average")
    raise ValueError(f"export_onnx: layer '{hint}' (Bidirectional): unknown merge_mode '{mode}'; expected concat, "
                     "sum, mul or ave")


def _zero_output_for_mask(impl: Any, default: bool) -> bool:
    value = getattr(impl, "zero_output_for_mask", None)
    return default if value is None else bool(value)


def _recurrent(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """SimpleRNN, LSTM, GRU and Bidirectional; nncore's Bidirectional runs a copy of its layer with go_backwards
    flipped and merges the forward output at step t with the backward one at step T-1-t."""
    x = b.native(xs[0], n.output)
    where = f"layer '{n.output}' ({n.class_name})"
    if len(x.shape) != 2:
        raise ValueError(f"export_onnx: {where}: expected a (batch, time, features) input, got (batch, "
                         f"{', '.join(str(d) for d in x.shape)})")
    impl = getattr(n.layer, "_impl", None)
    mode = str(n.config.get("merge_mode") or "concat")
    if n.class_name == "Bidirectional":
        cls, config = n.config["layer"]["class_name"], n.config["layer"]["config"]
        dirs = []
        for k, half in enumerate(("forward", "backward")):
            hw = {name[len(half) + 1:]: v for name, v in w.items() if name.startswith(half + "_")}
            # nncore's Bidirectional sets zero_output_for_mask on both halves when it returns sequences.
            zero = _zero_output_for_mask(getattr(impl, f"{half}_layer", None), bool(config.get("return_sequences")))
            backwards = bool(config.get("go_backwards", False)) != (k == 1)
            dirs.append(_rnn_spec(f"{where}, {half} {cls}", cls, config, hw, zero, backwards))
    else:
        dirs = [_rnn_spec(where, n.class_name, n.config, w, _zero_output_for_mask(impl, False))]
    if x.mask is None and dirs[0].kernel_scale is None:
        ys = _rnn_native(b, n.output, dirs, x.name)
    else:  # masked or int8-quantized: a Scan over the steps
        mask = x.mask
        if mask is None:  # every step valid
            bt = b.op("Shape", [x.name], f"{n.output}/batch_time", start=0, end=2)
            mask = b.op("ConstantOfShape", [bt], f"{n.output}/all_valid",
                        value=b.onnx.helper.make_tensor("one", b.onnx.TensorProto.FLOAT, [1], [1.0]))
            x = _T(x.name, x.shape, x.cf, mask)
        mask3 = b.op("Unsqueeze", [x.mask, b.const(f"{n.output}/axis2", [2], np.int64)], f"{n.output}/mask3")
        mask_bool = b.op("Cast", [mask3], f"{n.output}/mask_bool", to=b.onnx.TensorProto.BOOL)
        batch = b.op("Shape", [x.name], f"{n.output}/batch", start=0, end=1)
        state_shape = b.op("Concat", [batch, b.const(f"{n.output}/units", [dirs[0].units], np.int64)],
                           f"{n.output}/state_shape", axis=0)
        zeros = b.op("ConstantOfShape", [state_shape], f"{n.output}/zero_state",
                     value=b.onnx.helper.make_tensor("zero", b.onnx.TensorProto.FLOAT, [1], [0.0]))
        hints = [n.output] if len(dirs) == 1 else [f"{n.output}/forward", f"{n.output}/backward"]
        ys = [_rnn_scan(b, hint, d, x.name, x.mask, mask_bool, zeros, reverse_output=k == 1)
              for k, (hint, d) in enumerate(zip(hints, dirs))]
    y = ys[0] if len(ys) == 1 else _merge_directions(b, n.output, mode, ys[0], ys[1])
    return _T(y, _out_shape(n))


# A converter returns the node's output, or a list of its outputs for a layer with several (_MULTI_OUTPUT).
_Converter = Callable[[_Builder, GraphNode, Dict[str, np.ndarray], List[_T]], Union[_T, List[_T]]]
# ---- ops on symbolic tensors (nncore.ops) -------------------------------------------------------------------------
_BINARY_ONNX = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "maximum": "Max",
                "minimum": "Min", "power": "Pow"}
_UNARY_ONNX = {"negative": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs", "tanh": "Tanh",
               "sigmoid": "Sigmoid", "relu": "Relu", "erf": "Erf", "sin": "Sin", "cos": "Cos", "softplus": "Softplus",
               "reciprocal": "Reciprocal", "sign": "Sign"}


def _op_operands(b: _Builder, n: GraphNode, xs: List[_T]) -> List[str]:
    """The ONNX names of an op node's operands: its inputs (native layout), weights and numbers as constants."""
    ins = [b.native(x, n.output) for x in xs]
    weights = n.layer.get_weights()
    names = []
    for o in n.config["operands"]:
        if "input" in o:
            names.append(ins[int(o["input"])].name)
        elif "weight" in o:
            names.append(b.const(f"{n.output}/weight", weights[int(o["weight"])]))
        else:
            names.append(b.const(f"{n.output}/scalar", np.float32(o["scalar"])))
    return names


def _binary_op(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    op = _BINARY_ONNX[n.config["op"]]
    return _T(b.op(op, _op_operands(b, n, xs), f"{n.output}/{op}"), _out_shape(n))


def _unary_op(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output).name
    op, h = n.config["op"], n.output
    if op in _UNARY_ONNX:
        y = b.op(_UNARY_ONNX[op], [x], f"{h}/{_UNARY_ONNX[op]}")
    elif op == "square":
        y = b.op("Mul", [x, x], f"{h}/Square")
    elif op == "clip":
        y = b.op("Clip", [x, b.const(f"{h}/min", np.float32(n.config["x_min"])),
                          b.const(f"{h}/max", np.float32(n.config["x_max"]))], f"{h}/Clip")
    elif op in ("softmax", "log_softmax"):
        y = b.op("Softmax" if op == "softmax" else "LogSoftmax", [x], f"{h}/{op}", axis=-1)
    elif op == "gelu":  # the exact form, as nncore's kernel: 0.5 x (1 + erf(x / sqrt 2))
        e = b.op("Erf", [b.op("Mul", [x, b.const(f"{h}/rsqrt2", np.float32(1 / math.sqrt(2)))], f"{h}/scaled")],
                 f"{h}/Erf")
        y = b.op("Mul", [b.op("Mul", [x, b.const(f"{h}/half", np.float32(0.5))], f"{h}/half_x"),
                         b.op("Add", [e, b.const(f"{h}/one", np.float32(1))], f"{h}/one_plus")], f"{h}/Gelu")
    else:
        raise ValueError(f"export_onnx: op '{op}' ({h}) has no ONNX export")
    return _T(y, _out_shape(n))


def _matmul_op(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    return _T(b.op("MatMul", _op_operands(b, n, xs), f"{n.output}/MatMul"), _out_shape(n))


def _reduce_op(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)
    rank = x.rank
    axes = [int(a) % rank for a in n.config.get("axis") or []] or list(range(1, rank))
    op = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin"}[n.config["op"]]
    keep = int(bool(n.config.get("keepdims")))
    if op == "ReduceSum" or b.opset >= 18:
        y = b.op(op, [x.name, b.const(f"{n.output}/axes", axes, np.int64)], f"{n.output}/{op}", keepdims=keep)
    else:
        y = b.op(op, [x.name], f"{n.output}/{op}", axes=axes, keepdims=keep)
    return _T(y, _out_shape(n))


def _transpose_op(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)
    perm = [int(a) for a in n.config["axes"]]
    return _T(b.op("Transpose", [x.name], f"{n.output}/Transpose", perm=perm), _out_shape(n))


def _slice_op(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    x = b.native(xs[0], n.output)
    starts, ends, axes, steps, drop = [], [], [], [], []
    for i, s in enumerate(n.config["slices"]):
        d = x.shape[i]
        if "index" in s:
            k = int(s["index"]) % d
            start, stop, step = k, k + 1, 1
            drop.append(i + 1)
        else:
            start, stop, step = slice(s.get("start"), s.get("stop"), s.get("step", 1)).indices(d)
            if step < 0 and stop < 0:
                stop = -(2 ** 62)  # before the first element (ONNX clamps to -1 for negative steps)
        starts.append(start)
        ends.append(stop)
        axes.append(i + 1)
        steps.append(step)
    h = n.output
    y = b.op("Slice", [x.name, b.const(f"{h}/starts", starts, np.int64), b.const(f"{h}/ends", ends, np.int64),
                       b.const(f"{h}/axes", axes, np.int64), b.const(f"{h}/steps", steps, np.int64)], f"{h}/Slice")
    if drop:
        y = b.op("Squeeze", [y, b.const(f"{h}/squeeze", drop, np.int64)], f"{h}/Squeeze")
    return _T(y, _out_shape(n))


# ---- attention ---------------------------------------------------------------------------------------------------
# nncore's fused kernel (cpp/src/kernels/attention.cpp: softmax_row): per batch row and head, query t may attend key s
# where the mask is non-zero (and s <= t when causal); the scores scale * q_t . k_s + bias are softmaxed over the
# allowed keys, and a query that may attend no key gets zeros. Here the scores not allowed become the lowest float
# before Softmax (their exp is 0 beside any allowed score, so the others are the softmax over the allowed alone) and
# the probabilities not allowed become 0 after it (Where), which turns a row with no key allowed, uniform after
# Softmax, into zeros. Lengths are read from the tensors (Reshape's 0, Shape): the graph holds for any T and S.
_LOWEST = float(np.finfo(np.float32).min)


def _nonzero(b: _Builder, x: str, hint: str) -> str:
    """A float mask as booleans, true where non-zero (NaN included), as nncore reads masks."""
    return b.op("Not", [b.op("Equal", [x, b.const(f"{hint}/zero", np.float32(0))], f"{hint}/is_zero")],
                f"{hint}/allowed")


def _attention(b: _Builder, hint: str, q: str, k: str, v: str, scale: float, causal: bool = False,
               allowed: Optional[str] = None, bias: Optional[str] = None) -> Tuple[str, str]:
    """softmax(scale * q k^T + bias) v on q (B, T, H, D), k (B, S, H, D), v (B, S, H, Dv). ``allowed`` (boolean)
    and ``bias`` broadcast against (B, H, T, S) by numpy's rule. Returns the output (B, T, H, Dv) and the
    probabilities (B, H, T, S)."""
    qh = b.op("Transpose", [q], f"{hint}/q_heads", perm=[0, 2, 1, 3])      # (B, H, T, D)
    kt = b.op("Transpose", [k], f"{hint}/k_heads_t", perm=[0, 2, 3, 1])    # (B, H, D, S)
    vh = b.op("Transpose", [v], f"{hint}/v_heads", perm=[0, 2, 1, 3])      # (B, H, S, Dv)
    scores = b.op("MatMul", [qh, kt], f"{hint}/qk")
    scores = b.op("Mul", [scores, b.const(f"{hint}/scale", np.float32(scale))], f"{hint}/scores")
    if bias is not None:
        scores = b.op("Add", [scores, bias], f"{hint}/scores_bias")
    if causal:  # key s <= query t, as (T, S) from the scores' lengths
        shape = b.op("Shape", [scores], f"{hint}/scores_shape")
        lengths = [b.op("Gather", [shape, b.const(f"{hint}/axis{a}", a, np.int64)], f"{hint}/{n}_len", axis=0)
                   for a, n in ((2, "T"), (3, "S"))]
        zero, one = b.const(f"{hint}/start", 0, np.int64), b.const(f"{hint}/step", 1, np.int64)
        rows = b.op("Unsqueeze", [b.op("Range", [zero, lengths[0], one], f"{hint}/t"),
                                  b.const(f"{hint}/col_axis", [1], np.int64)], f"{hint}/t_col")
        cols = b.op("Range", [zero, lengths[1], one], f"{hint}/s")
        tri = b.op("LessOrEqual", [cols, rows], f"{hint}/causal")
        allowed = tri if allowed is None else b.op("And", [allowed, tri], f"{hint}/allowed_causal")
    if allowed is None:
        probs = b.op("Softmax", [scores], f"{hint}/probs", axis=-1)
    else:
        scores = b.op("Where", [allowed, scores, b.const(f"{hint}/lowest", np.float32(_LOWEST))],
                      f"{hint}/scores_masked")
        p = b.op("Softmax", [scores], f"{hint}/Softmax", axis=-1)
        probs = b.op("Where", [allowed, p, b.const(f"{hint}/zero_prob", np.float32(0))], f"{hint}/probs")
    out = b.op("MatMul", [probs, vh], f"{hint}/attend")                    # (B, H, T, Dv)
    return b.op("Transpose", [out], f"{hint}/attention", perm=[0, 2, 1, 3]), probs


def _dot_product_attention_op(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    """ops.dot_product_attention: operands query, key, value, then the mask and the bias when the config has them;
    a mask from the graph is (batch, heads, T, S) with 1 where it broadcasts, a constant one any shape that
    broadcasts (numpy's rule) against that; the bias is a constant. scale <= 0 means 1 / sqrt(D)."""
    h, config = n.output, n.config
    ins = [b.native(x, h) for x in xs]
    weights = n.layer.get_weights()
    operands = list(config["operands"])

    def operand(o: Dict[str, Any], what: str) -> Union[_T, np.ndarray]:
        if "input" in o:
            return ins[int(o["input"])]
        if "weight" in o:
            return np.asarray(weights[int(o["weight"])], np.float32)
        raise ValueError(f"export_onnx: op 'dot_product_attention' ('{h}'): the {what} must be a tensor or a "
                         f"constant array, got {o}")

    q, k, v = (operand(o, what) for o, what in zip(operands[:3], ("query", "key", "value")))
    if not all(isinstance(t, _T) for t in (q, k, v)):
        raise ValueError(f"export_onnx: op 'dot_product_attention' ('{h}'): query, key and value must be tensors "
                         "of the model")
    rest = operands[3:]
    allowed = bias = None
    if config.get("has_mask"):
        m = operand(rest.pop(0), "mask")
        if isinstance(m, _T):
            if m.rank != 4:
                raise ValueError(f"export_onnx: op 'dot_product_attention' ('{h}'): a mask from the model must have "
                                 f"4 axes (batch, heads, T, S), got (batch, {', '.join(map(str, m.shape))})")
            allowed = _nonzero(b, m.name, f"{h}/mask")
        else:
            allowed = b.const(f"{h}/mask", m != 0, np.bool_)
    if config.get("has_bias"):
        c = operand(rest.pop(0), "bias")
        bias = c.name if isinstance(c, _T) else b.const(f"{h}/bias", c)
    scale = np.float32(config.get("scale") or 0.0)
    if scale <= 0:  # as nncore, in float: 1 / sqrt(D)
        scale = np.float32(1) / np.sqrt(np.float32(q.shape[-1]))
    y, _ = _attention(b, h, q.name, k.name, v.name, float(scale), bool(config.get("is_causal")), allowed, bias)
    return _T(y, _out_shape(n))


def _multi_head_attention(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> List[_T]:
    """Keras's MultiHeadAttention on inputs [query, value, key] (+ attention_mask (B, T, S)): the three projections
    (kernels (d, H, dim) as (d, H * dim) matrices) reshaped to heads, attention scaled by 1 / sqrt(key_dim), the
    heads' outputs (B, T, H * Dv) times the output kernel. May attend: the query's mask (B, T), the value's and
    the key's (B, S) and attention_mask, combined with AND (MultiHeadAttention::call_mask). With
    return_attention_scores, a second output: the probabilities (B, H, T, S)."""
    h, config = n.output, n.config
    query, value, key = (b.native(x, h) for x in xs[:3])
    heads, key_dim = int(config["num_heads"]), int(config["key_dim"])
    value_dim = int(w["value_kernel"].shape[2])

    def project(x: _T, which: str, dim: int) -> str:
        kernel = w[f"{which}_kernel"]
        y = b.op("MatMul", [x.name, b.const(f"{h}/{which}_kernel", kernel.reshape(kernel.shape[0], -1))],
                 f"{h}/{which}")
        if f"{which}_bias" in w:
            y = b.op("Add", [y, b.const(f"{h}/{which}_bias", w[f"{which}_bias"].reshape(-1))], f"{h}/{which}_b")
        return b.op("Reshape", [y, b.const(f"{h}/{which}_heads_shape", [0, 0, heads, dim], np.int64)],
                    f"{h}/{which}_heads")

    q, k, v = project(query, "query", key_dim), project(key, "key", key_dim), project(value, "value", value_dim)
    parts = []  # boolean masks broadcasting against (B, H, T, S)
    for t, axes, what in ((xs[0], [1, 3], "query"), (xs[1], [1, 2], "value"), (xs[2], [1, 2], "key")):
        if t.mask is not None and not (what == "key" and t.mask == xs[1].mask):   # a key that is the value: once
            m = b.op("Unsqueeze", [t.mask, b.const(f"{h}/{what}_mask_axes", axes, np.int64)], f"{h}/{what}_mask")
            parts.append(_nonzero(b, m, f"{h}/{what}_mask"))
    if len(xs) > 3:
        am = b.native(xs[3], h)
        m = b.op("Unsqueeze", [am.name, b.const(f"{h}/attention_mask_axes", [1], np.int64)], f"{h}/attention_mask")
        parts.append(_nonzero(b, m, f"{h}/attention_mask"))
    allowed = parts[0] if parts else None
    for other in parts[1:]:
        allowed = b.op("And", [allowed, other], f"{h}/mask_and")
    scale = np.float32(1) / np.sqrt(np.float32(key_dim))
    o, probs = _attention(b, h, q, k, v, float(scale), bool(config.get("use_causal_mask")), allowed)
    o = b.op("Reshape", [o, b.const(f"{h}/merge_heads_shape", [0, 0, heads * value_dim], np.int64)],
             f"{h}/merge_heads")
    kernel = w["output_kernel"]
    d_out = int(kernel.shape[-1])
    y = b.op("MatMul", [o, b.const(f"{h}/output_kernel", kernel.reshape(heads * value_dim, d_out))],
             f"{h}/out_proj")
    if "output_bias" in w:
        y = b.op("Add", [y, b.const(f"{h}/output_bias", w["output_bias"])], f"{h}/out_proj_b")
    T, S = query.shape[0], value.shape[0]
    outs = [_T(y, (T, d_out))]
    if config.get("return_attention_scores"):
        outs.append(_T(probs, (heads, T, S)))
    return outs


def _inlined(b: _Builder, n: GraphNode, w: Dict[str, np.ndarray], xs: List[_T]) -> _T:
    raise AssertionError(f"export_onnx: {n.class_name} '{n.output}' should have been inlined")


_CONVERTERS: Dict[str, _Converter] = {
    "Dense": _dense,
    "Activation": _activation_layer,
    "Dropout": _identity,
    "SpatialDropout2D": _identity,
    "GaussianNoise": _identity,
    "RandomFlip": _identity,  # augmentation: the identity at inference
    "RandomRotation": _identity,  # augmentation: the identity at inference
    "RandomZoom": _identity,  # augmentation: the identity at inference
    "RandomTranslation": _identity,  # augmentation: the identity at inference
    "RandomContrast": _identity,  # augmentation: the identity at inference
    "RandomBrightness": _identity,  # augmentation: the identity at inference
    "RandomCrop": _resizing,
    "Resizing": _resizing,
    "CenterCrop": _resizing,
    "GaussianDropout": _identity,
    "ActivityRegularization": _identity,
    "ReLU": _relu_layer,
    "LeakyReLU": _leaky_relu_layer,
    "ELU": _elu_layer,
    "Softmax": _softmax_layer,
    "PReLU": _prelu,
    "Rescaling": _rescaling,
    "Masking": _masking,
    "Normalization": _normalization,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "RepeatVector": _repeat_vector,
    "Permute": _permute,
    "Cropping1D": _cropping,
    "Cropping2D": _cropping,
    "Conv2D": _conv,
    "Conv1D": _conv,
    "Conv2DTranspose": _conv_transpose,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv2D": _depthwise,
    "DepthwiseConv1D": _depthwise,
    "SeparableConv1D": _depthwise,
    "Conv1DTranspose": _conv_transpose,
    "UpSampling2D": _upsampling,
    "UpSampling1D": _upsampling,
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
    "SimpleRNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "Bidirectional": _recurrent,
    "Add": _merge,
    "Subtract": _merge,
    "Multiply": _merge,
    "Average": _merge,
    "Maximum": _merge,
    "Minimum": _merge,
    "Concatenate": _merge,
    "Dot": _dot,
    "BinaryOp": _binary_op,
    "UnaryOp": _unary_op,
    "MatMulOp": _matmul_op,
    "ReduceOp": _reduce_op,
    "TransposeOp": _transpose_op,
    "SliceOp": _slice_op,
    "DotProductAttentionOp": _dot_product_attention_op,
    "MultiHeadAttention": _multi_head_attention,
    # Custom layers (and Lambda) export as their traced inference graph, inlined; so do nested models.
    "TracedLayer": _inlined,
    "Lambda": _inlined,
}
SUPPORTED_LAYERS: Tuple[str, ...] = tuple(sorted(_CONVERTERS))
# nncore layer classes without an ONNX export yet (none at present).
PENDING_LAYERS: Tuple[str, ...] = ()
# Layers whose converter returns several outputs (MultiHeadAttention with return_attention_scores).
_MULTI_OUTPUT = {"MultiHeadAttention"}

# Layers that end the mask (nncore's output_mask overrides): no time axis left, or Keras drops it.
_DROPS_MASK = {"Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
               "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Conv2DTranspose", "Conv1DTranspose",
               "DepthwiseConv2D", "SeparableConv2D", "DepthwiseConv1D", "SeparableConv1D", "UpSampling2D",
               "UpSampling1D", "RepeatVector", "Permute", "Cropping1D", "Cropping2D", "Dot"}


def _convert(b: _Builder, node: GraphNode, xs: List[_T]) -> _T:
    return _convert_all(b, node, xs)[0]


def _convert_all(b: _Builder, node: GraphNode, xs: List[_T]) -> List[_T]:
    """The node's outputs: the first carries the mask on, the others none (as nncore's output_mask)."""
    conv = _CONVERTERS.get(node.class_name)
    if conv is None:
        raise ValueError(f"export_onnx: layer '{node.output}' ({node.class_name}) has no ONNX export"
                         f"{' yet' if node.class_name in PENDING_LAYERS else ''}; supported layers: "
                         f"{', '.join(SUPPORTED_LAYERS)}")
    ys = conv(b, node, _weights(node.layer), xs)
    ys = list(ys) if isinstance(ys, (list, tuple)) else [ys]
    if len(ys) != 1 + len(node.extra_outputs):
        raise ValueError(f"export_onnx: layer '{node.output}' ({node.class_name}) gives {len(ys)} output(s) in ONNX, "
                         f"the model reads {1 + len(node.extra_outputs)}")
    y = ys[0]
    # The mask, as nncore's Layer::output_mask: Embedding and Masking make their own; the layers in _DROPS_MASK end
    # it; any other layer passes its first input's mask on while it keeps the time axis.
    if node.class_name in ("Embedding", "Masking"):
        mask = y.mask
    elif node.class_name in _DROPS_MASK:
        mask = None
    else:
        keeps_time = len(xs[0].shape) >= 2 and len(y.shape) >= 2 and y.shape[0] == xs[0].shape[0]
        mask = xs[0].mask if keeps_time else None
    return [_T(y.name, y.shape, y.cf, mask)] + [_T(e.name, e.shape, e.cf) for e in ys[1:]]


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
    for name, shape in inputs:
        if any(d < 0 for d in shape):
            shown = ", ".join("None" if d < 0 else str(d) for d in shape)
            raise ValueError(f"export_onnx: input '{name}' has an axis of unknown length (None, {shown}); the ONNX "
                             "export writes fixed lengths: build the same architecture on Input(shape=...) with the "
                             "length to serve, copy the weights (set_weights(model.get_weights())) and export that")
    b = _Builder(onnx, int(opset))
    h = onnx.helper
    tensors: Dict[str, _T] = {}
    graph_inputs = []
    for name, shape in inputs:
        b.used.add(name)
        tensors[name] = _T(name, shape)
        graph_inputs.append(h.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", *shape]))
    for node in nodes:
        b.used.update((node.output, *node.extra_outputs))  # the graph's output names stay free for the outputs
    for node in nodes:
        ys = _convert_all(b, node, [tensors[i] for i in node.inputs])
        tensors.update(zip((node.output, *node.extra_outputs), ys))
    graph_outputs = []
    for name in outputs:
        t = b.native(tensors[name], name)
        b.nodes.append(h.make_node("Identity", [t.name], [name], name=b.fresh(f"{name}/output")))
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
