"""Reshaping layers: Flatten, Reshape, RepeatVector, Permute, ZeroPadding2D, Cropping1D, Cropping2D, UpSampling2D,
UpSampling1D."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .. import _core
from .._convert import pair
from .base import Layer, _channels_last, _check_kwargs, _int_arg, _pair_arg, _single

__all__ = ["Flatten", "Reshape", "RepeatVector", "Permute", "ZeroPadding2D", "Cropping1D", "Cropping2D", "UpSampling2D",
           "UpSampling1D"]


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


class RepeatVector(Layer):
    """Repeats each sample ``n`` times along a new axis: ``(batch, features) -> (batch, n, features)``.

    Example:
        >>> RepeatVector(3)   # (None, 32) -> (None, 3, 32)
    """

    def __init__(self, n: int, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("RepeatVector", kwargs)
        super().__init__(_core.RepeatVector(_int_arg(n, "RepeatVector", "n"), name or ""), input_shape)

    @property
    def n(self) -> int:
        return self._impl.n


class Permute(Layer):
    """Permutes the per-sample axes: ``dims`` is a permutation of ``1..rank`` (Keras counts from 1, after the batch
    axis). Unknown lengths move with their axes.

    Example:
        >>> Permute((2, 1))   # (None, 10, 64) -> (None, 64, 10)
    """

    def __init__(self, dims: Sequence[int], input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("Permute", kwargs)
        try:
            d = [int(a) for a in dims if isinstance(a, (int, np.integer)) and not isinstance(a, bool)]
            ok = len(d) == len(list(dims)) and sorted(d) == list(range(1, len(d) + 1))
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"Permute: dims must be a permutation of 1..rank (per-sample axes, counted from 1), "
                             f"got {dims!r}")
        super().__init__(_core.Permute(d, name or ""), input_shape)

    @property
    def dims(self) -> tuple:
        return tuple(self._impl.dims)


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


class Cropping1D(Layer):
    """Cuts steps off the start and end of sequences ``(batch, steps, features)``: ``cropping`` is an int or a pair
    ``(start, end)``. Sequences of unknown length are cropped per batch.

    Example:
        >>> Cropping1D((1, 2))   # (None, 10, 4) -> (None, 7, 4)
    """

    def __init__(self, cropping: Any = (1, 1), input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Cropping1D", kwargs)
        super().__init__(_core.Cropping1D(_pair_arg(cropping, "Cropping1D", "cropping"), name or ""), input_shape)

    @property
    def cropping(self) -> tuple:
        return tuple(self._impl.cropping)


class Cropping2D(Layer):
    """Cuts rows and columns off channels-last images: ``cropping`` is an int, a pair ``(sym_h, sym_w)`` or a pair of
    pairs ``((top, bottom), (left, right))``, as in Keras.

    Example:
        >>> Cropping2D(((2, 2), (4, 4)))   # (None, 28, 28, 3) -> (None, 24, 20, 3)
    """

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, data_format: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Cropping2D", kwargs)
        _channels_last("Cropping2D", data_format)
        if isinstance(cropping, (int, np.integer)) and not isinstance(cropping, bool):
            h = w = _pair_arg(cropping, "Cropping2D", "cropping")
        elif isinstance(cropping, (tuple, list)) and len(cropping) == 2:
            h = _pair_arg(cropping[0], "Cropping2D", "cropping")
            w = _pair_arg(cropping[1], "Cropping2D", "cropping")
        else:
            raise ValueError(f"Cropping2D: cropping must be an int, a pair or a pair of pairs "
                             f"((top, bottom), (left, right)), got {cropping!r}")
        super().__init__(_core.Cropping2D(h, w, name or ""), input_shape)

    @property
    def cropping(self) -> tuple:
        return (tuple(self._impl.height), tuple(self._impl.width))


class UpSampling2D(Layer):
    """Repeats the rows and columns of channels-last images: ``(batch, H, W, C) -> (batch, H * size[0],
    W * size[1], C)``. ``size`` is an int or a pair; ``interpolation`` is ``"nearest"`` (each pixel becomes a block)
    or ``"bilinear"`` (half-pixel centers, as Keras 3 / ``tf.image.resize``).

    Example:
        >>> UpSampling2D(2)   # (None, 7, 7, 16) -> (None, 14, 14, 16)
    """

    def __init__(self, size: Any = (2, 2), interpolation: str = "nearest", input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, data_format: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("UpSampling2D", kwargs)
        _channels_last("UpSampling2D", data_format)
        s = pair(size, "UpSampling2D size")
        if min(s) < 1:
            raise ValueError(f"UpSampling2D size: expected positive ints, got {size!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D interpolation: only 'nearest' and 'bilinear' are supported, got "
                             f"{interpolation!r}")
        super().__init__(_core.UpSampling2D(s, interpolation, name or ""), input_shape)

    @property
    def size(self) -> tuple:
        return tuple(self._impl.size)

    @property
    def interpolation(self) -> str:
        return self._impl.interpolation


class UpSampling1D(Layer):
    """Repeats each step ``size`` times: ``(batch, steps, C) -> (batch, steps * size, C)``.

    Example:
        >>> UpSampling1D(3)   # (None, 10, 4) -> (None, 30, 4)
    """

    def __init__(self, size: Any = 2, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("UpSampling1D", kwargs)
        super().__init__(_core.UpSampling1D(_single(size, "UpSampling1D size"), name or ""), input_shape)

    @property
    def size(self) -> int:
        return self._impl.size
