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

    @property
    def dtype(self) -> str:
        return self.output.dtype

    @property
    def batch_shape(self) -> tuple:
        return self.output.shape

    def __repr__(self) -> str:
        return f"<InputLayer name='{self.name}' shape={self.output.shape}>"
