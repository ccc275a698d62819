"""Regularization layers: Dropout, SpatialDropout2D."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .. import _core
from .base import Layer, _check_kwargs

__all__ = ["Dropout", "SpatialDropout2D"]


class Dropout(Layer):
    """Inverted dropout: in training, zeroes a fraction ``rate`` of inputs and scales the rest by
    ``1/(1-rate)``; the identity in ``predict``/``evaluate``."""

    def __init__(self, rate: float, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("Dropout", kwargs)
        super().__init__(_core.Dropout(float(rate), name or ""), input_shape)

    @property
    def rate(self) -> float:
        return self._impl.rate


class SpatialDropout2D(Layer):
    """Spatial dropout for channels-last images ``(batch, height, width, channels)``: in training, drops
    whole feature maps (one draw per sample and channel, shared over height and width) and scales the kept
    ones by ``1/(1-rate)``; the identity in ``predict``/``evaluate``. Reproducible under
    ``nncore.set_random_seed``.

    Example:
        >>> model = Sequential([Conv2D(16, 3, activation="relu", input_shape=(28, 28, 1)),
        ...                     SpatialDropout2D(0.2), Flatten(), Dense(10, activation="softmax")])
    """

    def __init__(self, rate: float, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("SpatialDropout2D", kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"SpatialDropout2D: only data_format='channels_last' is supported, got {data_format!r}")
        super().__init__(_core.SpatialDropout2D(float(rate), name or ""), input_shape)

    @property
    def rate(self) -> float:
        return self._impl.rate
