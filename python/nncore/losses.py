"""Losses (Keras names). A loss object is callable: ``loss(y_true, y_pred) -> float`` (mean over the batch).

Example:
    >>> model.compile("adam", loss=nncore.losses.SparseCategoricalCrossentropy(from_logits=True))

Custom losses, as in Keras: a function ``loss(y_true, y_pred)`` of ``nncore.ops`` returning per-sample values, or a
``Loss`` subclass with ``call(self, y_true, y_pred)``. They are traced into a graph of C++ ops at ``compile`` and
trained in the C++ loop; the batch loss is the mean of all values (Keras's ``sum_over_batch_size``).

    >>> def huberish(y_true, y_pred):
    ...     return ops.mean(ops.log(ops.cosh(y_pred - y_true)), axis=-1)
    >>> model.compile("adam", loss=huberish)
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from . import _core
from ._convert import as_float32

__all__ = ["Loss", "LossFunctionWrapper", "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy",
           "binary_focal_crossentropy", "categorical_focal_crossentropy", "Huber", "LogCosh", "KLDivergence", "Poisson", "CosineSimilarity", "Hinge",
           "SquaredHinge", "CategoricalHinge", "MeanSquaredLogarithmicError", "MeanAbsolutePercentageError", "huber",
           "log_cosh", "kl_divergence", "kld", "poisson", "cosine_similarity", "hinge", "squared_hinge",
           "categorical_hinge", "mean_squared_logarithmic_error", "msle", "mean_absolute_percentage_error", "mape",
           "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "get", "mse", "mae", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy"]


_REDUCTIONS = ("sum_over_batch_size", "auto", "sum", "mean", "mean_with_sample_weight", "none", None)


class Loss:
    """The base of losses. Built-in losses are computed by the C++ kernels; a subclass that defines
    ``call(self, y_true, y_pred)`` (ops on the targets and predictions, returning per-sample values) is a custom loss,
    traced into C++ ops when the model is compiled. ``reduction`` is Keras's: ``"sum_over_batch_size"`` (the default;
    also ``"mean"``), ``"sum"``, ``"mean_with_sample_weight"`` or ``None``/``"none"`` (per-sample values); a
    model trains on one number per batch, so compile takes the first two."""

    kernel_name = ""
    call: Any = None  # a custom loss's computation (subclasses define it)

    def __init__(self, name: Any = None, reduction: Any = "sum_over_batch_size", dtype: Any = None,
                 from_logits: bool = False) -> None:
        if isinstance(name, bool):  # the built-ins' positional form Loss(from_logits)
            name, from_logits = None, name
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of 'sum_over_batch_size', 'sum', 'mean', "
                             f"'mean_with_sample_weight' or None, got {reduction!r}")
        self.from_logits = bool(from_logits)
        self.label_smoothing = 0.0
        self._name = name
        self.reduction = {"auto": "sum_over_batch_size", "mean": "sum_over_batch_size", None: "none"}.get(
            reduction, reduction)

    @property
    def name(self) -> str:
        if self._name:
            return self._name
        if self.kernel_name:
            return self.kernel_name
        return _snake(type(self).__name__)

    @property
    def is_custom(self) -> bool:
        return not self.kernel_name

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)

    def value_and_gradient(self, y_true: Any, y_pred: Any) -> Tuple[float, np.ndarray]:
        """Mean loss over the batch and its gradient with respect to ``y_pred`` (built-in losses)."""
        if self.is_custom:
            raise TypeError(f"{self.name}: value_and_gradient is for built-in losses; a custom loss is "
                            "differentiated inside the model (compile and fit)")
        return _core.loss(self.kernel_name, as_float32(y_pred, f"{self.name}: y_pred"),
                          as_float32(y_true, f"{self.name}: y_true"), self.from_logits, self.label_smoothing)

    def per_sample(self, y_true: Any, y_pred: Any) -> np.ndarray:
        """Each sample's loss (what reduction=None returns)."""
        if not self.is_custom:
            p = as_float32(y_pred, f"{self.name}: y_pred")
            if p.ndim == 1:
                p = p.reshape(-1, 1)
            return _core.loss_per_sample(self.kernel_name, p, as_float32(y_true, f"{self.name}: y_true"),
                                         self.from_logits, self.label_smoothing)
        if self.call is None:
            raise TypeError(f"{type(self).__name__}: a Loss subclass defines call(self, y_true, y_pred)")
        return np.asarray(self.call(y_true, y_pred), np.float64)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The loss of a batch, reduced as ``reduction`` says (per-sample values for None). On KerasTensors (in a
        custom layer's call, e.g. for ``add_loss``) it is a tensor of ops, reduced the same way."""
        if self.is_custom and self.call is None:
            raise TypeError(f"{type(self).__name__}: a Loss subclass defines call(self, y_true, y_pred)")
        from ._keras_ops import _is_symbolic
        if _is_symbolic(y_true) or _is_symbolic(y_pred):
            v = self.call(y_true, y_pred) if self.is_custom else self._symbolic_per_sample(y_true, y_pred)
            return self._reduce_symbolic(v, sample_weight)
        if self.is_custom:
            v = self.call(y_true, y_pred)
        v = self.per_sample(y_true, y_pred) if not self.is_custom else np.asarray(v, np.float64)
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, np.float64)
            while w.ndim < v.ndim:
                w = w[..., None]
            w = np.broadcast_to(w, v.shape)
            v = v * w
        if self.reduction == "none":
            return v.astype(np.float32)
        total = float(np.sum(v))
        if self.reduction == "sum":
            return total
        if self.reduction == "mean_with_sample_weight" and w is not None:
            return total / float(np.sum(w)) if np.sum(w) else 0.0
        return total / max(v.size, 1)

    def _reduce_symbolic(self, v: Any, sample_weight: Any) -> Any:
        """Keras's reduction of per-sample values ``v`` (a KerasTensor): over the batch when the value is used."""
        o = _ops()
        if sample_weight is not None:  # per sample: both as (batch, 1), the form ops broadcast per sample
            w = sample_weight
            if len(w.shape) == 1:
                w = o.expand_dims(w, -1)
            v = o.multiply(o.expand_dims(v, -1) if len(v.shape) == 1 else v, w)
        if self.reduction == "none":
            return v
        if self.reduction == "sum":
            return o.sum(v)
        if self.reduction == "mean_with_sample_weight" and sample_weight is not None:
            raise NotImplementedError(f"{self.name}: reduction='mean_with_sample_weight' with a sample_weight is not "
                                      "supported on KerasTensors; use 'sum_over_batch_size' or 'sum'")
        return o.mean(v)

    def _symbolic_per_sample(self, y_true: Any, y_pred: Any) -> Any:
        raise TypeError(f"{self.name}: this loss cannot be computed on KerasTensors")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


def _snake(name: str) -> str:
    import re
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class LossFunctionWrapper(Loss):
    """A loss function ``fn(y_true, y_pred)`` of ops as a Loss (what ``compile(loss=fn)`` makes of a function)."""

    def __init__(self, fn: Any, name: Any = None, reduction: str = "sum_over_batch_size", **kwargs: Any) -> None:
        super().__init__(name or getattr(fn, "__name__", None) or "custom_loss", reduction)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self.fn(y_true, y_pred, **self.fn_kwargs)


def trace(loss: Loss, y_true_shape: tuple, y_pred_shape: tuple) -> tuple:
    """A custom loss traced for per-sample target and prediction shapes: ``(graph, name, batch_sum)`` for the C++
    core's compile. The function runs once, on symbolic tensors."""
    from . import _custom
    from .models import Input, KerasTensor, Model
    yt, yp = Input(y_true_shape, name="y_true"), Input(y_pred_shape, name="y_pred")
    _custom._TRACING.append(loss)  # ops.mean(x) / ops.sum(x) over all axes: kept per sample, as in add_loss
    try:
        v = loss.call(yt, yp)
    finally:
        _custom._TRACING.pop()
    if not isinstance(v, KerasTensor):
        raise TypeError(f"custom loss '{loss.name}': must return the loss computed from y_true and y_pred with "
                        f"nncore.ops (a tensor), got {type(v).__name__}")
    if v is yt or v is yp:
        raise ValueError(f"custom loss '{loss.name}': returns one of its inputs unchanged; compute a loss from them")
    kind = getattr(v, "_batch_reduce", None)
    if loss.reduction == "sum" and kind is None:
        # Keras's "sum": every value of the batch summed: each sample's values summed, then the batch summed.
        from . import _keras_ops as o
        if len(v.shape) > 1:
            v = o.sum(v, axis=list(range(1, len(v.shape))))
        kind = "sum"
    graph = Model([yt, yp], v, name=f"{loss.name}_graph")
    return graph._impl, loss.name, kind == "sum"


class _BuiltinLoss(Loss):
    """The base of the losses the C++ kernels compute."""

    def __init__(self, from_logits: bool = False, reduction: Any = "sum_over_batch_size", name: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(name=name, reduction=reduction, from_logits=from_logits)

    def get_config(self) -> dict:
        config = {"name": self.name, "reduction": self.reduction}
        if self.kernel_name not in ("mean_squared_error", "mean_absolute_error"):
            config["from_logits"] = self.from_logits
        if self.kernel_name in ("binary_crossentropy", "categorical_crossentropy"):
            config["label_smoothing"] = self.label_smoothing
        return config


    def _symbolic_per_sample(self, y_true: Any, y_pred: Any) -> Any:
        """Each sample's loss written with ops, as Keras computes it (for a loss taken inside a custom layer's
        call); the C++ kernels compute the same in compile and fit."""
        o = _ops()
        k = self.kernel_name
        if k == "mean_squared_error":
            return o.mean(o.square(o.subtract(y_pred, y_true)), axis=-1)
        if k == "mean_absolute_error":
            return o.mean(o.abs(o.subtract(y_pred, y_true)), axis=-1)
        ls = self.label_smoothing
        if k == "binary_crossentropy":
            if ls:
                y_true = o.add(o.multiply(y_true, 1.0 - ls), 0.5 * ls)
            if self.from_logits:  # log(1 + e^x) - x z, the stable form of -z log s(x) - (1 - z) log(1 - s(x))
                v = o.subtract(o.softplus(y_pred), o.multiply(y_pred, y_true))
            else:
                v = _bce_values(y_true, y_pred)
            return o.mean(v, axis=-1)
        classes = int(y_pred.shape[-1])
        if k == "sparse_categorical_crossentropy":
            labels_as_column = len(y_true.shape) == len(y_pred.shape)  # (batch, 1): one-hot (batch, 1, classes)
            y_true = o.one_hot(y_true, classes)
            if labels_as_column:
                y_true = o.sum(y_true, axis=-2)
        elif ls:
            y_true = o.add(o.multiply(y_true, 1.0 - ls), ls / classes)
        if self.from_logits:
            logp = o.log_softmax(y_pred)
        else:  # Keras: normalized to sum 1, clipped to [1e-7, 1 - 1e-7]
            p = o.divide(y_pred, o.sum(y_pred, axis=-1, keepdims=True))
            logp = o.log(o.clip(p, _EPS, 1.0 - _EPS))
        return o.negative(o.sum(o.multiply(y_true, logp), axis=-1))


class MeanSquaredError(_BuiltinLoss):
    kernel_name = "mean_squared_error"

    def __init__(self, reduction: Any = "sum_over_batch_size", name: Any = None, dtype: Any = None) -> None:
        super().__init__(False, reduction, name)


class MeanAbsoluteError(_BuiltinLoss):
    kernel_name = "mean_absolute_error"

    def __init__(self, reduction: Any = "sum_over_batch_size", name: Any = None, dtype: Any = None) -> None:
        super().__init__(False, reduction, name)


class _SmoothedCrossentropy(_BuiltinLoss):
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: Any = "sum_over_batch_size", name: Any = None, dtype: Any = None) -> None:
        super().__init__(from_logits, reduction, name)
        if not isinstance(label_smoothing, (int, float)) or not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"{type(self).__name__}: label_smoothing must be a number in [0, 1], got "
                             f"{label_smoothing!r}")
        if axis != -1:
            raise ValueError(f"{type(self).__name__}: only axis=-1 (the classes last) is supported, got axis={axis}")
        self.label_smoothing = float(label_smoothing)


class BinaryCrossentropy(_SmoothedCrossentropy):
    kernel_name = "binary_crossentropy"


class CategoricalCrossentropy(_SmoothedCrossentropy):
    kernel_name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(_BuiltinLoss):
    kernel_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False, ignore_class: Any = None, reduction: Any = "sum_over_batch_size",
                 name: Any = None, dtype: Any = None) -> None:
        if ignore_class is not None:
            raise ValueError("SparseCategoricalCrossentropy: ignore_class is not supported; give the samples to "
                             "ignore a sample_weight of 0 instead")
        super().__init__(from_logits, reduction, name)


def _per_sample(cls: type) -> Any:
    """Keras's loss function of a built-in class: each sample's loss."""
    def fn(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1) -> Any:
        kwargs = {"from_logits": from_logits} if cls not in (MeanSquaredError, MeanAbsoluteError) else {}
        if label_smoothing:
            kwargs["label_smoothing"] = label_smoothing
        return cls(**kwargs).per_sample(y_true, y_pred).astype(np.float32)
    fn.__name__ = cls.kernel_name
    fn.__doc__ = f"Each sample's {cls.kernel_name.replace('_', ' ')} (Keras's loss function)."
    return fn


# ---- losses written with ops (traced into C++ ops at compile, as a user's custom loss is) -------------------------
_EPS = 1e-7


def _ops() -> Any:
    from . import _keras_ops
    return _keras_ops


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Any:
    """Per sample: the mean over the last axis of 0.5 e^2 where |e| <= delta, delta (|e| - delta / 2) beyond."""
    o = _ops()
    err = o.abs(o.subtract(y_pred, y_true))
    quad = o.minimum(err, float(delta))
    return o.mean(o.add(o.multiply(o.square(quad), 0.5), o.multiply(o.subtract(err, quad), float(delta))), axis=-1)


def log_cosh(y_true: Any, y_pred: Any) -> Any:
    """Per sample: the mean over the last axis of log(cosh(y_pred - y_true)) (as x + softplus(-2x) - log 2)."""
    o = _ops()
    e = o.subtract(y_pred, y_true)
    return o.mean(o.subtract(o.add(e, o.softplus(o.multiply(e, -2.0))), float(np.log(2.0))), axis=-1)


def kl_divergence(y_true: Any, y_pred: Any) -> Any:
    """Per sample: sum over the last axis of y_true log(y_true / y_pred), both clipped to [1e-7, 1] (Keras)."""
    o = _ops()
    t = o.clip(y_true, _EPS, 1.0)
    p = o.clip(y_pred, _EPS, 1.0)
    return o.sum(o.multiply(t, o.log(o.divide(t, p))), axis=-1)


def poisson(y_true: Any, y_pred: Any) -> Any:
    """Per sample: the mean over the last axis of y_pred - y_true log(y_pred + 1e-7)."""
    o = _ops()
    return o.mean(o.subtract(y_pred, o.multiply(y_true, o.log(o.add(y_pred, _EPS)))), axis=-1)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Any:
    """Per sample: minus the cosine of the angle between y_true and y_pred along ``axis`` (-1 is perfect)."""
    o = _ops()

    def unit(v: Any) -> Any:
        return o.divide(v, o.sqrt(o.maximum(o.sum(o.square(v), axis=axis, keepdims=True), 1e-12)))

    return o.negative(o.sum(o.multiply(unit(y_true), unit(y_pred)), axis=axis))


def _signed_labels(y_true: Any) -> Any:
    """Keras's hinge labels: 0/1 become -1/1 (labels already -1/1 stay)."""
    o = _ops()
    return o.subtract(o.multiply(y_true, 2.0), 1.0) if _binary_labels(y_true) else y_true


def _binary_labels(y_true: Any) -> bool:
    # Symbolic targets: Keras converts when every label is 0 or 1, which is only known per batch; nncore's targets
    # for the hinge losses are taken as 0/1 labels unless given as -1/1 arrays.
    if hasattr(y_true, "_sym"):
        return True
    v = np.asarray(y_true)
    return bool(np.all((v == 0) | (v == 1)))


def hinge(y_true: Any, y_pred: Any) -> Any:
    """Per sample: the mean over the last axis of max(1 - y_true y_pred, 0); 0/1 labels are read as -1/1."""
    o = _ops()
    return o.mean(o.relu(o.subtract(1.0, o.multiply(_signed_labels(y_true), y_pred))), axis=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> Any:
    o = _ops()
    return o.mean(o.square(o.relu(o.subtract(1.0, o.multiply(_signed_labels(y_true), y_pred)))), axis=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> Any:
    """Per sample: max(max((1 - y_true) y_pred) - sum(y_true y_pred) + 1, 0) over the classes (one-hot y_true)."""
    o = _ops()
    pos = o.sum(o.multiply(y_true, y_pred), axis=-1)
    neg = o.max(o.multiply(o.subtract(1.0, y_true), y_pred), axis=-1)
    return o.relu(o.add(o.subtract(neg, pos), 1.0))


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Any:
    o = _ops()
    a = o.log(o.add(o.maximum(y_pred, _EPS), 1.0))
    b = o.log(o.add(o.maximum(y_true, _EPS), 1.0))
    return o.mean(o.square(o.subtract(a, b)), axis=-1)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Any:
    o = _ops()
    return o.multiply(o.mean(o.abs(o.divide(o.subtract(y_true, y_pred), o.maximum(o.abs(y_true), _EPS))),
                             axis=-1), 100.0)


def _bce_values(y_true: Any, y_pred: Any) -> Any:
    """Elementwise binary cross-entropy of probabilities clipped to [1e-7, 1 - 1e-7] (Keras's)."""
    o = _ops()
    p = o.clip(y_pred, _EPS, 1.0 - _EPS)
    return o.negative(o.add(o.multiply(y_true, o.log(p)), o.multiply(o.subtract(1.0, y_true), o.log(o.subtract(1.0, p)))))


def binary_focal_crossentropy(y_true: Any, y_pred: Any, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1) -> Any:
    """Per sample: the mean over the last axis of (1 - p_t)^gamma * bce (Lin et al. 2017), p_t the probability given
    to the true label; with class balancing, weighted alpha for positives and 1 - alpha for negatives."""
    o = _ops()
    if label_smoothing:
        y_true = o.add(o.multiply(y_true, 1.0 - float(label_smoothing)), 0.5 * float(label_smoothing))
    if from_logits:
        y_pred = o.sigmoid(y_pred)
    bce = _bce_values(y_true, y_pred)
    p_t = o.add(o.multiply(y_true, y_pred), o.multiply(o.subtract(1.0, y_true), o.subtract(1.0, y_pred)))
    focal = o.multiply(o.power(o.subtract(1.0, p_t), float(gamma)), bce)
    if apply_class_balancing:
        weight = o.add(o.multiply(y_true, float(alpha)), o.multiply(o.subtract(1.0, y_true), 1.0 - float(alpha)))
        focal = o.multiply(weight, focal)
    return o.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true: Any, y_pred: Any, alpha: float = 0.25, gamma: float = 2.0,
                                   from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1) -> Any:
    """Per sample: sum over the classes of alpha (1 - p)^gamma * (-y log p), p the normalized, clipped probabilities
    (Keras's)."""
    o = _ops()
    if label_smoothing:
        classes = float(y_true.shape[-1])
        y_true = o.add(o.multiply(y_true, 1.0 - float(label_smoothing)), float(label_smoothing) / classes)
    if from_logits:
        y_pred = o.softmax(y_pred, axis=axis)
    p = o.clip(o.divide(y_pred, o.sum(y_pred, axis=axis, keepdims=True)), _EPS, 1.0 - _EPS)
    cce = o.negative(o.multiply(y_true, o.log(p)))
    focal = o.multiply(o.multiply(o.power(o.subtract(1.0, p), float(gamma)), float(alpha)), cce)
    return o.sum(focal, axis=axis)


msle = mean_squared_logarithmic_error
mape = mean_absolute_percentage_error
kld = kl_divergence


class _OpsLoss(Loss):
    """A Keras loss written with ops: traced into C++ ops when the model is compiled."""

    fn: Any = None
    default_name = ""

    def __init__(self, reduction: str = "sum_over_batch_size", name: Any = None, **kwargs: Any) -> None:
        super().__init__(name=name or self.default_name, reduction=reduction)
        self.fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return type(self).fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, **self.fn_kwargs}


class Huber(_OpsLoss):
    fn, default_name = staticmethod(huber), "huber_loss"

    def __init__(self, delta: float = 1.0, reduction: str = "sum_over_batch_size", name: Any = None) -> None:
        if not delta > 0:
            raise ValueError(f"Huber: delta must be > 0, got {delta}")
        super().__init__(reduction, name, delta=float(delta))


class LogCosh(_OpsLoss):
    fn, default_name = staticmethod(log_cosh), "log_cosh"


class KLDivergence(_OpsLoss):
    fn, default_name = staticmethod(kl_divergence), "kl_divergence"


class Poisson(_OpsLoss):
    fn, default_name = staticmethod(poisson), "poisson"


class CosineSimilarity(_OpsLoss):
    fn, default_name = staticmethod(cosine_similarity), "cosine_similarity"

    def __init__(self, axis: int = -1, reduction: str = "sum_over_batch_size", name: Any = None) -> None:
        super().__init__(reduction, name, axis=int(axis))


class Hinge(_OpsLoss):
    fn, default_name = staticmethod(hinge), "hinge"


class SquaredHinge(_OpsLoss):
    fn, default_name = staticmethod(squared_hinge), "squared_hinge"


class CategoricalHinge(_OpsLoss):
    fn, default_name = staticmethod(categorical_hinge), "categorical_hinge"


class MeanSquaredLogarithmicError(_OpsLoss):
    fn, default_name = staticmethod(mean_squared_logarithmic_error), "mean_squared_logarithmic_error"


class MeanAbsolutePercentageError(_OpsLoss):
    fn, default_name = staticmethod(mean_absolute_percentage_error), "mean_absolute_percentage_error"


class BinaryFocalCrossentropy(_OpsLoss):
    fn, default_name = staticmethod(binary_focal_crossentropy), "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25, gamma: float = 2.0,
                 from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: Any = "sum_over_batch_size", name: Any = None, dtype: Any = None) -> None:
        super().__init__(reduction=reduction, name=name, apply_class_balancing=bool(apply_class_balancing),
                         alpha=float(alpha), gamma=float(gamma), from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=int(axis))


class CategoricalFocalCrossentropy(_OpsLoss):
    fn, default_name = staticmethod(categorical_focal_crossentropy), "categorical_focal_crossentropy"

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1, reduction: Any = "sum_over_batch_size",
                 name: Any = None, dtype: Any = None) -> None:
        super().__init__(reduction=reduction, name=name, alpha=float(alpha), gamma=float(gamma),
                         from_logits=bool(from_logits), label_smoothing=float(label_smoothing), axis=int(axis))


_BY_NAME = {
    "binary_focal_crossentropy": BinaryFocalCrossentropy, "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "huber": Huber, "huber_loss": Huber, "log_cosh": LogCosh, "logcosh": LogCosh,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson, "cosine_similarity": CosineSimilarity, "hinge": Hinge, "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge, "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}

mse = mean_squared_error = _per_sample(MeanSquaredError)
mae = mean_absolute_error = _per_sample(MeanAbsoluteError)
binary_crossentropy = _per_sample(BinaryCrossentropy)
categorical_crossentropy = _per_sample(CategoricalCrossentropy)
sparse_categorical_crossentropy = _per_sample(SparseCategoricalCrossentropy)
# A built-in loss function given to compile is its class's kernel, not a traced function.
_FUNCTION_CLASSES = {mse: MeanSquaredError, mae: MeanAbsoluteError, binary_crossentropy: BinaryCrossentropy,
                     categorical_crossentropy: CategoricalCrossentropy,
                     sparse_categorical_crossentropy: SparseCategoricalCrossentropy}


def get(identifier: Any) -> Loss:
    """A loss object from a name, a loss object, or a function ``fn(y_true, y_pred)`` of ops (a custom loss). A
    name that is not built in is looked up among registered and ``custom_objects`` names."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            from ._custom import lookup_custom
            found = lookup_custom(identifier)
            if found is not None:
                return get(found() if isinstance(found, type) else found)
            raise ValueError(f"unknown loss '{identifier}'; valid losses: {', '.join(_BY_NAME)} (or a function "
                             "loss(y_true, y_pred) of nncore.ops, registered or in custom_objects)")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and identifier in _FUNCTION_CLASSES:
        return _FUNCTION_CLASSES[identifier]()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"loss: expected a name, an nncore.losses.Loss or a function loss(y_true, y_pred), got "
                    f"{identifier!r}")
