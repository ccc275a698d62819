"""Regularization layers: Dropout, SpatialDropout2D, GaussianNoise, GaussianDropout, ActivityRegularization."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .. import _core
from .base import Layer, _check_kwargs, _number, _seed_arg

__all__ = ["Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "ActivityRegularization"]


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


class GaussianNoise(Layer):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` (in [0, 1], as Keras) in training; the
    identity in ``predict``/``evaluate``. Draws are reproducible under ``nncore.set_random_seed`` (or the layer's own
    ``seed``) and the same for any thread count.

    Example:
        >>> model = Sequential([GaussianNoise(0.1, input_shape=(16,)), Dense(1)])
    """

    def __init__(self, stddev: float, seed: Optional[int] = None, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("GaussianNoise", kwargs)
        impl = _core.GaussianNoise(_number(stddev, "GaussianNoise", "stddev", 0.0, 1.0),
                                   _seed_arg(seed, "GaussianNoise"), name or "")
        super().__init__(impl, input_shape)

    @property
    def stddev(self) -> float:
        return self._impl.stddev

    @property
    def seed(self) -> Optional[int]:
        return self._impl.seed


class GaussianDropout(Layer):
    """Multiplies by Gaussian noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))`` in training; the
    identity in ``predict``/``evaluate``. Reproducible as ``GaussianNoise``.

    Example:
        >>> GaussianDropout(0.2)
    """

    def __init__(self, rate: float, seed: Optional[int] = None, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("GaussianDropout", kwargs)
        impl = _core.GaussianDropout(_number(rate, "GaussianDropout", "rate", 0.0, 1.0, high_open=True),
                                     _seed_arg(seed, "GaussianDropout"), name or "")
        super().__init__(impl, input_shape)

    @property
    def rate(self) -> float:
        return self._impl.rate

    @property
    def seed(self) -> Optional[int]:
        return self._impl.seed


class ActivityRegularization(Layer):
    """The identity that adds ``l1 * sum(|x|) + l2 * sum(x ** 2)`` per sample, averaged over the batch, to the loss
    (in ``fit``, ``evaluate`` and ``compute_gradients``, like the weight penalties), and its gradient to ``x``.

    Example:
        >>> model = Sequential([Dense(64, activation="relu", input_shape=(32,)), ActivityRegularization(l1=1e-4),
        ...                     Dense(10, activation="softmax")])
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("ActivityRegularization", kwargs)
        impl = _core.ActivityRegularization(_number(l1, "ActivityRegularization", "l1", 0.0),
                                            _number(l2, "ActivityRegularization", "l2", 0.0), name or "")
        super().__init__(impl, input_shape)

    @property
    def l1(self) -> float:
        return self._impl.l1

    @property
    def l2(self) -> float:
        return self._impl.l2
