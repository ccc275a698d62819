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

from typing import Any, Tuple, Union

import numpy as np

from . import _core
from ._convert import as_float32

__all__ = ["Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "get", "mse", "mae", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy"]


class Loss:
    """The base of losses. Built-in losses are computed by the C++ kernels; a subclass that defines
    ``call(self, y_true, y_pred)`` (ops on the targets and predictions, returning per-sample values) is a custom loss,
    traced into C++ ops when the model is compiled. ``reduction`` is Keras's ``"sum_over_batch_size"`` (the only one
    nncore's loop uses)."""

    kernel_name = ""
    call: Any = None  # a custom loss's computation (subclasses define it)

    def __init__(self, name: Any = None, reduction: str = "sum_over_batch_size", dtype: Any = None,
                 from_logits: bool = False) -> None:
        if isinstance(name, bool):  # the built-ins' positional form Loss(from_logits)
            name, from_logits = None, name
        if reduction not in ("sum_over_batch_size", "auto", None):
            raise ValueError(f"{type(self).__name__}: reduction must be 'sum_over_batch_size', got {reduction!r} "
                             "(nncore's training loop averages each batch)")
        self.from_logits = bool(from_logits)
        self._name = name
        self.reduction = "sum_over_batch_size"

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
                          as_float32(y_true, f"{self.name}: y_true"), self.from_logits)

    def __call__(self, y_true: Any, y_pred: Any) -> Any:
        if not self.is_custom:
            return self.value_and_gradient(y_true, y_pred)[0]
        if self.call is None:
            raise TypeError(f"{type(self).__name__}: a Loss subclass defines call(self, y_true, y_pred)")
        v = self.call(y_true, y_pred)
        from ._keras_ops import _is_symbolic
        return v if _is_symbolic(v) else float(np.mean(np.asarray(v, np.float64)))

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
    graph = Model([yt, yp], v, name=f"{loss.name}_graph")
    return graph._impl, loss.name, kind == "sum"


class MeanSquaredError(Loss):
    kernel_name = "mean_squared_error"

    def __init__(self) -> None:
        super().__init__(False)


class MeanAbsoluteError(Loss):
    kernel_name = "mean_absolute_error"

    def __init__(self) -> None:
        super().__init__(False)


class BinaryCrossentropy(Loss):
    kernel_name = "binary_crossentropy"


class CategoricalCrossentropy(Loss):
    kernel_name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(Loss):
    kernel_name = "sparse_categorical_crossentropy"


_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}

mse = mean_squared_error = MeanSquaredError()
mae = mean_absolute_error = MeanAbsoluteError()
binary_crossentropy = BinaryCrossentropy()
categorical_crossentropy = CategoricalCrossentropy()
sparse_categorical_crossentropy = SparseCategoricalCrossentropy()


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
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"loss: expected a name, an nncore.losses.Loss or a function loss(y_true, y_pred), got "
                    f"{identifier!r}")
