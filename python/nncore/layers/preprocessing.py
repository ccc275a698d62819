"""Preprocessing layers: Rescaling."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .. import _core
from .base import Layer, _check_kwargs, _number

__all__ = ["Rescaling"]


class Rescaling(Layer):
    """``x * scale + offset`` (Keras's Rescaling; ``scale`` and ``offset`` are numbers).

    Example:
        >>> Rescaling(1.0 / 255)                  # [0, 255] -> [0, 1]
        >>> Rescaling(1.0 / 127.5, offset=-1.0)   # [0, 255] -> [-1, 1]
    """

    def __init__(self, scale: float, offset: float = 0.0, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Rescaling", kwargs)
        impl = _core.Rescaling(_number(scale, "Rescaling", "scale"), _number(offset, "Rescaling", "offset"),
                               name or "")
        super().__init__(impl, input_shape)

    @property
    def scale(self) -> float:
        return self._impl.scale

    @property
    def offset(self) -> float:
        return self._impl.offset
