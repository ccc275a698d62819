"""Reshaping layers: Flatten, Reshape, ZeroPadding2D."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .. import _core
from .._convert import pair
from .base import Layer, _check_kwargs

__all__ = ["Flatten", "Reshape", "ZeroPadding2D"]


class Flatten(Layer):
    """Flattens each sample to one axis: ``(batch, 28, 28, 1) -> (batch, 784)``."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("Flatten", kwargs)
        super().__init__(_core.Flatten(name or ""), input_shape)


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1): ``Reshape((28, 28, 1))``."""

    def __init__(self, target_shape: Sequence[int], input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Reshape", kwargs)
        super().__init__(_core.Reshape([int(d) for d in target_shape], name or ""), input_shape)


class ZeroPadding2D(Layer):
    """Zero rows and columns around each image: ``padding`` is an int, ``(pad_h, pad_w)`` or
    ``((top, bottom), (left, right))``."""

    def __init__(self, padding: Any = (1, 1), input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("ZeroPadding2D", kwargs)
        if isinstance(padding, (int, np.integer)):
            h = w = (int(padding), int(padding))
        else:
            try:
                ph, pw = padding
            except (TypeError, ValueError) as exc:
                raise ValueError(f"ZeroPadding2D: padding must be an int, a pair or a pair of pairs, "
                                 f"got {padding!r}") from exc
            h = pair(ph, "ZeroPadding2D padding")
            w = pair(pw, "ZeroPadding2D padding")
        super().__init__(_core.ZeroPadding2D(h, w, name or ""), input_shape)
