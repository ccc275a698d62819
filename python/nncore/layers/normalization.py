"""Normalization layers: BatchNormalization, LayerNormalization."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .. import _core
from .base import Layer, WeightAttribute, _check_axis, _check_kwargs, _init_arg

__all__ = ["BatchNormalization", "LayerNormalization"]


class BatchNormalization(Layer):
    """Normalizes each channel (the last axis) over the batch and every other axis, then scales by ``gamma`` and
    shifts by ``beta``. Training uses the batch's statistics and updates ``moving_mean``/``moving_variance``
    (``moving = moving * momentum + batch * (1 - momentum)``); inference, and a frozen layer
    (``trainable=False``), use the moving statistics. Weights: gamma, beta, moving_mean, moving_variance.

    Example:
        >>> model = Sequential([Dense(64, input_shape=(784,)), BatchNormalization(), Activation("relu"),
        ...                     Dense(10, activation="softmax")])
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 moving_mean_initializer: Any = "zeros", moving_variance_initializer: Any = "ones",
                 beta_regularizer: Any = None, gamma_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        _check_kwargs("BatchNormalization", kwargs)
        cls = "BatchNormalization"
        impl = _core.BatchNormalization(_check_axis(cls, axis), float(momentum), float(epsilon), bool(center),
                                        bool(scale), _init_arg(beta_initializer, cls, "beta_initializer"),
                                        _init_arg(gamma_initializer, cls, "gamma_initializer"),
                                        _init_arg(moving_mean_initializer, cls, "moving_mean_initializer"),
                                        _init_arg(moving_variance_initializer, cls, "moving_variance_initializer"),
                                        name or "")
        super().__init__(impl, input_shape, trainable)
        self._regularize("beta", beta_regularizer if center else None)
        self._regularize("gamma", gamma_regularizer if scale else None)

    gamma = WeightAttribute()
    beta = WeightAttribute()
    moving_mean = WeightAttribute()
    moving_variance = WeightAttribute()

    @property
    def axis(self) -> int:
        return self._impl.axis

    @property
    def momentum(self) -> float:
        return self._impl.momentum

    @property
    def epsilon(self) -> float:
        return self._impl.epsilon


class LayerNormalization(Layer):
    """Normalizes each sample over its last axis, then scales by ``gamma`` and shifts by ``beta`` (both of
    shape ``(last,)``). Behaves the same in training and inference.

    Example:
        >>> layer = LayerNormalization()
        >>> y = layer.forward(np.random.rand(2, 5, 8).astype(np.float32))   # each (8,) row: mean 0, var ~1
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer: Any = "zeros", gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("LayerNormalization", kwargs)
        cls = "LayerNormalization"
        impl = _core.LayerNormalization(_check_axis(cls, axis), float(epsilon), bool(center), bool(scale),
                                        _init_arg(beta_initializer, cls, "beta_initializer"),
                                        _init_arg(gamma_initializer, cls, "gamma_initializer"), name or "")
        super().__init__(impl, input_shape, trainable)
        self._regularize("beta", beta_regularizer if center else None)
        self._regularize("gamma", gamma_regularizer if scale else None)

    gamma = WeightAttribute()
    beta = WeightAttribute()

    @property
    def axis(self) -> int:
        return self._impl.axis

    @property
    def epsilon(self) -> float:
        return self._impl.epsilon
