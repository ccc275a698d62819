"""Keras's ``keras.layers.Input`` and ``keras.layers.InputLayer``: a model's input, for the functional API and as
the first entry of a ``Sequential``."""
from __future__ import annotations

from typing import Any, Optional

__all__ = ["Input", "InputLayer"]


def Input(*args: Any, **kwargs: Any) -> Any:
    """``nncore.Input`` (the same function; it lives in nncore.models)."""
    from ..models import Input as _input
    return _input(*args, **kwargs)


class InputLayer:
    """The input of a model as a layer-like entry: ``Sequential([InputLayer(shape=(4,)), Dense(2)])``. Its
    ``output`` is the KerasTensor of ``nncore.Input`` with the same arguments (``input_shape`` is Keras 2's name for
    ``shape``; ``input_tensor`` takes an existing Input)."""

    def __init__(self, shape: Any = None, batch_size: Optional[int] = None, dtype: Any = None,
                 sparse: Optional[bool] = None, batch_shape: Any = None, input_tensor: Any = None,
                 name: Optional[str] = None, input_shape: Any = None, optional: bool = False) -> None:
        if input_shape is not None:
            if shape is not None:
                raise ValueError("InputLayer: give shape or input_shape, not both")
            shape = input_shape
        if input_tensor is not None:
            from ..models import KerasTensor
            if not isinstance(input_tensor, KerasTensor) or input_tensor._layer is not None:
                raise TypeError("InputLayer: input_tensor must be the KerasTensor of nncore.Input(...)")
            self.output = input_tensor
        else:
            self.output = Input(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                                batch_shape=batch_shape, name=name, optional=optional)
        self.name = self.output.name
        self.trainable = True  # nothing to train; kept settable for loops over model.layers (transfer learning)

    # A layer without weights, as Keras's InputLayer: loops over ``model.layers`` (freezing, weight copies,
    # count_params) meet it first in a functional model.
    built = True
    weights: list = []
    trainable_weights: list = []
    non_trainable_weights: list = []
    losses: list = []
    gradients: list = []

    @property
    def output_shape(self) -> tuple:
        return self.output.shape

    @property
    def input_shape(self) -> tuple:
        return self.output.shape

    @property
    def input(self) -> Any:
        return self.output

    def get_weights(self) -> list:
        return []

    def set_weights(self, weights: list) -> None:
        if len(weights) != 0:
            raise ValueError(f"InputLayer '{self.name}' has no weights; set_weights got {len(weights)} arrays")

    def count_params(self) -> int:
        return 0

    def get_config(self) -> dict:
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "InputLayer":
        return cls(**config)

    @property
    def dtype(self) -> str:
        return self.output.dtype

    @property
    def batch_shape(self) -> tuple:
        return self.output.shape

    def __repr__(self) -> str:
        return f"<InputLayer name='{self.name}' shape={self.output.shape}>"
