"""Keras's random image augmentation layers: RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomContrast,
RandomBrightness, RandomCrop; and the resizing layers Resizing and CenterCrop (the same in training and inference);
on channels-last images ``(batch, height, width, channels)``.

In a model they augment in ``fit`` (training) and are the identity in ``predict`` and ``evaluate``; called by
themselves on an array they augment, as Keras's do (``layer(x, training=False)`` gives ``x``). Each image gets its own
draw, from the layer's ``seed`` or from the global seed stream (``nncore.utils.set_random_seed``): reruns are
bit-identical. The work runs in C++ inside the training loop, over the batch's images in parallel. Exported to ONNX
and run by the C++ runtime as the identity (what they are at inference).

Example (keras-io's image classification from scratch):
    >>> data_augmentation = nncore.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    >>> x = data_augmentation(inputs)
"""
from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from .. import _core
from .base import Layer, _channels_last, _check_kwargs

__all__ = ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness",
           "RandomCrop", "Resizing", "CenterCrop"]


def _factor(value: Any, cls: str, arg: str) -> Any:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{cls}: {arg} must be a number or (lower, upper), got {value!r}")
        return [float(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{cls}: {arg} must be a number or (lower, upper), got {value!r}")
    return float(value)


def _seed(value: Any, cls: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{cls}: seed must be a non-negative int or None, got {value!r}")
    return value


class _RandomImage(Layer):
    """Made from its Keras config by the C++ side, which checks and normalizes the arguments (one place for both
    the constructor and model files)."""

    def _make(self, config: dict, input_shape: Optional[Sequence[int]], name: Optional[str], trainable: bool,
              data_format: Optional[str], kwargs: dict) -> None:
        cls = type(self).__name__
        _check_kwargs(cls, kwargs)
        _channels_last(cls, data_format)
        if name:
            config["name"] = name
        impl = _core.layer_from_config(json.dumps({"class_name": cls, "config": config}))
        super().__init__(impl, input_shape, trainable)

    def __call__(self, x: Any, *args: Any, training: Optional[bool] = None) -> Any:
        from ..models import _is_symbolic
        if not _is_symbolic(x) and not args and training is None:
            training = True  # by itself on an array, it augments (Keras's default)
        return super().__call__(x, *args, training=training)

    def _option(self, key: str) -> Any:
        return json.loads(_core.layer_config(self._config_impl)).get(key)

    @property
    def seed(self) -> Optional[int]:
        return self._option("seed")


class RandomFlip(_RandomImage):
    """Flips each image horizontally and / or vertically, each with probability 1/2 (``mode``: ``"horizontal"``,
    ``"vertical"`` or ``"horizontal_and_vertical"``)."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed: Optional[int] = None,
                 data_format: Optional[str] = None, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, trainable: bool = True, **kwargs: Any) -> None:
        self._make({"mode": str(mode), "seed": _seed(seed, "RandomFlip")}, input_shape, name, trainable, data_format,
                   kwargs)

    @property
    def mode(self) -> str:
        return self._option("mode")


class _Geometric(_RandomImage):
    @property
    def fill_mode(self) -> str:
        return self._option("fill_mode")

    @property
    def interpolation(self) -> str:
        return self._option("interpolation")

    @property
    def fill_value(self) -> float:
        return self._option("fill_value")


def _geometric_config(cls: str, fill_mode: str, interpolation: str, seed: Any, fill_value: float) -> dict:
    return {"fill_mode": str(fill_mode), "interpolation": str(interpolation), "seed": _seed(seed, cls),
            "fill_value": float(fill_value)}


class RandomRotation(_Geometric):
    """Rotates each image about its center by an angle uniform in ``factor`` (a fraction of a full turn: ``0.1``
    is +-36 degrees, ``(-0.1, 0.2)`` from -36 to +72; positive counter-clockwise), resampled by ``interpolation``
    (``"bilinear"`` or ``"nearest"``) with ``fill_mode`` (``"reflect"``, ``"wrap"``, ``"nearest"``, ``"constant"``
    with ``fill_value``) outside the image."""

    def __init__(self, factor: Any, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: Optional[int] = None, fill_value: float = 0.0, data_format: Optional[str] = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        config = {"factor": _factor(factor, "RandomRotation", "factor"),
                  **_geometric_config("RandomRotation", fill_mode, interpolation, seed, fill_value)}
        self._make(config, input_shape, name, trainable, data_format, kwargs)

    @property
    def factor(self) -> tuple:
        return tuple(self._option("factor"))


class RandomZoom(_Geometric):
    """Zooms each image about its center by ``1 + uniform(height_factor)`` (negative values zoom in, positive out;
    a number ``f`` is ``(-f, f)``); the width by its own ``width_factor``, or by the height's draw when None (the
    aspect ratio kept)."""

    def __init__(self, height_factor: Any, width_factor: Any = None, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: Optional[int] = None, fill_value: float = 0.0,
                 data_format: Optional[str] = None, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, trainable: bool = True, **kwargs: Any) -> None:
        config = {"height_factor": _factor(height_factor, "RandomZoom", "height_factor"),
                  "width_factor": None if width_factor is None else _factor(width_factor, "RandomZoom",
                                                                            "width_factor"),
                  **_geometric_config("RandomZoom", fill_mode, interpolation, seed, fill_value)}
        self._make(config, input_shape, name, trainable, data_format, kwargs)


class RandomTranslation(_Geometric):
    """Shifts each image by ``uniform(height_factor) * height`` rows and ``uniform(width_factor) * width`` columns
    (a number ``f`` is ``(-f, f)``; positive: down / right)."""

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: Optional[int] = None, fill_value: float = 0.0,
                 data_format: Optional[str] = None, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, trainable: bool = True, **kwargs: Any) -> None:
        config = {"height_factor": _factor(height_factor, "RandomTranslation", "height_factor"),
                  "width_factor": _factor(width_factor, "RandomTranslation", "width_factor"),
                  **_geometric_config("RandomTranslation", fill_mode, interpolation, seed, fill_value)}
        self._make(config, input_shape, name, trainable, data_format, kwargs)


class RandomContrast(_RandomImage):
    """Scales each image's distance from its mean (per channel) by a factor uniform in ``[1 - lower, 1 + upper]``
    (``factor``: a number ``f`` in [0, 1] is ``(f, f)``), clipped to ``value_range``."""

    def __init__(self, factor: Any, value_range: Sequence[float] = (0, 255), seed: Optional[int] = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        config = {"factor": _factor(factor, "RandomContrast", "factor"),
                  "value_range": [float(v) for v in value_range], "seed": _seed(seed, "RandomContrast")}
        self._make(config, input_shape, name, trainable, None, kwargs)


class RandomBrightness(_RandomImage):
    """Adds ``uniform(factor) * (value_range[1] - value_range[0])`` to each image (``factor``: a number ``f`` in
    [0, 1] is ``(-f, f)``), clipped to ``value_range``."""

    def __init__(self, factor: Any, value_range: Sequence[float] = (0, 255), seed: Optional[int] = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        config = {"factor": _factor(factor, "RandomBrightness", "factor"),
                  "value_range": [float(v) for v in value_range], "seed": _seed(seed, "RandomBrightness")}
        self._make(config, input_shape, name, trainable, None, kwargs)


def _size(value: Any, cls: str, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{cls}: {arg} must be a positive int, got {value!r}")
    return value


class RandomCrop(_RandomImage):
    """A random ``height x width`` window of each image in training; at inference, and for an image smaller than the
    target, the largest centred window of the target's aspect ratio, resized to it (bilinear), as Keras."""

    def __init__(self, height: int, width: int, seed: Optional[int] = None, data_format: Optional[str] = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        self._make({"height": _size(height, "RandomCrop", "height"), "width": _size(width, "RandomCrop", "width"),
                    "seed": _seed(seed, "RandomCrop")}, input_shape, name, trainable, data_format, kwargs)


class Resizing(_RandomImage):
    """Resizes images to ``height x width`` as tf.image.resize does (half-pixel centres, no antialiasing),
    ``interpolation`` ``"bilinear"`` or ``"nearest"``; ``crop_to_aspect_ratio`` first takes the largest centred
    window of the target's aspect ratio, ``pad_to_aspect_ratio`` pads the image to it with ``fill_value``. The same
    in training and inference."""

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", crop_to_aspect_ratio: bool = False,
                 pad_to_aspect_ratio: bool = False, fill_mode: str = "constant", fill_value: float = 0.0,
                 antialias: bool = False, data_format: Optional[str] = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        if antialias:
            raise ValueError("Resizing: antialias=True is not supported by nncore (its resampling has no "
                             "antialiasing filter); use antialias=False")
        if fill_mode != "constant":
            raise ValueError(f"Resizing: fill_mode must be 'constant' (Keras's only mode), got {fill_mode!r}")
        self._make({"height": _size(height, "Resizing", "height"), "width": _size(width, "Resizing", "width"),
                    "interpolation": str(interpolation), "crop_to_aspect_ratio": bool(crop_to_aspect_ratio),
                    "pad_to_aspect_ratio": bool(pad_to_aspect_ratio), "fill_value": float(fill_value)},
                   input_shape, name, trainable, data_format, kwargs)


class CenterCrop(_RandomImage):
    """The centred ``height x width`` window of each image (an image smaller than that: its largest centred window
    of the target's aspect ratio, resized to it), the same in training and inference."""

    def __init__(self, height: int, width: int, data_format: Optional[str] = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        self._make({"height": _size(height, "CenterCrop", "height"), "width": _size(width, "CenterCrop", "width")},
                   input_shape, name, trainable, data_format, kwargs)

