"""Metrics, as Keras 3's ``keras.metrics``: objects with ``update_state(y_true, y_pred, sample_weight)``,
``result()`` and ``reset_state()``, and the names ``compile(metrics=[...])`` takes.

The built-in metrics (accuracies, errors, cross-entropies, ``Precision``, ``Recall``, ``AUC``, ``F1Score``,
``TruePositives``...) are computed by the C++ core, inside ``fit``/``evaluate`` with no Python per batch; so are
metrics that average a function of ops (``MeanMetricWrapper(fn)``, ``KLDivergence``, ``Poisson``...), traced once at
compile. A ``Metric`` subclass of your own (``update_state``/``result``/``reset_state`` with ``add_variable``) runs in
Python once per batch. ``'accuracy'`` picks the variant that matches the loss (sparse categorical, categorical or
binary), as Keras does.

Example:
    >>> model.compile("adam", "binary_crossentropy",
    ...               metrics=["accuracy", nncore.metrics.AUC(), nncore.metrics.Precision(thresholds=0.7)])
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

import numpy as np

from . import _core
from . import losses as _losses

__all__ = ["Metric", "MetricVariable", "Mean", "Sum", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy",
           "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "TruePositives",
           "FalsePositives", "TrueNegatives", "FalseNegatives", "Precision", "Recall", "AUC", "F1Score",
           "FBetaScore", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "CosineSimilarity",
           "LogCoshError", "KLDivergence", "Poisson", "Hinge", "SquaredHinge", "CategoricalHinge",
           "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "names", "get", "serialize", "deserialize"]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class MetricVariable(np.lib.mixins.NDArrayOperatorsMixin):
    """A metric's state variable (``Metric.add_variable``): a float array with ``assign``/``assign_add``/
    ``assign_sub``, usable in ``nncore.ops`` and numpy expressions."""

    def __init__(self, value: np.ndarray, name: str) -> None:
        self._value = value
        self.name = name

    @property
    def value(self) -> np.ndarray:
        return self._value

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def dtype(self) -> str:
        return str(self._value.dtype)

    def numpy(self) -> np.ndarray:
        return self._value.copy()

    def assign(self, value: Any) -> "MetricVariable":
        v = np.asarray(value, dtype=self._value.dtype)
        try:
            self._value[...] = v
        except ValueError:
            raise ValueError(f"metric variable '{self.name}': cannot assign a value of shape {v.shape} to a variable "
                             f"of shape {self._value.shape}") from None
        return self

    def assign_add(self, value: Any) -> "MetricVariable":
        return self.assign(self._value + np.asarray(value, dtype=self._value.dtype))

    def assign_sub(self, value: Any) -> "MetricVariable":
        return self.assign(self._value - np.asarray(value, dtype=self._value.dtype))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._value if dtype is None else self._value.astype(dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        inputs = tuple(i._value if isinstance(i, MetricVariable) else i for i in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __float__(self) -> float:
        return float(self._value)

    def __repr__(self) -> str:
        return f"<MetricVariable {self.name} shape={self.shape} value={self._value}>"


class Metric:
    """The base of metrics. A subclass defines ``update_state(self, y_true, y_pred, sample_weight=None)``,
    ``result(self)`` and, if its variables do not simply go back to zero, ``reset_state(self)``; it keeps its state
    in ``self.add_variable(shape, initializer, dtype, name)``. In ``fit``/``evaluate`` it is fed each batch's targets
    and predictions (numpy arrays) in Python, and reset at the start of each epoch and evaluation."""

    def __init__(self, name: Optional[str] = None, dtype: Any = None) -> None:
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"
        self._variables: List[MetricVariable] = []

    # ---- state ----
    def add_variable(self, shape: Any = (), initializer: Any = "zeros", dtype: Any = None, aggregation: str = "sum",
                     name: Optional[str] = None) -> MetricVariable:
        shape = tuple(shape) if isinstance(shape, (list, tuple)) else (() if shape is None else (int(shape),))
        dtype = np.dtype(dtype or self.dtype)
        if callable(initializer):
            value = np.asarray(initializer(shape, dtype=dtype), dtype=dtype)
        elif initializer in ("zeros", None):
            value = np.zeros(shape, dtype)
        elif initializer == "ones":
            value = np.ones(shape, dtype)
        elif isinstance(initializer, (int, float)):
            value = np.full(shape, initializer, dtype)
        else:
            raise ValueError(f"metric '{self.name}': add_variable initializer must be 'zeros', 'ones', a number or a "
                             f"callable(shape, dtype), got {initializer!r}")
        v = MetricVariable(value, name or f"variable_{len(self._variables)}")
        v._initial = value.copy()
        self._variables.append(v)
        return v

    def add_weight(self, name: Optional[str] = None, shape: Any = (), initializer: Any = "zeros", dtype: Any = None,
                   aggregation: str = "sum") -> MetricVariable:
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, aggregation=aggregation, name=name)

    @property
    def variables(self) -> List[MetricVariable]:
        return list(self._variables)

    def reset_state(self) -> None:
        for v in self._variables:
            v.assign(np.zeros(v.shape, v.value.dtype))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define update_state(y_true, y_pred, sample_weight)")

    def result(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define result()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"

    # ---- the training loop's side ----
    def _core_metric(self, model: Any, output: int, weighted: bool) -> Any:
        """What compile hands the C++ core for this metric on a model output."""
        import weakref
        self._target_of = (weakref.ref(model), output)  # where update_state's y_true gets its shape
        return _core.Metric.external(self, self.name, json.dumps(_jsonable(self.get_config())), weighted)

    def _nncore_reset(self) -> None:
        self.reset_state()

    def _nncore_update(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Optional[np.ndarray]) -> None:
        # Targets shaped as given to fit/evaluate (Keras: integer labels of shape (n,) give y_true (batch,)); else
        # like the output, else one row per sample.
        n = len(y_pred)
        model, output = self.__dict__.get("_target_of", (lambda: None, 0))
        shapes = getattr(model(), "_target_sample_shapes", None)
        given = shapes[output] if shapes is not None and output < len(shapes) else None
        if given is not None and y_true.size == n * int(np.prod(given)):
            y_true = y_true.reshape((n, *given))
        elif y_true.size == y_pred.size:
            y_true = y_true.reshape(y_pred.shape)
        else:
            y_true = y_true.reshape(n, -1)
        self.update_state(y_true, y_pred, sample_weight=sample_weight)

    def _nncore_result(self) -> float:
        value = np.asarray(self.result(), dtype=np.float64)
        if value.size != 1:
            raise ValueError(f"metric '{self.name}': result() must be one number in fit/evaluate logs, got an array "
                             f"of shape {value.shape}")
        return float(value.reshape(()))


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


def _float32(v: Any, what: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: expected numbers, got {type(v).__name__}") from None
    return np.ascontiguousarray(a)


class _CoreMetric(Metric):
    """A metric the C++ core computes (Keras's class name and config); its state is a float64 array here."""

    _class = ""

    def __init__(self, name: Optional[str] = None, dtype: Any = None, **config: Any) -> None:
        super().__init__(name=name or _snake_default(type(self)), dtype=dtype)
        self._config = config
        self._impl = _core.Metric.from_config(self._spec())  # checks the arguments now, as Keras's constructors do
        self._state: Optional[np.ndarray] = None
        self._out: tuple = ()

    def _spec(self, weighted: bool = False) -> str:
        spec = {"class_name": self._class or type(self).__name__,
                "config": {"name": self.name, **_jsonable(self._config)}}
        if weighted:
            spec["weighted"] = True
        return json.dumps(spec)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        p = _float32(y_pred, f"{self.name}: y_pred")
        t = _float32(y_true, f"{self.name}: y_true")
        if p.ndim == 0:
            p, t = p.reshape(1), t.reshape(1)
        if p.ndim == 1 and self._config.get("top_k"):
            # Keras filters the top k along the last axis: a 1-D y_pred is one row.
            if sample_weight is not None and np.ndim(sample_weight) > 0 and len(set(np.ravel(sample_weight))) > 1:
                raise ValueError(f"metric '{self.name}': top_k on a 1-D y_pred reads it as one row, which has one "
                                 "sample weight; give y_pred shape (samples, classes) for per-sample weights")
            p, t = p.reshape(1, -1), t.reshape(1, -1)
            if sample_weight is not None:
                sample_weight = np.ravel(sample_weight)[:1]
        out = tuple(p.shape[1:]) or (1,)
        if self._state is None or out != self._out:
            if self._state is not None and out[-1:] != self._out[-1:] and self._state.any():
                raise ValueError(f"metric '{self.name}': y_pred has {out[-1]} values on its last axis, earlier batches "
                                 f"had {self._out[-1]}")
            if self._state is None:
                self._state = np.zeros(self._impl.state_size(list(out)), np.float64)
            self._out = out
        w = None if sample_weight is None else _float32(np.broadcast_to(np.asarray(sample_weight, np.float32)
                                                                        if np.ndim(sample_weight) == 0 else
                                                                        sample_weight, (p.shape[0],)).copy(),
                                                        f"{self.name}: sample_weight")
        self._impl.update(self._state, t, p, w)

    _per_threshold = False  # one value per threshold (the confusion counts, Precision, Recall)

    def result(self) -> Any:
        if self._state is not None:
            values = self._impl.result(self._state, list(self._out))
        elif self._per_threshold:
            values = [0.0] * len(np.atleast_1d(self._config.get("thresholds") or [0.5]))
        else:
            values = [0.0]
        if len(values) == 1 and not self._vector_result():
            return np.float32(values[0])
        return np.asarray(values, np.float32)

    def _vector_result(self) -> bool:
        """Whether the result is an array even with one value (a list of thresholds was given)."""
        return self._per_threshold and isinstance(self._config.get("thresholds"), list)

    def reset_state(self) -> None:
        if self._state is not None:
            self._state[:] = 0.0

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, **self._config}

    def _core_metric(self, model: Any, output: int, weighted: bool) -> Any:
        return self._spec(weighted)


def _snake_default(cls: type) -> str:
    return getattr(cls, "_default_name", "") or _snake(cls.__name__)


# ---- accuracies and errors ------------------------------------------------------------------------------------------
class Accuracy(_CoreMetric):
    """How often predictions equal the targets exactly."""


class BinaryAccuracy(_CoreMetric):
    def __init__(self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5) -> None:
        super().__init__(name=name, dtype=dtype, threshold=float(threshold))


class CategoricalAccuracy(_CoreMetric):
    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)


class SparseCategoricalAccuracy(_CoreMetric):
    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)


class TopKCategoricalAccuracy(_CoreMetric):
    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype, k=int(k))


class SparseTopKCategoricalAccuracy(_CoreMetric):
    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype: Any = None,
                 from_sorted_ids: bool = False) -> None:
        if from_sorted_ids:
            raise ValueError("SparseTopKCategoricalAccuracy: from_sorted_ids=True is not supported; give the "
                             "predicted scores (one per class)")
        super().__init__(name=name, dtype=dtype, k=int(k))


class MeanSquaredError(_CoreMetric):
    def __init__(self, name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)


class MeanAbsoluteError(_CoreMetric):
    def __init__(self, name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)


class RootMeanSquaredError(_CoreMetric):
    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)


class BinaryCrossentropy(_CoreMetric):
    def __init__(self, name: str = "binary_crossentropy", dtype: Any = None, from_logits: bool = False,
                 label_smoothing: float = 0.0) -> None:
        super().__init__(name=name, dtype=dtype, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing))


class CategoricalCrossentropy(_CoreMetric):
    def __init__(self, name: str = "categorical_crossentropy", dtype: Any = None, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1) -> None:
        super().__init__(name=name, dtype=dtype, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=int(axis))


class SparseCategoricalCrossentropy(_CoreMetric):
    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype: Any = None, from_logits: bool = False,
                 axis: int = -1) -> None:
        super().__init__(name=name, dtype=dtype, from_logits=bool(from_logits), axis=int(axis))


# ---- confusion-matrix metrics ---------------------------------------------------------------------------------------
def _thresholds(t: Any) -> Any:
    if t is None:
        return None
    return [float(v) for v in t] if isinstance(t, (list, tuple, np.ndarray)) else float(t)


class _Confusion(_CoreMetric):
    _per_threshold = True

    def __init__(self, thresholds: Any = None, name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype, thresholds=_thresholds(thresholds))


class TruePositives(_Confusion):
    """The (weighted) count of positive targets predicted above the threshold."""


class FalsePositives(_Confusion):
    pass


class TrueNegatives(_Confusion):
    pass


class FalseNegatives(_Confusion):
    pass


class Precision(_CoreMetric):
    """TP / (TP + FP) at ``thresholds`` (default 0.5); ``top_k``: only a row's k largest predictions count as
    positive; ``class_id``: the precision of that class alone."""

    _per_threshold = True

    def __init__(self, thresholds: Any = None, top_k: Optional[int] = None, class_id: Optional[int] = None,
                 name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype, thresholds=_thresholds(thresholds),
                         top_k=None if top_k is None else int(top_k), class_id=None if class_id is None else int(class_id))


class Recall(Precision):
    """TP / (TP + FN), with Precision's arguments."""


class AUC(_CoreMetric):
    """Area under the ROC (or PR) curve, approximated on ``num_thresholds`` thresholds with Keras's Riemann sums."""

    _class, _default_name = "AUC", "auc"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name: Optional[str] = None, dtype: Any = None, thresholds: Any = None, multi_label: bool = False,
                 num_labels: Optional[int] = None, label_weights: Any = None, from_logits: bool = False) -> None:
        super().__init__(name=name or "auc", dtype=dtype, num_thresholds=int(num_thresholds), curve=curve,
                         summation_method=summation_method, thresholds=_thresholds(thresholds),
                         multi_label=bool(multi_label), num_labels=num_labels,
                         label_weights=None if label_weights is None else [float(v) for v in label_weights],
                         from_logits=bool(from_logits))


class FBetaScore(_CoreMetric):
    """F-beta per class (``average=None``) or averaged (``'micro'``, ``'macro'``, ``'weighted'``); a class is
    predicted when its score is above ``threshold``, or is the row's largest when ``threshold`` is None."""

    _default_name = "fbeta_score"

    def __init__(self, average: Optional[str] = None, beta: float = 1.0, threshold: Optional[float] = None,
                 name: str = "fbeta_score", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype, average=average, beta=float(beta),
                         threshold=None if threshold is None else float(threshold))

    def _vector_result(self) -> bool:
        return self._config.get("average") is None


class F1Score(FBetaScore):
    _default_name = "f1_score"

    def __init__(self, average: Optional[str] = None, threshold: Optional[float] = None, name: str = "f1_score",
                 dtype: Any = None) -> None:
        _CoreMetric.__init__(self, name=name, dtype=dtype, average=average,
                             threshold=None if threshold is None else float(threshold))


# ---- means of values and of functions -----------------------------------------------------------------------------
class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(name="total", dtype="float64")
        self.count = self.add_variable(name="count", dtype="float64")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        v = np.asarray(values, np.float64)
        if sample_weight is None:
            self.total.assign_add(v.sum())
            self.count.assign_add(v.size)
            return
        w = np.asarray(sample_weight, np.float64)
        while w.ndim < v.ndim:
            w = w[..., None]
        w = np.broadcast_to(w, v.shape) if w.shape != v.shape else w
        self.total.assign_add((v * w).sum())
        self.count.assign_add(w.sum())

    def result(self) -> Any:
        c = float(self.count.value)
        return np.float32(float(self.total.value) / c if c else 0.0)

    def _core_metric(self, model: Any, output: int, weighted: bool) -> Any:
        raise ValueError(f"compile(metrics=): {type(self).__name__} '{self.name}' averages the values you give "
                         "update_state(values); a metric in compile reads (y_true, y_pred): use "
                         "MeanMetricWrapper(fn) with fn(y_true, y_pred), or a Metric subclass")


class Sum(Mean):
    """The (weighted) sum of the values given to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name: str = "sum", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)

    def result(self) -> Any:
        return np.float32(self.total.value)


class MeanMetricWrapper(Metric):
    """The (weighted) mean over samples of ``fn(y_true, y_pred, **kwargs)``, a function of ``nncore.ops`` returning
    one value per sample (or per sample and step): standalone it runs on the arrays; in compile it is traced once
    into C++ ops, like a custom loss."""

    def __init__(self, fn: Any, name: Optional[str] = None, dtype: Any = None, **kwargs: Any) -> None:
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: fn must be a function fn(y_true, y_pred), got {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None) or "mean_metric_wrapper", dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        self._mean = Mean(name=self.name)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        t = np.asarray(y_true, np.float32)
        p = np.asarray(y_pred, np.float32)
        if t.size == p.size and t.shape != p.shape:
            t = t.reshape(p.shape)
        self._mean.update_state(np.asarray(self._fn(t, p, **self._fn_kwargs), np.float64), sample_weight)

    def result(self) -> Any:
        return self._mean.result()

    def reset_state(self) -> None:
        self._mean.reset_state()

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}

    def _core_metric(self, model: Any, output: int, weighted: bool) -> Any:
        fn, kwargs = self._fn, self._fn_kwargs
        loss = _losses.LossFunctionWrapper(fn, name=self.name, **kwargs)
        out_shape, y_shape = model._metric_shapes(output)
        return _core.Metric.from_loss(_losses.trace(loss, y_shape, out_shape), self.name, False, weighted)


def _negated(fn: Any) -> Any:
    def cosine(y_true: Any, y_pred: Any, axis: int = -1) -> Any:
        from . import _keras_ops as o
        return o.negative(fn(y_true, y_pred, axis=axis))
    return cosine


class _FunctionMetric(MeanMetricWrapper):
    _fn: Any = None
    _default_name = ""

    def __init__(self, name: Optional[str] = None, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(type(self)._function, name=name or self._default_name, dtype=dtype, **kwargs)

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}


class MeanAbsolutePercentageError(_FunctionMetric):
    _function, _default_name = staticmethod(_losses.mean_absolute_percentage_error), "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(_FunctionMetric):
    _function, _default_name = staticmethod(_losses.mean_squared_logarithmic_error), "mean_squared_logarithmic_error"


class CosineSimilarity(_FunctionMetric):
    """The mean cosine of the angle between targets and predictions (1 is perfect; the loss is its negative)."""

    _function, _default_name = staticmethod(_negated(_losses.cosine_similarity)), "cosine_similarity"

    def __init__(self, name: str = "cosine_similarity", dtype: Any = None, axis: int = -1) -> None:
        super().__init__(name=name, dtype=dtype, axis=int(axis))


class LogCoshError(_FunctionMetric):
    _function, _default_name = staticmethod(_losses.log_cosh), "logcosh"


class KLDivergence(_FunctionMetric):
    _function, _default_name = staticmethod(_losses.kl_divergence), "kl_divergence"


class Poisson(_FunctionMetric):
    _function, _default_name = staticmethod(_losses.poisson), "poisson"


class Hinge(_FunctionMetric):
    _function, _default_name = staticmethod(_losses.hinge), "hinge"


class SquaredHinge(_FunctionMetric):
    _function, _default_name = staticmethod(_losses.squared_hinge), "squared_hinge"


class CategoricalHinge(_FunctionMetric):
    _function, _default_name = staticmethod(_losses.categorical_hinge), "categorical_hinge"


# ---- Keras's metric functions (per-sample values, on arrays) ----------------------------------------------------------
def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    t, p = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
    return np.mean((p > threshold) == (t.reshape(p.shape) > 0.5), axis=-1).astype(np.float32)


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    t, p = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
    return (np.argmax(p, -1) == np.argmax(t, -1)).astype(np.float32)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    p = np.asarray(y_pred, np.float32)
    t = np.asarray(y_true).reshape(p.shape[:-1])
    return (np.argmax(p, -1) == t).astype(np.float32)


def _in_top_k(p: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
    score = np.take_along_axis(p, target[..., None].astype(np.int64), -1)
    return (np.sum(p > score, axis=-1) < k).astype(np.float32)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    p = np.asarray(y_pred, np.float32)
    return _in_top_k(p, np.argmax(np.asarray(y_true, np.float32), -1), k)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    p = np.asarray(y_pred, np.float32)
    return _in_top_k(p, np.asarray(y_true).reshape(p.shape[:-1]), k)


# ---- lookup ---------------------------------------------------------------------------------------------------------
_CLASSES = {c.__name__: c for c in (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, TruePositives, FalsePositives, TrueNegatives,
    FalseNegatives, Precision, Recall, AUC, F1Score, FBetaScore, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError, KLDivergence, Poisson, Hinge, SquaredHinge,
    CategoricalHinge, Mean, Sum)}
# Names the C++ core resolves itself ('accuracy' depends on the loss).
_CORE_NAMES = ("accuracy", "acc", "mse", "mae", "rmse", "binary_accuracy", "categorical_accuracy",
               "sparse_categorical_accuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
               "mean_squared_error", "mean_absolute_error")
_BY_NAME = {
    **{_snake_default(c): c for c in _CLASSES.values()},
    "auc": AUC, "precision": Precision, "recall": Recall, "f1_score": F1Score, "fbeta_score": FBetaScore,
    "mape": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError, "logcosh": LogCoshError,
    "log_cosh": LogCoshError, "kld": KLDivergence, "kullback_leibler_divergence": KLDivergence,
}


def names() -> List[str]:
    """The names compile(metrics=[...]) takes: Keras's snake-case names, then its class names."""
    snake = [n for n in sorted(_BY_NAME) if n not in _CORE_NAMES and _BY_NAME[n] not in (Mean, Sum)]
    return list(_CORE_NAMES) + snake + sorted(n for n, c in _CLASSES.items() if c not in (Mean, Sum))


def get(identifier: Any) -> Any:
    """A metric for compile: a name the core resolves (str), or a Metric object. Class names (``"AUC"``), their
    snake-case names (``"auc"``), registered or ``custom_objects`` names, Metric classes and instances, and functions
    ``fn(y_true, y_pred)`` of ops (wrapped in MeanMetricWrapper) are accepted."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier in _CORE_NAMES:
            return identifier
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier)
        if cls is not None:
            return cls()
        from ._custom import lookup_custom
        found = lookup_custom(identifier)
        if found is not None:
            return get(found)
        raise ValueError(f"unknown metric '{identifier}'; valid metrics: {', '.join(names())} (or a Metric object, "
                         "or a function metric(y_true, y_pred) of nncore.ops)")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"metric: expected a name, an nncore.metrics.Metric or a function metric(y_true, y_pred), got "
                    f"{identifier!r}")


def serialize(metric: Metric) -> Dict[str, Any]:
    from ._custom import get_registered_name
    cls = type(metric)
    name = cls.__name__ if cls.__name__ in _CLASSES and _CLASSES[cls.__name__] is cls else get_registered_name(cls)
    return {"module": "keras.metrics", "class_name": name, "config": _jsonable(metric.get_config()),
            "registered_name": name}


def deserialize(config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None) -> Metric:
    if isinstance(config, str):
        return get(config)
    name = config.get("class_name")
    cls = _CLASSES.get(name)
    if cls is None:
        from ._custom import find_class
        cls = find_class(config.get("registered_name") or name, custom_objects)
    if cls is None:
        raise ValueError(f"unknown metric class '{name}'; register it with nncore.saving.register_keras_serializable "
                         "or pass it in custom_objects")
    return cls.from_config(dict(config.get("config") or {}))
