"""Convolutional layers: Conv2D, Conv1D, Conv2DTranspose, Conv1DTranspose, DepthwiseConv2D, SeparableConv2D."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .. import _core
from .._convert import pair
from .base import ActivationArg, Layer, WeightAttribute, _channels_last, _check_kwargs, _init_arg, _single
from .callable_activations import ActivationAttribute, attach, resolve

__all__ = ["Conv2D", "Conv1D", "Conv2DTranspose", "Conv1DTranspose", "DepthwiseConv2D", "SeparableConv2D",
           "DepthwiseConv1D", "SeparableConv1D"]


class Conv2D(Layer):
    """2-D convolution on channels-last images ``(batch, height, width, channels)``.

    The kernel has Keras's layout ``(kernel_h, kernel_w, in_channels, filters)``.

    Example:
        >>> Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=(28, 28, 1))
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 dilation_rate: Any = (1, 1), activation: ActivationArg = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 data_format: Optional[str] = None, groups: int = 1, **kwargs: Any) -> None:
        _check_kwargs("Conv2D", kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Conv2D: only data_format='channels_last' is supported, got {data_format!r}")
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)):
            raise TypeError(f"Conv2D: filters must be a positive int, got {filters!r}")
        act = resolve(activation, "Conv2D")
        ki = _init_arg(kernel_initializer, "Conv2D", "kernel_initializer")
        bi = _init_arg(bias_initializer, "Conv2D", "bias_initializer")
        impl = _core.Conv2D(int(filters), pair(kernel_size, "Conv2D kernel_size"), pair(strides, "Conv2D strides"),
                            str(padding).lower(), pair(dilation_rate, "Conv2D dilation_rate"),
                            act.builtin, bool(use_bias), ki, bi, name or "", _groups("Conv2D", groups))
        super().__init__(impl, input_shape, trainable)
        self._set_regularizers(kernel_regularizer, bias_regularizer if use_bias else None)
        attach(self, act)

    kernel = WeightAttribute()
    bias = WeightAttribute()
    activation = ActivationAttribute()

    @property
    def filters(self) -> int:
        return self._config_impl.filters

    @property
    def groups(self) -> int:
        return self._config_impl.groups

    @property
    def kernel_size(self) -> tuple:
        return tuple(self._config_impl.kernel_size)

    @property
    def strides(self) -> tuple:
        return tuple(self._config_impl.strides)

    @property
    def padding(self) -> str:
        return self._config_impl.padding


class Conv1D(Layer):
    """1-D convolution over ``(batch, steps, channels)``; kernel ``(kernel_size, in_channels, filters)`` as in
    Keras. ``padding`` is ``'valid'``, ``'same'`` or ``'causal'`` (output step t sees input steps up to t only).
    Runs on the Conv2D kernels (the sequence is a one-row image).

    Example:
        >>> model = Sequential([Embedding(1000, 32, input_length=50), Conv1D(64, 5, activation="relu"),
        ...                     GlobalMaxPooling1D(), Dense(1, activation="sigmoid")])
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 dilation_rate: Any = 1, activation: ActivationArg = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 data_format: Optional[str] = None, groups: int = 1, **kwargs: Any) -> None:
        _check_kwargs("Conv1D", kwargs)
        _channels_last("Conv1D", data_format)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)):
            raise TypeError(f"Conv1D: filters must be a positive int, got {filters!r}")
        act = resolve(activation, "Conv1D")
        ki = _init_arg(kernel_initializer, "Conv1D", "kernel_initializer")
        bi = _init_arg(bias_initializer, "Conv1D", "bias_initializer")
        impl = _core.Conv1D(int(filters), _single(kernel_size, "Conv1D kernel_size"),
                            _single(strides, "Conv1D strides"), str(padding).lower(),
                            _single(dilation_rate, "Conv1D dilation_rate"), act.builtin,
                            bool(use_bias), ki, bi, name or "", _groups("Conv1D", groups))
        super().__init__(impl, input_shape, trainable)
        self._set_regularizers(kernel_regularizer, bias_regularizer if use_bias else None)
        attach(self, act)

    kernel = WeightAttribute()
    bias = WeightAttribute()
    activation = ActivationAttribute()

    @property
    def filters(self) -> int:
        return self._config_impl.filters

    @property
    def kernel_size(self) -> tuple:
        return (self._config_impl.kernel_size,)

    @property
    def strides(self) -> tuple:
        return (self._config_impl.strides,)

    @property
    def dilation_rate(self) -> tuple:
        return (self._config_impl.dilation_rate,)

    @property
    def padding(self) -> str:
        return self._config_impl.padding


def _groups(cls: str, groups: Any) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or int(groups) < 1:
        raise ValueError(f"{cls}: groups must be a positive int, got {groups!r}")
    return int(groups)


def _filters(cls: str, filters: Any) -> int:
    if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or int(filters) < 1:
        raise ValueError(f"{cls}: filters must be a positive int, got {filters!r}")
    return int(filters)


def _padding(cls: str, padding: Any) -> str:
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{cls}: padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


class Conv2DTranspose(Layer):
    """Transposed 2-D convolution ("deconvolution") on channels-last images ``(batch, height, width, channels)``:
    the gradient of a Conv2D with respect to its input, as in Keras. The kernel has Keras's layout
    ``(kernel_h, kernel_w, filters, in_channels)``. The output size per axis is ``in * stride`` for
    ``padding="same"`` and ``(in - 1) * stride + dilation * (kernel - 1) + 1`` (at least ``in * stride``) for
    ``"valid"``; ``output_padding`` (smaller than the stride) sets it to
    ``(in - 1) * stride + dilation * (kernel - 1) + 1 - 2 * pad + output_padding`` instead, ``pad`` being half the
    dilated kernel for ``"same"`` and 0 for ``"valid"``.

    Example:
        >>> up = Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")
        >>> up(nncore.Input((7, 7, 32))).shape
        (None, 14, 14, 16)
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 output_padding: Any = None, dilation_rate: Any = (1, 1), activation: ActivationArg = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        cls = "Conv2DTranspose"
        _check_kwargs(cls, kwargs)
        _channels_last(cls, data_format)
        op = (-1, -1) if output_padding is None else pair(output_padding, f"{cls} output_padding")
        if output_padding is not None and min(op) < 0:
            raise ValueError(f"{cls} output_padding: expected ints >= 0 (or None), got {output_padding!r}")
        act = resolve(activation, cls)
        ki = _init_arg(kernel_initializer, "Conv2DTranspose", "kernel_initializer")
        bi = _init_arg(bias_initializer, "Conv2DTranspose", "bias_initializer")
        impl = _core.Conv2DTranspose(_filters(cls, filters), pair(kernel_size, f"{cls} kernel_size"),
                                     pair(strides, f"{cls} strides"), _padding(cls, padding), op,
                                     pair(dilation_rate, f"{cls} dilation_rate"), act.builtin,
                                     bool(use_bias), ki, bi, name or "")
        super().__init__(impl, input_shape, trainable)
        self._set_regularizers(kernel_regularizer, bias_regularizer if use_bias else None)
        attach(self, act)

    kernel = WeightAttribute()
    bias = WeightAttribute()
    activation = ActivationAttribute()

    @property
    def filters(self) -> int:
        return self._config_impl.filters

    @property
    def kernel_size(self) -> tuple:
        return tuple(self._config_impl.kernel_size)

    @property
    def strides(self) -> tuple:
        return tuple(self._config_impl.strides)

    @property
    def padding(self) -> str:
        return self._config_impl.padding

    @property
    def output_padding(self) -> Optional[tuple]:
        return self._config_impl.output_padding

    @property
    def dilation_rate(self) -> tuple:
        return tuple(self._config_impl.dilation_rate)


class Conv1DTranspose(Layer):
    """Transposed 1-D convolution over ``(batch, steps, channels)``; kernel ``(kernel_size, filters,
    in_channels)`` as in Keras. Output length as Conv2DTranspose's along one axis. Runs on the Conv2D kernels
    (the sequence is a one-row image).

    Example:
        >>> Conv1DTranspose(8, 4, strides=2, padding="same")   # (None, 25, 16) -> (None, 50, 8)
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 output_padding: Any = None, dilation_rate: Any = 1, activation: ActivationArg = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        cls = "Conv1DTranspose"
        _check_kwargs(cls, kwargs)
        _channels_last(cls, data_format)
        op = -1
        if output_padding is not None:
            v = output_padding[0] if isinstance(output_padding, (tuple, list)) and len(output_padding) == 1 \
                else output_padding
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 0:
                raise ValueError(f"{cls} output_padding: expected an int >= 0 (or a 1-tuple, or None), "
                                 f"got {output_padding!r}")
            op = int(v)
        act = resolve(activation, cls)
        ki = _init_arg(kernel_initializer, "Conv1DTranspose", "kernel_initializer")
        bi = _init_arg(bias_initializer, "Conv1DTranspose", "bias_initializer")
        impl = _core.Conv1DTranspose(_filters(cls, filters), _single(kernel_size, f"{cls} kernel_size"),
                                     _single(strides, f"{cls} strides"), _padding(cls, padding), op,
                                     _single(dilation_rate, f"{cls} dilation_rate"), act.builtin,
                                     bool(use_bias), ki, bi, name or "")
        super().__init__(impl, input_shape, trainable)
        self._set_regularizers(kernel_regularizer, bias_regularizer if use_bias else None)
        attach(self, act)

    kernel = WeightAttribute()
    bias = WeightAttribute()
    activation = ActivationAttribute()

    @property
    def filters(self) -> int:
        return self._config_impl.filters

    @property
    def kernel_size(self) -> tuple:
        return (self._config_impl.kernel_size,)

    @property
    def strides(self) -> tuple:
        return (self._config_impl.strides,)

    @property
    def padding(self) -> str:
        return self._config_impl.padding

    @property
    def output_padding(self) -> Optional[tuple]:
        op = self._config_impl.output_padding
        return None if op is None else (op,)

    @property
    def dilation_rate(self) -> tuple:
        return (self._config_impl.dilation_rate,)


def _depth_multiplier(cls: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ValueError(f"{cls}: depth_multiplier must be a positive int, got {value!r}")
    return int(value)


class _DepthwiseBase(Layer):
    """What DepthwiseConv2D and SeparableConv2D share: the depthwise kernel's arguments and attributes."""

    depthwise_kernel = WeightAttribute()
    bias = WeightAttribute()
    activation = ActivationAttribute()

    @property
    def kernel_size(self) -> tuple:
        return tuple(self._config_impl.kernel_size)

    @property
    def strides(self) -> tuple:
        return tuple(self._config_impl.strides)

    @property
    def padding(self) -> str:
        return self._config_impl.padding

    @property
    def dilation_rate(self) -> tuple:
        return tuple(self._config_impl.dilation_rate)

    @property
    def depth_multiplier(self) -> int:
        return self._config_impl.depth_multiplier

    def _finish(self, impl: Any, input_shape: Any, trainable: bool, act: Any, use_bias: bool,
                depthwise_regularizer: Any, bias_regularizer: Any, pointwise_regularizer: Any = None) -> None:
        """The constructors' common end (1-D and 2-D, depthwise and separable): the layer around ``impl``, the
        weights' regularizers, the activation."""
        super().__init__(impl, input_shape, trainable)
        self._regularize("depthwise_kernel", depthwise_regularizer)
        if pointwise_regularizer is not None:
            self._regularize("pointwise_kernel", pointwise_regularizer)
        self._regularize("bias", bias_regularizer if use_bias else None)
        attach(self, act)


class DepthwiseConv2D(_DepthwiseBase):
    """Depthwise 2-D convolution on channels-last images: each input channel convolved with its own
    ``depth_multiplier`` filters, output channel ``c * depth_multiplier + m``. Keras's weights:
    ``depthwise_kernel`` ``(kernel_h, kernel_w, in_channels, depth_multiplier)`` and ``bias``
    ``(in_channels * depth_multiplier,)``.

    Example:
        >>> DepthwiseConv2D(3, padding="same", activation="relu")
    """

    def __init__(self, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid", depth_multiplier: int = 1,
                 data_format: Optional[str] = None, dilation_rate: Any = (1, 1), activation: ActivationArg = None,
                 use_bias: bool = True, depthwise_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", depthwise_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        cls = "DepthwiseConv2D"
        _check_kwargs(cls, kwargs)
        _channels_last(cls, data_format)
        act = resolve(activation, cls)
        impl = _core.DepthwiseConv2D(pair(kernel_size, f"{cls} kernel_size"), pair(strides, f"{cls} strides"),
                                     _padding(cls, padding), _depth_multiplier(cls, depth_multiplier),
                                     pair(dilation_rate, f"{cls} dilation_rate"), act.builtin, bool(use_bias),
                                     _init_arg(depthwise_initializer, cls, "depthwise_initializer"),
                                     _init_arg(bias_initializer, cls, "bias_initializer"), name or "")
        self._finish(impl, input_shape, trainable, act, use_bias, depthwise_regularizer, bias_regularizer)


class SeparableConv2D(_DepthwiseBase):
    """Depthwise separable 2-D convolution (Keras's SeparableConv2D): a depthwise convolution, then a pointwise
    (1 x 1) convolution to ``filters`` channels, then the bias and activation. Weights ``depthwise_kernel``
    ``(kernel_h, kernel_w, in_channels, depth_multiplier)``, ``pointwise_kernel``
    ``(1, 1, in_channels * depth_multiplier, filters)``, ``bias`` ``(filters,)``.

    Example:
        >>> SeparableConv2D(64, 3, padding="same")   # the U-Net of keras-io's oxford_pets segmentation
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 data_format: Optional[str] = None, dilation_rate: Any = (1, 1), depth_multiplier: int = 1,
                 activation: ActivationArg = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform", pointwise_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", depthwise_regularizer: Any = None,
                 pointwise_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        cls = "SeparableConv2D"
        _check_kwargs(cls, kwargs)
        _channels_last(cls, data_format)
        act = resolve(activation, cls)
        impl = _core.SeparableConv2D(_filters(cls, filters), pair(kernel_size, f"{cls} kernel_size"),
                                     pair(strides, f"{cls} strides"), _padding(cls, padding),
                                     _depth_multiplier(cls, depth_multiplier),
                                     pair(dilation_rate, f"{cls} dilation_rate"), act.builtin, bool(use_bias),
                                     _init_arg(depthwise_initializer, cls, "depthwise_initializer"),
                                     _init_arg(pointwise_initializer, cls, "pointwise_initializer"),
                                     _init_arg(bias_initializer, cls, "bias_initializer"), name or "")
        self._finish(impl, input_shape, trainable, act, use_bias, depthwise_regularizer, bias_regularizer,
                     pointwise_regularizer)

    pointwise_kernel = WeightAttribute()

    @property
    def filters(self) -> int:
        return self._config_impl.filters


class _OneD:
    """The 1-D forms' sizes as Keras reports them: 1-tuples."""

    @property
    def kernel_size(self) -> tuple:
        return (self._config_impl.kernel_size[1],)

    @property
    def strides(self) -> tuple:
        return (self._config_impl.strides[1],)

    @property
    def dilation_rate(self) -> tuple:
        return (self._config_impl.dilation_rate[1],)


class DepthwiseConv1D(_OneD, _DepthwiseBase):
    """Depthwise convolution over ``(batch, steps, channels)`` (Keras's DepthwiseConv1D): ``depthwise_kernel``
    ``(kernel_size, channels, depth_multiplier)``, ``bias`` ``(channels * depth_multiplier,)``; padding
    ``'valid'``, ``'same'`` or ``'causal'``. Runs on DepthwiseConv2D's kernel (the sequence as a one-row image)."""

    def __init__(self, kernel_size: Any, strides: Any = 1, padding: str = "valid", depth_multiplier: int = 1,
                 data_format: Optional[str] = None, dilation_rate: Any = 1, activation: ActivationArg = None,
                 use_bias: bool = True, depthwise_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", depthwise_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        cls = "DepthwiseConv1D"
        _check_kwargs(cls, kwargs)
        _channels_last(cls, data_format)
        act = resolve(activation, cls)
        impl = _core.DepthwiseConv1D(_single(kernel_size, f"{cls} kernel_size"), _single(strides, f"{cls} strides"),
                                     str(padding).lower(), _depth_multiplier(cls, depth_multiplier),
                                     _single(dilation_rate, f"{cls} dilation_rate"), act.builtin, bool(use_bias),
                                     _init_arg(depthwise_initializer, cls, "depthwise_initializer"),
                                     _init_arg(bias_initializer, cls, "bias_initializer"), name or "")
        self._finish(impl, input_shape, trainable, act, use_bias, depthwise_regularizer, bias_regularizer)


class SeparableConv1D(_OneD, _DepthwiseBase):
    """Depthwise separable convolution over ``(batch, steps, channels)`` (Keras's SeparableConv1D):
    ``depthwise_kernel`` ``(kernel_size, channels, depth_multiplier)``, ``pointwise_kernel``
    ``(1, channels * depth_multiplier, filters)``, ``bias`` ``(filters,)``."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: Optional[str] = None, dilation_rate: Any = 1, depth_multiplier: int = 1,
                 activation: ActivationArg = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform", pointwise_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", depthwise_regularizer: Any = None,
                 pointwise_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        cls = "SeparableConv1D"
        _check_kwargs(cls, kwargs)
        _channels_last(cls, data_format)
        act = resolve(activation, cls)
        impl = _core.SeparableConv1D(_filters(cls, filters), _single(kernel_size, f"{cls} kernel_size"),
                                     _single(strides, f"{cls} strides"), str(padding).lower(),
                                     _depth_multiplier(cls, depth_multiplier),
                                     _single(dilation_rate, f"{cls} dilation_rate"), act.builtin, bool(use_bias),
                                     _init_arg(depthwise_initializer, cls, "depthwise_initializer"),
                                     _init_arg(pointwise_initializer, cls, "pointwise_initializer"),
                                     _init_arg(bias_initializer, cls, "bias_initializer"), name or "")
        self._finish(impl, input_shape, trainable, act, use_bias, depthwise_regularizer, bias_regularizer,
                     pointwise_regularizer)

    pointwise_kernel = WeightAttribute()

    @property
    def filters(self) -> int:
        return self._config_impl.filters

