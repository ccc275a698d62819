"""Keras 3's ``keras.ops`` for nncore: each function works on numpy arrays (eagerly, returning numpy) and on
KerasTensors, where it adds a node to the model's graph that runs forward and backward in C++ (``BinaryOp``,
``UnaryOp``, ``MatMulOp``, ``ReduceOp``, ``TransposeOp``, ``SliceOp``, and the Reshape/Concatenate layers).

In a graph the batch axis is axis 0 of every tensor: axes count from it, as in Keras, and ops may not reduce,
move or slice it (each sample is computed on its own). Constants (numpy arrays) become weights of their op node,
saved with the model; numbers are kept in the op's config.
"""
from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from . import _core
from .layers import Concatenate, Layer, Reshape

__all__ = ["add", "subtract", "multiply", "divide", "true_divide", "negative", "power", "maximum", "minimum",
           "exp", "log", "sqrt", "square", "abs", "absolute", "tanh", "sigmoid", "relu", "gelu", "erf", "sin", "cos",
           "softplus", "sign", "reciprocal", "clip", "softmax", "log_softmax", "sum", "mean", "max", "min", "var",
           "std", "norm", "transpose", "reshape", "expand_dims", "squeeze", "concatenate", "stack", "split",
           "slice_along", "cast", "shape", "matmul_graph", "zeros", "ones", "full", "arange", "zeros_like", "ones_like",
           "full_like", "cumsum", "tile", "repeat", "where", "argmax", "argmin", "one_hot", "take", "einsum",
           "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_not", "logical_and",
           "logical_or", "floor", "ceil", "round", "trunc", "dot_product_attention"]


# ---- the op layers (Python faces of the C++ op layers, so loaded models wrap them) --------------------------------
class _OpLayer(Layer):
    """A node of an op on KerasTensors. Not built by users: the functions of ``nncore.ops`` make them."""

    def __init__(self, impl: Any) -> None:  # pragma: no cover - made through _make
        super().__init__(impl)


class BinaryOp(_OpLayer):
    pass


class UnaryOp(_OpLayer):
    pass


class MatMulOp(_OpLayer):
    pass


class ReduceOp(_OpLayer):
    pass


class TransposeOp(_OpLayer):
    pass


class SliceOp(_OpLayer):
    pass


class RandomOp(_OpLayer):
    pass


class DotProductAttentionOp(_OpLayer):
    pass


class BatchDim:
    """``ops.shape(x)[0]`` of a KerasTensor (and ``x.shape[0]`` of one whose Input has a ``batch_shape``): the
    batch axis of x. Random ops and ``ops.zeros / ones / full`` take it in their shape (a tensor with x's batch
    size); otherwise it reads as None, or as the static batch size an Input was given."""

    def __init__(self, tensor: Any, static: Optional[int] = None) -> None:
        self.tensor = tensor
        self.static = static

    def __repr__(self) -> str:
        return "None" if self.static is None else str(self.static)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, BatchDim):
            return other.static == self.static
        return other == self.static

    def __hash__(self) -> int:
        return hash(self.static)

    def __index__(self) -> int:
        if self.static is None:
            raise TypeError("the batch size of a KerasTensor is not known while the model is being built")
        return self.static

    __int__ = __index__


def _is_symbolic(v: Any) -> bool:
    from .models import KerasTensor
    return isinstance(v, KerasTensor)


def _any_symbolic(*vs: Any) -> bool:
    return any(_is_symbolic(v) for v in vs)


class _Operands:
    """The operands of one op node: graph tensors (call inputs), numbers, constants (weights of the node) and
    variables of a custom layer (weights of the node that share the variable's storage)."""

    def __init__(self) -> None:
        self.specs: List[Tuple[str, float]] = []
        self.inputs: List[Any] = []
        self.weights: List[Tuple[str, List[int], bool, str]] = []
        self.constants: List[Tuple[int, np.ndarray]] = []
        self.variables: List[Tuple[int, Any]] = []

    def add(self, v: Any) -> None:
        from ._custom import Variable
        if _is_symbolic(v):
            self.specs.append(("input", float(len(self.inputs))))
            self.inputs.append(v)
        elif isinstance(v, Variable):
            self.specs.append(("weight", float(len(self.weights))))
            self.variables.append((len(self.weights), v))
            self.weights.append((v.name, list(v.shape), bool(v.trainable), v.name))
        elif np.ndim(v) == 0:
            self.specs.append(("scalar", float(v)))
        else:
            a = _f32(v)
            self.specs.append(("weight", float(len(self.weights))))
            self.constants.append((len(self.weights), a))
            self.weights.append((f"constant_{len(self.weights)}", list(a.shape), False, ""))

    def call(self, cls: type, impl: Any) -> Any:
        from .models import _symbolic_call
        for k, var in self.variables:  # before the call builds the node
            impl.share_weight(k, var._layer._impl, var._index)
        layer = cls._wrap(impl)
        out = _symbolic_call(layer, self.inputs)
        views = layer._impl.weights
        for k, arr in self.constants:
            views[k][...] = arr
        return out


def _call(cls: type, impl: Any, inputs: List[Any]) -> Any:
    from .models import _symbolic_call
    return _symbolic_call(cls._wrap(impl), inputs)


def _f32(v: Any) -> np.ndarray:
    return np.asarray(v, dtype=np.float32)


# ---- elementwise: two operands -------------------------------------------------------------------------------------
_NUMPY_BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
                 "maximum": np.maximum, "minimum": np.minimum, "power": np.power}


def _reduced(v: Any) -> Optional[str]:
    return getattr(v, "_batch_reduce", None) if _is_symbolic(v) else None


def _binary(op: str, x1: Any, x2: Any) -> Any:
    if not _any_symbolic(x1, x2):
        return _NUMPY_BINARY[op](np.asarray(x1), np.asarray(x2))
    r1, r2 = _reduced(x1), _reduced(x2)
    kind = r1 or r2
    if kind is not None:
        # A value over the whole batch kept per sample: linear arithmetic with constants (numbers, arrays, a layer's
        # variables: the same for every sample), or a sum of two of them. Adding a constant commutes with a batch
        # mean, not with a batch sum.
        other = x2 if r1 else x1
        const_other = not _is_symbolic(other) or getattr(other, "_batch_const", False)
        ok = (op in ("add", "subtract") and ((r1 and r2 and r1 == r2) or (const_other and kind == "mean"))) or \
             (op == "multiply" and const_other) or (op == "divide" and r1 and const_other)
        if not ok:
            raise ValueError(f"ops.{op}: ops.{kind}(x) over the batch axis gives a value over the whole batch; inside "
                             "a custom layer it can only go into self.add_loss(...) or a variable's assign / assign_add "
                             "(combined with constants); reduce the per-sample axes instead (axis=[1, ...]) to use it "
                             "in the computation")
    o = _Operands()
    o.add(x1)
    o.add(x2)
    out = o.call(BinaryOp, _core.BinaryOp(op, o.specs, o.weights))
    out._batch_reduce = kind
    out._dtype = _binary_dtype(op, x1, x2)
    out._batch_const = kind is None and all(not _is_symbolic(v) or getattr(v, "_batch_const", False)
                                            for v in (x1, x2))
    return out


_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")


def _dtype_of(v: Any) -> str:
    if _is_symbolic(v):
        return v.dtype
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int32"
    a = np.asarray(v) if not hasattr(v, "dtype") else v
    name = str(getattr(a, "dtype", "float32"))
    return name if name in _INT_DTYPES or name == "bool" else "float32"


def _binary_dtype(op: str, x1: Any, x2: Any) -> str:
    """The result dtype of an op on KerasTensors: comparisons are bool; integer arithmetic (+, -, *, max, min of
    integers and bools) stays integer, as in Keras; anything with a float, or a division, is float32."""
    if op in _COMPARISONS:
        return "bool"
    d1, d2 = _dtype_of(x1), _dtype_of(x2)
    ints = (*_INT_DTYPES, "bool")
    if op in ("add", "subtract", "multiply", "maximum", "minimum") and d1 in ints and d2 in ints:
        if d1 == d2 == "bool":
            return "bool" if op in ("multiply", "maximum", "minimum") else "int32"
        return d1 if d1 != "bool" and _is_symbolic(x1) else (d2 if d2 != "bool" else "int32")
    return "float32"


_COMPARISONS = {"equal": np.equal, "not_equal": np.not_equal, "greater": np.greater,
                "greater_equal": np.greater_equal, "less": np.less, "less_equal": np.less_equal}


def _compare(op: str, x1: Any, x2: Any) -> Any:
    if not _any_symbolic(x1, x2):
        return _COMPARISONS[op](np.asarray(x1), np.asarray(x2))
    if not _is_symbolic(x1):  # a constant on the left: flip the comparison
        flipped = {"greater": "less", "less": "greater", "greater_equal": "less_equal",
                   "less_equal": "greater_equal"}.get(op, op)
        return _binary(flipped, x2, x1)
    return _binary(op, x1, x2)


def equal(x1: Any, x2: Any) -> Any:
    """1 where x1 == x2 (a bool KerasTensor: 0/1 values, no gradient); numpy's on arrays."""
    return _compare("equal", x1, x2)


def not_equal(x1: Any, x2: Any) -> Any:
    return _compare("not_equal", x1, x2)


def greater(x1: Any, x2: Any) -> Any:
    return _compare("greater", x1, x2)


def greater_equal(x1: Any, x2: Any) -> Any:
    return _compare("greater_equal", x1, x2)


def less(x1: Any, x2: Any) -> Any:
    return _compare("less", x1, x2)


def less_equal(x1: Any, x2: Any) -> Any:
    return _compare("less_equal", x1, x2)


def logical_not(x: Any) -> Any:
    if not _is_symbolic(x):
        return np.logical_not(np.asarray(x))
    out = _unary("logical_not", x)
    out._dtype = "bool"
    return out


def _nonzero(v: Any) -> Any:
    return not_equal(v, 0.0) if _is_symbolic(v) else np.not_equal(np.asarray(v), 0).astype(np.float32)


def logical_and(x1: Any, x2: Any) -> Any:
    if not _any_symbolic(x1, x2):
        return np.logical_and(np.asarray(x1), np.asarray(x2))
    if not _is_symbolic(x1):
        x1, x2 = x2, x1
    return not_equal(multiply(_nonzero(x1), _nonzero(x2)), 0.0)


def logical_or(x1: Any, x2: Any) -> Any:
    if not _any_symbolic(x1, x2):
        return np.logical_or(np.asarray(x1), np.asarray(x2))
    if not _is_symbolic(x1):
        x1, x2 = x2, x1
    return not_equal(maximum(_nonzero(x1), _nonzero(x2)), 0.0)


def _rounding(op: str, x: Any) -> Any:
    if not _is_symbolic(x):
        return {"floor": np.floor, "ceil": np.ceil, "round": np.round, "trunc": np.trunc}[op](np.asarray(x))
    out = _unary(op, x)
    out._dtype = x.dtype
    return out


def floor(x: Any) -> Any:
    return _rounding("floor", x)


def ceil(x: Any) -> Any:
    return _rounding("ceil", x)


def round(x: Any, decimals: int = 0) -> Any:  # noqa: A001
    if decimals:
        if _is_symbolic(x):
            scale = 10.0 ** int(decimals)
            return divide(_rounding("round", multiply(x, scale)), scale)
        return np.round(np.asarray(x), decimals)
    return _rounding("round", x)


def trunc(x: Any) -> Any:
    return _rounding("trunc", x)


def add(x1: Any, x2: Any) -> Any:
    return _binary("add", x1, x2)


def subtract(x1: Any, x2: Any) -> Any:
    return _binary("subtract", x1, x2)


def multiply(x1: Any, x2: Any) -> Any:
    return _binary("multiply", x1, x2)


def divide(x1: Any, x2: Any) -> Any:
    return _binary("divide", x1, x2)


true_divide = divide


def power(x1: Any, x2: Any) -> Any:
    return _binary("power", x1, x2)


def maximum(x1: Any, x2: Any) -> Any:
    return _binary("maximum", x1, x2)


def minimum(x1: Any, x2: Any) -> Any:
    return _binary("minimum", x1, x2)


# ---- elementwise: one operand --------------------------------------------------------------------------------------
def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _np_gelu(x: np.ndarray) -> np.ndarray:
    """The tanh approximation (keras.ops.gelu's default)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _np_erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


_NUMPY_UNARY = {"negative": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "square": np.square,
                "abs": np.abs, "tanh": np.tanh, "sigmoid": _np_sigmoid, "relu": lambda x: np.maximum(x, 0),
                "erf": _np_erf, "sin": np.sin, "cos": np.cos,
                "softplus": lambda x: np.logaddexp(0, x), "sign": np.sign, "reciprocal": np.reciprocal}


def _unary(op: str, x: Any) -> Any:
    if not _is_symbolic(x):
        return _NUMPY_UNARY[op](np.asarray(x))
    kind = _reduced(x)
    if kind is not None and op != "negative":
        raise ValueError(f"ops.{op}: ops.{kind}(x) over all axes includes the batch axis; inside a custom layer its "
                         "value can only go into self.add_loss(...); reduce the per-sample axes instead")
    out = _call(UnaryOp, _core.UnaryOp(op), [x])
    out._batch_reduce = kind
    out._batch_const = getattr(x, "_batch_const", False)
    return out


def negative(x: Any) -> Any:
    return _unary("negative", x)


def exp(x: Any) -> Any:
    return _unary("exp", x)


def log(x: Any) -> Any:
    return _unary("log", x)


def sqrt(x: Any) -> Any:
    return _unary("sqrt", x)


def square(x: Any) -> Any:
    return _unary("square", x)


def abs(x: Any) -> Any:  # noqa: A001 - Keras's name
    return _unary("abs", x)


absolute = abs


def tanh(x: Any) -> Any:
    return _unary("tanh", x)


def sigmoid(x: Any) -> Any:
    return _unary("sigmoid", x)


def relu(x: Any) -> Any:
    return _unary("relu", x)


def gelu(x: Any, approximate: bool = True) -> Any:
    """Keras's ops.gelu: the tanh approximation by default, x * Phi(x) exactly with approximate=False (nncore's
    gelu kernel, which the "gelu" activation also uses)."""
    if not approximate:
        if _is_symbolic(x):
            return _unary("gelu", x)
        x = np.asarray(x)
        return 0.5 * x * (1.0 + _np_erf(x / math.sqrt(2.0)))
    if _is_symbolic(x):
        inner = multiply(add(x, multiply(power(x, 3.0), 0.044715)), math.sqrt(2.0 / math.pi))
        return multiply(multiply(x, 0.5), add(tanh(inner), 1.0))
    return _np_gelu(np.asarray(x))


def erf(x: Any) -> Any:
    return _unary("erf", x)


def sin(x: Any) -> Any:
    return _unary("sin", x)


def cos(x: Any) -> Any:
    return _unary("cos", x)


def softplus(x: Any) -> Any:
    return _unary("softplus", x)


def sign(x: Any) -> Any:
    return _unary("sign", x)


def reciprocal(x: Any) -> Any:
    return _unary("reciprocal", x)


def clip(x: Any, x_min: float, x_max: float) -> Any:
    if not _is_symbolic(x):
        return np.clip(np.asarray(x), x_min, x_max)
    return _call(UnaryOp, _core.UnaryOp("clip", float(x_min), float(x_max)), [x])


def _last_axis_only(name: str, x: Any, axis: int) -> None:
    rank = len(x.shape)
    if axis not in (-1, rank - 1):
        raise ValueError(f"ops.{name}: on a KerasTensor only the last axis (axis=-1) is supported, got axis={axis} "
                         f"for shape {x.shape}; transpose the axis to the end first")


def softmax(x: Any, axis: int = -1) -> Any:
    if not _is_symbolic(x):
        return _np_softmax(np.asarray(x), axis)
    _last_axis_only("softmax", x, axis)
    return _call(UnaryOp, _core.UnaryOp("softmax"), [x])


def log_softmax(x: Any, axis: int = -1) -> Any:
    if not _is_symbolic(x):
        x = np.asarray(x)
        m = np.max(x, axis=axis, keepdims=True)
        return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    _last_axis_only("log_softmax", x, axis)
    return _call(UnaryOp, _core.UnaryOp("log_softmax"), [x])


# ---- reductions ------------------------------------------------------------------------------------------------------
def _axes(axis: Any) -> List[int]:
    if axis is None:
        return []
    return [int(a) for a in axis] if isinstance(axis, (list, tuple)) else [int(axis)]


_NUMPY_REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}


def _reduce(op: str, x: Any, axis: Any, keepdims: bool) -> Any:
    if not _is_symbolic(x):
        return _NUMPY_REDUCE[op](np.asarray(x), axis=None if axis is None else tuple(_axes(axis)), keepdims=keepdims)
    from ._custom import tracing
    if axis is None and op in ("sum", "mean") and tracing() and not keepdims:
        # Inside a custom layer's call, for add_loss: per sample over its axes, over the batch when the loss is taken.
        x = _reduced_input(x)
        rank = len(x.shape)
        out = x if rank == 1 else _call(ReduceOp, _core.ReduceOp(op, list(range(1, rank)), False), [x])
        if rank == 1:
            out = multiply(x, 1.0)
        out._batch_reduce = op
        return out
    if axis is None:
        raise ValueError(f"ops.{op}: axis=None reduces the batch axis too, which a model's op cannot do (each sample "
                         f"is computed on its own); give the per-sample axes, e.g. axis={list(range(1, len(x.shape)))}")
    axes = [a + len(x.shape) if a < 0 else a for a in _axes(axis)]
    if 0 in axes and op in ("sum", "mean") and tracing():
        # Over the batch axis inside a custom layer's call: a value over the whole batch (a running statistic for a
        # variable's assign, or add_loss), kept per sample here and reduced over the batch when it is used.
        if keepdims:
            raise ValueError(f"ops.{op}: keepdims=True over the batch axis is not supported inside a traced call")
        x = _reduced_input(x)
        rest = [a for a in axes if a != 0]
        out = _call(ReduceOp, _core.ReduceOp(op, rest, False), [x]) if rest else multiply(x, 1.0)
        out._batch_reduce = op
        return out
    return _call(ReduceOp, _core.ReduceOp(op, _axes(axis), bool(keepdims)), [x])


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return _reduce("sum", x, axis, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _reduce("mean", x, axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None) -> Any:  # noqa: A001
    return _reduce("max", x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None) -> Any:  # noqa: A001
    return _reduce("min", x, axis, keepdims)


def _reduced_input(x: Any) -> Any:
    if _reduced(x) is not None:
        raise ValueError("ops: a value over the whole batch cannot be reduced again")
    return x


def var(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    if not _is_symbolic(x):
        return np.var(np.asarray(x), axis=None if axis is None else tuple(_axes(axis)), keepdims=keepdims)
    centered = subtract(x, mean(x, axis, keepdims=True))
    return mean(square(centered), axis, keepdims)


def std(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    if not _is_symbolic(x):
        return np.std(np.asarray(x), axis=None if axis is None else tuple(_axes(axis)), keepdims=keepdims)
    return sqrt(var(x, axis, keepdims))


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """The 2-norm (Frobenius over several axes); other orders on arrays only."""
    if not _is_symbolic(x):
        return np.linalg.norm(np.asarray(x), ord=ord, axis=None if axis is None else
                              (tuple(_axes(axis)) if isinstance(axis, (list, tuple)) else int(axis)),
                              keepdims=keepdims)
    if ord not in (None, 2, "fro", "euclidean"):
        raise ValueError(f"ops.norm: on a KerasTensor only the 2-norm is supported, got ord={ord!r}")
    return sqrt(sum(square(x), axis, keepdims))


# ---- shapes ----------------------------------------------------------------------------------------------------------
def shape(x: Any) -> tuple:
    """The shape; for a KerasTensor the batch entry is a ``BatchDim`` (it reads as None) that keras.random takes."""
    return (BatchDim(x), *x.shape[1:]) if _is_symbolic(x) else np.shape(x)


def cast(x: Any, dtype: Any) -> Any:
    """On arrays, numpy's astype. On KerasTensors nncore stores every value as float32: a cast to an integer dtype
    rounds toward zero (as astype) and marks the tensor integer (no gradient flows through it), a cast to bool gives
    1 where x is not 0, and a cast to a float dtype keeps the values."""
    if not _is_symbolic(x):
        return np.asarray(x).astype(dtype)
    name = getattr(dtype, "name", None) or (np.dtype(dtype).name if not isinstance(dtype, str) else dtype)
    if name == "bool":
        return not_equal(x, 0.0)
    if name in _INT_DTYPES:
        if x.dtype in _INT_DTYPES or x.dtype == "bool":
            out = multiply(x, 1.0)
        else:
            out = _unary("trunc", x)
        out._dtype = name
        return out
    if name.startswith(("float", "bfloat")):
        if x.dtype == "float32":
            return x
        out = multiply(x, 1.0)
        out._dtype = "float32"
        return out
    raise ValueError(f"ops.cast: unsupported dtype {dtype!r}")


def _same_dtype(out: Any, x: Any) -> Any:
    """Moving values (transpose, reshape, slices) keeps an integer tensor integer."""
    out._dtype = x.dtype
    return out


def transpose(x: Any, axes: Any = None) -> Any:
    if not _is_symbolic(x):
        return np.transpose(np.asarray(x), axes)
    return _same_dtype(_call(TransposeOp, _core.TransposeOp([] if axes is None else [int(a) for a in axes]), [x]), x)


def reshape(x: Any, newshape: Any) -> Any:
    if not _is_symbolic(x):
        return np.reshape(np.asarray(x), newshape)
    target = [int(newshape)] if np.ndim(newshape) == 0 else [(-1 if d is None else int(d)) for d in newshape]
    if not target or target[0] != -1:
        raise ValueError(f"ops.reshape: in a model the batch axis stays first and its size is not known: write the "
                         f"new shape as (-1, ...) or (None, ...), got {tuple(newshape)} for shape {x.shape}")
    return _same_dtype(Reshape(tuple(target[1:]))(x), x)


def expand_dims(x: Any, axis: int) -> Any:
    if not _is_symbolic(x):
        return np.expand_dims(np.asarray(x), axis)
    rank = len(x.shape)
    a = axis + rank + 1 if axis < 0 else axis
    if not 1 <= a <= rank:
        raise ValueError(f"ops.expand_dims: axis {axis} is out of range for shape {x.shape} (axis 0, the batch axis, "
                         "stays first)")
    per = list(x.shape[1:])
    per.insert(a - 1, 1)
    return _same_dtype(Reshape(tuple(per))(x), x)


def squeeze(x: Any, axis: Any = None) -> Any:
    if not _is_symbolic(x):
        return np.squeeze(np.asarray(x), axis)
    per = list(x.shape[1:])
    rank = len(x.shape)
    drop = [i for i, d in enumerate(per) if d == 1] if axis is None else \
        [(a + rank if a < 0 else a) - 1 for a in _axes(axis)]
    for i in drop:
        if i < 0:
            raise ValueError("ops.squeeze: axis 0 is the batch axis, which stays in a model")
        if i >= len(per) or per[i] != 1:
            raise ValueError(f"ops.squeeze: cannot squeeze axis {i + 1} of shape {x.shape}: its size is not 1")
    kept = [d for i, d in enumerate(per) if i not in drop]
    return _same_dtype(Reshape(tuple(kept))(x) if kept else Reshape((1,))(x), x)


def concatenate(xs: Sequence[Any], axis: int = 0) -> Any:
    if not any(_is_symbolic(v) for v in xs):
        return np.concatenate([np.asarray(v) for v in xs], axis=axis)
    if axis == 0:
        raise ValueError("ops.concatenate: axis 0 is the batch axis; in a model concatenate per-sample axes (axis=-1, "
                         "1, ...)")
    if not all(_is_symbolic(v) for v in xs):
        raise TypeError("ops.concatenate: in a model every part must be a KerasTensor")
    return Concatenate(axis=int(axis))(list(xs))


def stack(xs: Sequence[Any], axis: int = 0) -> Any:
    if not any(_is_symbolic(v) for v in xs):
        return np.stack([np.asarray(v) for v in xs], axis=axis)
    rank = len(xs[0].shape) + 1
    a = axis + rank if axis < 0 else axis
    if a == 0:
        raise ValueError("ops.stack: axis 0 would become the batch axis; stack along a per-sample axis (1, -1, ...)")
    return concatenate([expand_dims(v, a) for v in xs], axis=a)


def slice_along(x: Any, key: Any) -> Any:
    """``x[key]`` on a KerasTensor: integers and slices on the per-sample axes, ``...`` for the rest; the batch
    axis (the first) must be taken whole (``:``)."""
    items = list(key) if isinstance(key, tuple) else [key]
    rank = len(x.shape)
    if any(k is None for k in items):
        raise ValueError("KerasTensor indexing: None (new axes) is not supported in a model; use ops.expand_dims")
    if Ellipsis in items:
        i = items.index(Ellipsis)
        fill = rank - (len(items) - 1)
        items = items[:i] + [slice(None)] * fill + items[i + 1:]
    if not items or not (isinstance(items[0], slice) and items[0] == slice(None)):
        raise ValueError(f"KerasTensor indexing: the batch axis (the first) must be taken whole, as x[:, ...]; got "
                         f"{key!r} (x[0] would pick one sample, which a model cannot)")
    spec = []
    for k in items[1:]:
        if isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            spec.append((False, 0 if k.start is None else int(k.start), 0 if k.stop is None else int(k.stop), step,
                         k.start is not None, k.stop is not None))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            spec.append((True, int(k), 0, 1, True, False))
        else:
            raise TypeError(f"KerasTensor indexing: use integers and slices, got {type(k).__name__} in {key!r}")
    return _same_dtype(_call(SliceOp, _core.SliceOp(spec), [x]), x)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> List[Any]:
    if not _is_symbolic(x):
        return np.split(np.asarray(x), indices_or_sections, axis=axis)
    rank = len(x.shape)
    a = axis + rank if axis < 0 else axis
    if a == 0:
        raise ValueError("ops.split: axis 0 is the batch axis; split a per-sample axis")
    n = x.shape[a]
    if np.ndim(indices_or_sections) == 0:
        k = int(indices_or_sections)
        if n % k:
            raise ValueError(f"ops.split: axis {axis} of size {n} does not split into {k} equal parts")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        bounds = [0, *[int(i) for i in indices_or_sections], n]
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        key = [slice(None)] * a + [slice(lo, hi)]
        parts.append(slice_along(x, tuple(key)))
    return parts


def matmul_graph(x1: Any, x2: Any) -> Any:
    """``x1 @ x2`` with at least one KerasTensor: (batch, ..., K) @ constant (K, N), or two graph tensors
    (batch, ..., M, K) @ (batch, ..., K, N)."""
    if not _is_symbolic(x1):
        raise ValueError("ops.matmul: in a model the left operand must be the KerasTensor (batch first); for a "
                         "constant on the left write ops.transpose(ops.matmul(ops.transpose(x), w.T))")
    o = _Operands()
    o.add(x1)
    o.add(x2 if _is_symbolic(x2) or type(x2).__name__ == "Variable" else _f32(x2))
    return o.call(MatMulOp, _core.MatMulOp(o.specs, o.weights))


# ---- constructors, and ops composed of the nodes above ----------------------------------------------------------
def _batch_full(shape: Any, fill_value: float) -> Any:
    """A tensor of ``shape`` whose first entry is a BatchDim: ``fill_value`` everywhere, one sample per sample of
    the BatchDim's tensor (a state of zeros for a loop over time steps, say)."""
    ref = shape[0].tensor
    per = [int(d) for d in shape[1:]]
    axes = list(range(1, len(ref.shape)))
    one = sum(multiply(ref, 0.0), axis=axes) if axes else multiply(ref, 0.0)  # (batch,), zeros
    one = reshape(one, (-1,) + (1,) * len(per)) if per else one
    return add(one, np.full(per, float(fill_value), np.float32)) if per else add(one, float(fill_value))


def _has_batch_dim(shape: Any) -> bool:
    return isinstance(shape, (list, tuple)) and len(shape) > 0 and isinstance(shape[0], BatchDim)


def zeros(shape: Any, dtype: Any = None) -> Any:
    if _has_batch_dim(shape):
        return _batch_full(shape, 0.0)
    return np.zeros(shape, dtype or np.float32)


def ones(shape: Any, dtype: Any = None) -> Any:
    if _has_batch_dim(shape):
        return _batch_full(shape, 1.0)
    return np.ones(shape, dtype or np.float32)


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    if _has_batch_dim(shape):
        return _batch_full(shape, float(fill_value))
    return np.full(shape, fill_value, dtype or np.float32)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> np.ndarray:
    """Concrete values (numpy); in a model they enter ops as constants (e.g. positions for an Embedding table)."""
    return np.arange(start, stop, step, dtype=dtype) if stop is not None else np.arange(start, dtype=dtype)


def full_like(x: Any, fill_value: float, dtype: Any = None) -> Any:
    if not _is_symbolic(x):
        return np.full_like(np.asarray(x), fill_value, dtype=dtype)
    return add(multiply(x, 0.0), float(fill_value))


def zeros_like(x: Any, dtype: Any = None) -> Any:
    return full_like(x, 0.0, dtype)


def ones_like(x: Any, dtype: Any = None) -> Any:
    return full_like(x, 1.0, dtype)


def cumsum(x: Any, axis: Optional[int] = None, dtype: Any = None) -> Any:
    """On a KerasTensor along a per-sample axis: a product with a triangular matrix of ones (the last axis moved
    there and back), so its gradient is the reversed cumulative sum."""
    if not _is_symbolic(x):
        return np.cumsum(np.asarray(x), axis=axis)
    rank = len(x.shape)
    if axis is None:
        raise ValueError("ops.cumsum: axis=None flattens the batch axis too; give a per-sample axis")
    a = axis + rank if axis < 0 else axis
    if not 1 <= a < rank:
        raise ValueError(f"ops.cumsum: axis {axis} is the batch axis or out of range for shape {x.shape}")
    n = x.shape[a]
    tri = np.triu(np.ones((n, n), np.float32))  # y[j] = sum_{i <= j} x[i]
    if a == rank - 1:
        return matmul_graph(x, tri)
    perm = list(range(rank))
    perm[a], perm[-1] = perm[-1], perm[a]
    return transpose(matmul_graph(transpose(x, perm), tri), perm)


def tile(x: Any, repeats: Any) -> Any:
    if not _is_symbolic(x):
        return np.tile(np.asarray(x), repeats)
    reps = [int(r) for r in (repeats if isinstance(repeats, (list, tuple)) else [repeats])]
    rank = len(x.shape)
    reps = [1] * (rank - len(reps)) + reps
    if len(reps) != rank or reps[0] != 1:
        raise ValueError(f"ops.tile: in a model repeats has one entry per axis with 1 for the batch axis, got "
                         f"{tuple(repeats)} for shape {x.shape}")
    for a, r in enumerate(reps):
        if r > 1:
            x = concatenate([x] * r, axis=a)
    return x


def repeat(x: Any, repeats: int, axis: Optional[int] = None) -> Any:
    if not _is_symbolic(x):
        return np.repeat(np.asarray(x), repeats, axis=axis)
    rank = len(x.shape)
    if axis is None or not isinstance(repeats, (int, np.integer)):
        raise ValueError("ops.repeat: in a model give an int number of repeats and a per-sample axis")
    a = axis + rank if axis < 0 else axis
    if not 1 <= a < rank:
        raise ValueError(f"ops.repeat: axis {axis} is the batch axis or out of range for shape {x.shape}")
    y = expand_dims(x, a + 1)                       # (..., n, 1, ...)
    y = concatenate([y] * int(repeats), axis=a + 1)  # (..., n, r, ...)
    per = list(x.shape[1:])
    per[a - 1] *= int(repeats)
    return reshape(y, (-1, *per))


def where(condition: Any, x1: Any, x2: Any) -> Any:
    """On KerasTensors the condition must be 0/1 values (e.g. a mask): ``c * x1 + (1 - c) * x2``."""
    if not _any_symbolic(condition, x1, x2):
        return np.where(np.asarray(condition), np.asarray(x1), np.asarray(x2))
    c = condition if _is_symbolic(condition) else _f32(condition)
    return add(multiply(c, x1), multiply(subtract(1.0, c), x2)) if _is_symbolic(c) or _is_symbolic(x1) else \
        add(multiply(c, x1), multiply(1.0 - c, x2))


def argmax(x: Any, axis: Optional[int] = None, keepdims: bool = False) -> Any:
    """On a KerasTensor: along one per-sample axis (an int32 tensor, no gradient)."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x: Any, axis: Optional[int] = None, keepdims: bool = False) -> Any:
    return _arg("argmin", x, axis, keepdims)


def _arg(op: str, x: Any, axis: Optional[int], keepdims: bool) -> Any:
    if not _is_symbolic(x):
        return getattr(np, op)(np.asarray(x), axis=axis, keepdims=keepdims)
    if axis is None:
        raise ValueError(f"ops.{op}: axis=None flattens the batch axis too; in a model give a per-sample axis, "
                         f"e.g. axis=-1")
    out = _call(ReduceOp, _core.ReduceOp(op, [int(axis)], bool(keepdims)), [x])
    out._dtype = "int32"
    return out


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: Any = None) -> Any:
    """On a KerasTensor of integer ids: a new last axis of ``num_classes`` (ids outside [0, num_classes) give a row
    of zeros, as Keras), float32; no gradient flows into the ids."""
    if not _is_symbolic(x):
        ids = np.asarray(x).astype(np.int64)
        out = np.eye(int(num_classes), dtype=dtype or np.float32)[ids]
        return np.moveaxis(out, -1, axis) if axis != -1 else out
    if axis != -1:
        raise ValueError("ops.one_hot: on a KerasTensor the classes go on the last axis (axis=-1)")
    out = equal(expand_dims(x, -1), np.arange(int(num_classes), dtype=np.float32))
    out._dtype = "float32"
    return out


def take(x: Any, indices: Any, axis: Optional[int] = None) -> Any:
    """Gathers along ``axis``. In a model: a KerasTensor ``x`` with constant ``indices`` (a 1-D list of positions on
    a per-sample axis), or a table ``x`` (an array or a layer's 2-D variable, rows = ids; ``axis`` 0) looked up by
    KerasTensor ids (the gradient reaches a variable table, as an Embedding's)."""
    if not _any_symbolic(x, indices):
        return np.take(np.asarray(x), np.asarray(indices).astype(np.int64), axis=axis)
    if _is_symbolic(x) and not _is_symbolic(indices):
        rank = len(x.shape)
        if axis is None:
            raise ValueError("ops.take: axis=None flattens the batch axis too; give a per-sample axis")
        a = axis + rank if axis < 0 else axis
        if not 1 <= a < rank:
            raise ValueError(f"ops.take: axis {axis} is out of range (per-sample axes 1..{rank - 1})")
        idx = np.asarray(indices).astype(np.int64)
        if idx.ndim == 0:
            return slice_along(x, (slice(None),) * a + (int(idx),))
        if idx.ndim != 1:
            raise NotImplementedError("ops.take on a KerasTensor takes a 1-D list of positions")
        d = x.shape[a]
        if d is None:
            raise ValueError(f"ops.take: axis {axis} of {x.shape} has no known length")
        sel = np.zeros((d, len(idx)), np.float32)
        sel[np.where(idx < 0, idx + d, idx), np.arange(len(idx))] = 1.0
        perm = [i for i in range(rank) if i != a] + [a]
        inv = list(np.argsort(perm))
        moved = transpose(x, perm) if a != rank - 1 else x
        picked = matmul_graph(moved, sel)
        return transpose(picked, inv) if a != rank - 1 else picked
    # KerasTensor ids into a table.
    if axis not in (0, None):
        raise NotImplementedError("ops.take with KerasTensor indices looks rows up in a table (axis 0)")
    if _is_symbolic(x):
        raise NotImplementedError("ops.take of a KerasTensor by KerasTensor indices is not built yet; use one_hot "
                                  "and matmul")
    table = x if type(x).__name__ == "Variable" else _f32(x)
    if len(table.shape) == 1:
        if type(x).__name__ == "Variable":
            raise NotImplementedError("ops.take: a 1-D variable table is not supported; give it a second axis")
        table = table.reshape(-1, 1)
        return squeeze(matmul_graph(one_hot(indices, table.shape[0]), table), -1)
    if len(table.shape) != 2:
        raise NotImplementedError("ops.take with KerasTensor indices needs a 2-D table (rows = ids)")
    return matmul_graph(one_hot(indices, table.shape[0]), table)


def einsum(subscripts: str, *operands: Any) -> Any:
    """numpy's einsum. On KerasTensors: one or two operands (the first a KerasTensor whose first index is the batch
    axis, which the output keeps first; the second a KerasTensor sharing that batch index, or a constant), no
    ellipsis and no index repeated within an operand: a contraction becomes transposes, reshapes and one batched
    matmul (broadcast products and sums otherwise)."""
    if not any(_is_symbolic(v) for v in operands):
        return np.einsum(subscripts, *[np.asarray(v) for v in operands])
    spec = subscripts.replace(" ", "")
    if "..." in spec:
        raise NotImplementedError("ops.einsum on KerasTensors: ellipsis (...) is not supported; name every axis")
    ins, _, out = spec.partition("->")
    terms = ins.split(",")
    if not _:
        letters = "".join(terms)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(terms) != len(operands) or len(operands) not in (1, 2):
        raise NotImplementedError(f"ops.einsum on KerasTensors takes one or two operands, got {len(operands)}")
    for t, v in zip(terms, operands):
        if len(set(t)) != len(t):
            raise NotImplementedError(f"ops.einsum on KerasTensors: index repeated within '{t}' (a trace or "
                                      "diagonal) is not supported")
        if len(t) != len(v.shape):
            raise ValueError(f"ops.einsum: '{t}' names {len(t)} axes of an operand of shape {tuple(v.shape)}")
    if not _is_symbolic(operands[0]):
        return einsum(f"{terms[1]},{terms[0]}->{out}", operands[1], operands[0])
    batch = terms[0][0]
    if not out or out[0] != batch:
        raise ValueError(f"ops.einsum: in a model the output keeps the batch index '{batch}' first, got '->{out}'")
    if len(operands) == 1:
        return _einsum_one(terms[0], out, operands[0])
    return _einsum_two(terms[0], terms[1], out, operands[0], operands[1])


def _einsum_one(t: str, out: str, x: Any) -> Any:
    gone = [i for i, c in enumerate(t) if c not in out]
    if gone:
        x = sum(x, axis=gone)
        t = "".join(c for c in t if c in out)
    if t == out:
        return x
    return transpose(x, [t.index(c) for c in out])


def _einsum_two(ta: str, tb: str, out: str, a: Any, b: Any) -> Any:
    batch = ta[0]
    sym_b = _is_symbolic(b)
    if sym_b and tb[0] != batch:
        raise ValueError(f"ops.einsum: both KerasTensors must start with the batch index '{batch}', got '{tb}'")
    if not sym_b and batch in tb:
        raise ValueError(f"ops.einsum: the constant operand '{tb}' cannot use the batch index '{batch}'")
    # Sum away the indices only one operand has and the output drops.
    only_a = [i for i, c in enumerate(ta) if c not in tb and c not in out]
    if only_a:
        a = sum(a, axis=only_a)
        ta = "".join(c for c in ta if c in tb or c in out)
    only_b = [i for i, c in enumerate(tb) if c not in ta and c not in out]
    if only_b:
        b = sum(b, axis=only_b) if sym_b else np.sum(np.asarray(b, np.float32), axis=tuple(only_b))
        tb = "".join(c for c in tb if c in ta or c in out)
    kept = [c for c in ta if c in tb and c in out]            # batch-like: in both and kept
    contracted = [c for c in ta if c in tb and c not in out]
    free_a = [c for c in ta if c not in tb]
    free_b = [c for c in tb if c not in ta]
    dims = {c: d for t, v in ((ta, a), (tb, b)) for c, d in zip(t, v.shape)}
    if sym_b and kept[:1] == [batch] or not sym_b and not kept:
        return _einsum_matmul(ta, tb, out, a, b, kept, contracted, free_a, free_b, dims)
    return _einsum_broadcast(ta, tb, out, a, b, contracted)


def _merge(x: Any, t: str, order: List[str], groups: List[List[str]], dims: dict) -> Any:
    """x (indices t) transposed to `order` and reshaped so that each group of indices becomes one axis."""
    if list(t) != order:
        x = transpose(x, [t.index(c) for c in order]) if _is_symbolic(x) else np.transpose(x, [t.index(c) for c in order])
    shape = []
    for g in groups:
        n = 1
        for c in g:
            n = None if n is None or dims[c] is None else n * dims[c]
        shape.append(n)
    if _is_symbolic(x):
        return reshape(x, [-1] + shape[1:]) if len(groups) != len(order) or any(len(g) != 1 for g in groups) else x
    return np.reshape(np.asarray(x, np.float32), shape)


def _einsum_matmul(ta: str, tb: str, out: str, a: Any, b: Any, kept: List[str], contracted: List[str],
                   free_a: List[str], free_b: List[str], dims: dict) -> Any:
    if _is_symbolic(b):
        a2 = _merge(a, ta, kept + free_a + contracted, [[c] for c in kept] + [free_a, contracted], dims)
        b2 = _merge(b, tb, kept + contracted + free_b, [[c] for c in kept] + [contracted, free_b], dims)
        y = matmul_graph(a2, b2)                              # (batch, kept..., M, N)
        order = kept + free_a + free_b
    else:
        a2 = _merge(a, ta, free_a + contracted, [[free_a[0]], free_a[1:], contracted], dims)
        b2 = _merge(b, tb, contracted + free_b, [contracted, free_b], dims)
        y = matmul_graph(a2, b2)                              # (batch, M, N)
        order = free_a + free_b
    if len(y.shape) != len(order):  # merged groups: split them again
        y = reshape(y, [-1] + [dims[c] for c in order[1:]])
    return y if "".join(order) == out else transpose(y, [order.index(c) for c in out])


def _einsum_broadcast(ta: str, tb: str, out: str, a: Any, b: Any, contracted: List[str]) -> Any:
    """The general case: both operands laid out on the output's indices then the contracted ones (missing indices
    as length 1), multiplied with broadcasting, and the contracted axes summed."""
    full = list(out) + [c for c in contracted if c not in out]

    def lay(x: Any, t: str) -> Any:
        present = [c for c in full if c in t]
        if _is_symbolic(x):
            y = x if list(t) == present else transpose(x, [t.index(c) for c in present])
            per = [(y.shape[present.index(c)] if c in t else 1) for c in full]
            return reshape(y, [-1] + per[1:])
        y = np.transpose(np.asarray(x, np.float32), [t.index(c) for c in present])
        return np.reshape(y, [y.shape[present.index(c)] if c in t else 1 for c in full])

    prod = multiply(lay(a, ta), lay(b, tb))
    axes = [i for i, c in enumerate(full) if c not in out]
    return sum(prod, axis=axes) if axes else prod


# ---- attention ------------------------------------------------------------------------------------------------------
def dot_product_attention(query: Any, key: Any, value: Any, bias: Any = None, mask: Any = None, scale: Any = None,
                          is_causal: bool = False, flash_attention: Any = None, attn_logits_soft_cap: Any = None) -> Any:
    """Keras 3's ``ops.dot_product_attention``: ``softmax(scale * q k^T + bias) v`` per batch row and head, on
    query ``(B, T, N, H)``, key ``(B, S, N, H)``, value ``(B, S, N, Hv)`` -> ``(B, T, N, Hv)``. ``mask`` (boolean,
    True: may attend) and ``bias`` broadcast against ``(B, N, T, S)``; ``scale`` defaults to ``1 / sqrt(H)``;
    ``is_causal``: query t sees keys s <= t. A query that may attend no key gives zeros. One fused C++ kernel,
    forward and backward, on arrays and in models (never the ``(B, N, T, S)`` probabilities)."""
    if attn_logits_soft_cap is not None:
        raise ValueError("ops.dot_product_attention: attn_logits_soft_cap is not supported; leave it None")
    if scale is not None and (not np.isfinite(float(scale)) or float(scale) <= 0):
        raise ValueError(f"ops.dot_product_attention: scale must be a positive number, got {scale!r}")
    s = 0.0 if scale is None else float(scale)
    for name, v in (("query", query), ("key", key), ("value", value)):
        if len(_shape_of(v)) != 4:
            raise ValueError(f"ops.dot_product_attention: {name} must have 4 axes (batch, length, heads, dim), got "
                             f"shape {tuple(_shape_of(v))}")
    if _is_symbolic(bias):
        raise ValueError("ops.dot_product_attention: bias must be a constant array (a bias computed in the model "
                         "would get no gradient here); pass a mask, or add it to the query")
    if not _any_symbolic(query, key, value, mask):
        m = None if mask is None else _f32(np.asarray(mask) != 0 if np.asarray(mask).dtype == bool else mask)
        return _core.dot_product_attention(_f32(query), _f32(key), _f32(value), m,
                                           None if bias is None else _f32(bias), s, bool(is_causal))[0]
    if not (_is_symbolic(query) and _is_symbolic(key) and _is_symbolic(value)):
        raise ValueError("ops.dot_product_attention: in a model, query, key and value must all be KerasTensors")
    o = _Operands()
    for v in (query, key, value):
        o.add(v)
    if mask is not None:
        o.add(mask if _is_symbolic(mask) else _f32(np.asarray(mask) != 0))
    if bias is not None:
        o.add(_f32(bias))
    return o.call(DotProductAttentionOp, _core.DotProductAttentionOp(o.specs, mask is not None, bias is not None, s,
                                                                    bool(is_causal), o.weights))


def _shape_of(v: Any) -> tuple:
    return tuple(v.shape) if hasattr(v, "shape") else np.shape(v)
