"""Losses (Keras names). A loss object is callable: ``loss(y_true, y_pred) -> float`` (mean over the batch).

Example:
    >>> model.compile("adam", loss=nncore.losses.SparseCategoricalCrossentropy(from_logits=True))
"""
from __future__ import annotations

from typing import Any, Tuple, Union

import numpy as np

from . import _core
from ._convert import as_float32

__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "get", "mse", "mae", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy"]


class Loss:
    """A named loss with its options; computed by the C++ kernels."""

    kernel_name = ""

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = bool(from_logits)

    @property
    def name(self) -> str:
        return self.kernel_name

    def value_and_gradient(self, y_true: Any, y_pred: Any) -> Tuple[float, np.ndarray]:
        """Mean loss over the batch and its gradient with respect to ``y_pred``."""
        return _core.loss(self.kernel_name, as_float32(y_pred, f"{self.name}: y_pred"),
                          as_float32(y_true, f"{self.name}: y_true"), self.from_logits)

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        return self.value_and_gradient(y_true, y_pred)[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


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


def get(identifier: Union[str, Loss]) -> Loss:
    """A loss object from a name or a loss object."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"unknown loss '{identifier}'; valid losses: {', '.join(_BY_NAME)}")
        return cls()
    raise TypeError(f"loss: expected a name or an nncore.losses.Loss, got {identifier!r}")
