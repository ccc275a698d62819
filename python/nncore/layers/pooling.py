"""Pooling layers: max and average, 1-D and 2-D, local and global."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .. import _core
from .._convert import pair
from .base import Layer, _channels_last, _check_kwargs, _single

__all__ = ["MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPooling1D",
           "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D"]


class _Pooling2D(Layer):
    _core_class: Any = None

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        cls = type(self).__name__
        _check_kwargs(cls, kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{cls}: only data_format='channels_last' is supported, got {data_format!r}")
        pool = pair(pool_size, f"{cls} pool_size")
        stride = pool if strides is None else pair(strides, f"{cls} strides")
        super().__init__(type(self)._core_class(pool, stride, str(padding).lower(), name or ""), input_shape)

    @property
    def pool_size(self) -> tuple:
        return tuple(self._impl.pool_size)

    @property
    def strides(self) -> tuple:
        return tuple(self._impl.strides)


class MaxPooling2D(_Pooling2D):
    """Max over ``pool_size`` windows (strides default to ``pool_size``): ``MaxPooling2D((2, 2))``."""

    _core_class = _core.MaxPooling2D


class AveragePooling2D(_Pooling2D):
    """Mean over ``pool_size`` windows; with ``padding='same'`` the padding is not counted (as Keras)."""

    _core_class = _core.AveragePooling2D


class GlobalAveragePooling2D(Layer):
    """``(batch, H, W, C) -> (batch, C)``: the mean over each image's positions."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("GlobalAveragePooling2D", kwargs)
        super().__init__(_core.GlobalAveragePooling2D(name or ""), input_shape)


class GlobalMaxPooling2D(Layer):
    """``(batch, H, W, C) -> (batch, C)``: the max over each image's positions."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("GlobalMaxPooling2D", kwargs)
        super().__init__(_core.GlobalMaxPooling2D(name or ""), input_shape)


class _Pooling1D(Layer):
    _core_class: Any = None

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        cls = type(self).__name__
        _check_kwargs(cls, kwargs)
        _channels_last(cls, data_format)
        pool = _single(pool_size, f"{cls} pool_size")
        stride = 0 if strides is None else _single(strides, f"{cls} strides")
        super().__init__(type(self)._core_class(pool, stride, str(padding).lower(), name or ""), input_shape)

    @property
    def pool_size(self) -> tuple:
        return (self._impl.pool_size,)

    @property
    def strides(self) -> tuple:
        return (self._impl.strides,)

    @property
    def padding(self) -> str:
        return self._impl.padding


class MaxPooling1D(_Pooling1D):
    """Max over windows of ``pool_size`` steps (strides default to ``pool_size``): ``MaxPooling1D(2)``."""

    _core_class = _core.MaxPooling1D


class AveragePooling1D(_Pooling1D):
    """Mean over windows of ``pool_size`` steps; with ``padding='same'`` the padding is not counted (as Keras)."""

    _core_class = _core.AveragePooling1D


class GlobalAveragePooling1D(Layer):
    """``(batch, steps, features) -> (batch, features)``: the mean over the steps. Under a mask (from
    ``Embedding(mask_zero=True)``) the mean over the valid steps only, as in Keras."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("GlobalAveragePooling1D", kwargs)
        _channels_last("GlobalAveragePooling1D", data_format)
        super().__init__(_core.GlobalAveragePooling1D(name or ""), input_shape)


class GlobalMaxPooling1D(Layer):
    """``(batch, steps, features) -> (batch, features)``: the max over the steps."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("GlobalMaxPooling1D", kwargs)
        _channels_last("GlobalMaxPooling1D", data_format)
        super().__init__(_core.GlobalMaxPooling1D(name or ""), input_shape)
