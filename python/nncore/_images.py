"""Keras's image utilities (``keras.utils.load_img``, ``img_to_array``, ``array_to_img``, ``save_img`` and
``image_dataset_from_directory``) on Pillow, an optional dependency (``pip install Pillow``, or nncore's ``image``
extra). Re-exported by ``nncore.utils``.

``image_dataset_from_directory`` returns an :class:`ImageDataset`, a ``PyDataset`` that ``fit``/``evaluate``/
``predict`` take: its ``workers`` threads decode the batches ahead of the training step (Pillow releases the GIL
while decoding and the resizing is numpy), so an epoch over JPEG files is not bound by one core. Images are
resized as Keras's tf.data pipeline does (``tf.image.resize`` without antialiasing, half-pixel centres), in numpy.

    >>> train, val = nncore.utils.image_dataset_from_directory("photos/", validation_split=0.2, subset="both",
    ...                                                        seed=1, image_size=(180, 180), batch_size=32)
    >>> train.class_names
    ['cats', 'dogs']
    >>> model.fit(train, validation_data=val, epochs=10)
"""
from __future__ import annotations

import io
import math
import os
import pathlib
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ._feeds import PyDataset

__all__ = ["load_img", "img_to_array", "array_to_img", "save_img", "image_dataset_from_directory", "ImageDataset"]

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

# load_img's resampling filters (Pillow's, as Keras's load_img)
_PIL_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
# image_dataset_from_directory's (tf.image.resize's names, as Keras's)
_DATASET_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                           "mitchellcubic")


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - exercised by the test that hides PIL
        raise ImportError("nncore's image utilities (load_img, save_img, array_to_img, img_to_array, "
                          "image_dataset_from_directory) need Pillow: pip install Pillow "
                          "(or pip install 'nncore[image]')") from exc
    return Image


def _data_format(data_format: Optional[str], what: str) -> str:
    if data_format is None:
        return "channels_last"
    df = str(data_format).lower()
    if df not in ("channels_last", "channels_first"):
        raise ValueError(f"{what}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return df


def _float_dtype(dtype: Any) -> Any:
    return np.dtype("float32" if dtype is None else dtype)


# -- single images --------------------------------------------------------------------------------------------------

def array_to_img(x: Any, data_format: Optional[str] = None, scale: bool = True, dtype: Any = None) -> Any:
    """A 3-D array ``(height, width, channels)`` (``channels_first``: ``(channels, height, width)``) as a PIL image:
    1 channel gives mode ``"L"`` (``"I"`` when the values go above 255), 3 ``"RGB"``, 4 ``"RGBA"``.
    ``scale=True`` (Keras's default) maps the values to 0..255 first: ``x - min(x)``, then ``/ max * 255``."""
    Image = _pil()
    data_format = _data_format(data_format, "array_to_img")
    x = np.array(x, dtype=_float_dtype(dtype))  # a copy: scaled in place below
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expected an image array of rank 3 (one image), got shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels == 1:
        if np.max(x) > 255:  # 32-bit integer grayscale (Pillow's mode "I"), as Keras
            return Image.fromarray(x[:, :, 0].astype(np.int32), "I")
        return Image.fromarray(_to_uint8(x[:, :, 0]), "L")
    if channels in (3, 4):
        return Image.fromarray(_to_uint8(x), "RGB" if channels == 3 else "RGBA")
    raise ValueError(f"array_to_img: unsupported number of channels {channels} (expected 1, 3 or 4)")


def _to_uint8(x: np.ndarray) -> np.ndarray:
    # Keras casts with astype("uint8") (truncation); values outside 0..255 are clipped first rather than wrapped
    return np.ascontiguousarray(np.clip(np.nan_to_num(x), 0, 255).astype(np.uint8))


def img_to_array(img: Any, data_format: Optional[str] = None, dtype: Any = None) -> np.ndarray:
    """A PIL image as a float32 array ``(height, width, channels)`` (grayscale: ``(height, width, 1)``;
    ``channels_first``: ``(channels, height, width)``)."""
    data_format = _data_format(data_format, "img_to_array")
    x = np.asarray(img, dtype=_float_dtype(dtype))
    if x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        x = x.reshape((1,) + x.shape) if data_format == "channels_first" else x.reshape(x.shape + (1,))
    else:
        raise ValueError(f"img_to_array: unsupported image shape {x.shape}")
    return x


def save_img(path: Any, x: Any, data_format: Optional[str] = None, file_format: Optional[str] = None,
             scale: bool = True, **kwargs: Any) -> None:
    """Writes an image array to ``path`` (a file name or a file object) through Pillow. ``file_format`` defaults to
    the file name's extension (required for a file object); ``kwargs`` go to ``PIL.Image.save`` (``quality=95``).
    An RGBA image saved as JPEG loses its alpha channel (with a warning, as Keras)."""
    data_format = _data_format(data_format, "save_img")
    if file_format is None and isinstance(path, (str, os.PathLike)):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format and file_format.lower() == "jpeg":
        warnings.warn("save_img: the JPEG format does not support RGBA images, converting to RGB.", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def _convert_mode(img: Any, color_mode: str, what: str) -> Any:
    if color_mode == "grayscale":
        # 8-, 16- and 32-bit grayscale images stay as they are, others become 8-bit grayscale (Keras)
        return img if img.mode in ("L", "I;16", "I") else img.convert("L")
    if color_mode == "rgba":
        return img if img.mode == "RGBA" else img.convert("RGBA")
    if color_mode == "rgb":
        return img if img.mode == "RGB" else img.convert("RGB")
    raise ValueError(f'{what}: color_mode must be "grayscale", "rgb" or "rgba", got {color_mode!r}')


def _target_hw(size: Any, what: str, name: str) -> Tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = (int(s) for s in size)
        ok = h > 0 and w > 0 and all(float(s) == int(s) for s in size)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{what}: {name} must be a tuple of 2 positive integers (height, width), got {size!r}")
    return h, w


def load_img(path: Any, color_mode: str = "rgb", target_size: Optional[Sequence[int]] = None,
             interpolation: str = "nearest", keep_aspect_ratio: bool = False) -> Any:
    """Loads an image file (a path or an ``io.BytesIO``) as a PIL image in ``color_mode`` ``"rgb"`` (default),
    ``"rgba"`` or ``"grayscale"``, resized to ``target_size=(height, width)`` with Pillow's ``interpolation``
    (``nearest`` (default), ``bilinear``, ``bicubic``, ``hamming``, ``box``, ``lanczos``).
    ``keep_aspect_ratio=True`` first crops the centre of the image to the target's aspect ratio."""
    Image = _pil()
    if color_mode not in ("grayscale", "rgb", "rgba"):
        raise ValueError(f'load_img: color_mode must be "grayscale", "rgb" or "rgba", got {color_mode!r}')
    if isinstance(path, io.BytesIO):
        name, data = "<BytesIO>", path
    elif isinstance(path, (str, bytes, os.PathLike)):
        name = os.fsdecode(path)
        with open(path, "rb") as f:  # read whole, so no file handle stays open behind the lazy image (Keras)
            data = io.BytesIO(f.read())
    else:
        raise TypeError(f"load_img: path should be path-like or io.BytesIO, not {type(path).__name__}")
    img = _open_image(Image, data, name, "load_img")
    img = _convert_mode(img, color_mode, "load_img")
    if target_size is not None:
        th, tw = _target_hw(target_size, "load_img", "target_size")
        if img.size != (tw, th):
            if interpolation not in _PIL_INTERPOLATIONS:
                raise ValueError(f"load_img: invalid interpolation method {interpolation!r}; supported methods are "
                                 f"{', '.join(_PIL_INTERPOLATIONS)}")
            resample = getattr(getattr(Image, "Resampling", Image), interpolation.upper())
            box = None
            if keep_aspect_ratio:  # the largest centred crop with the target's aspect ratio (Keras's integer math)
                width, height = img.size
                crop_h = min(height, (width * th) // tw)
                crop_w = min(width, (height * tw) // th)
                top, left = (height - crop_h) // 2, (width - crop_w) // 2
                box = (left, top, left + crop_w, top + crop_h)
            img = img.resize((tw, th), resample, box=box)
    return img


def _open_image(Image: Any, src: Any, name: str, what: str) -> Any:
    """Opens and fully decodes an image, naming the file in Pillow's errors."""
    try:
        img = Image.open(src)
        img.load()
    except Image.UnidentifiedImageError as exc:
        raise Image.UnidentifiedImageError(f"{what}: cannot identify image file {name!r} (not an image, or a format "
                                           "Pillow cannot read)") from exc
    except Exception as exc:  # truncated or corrupt data: OSError, SyntaxError, ValueError from the decoders
        raise OSError(f"{what}: cannot read image file {name!r}: {exc}") from exc
    return img


# -- resizing as tf.image.resize (antialias=False, half-pixel centres) -----------------------------------------------
# Each method gives, per axis, the input indices (n_out, K) and weights (n_out, K) of every output pixel; the image is
# resampled along its rows, then its columns. The formulas follow TensorFlow's kernels (resize_bilinear,
# resize_nearest_neighbor, resize_bicubic with Keys' a=-0.5 and renormalised borders, resize_area, and
# scale_and_translate for the others), computed in float32 as they are.

_F = np.float32


def _taps_nearest(n_in: int, n_out: int) -> Tuple[np.ndarray, np.ndarray]:
    scale = _F(n_in) / _F(n_out)
    pos = (np.arange(n_out, dtype=_F) + _F(0.5)) * scale
    idx = np.clip(np.floor(pos).astype(np.int64), 0, n_in - 1)
    return idx[:, None], np.ones((n_out, 1), _F)


def _taps_bilinear(n_in: int, n_out: int) -> Tuple[np.ndarray, np.ndarray]:
    scale = _F(n_in) / _F(n_out)
    pos = (np.arange(n_out, dtype=_F) + _F(0.5)) * scale - _F(0.5)
    low = np.floor(pos)
    lerp = (pos - low).astype(_F)
    lo = np.maximum(low, 0).astype(np.int64)
    hi = np.minimum(np.ceil(pos), n_in - 1).astype(np.int64)
    return np.stack([lo, hi], 1), np.stack([_F(1) - lerp, lerp], 1).astype(_F)


_CUBIC_TABLE_SIZE = 1024


def _cubic_table() -> Tuple[np.ndarray, np.ndarray]:
    a = -0.5  # Keys' cubic, as TensorFlow with half-pixel centres
    x = (np.arange(_CUBIC_TABLE_SIZE + 1) / _CUBIC_TABLE_SIZE).astype(_F).astype(np.float64)
    near = (((a + 2) * x - (a + 3)) * x * x + 1).astype(_F)
    x = x + 1.0
    far = (((a * x - 5 * a) * x + 8 * a) * x - 4 * a).astype(_F)
    return near, far


_CUBIC = _cubic_table()


def _taps_bicubic(n_in: int, n_out: int) -> Tuple[np.ndarray, np.ndarray]:
    near, far = _CUBIC
    scale = _F(n_in) / _F(n_out)
    pos = (np.arange(n_out, dtype=_F) + _F(0.5)) * scale - _F(0.5)
    base = np.floor(pos)
    offset = np.rint((pos - base).astype(_F) * _F(_CUBIC_TABLE_SIZE)).astype(np.int64)
    base = base.astype(np.int64)
    idx = base[:, None] + np.arange(-1, 3)[None, :]
    w = np.stack([far[offset], near[offset], near[_CUBIC_TABLE_SIZE - offset], far[_CUBIC_TABLE_SIZE - offset]], 1)
    w = np.where((idx >= 0) & (idx < n_in), w, _F(0)).astype(_F)  # taps outside the image: weight 0, renormalised
    total = w.sum(1, dtype=_F)
    w = np.where(np.abs(total)[:, None] >= 1000 * np.finfo(_F).tiny, w / total[:, None], w).astype(_F)
    return np.clip(idx, 0, n_in - 1), w


def _taps_area(n_in: int, n_out: int) -> Tuple[np.ndarray, np.ndarray]:
    scale = _F(n_in) / _F(n_out)
    out = np.arange(n_out, dtype=_F)
    lo, hi = out * scale, (out + _F(1)) * scale
    start = np.floor(lo).astype(np.int64)
    end = np.ceil(hi).astype(np.int64)
    k = int((end - start).max())
    i = start[:, None] + np.arange(k)[None, :]
    fi = i.astype(_F)
    cover = np.where(fi < lo[:, None], np.where(fi + 1 > hi[:, None], scale, fi + 1 - lo[:, None]),
                     np.where(fi + 1 > hi[:, None], hi[:, None] - fi, _F(1)))
    w = np.where(i < end[:, None], cover, _F(0)).astype(_F) / scale
    return np.clip(i, 0, n_in - 1), w.astype(_F)


def _lanczos(radius: float) -> Any:
    def k(x: np.ndarray) -> np.ndarray:
        x = np.abs(x).astype(np.float64)
        safe = np.where(x <= 1e-3, 1.0, x)
        v = radius * np.sin(np.pi * safe) * np.sin(np.pi * safe / radius) / (np.pi * np.pi * safe * safe)
        return np.where(x > radius, 0.0, np.where(x <= 1e-3, 1.0, v)).astype(_F)
    return k, float(radius)


def _gaussian() -> Any:
    radius, sigma = 1.5, 1.5 / 3.0

    def k(x: np.ndarray) -> np.ndarray:
        x = np.abs(x).astype(np.float64)
        return np.where(x >= radius, 0.0, np.exp(-x * x / (2.0 * sigma * sigma))).astype(_F)
    return k, radius


def _mitchell() -> Any:
    def k(x: np.ndarray) -> np.ndarray:
        x = np.abs(x).astype(_F)
        outer = (((_F(-7.0 / 18.0) * x + _F(2)) * x - _F(10.0 / 3.0)) * x + _F(16.0 / 9.0))
        inner = ((_F(7.0 / 6.0) * x - _F(2)) * x) * x + _F(8.0 / 9.0)
        return np.where(x >= 2, _F(0), np.where(x >= 1, outer, inner)).astype(_F)
    return k, 2.0


_KERNELS = {"lanczos3": lambda: _lanczos(3.0), "lanczos5": lambda: _lanczos(5.0), "gaussian": _gaussian,
            "mitchellcubic": _mitchell}


def _taps_kernel(method: str) -> Any:
    def taps(n_in: int, n_out: int) -> Tuple[np.ndarray, np.ndarray]:
        kernel, radius = _KERNELS[method]()
        inv_scale = _F(1.0 / float(_F(n_out) / _F(n_in)))
        sample = (np.arange(n_out, dtype=_F) + _F(0.5)) * inv_scale
        start = np.clip(np.ceil(sample - _F(radius) - _F(0.5)).astype(np.int64), 0, n_in - 1)
        end = np.clip(np.floor(sample + _F(radius) - _F(0.5)).astype(np.int64), 0, n_in - 1) + 1
        k = min(2 * int(math.ceil(radius)) + 1, n_in)
        i = start[:, None] + np.arange(k)[None, :]
        w = kernel(i.astype(_F) + _F(0.5) - sample[:, None])
        w = np.where(i < end[:, None], w, _F(0)).astype(_F)
        total = w.sum(1, dtype=_F)
        w = np.where(np.abs(total)[:, None] >= 1000 * np.finfo(_F).tiny, w / total[:, None], _F(0)).astype(_F)
        return np.clip(i, 0, n_in - 1), w
    return taps


_TAPS = {"nearest": _taps_nearest, "bilinear": _taps_bilinear, "bicubic": _taps_bicubic, "area": _taps_area,
         **{m: _taps_kernel(m) for m in _KERNELS}}


def _resample(img: np.ndarray, size: Tuple[int, int], method: str) -> np.ndarray:
    """``img`` (h, w, c), any numeric dtype -> float32 (size[0], size[1], c), as tf.image.resize(img, size, method)."""
    h, w = img.shape[:2]
    oh, ow = size
    if (oh, ow) == (h, w) and method not in ("gaussian", "mitchellcubic"):  # the others interpolate: unchanged
        return img.astype(_F)
    taps = _TAPS[method]
    ridx, rw = taps(h, oh)
    rows = _apply(img, ridx, rw, axis=0)
    cidx, cw = taps(w, ow)
    return _apply(rows, cidx, cw, axis=1)


def _apply(img: np.ndarray, idx: np.ndarray, w: np.ndarray, axis: int) -> np.ndarray:
    if idx.shape[1] == 1 and np.all(w == 1):  # nearest: a gather
        return np.take(img, idx[:, 0], axis=axis).astype(_F)
    shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)
    out = None
    for k in range(idx.shape[1]):
        part = np.take(img, idx[:, k], axis=axis).astype(_F)
        part *= w[:, k].reshape(shape)
        out = part if out is None else np.add(out, part, out=out)
    return out


def _crop_to_aspect(img: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Keras's smart_resize crop: the largest centred crop with the target's aspect ratio."""
    height, width = img.shape[:2]
    th, tw = size
    crop_h = max(min(height, int(float(width * th) / tw)), 1)
    crop_w = max(min(width, int(float(height * tw) / th)), 1)
    top, left = int(float(height - crop_h) / 2), int(float(width - crop_w) / 2)
    return img[top:top + crop_h, left:left + crop_w]


def _resize_with_pad(img: np.ndarray, size: Tuple[int, int], method: str) -> np.ndarray:
    """tf.image.resize_with_pad: resized to fit inside ``size`` keeping the aspect ratio, centred, zero padding."""
    height, width = _F(img.shape[0]), _F(img.shape[1])
    th, tw = size
    ratio = max(width / _F(tw), height / _F(th))
    rh_f, rw_f = height / ratio, width / ratio
    rh, rw = max(int(np.floor(rh_f)), 1), max(int(np.floor(rw_f)), 1)
    top = max(0, int(np.floor((_F(th) - rh_f) / _F(2))))
    left = max(0, int(np.floor((_F(tw) - rw_f) / _F(2))))
    out = np.zeros((th, tw, img.shape[2]), _F)
    resized = _resample(img, (rh, rw), method)
    out[top:top + rh, left:left + rw] = resized[:th - top, :tw - left]
    return out


# -- directories ----------------------------------------------------------------------------------------------------

def _iter_valid_files(directory: str, follow_links: bool) -> Iterator[Tuple[str, str]]:
    walk = os.walk(directory, followlinks=follow_links)
    for root, _, files in sorted(walk, key=lambda t: t[0]):
        for fname in sorted(files):
            if fname.lower().endswith(ALLOWLIST_FORMATS):
                yield root, fname


def _index_directory(directory: str, labels: Any, class_names: Optional[List[str]], shuffle: bool, seed: int,
                     follow_links: bool, verbose: bool) -> Tuple[List[str], Optional[np.ndarray], Optional[List[str]]]:
    """Keras's dataset_utils.index_directory: the image files (in class subdirectories for labels="inferred"), their
    labels and the class names, shuffled with ``np.random.RandomState(seed)`` as Keras does."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"image_dataset_from_directory: directory {directory!r} does not exist or is not a "
                                "directory")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError("image_dataset_from_directory: the class_names passed do not match the names of the "
                                 f"subdirectories of {directory!r}. Expected: {subdirs} (or a subset of it), but "
                                 f"received: class_names={list(class_names)}")
            subdirs = list(class_names)  # their order sets the labels
    else:
        subdirs = [""]
    files: List[str] = []
    file_labels: List[int] = []
    for k, sub in enumerate(subdirs):
        base = os.path.join(directory, sub)
        for root, fname in _iter_valid_files(base, follow_links):
            files.append(os.path.join(directory, sub, os.path.relpath(os.path.join(root, fname), base)))
            file_labels.append(k)
    if labels == "inferred":
        label_array: Optional[np.ndarray] = np.asarray(file_labels, np.int32)
        names: Optional[List[str]] = list(subdirs)
    elif labels is None:
        label_array, names = None, None
    else:
        if len(labels) != len(files):
            raise ValueError("image_dataset_from_directory: expected the length of labels to match the number of "
                             f"image files in {directory!r}: len(labels) is {len(labels)} while {len(files)} files "
                             "were found")
        label_array = np.asarray(labels)
        names = [str(v) for v in sorted(set(np.asarray(labels).tolist()))]
    if verbose:
        if label_array is None:
            print(f"Found {len(files)} files.")
        else:
            print(f"Found {len(files)} files belonging to {len(names)} classes.")
    if shuffle:  # one global shuffle of the file list (the same permutation as Keras's RandomState(seed).shuffle)
        order = list(range(len(files)))
        np.random.RandomState(seed).shuffle(order)
        files = [files[i] for i in order]
        if label_array is not None:
            label_array = label_array[np.asarray(order, np.int64)]
    return files, label_array, names


def _split(files: List[str], labels: Optional[np.ndarray], validation_split: Optional[float], subset: Optional[str],
           directory: str, verbose: bool) -> Tuple[List[str], Optional[np.ndarray]]:
    """Keras's get_training_or_validation_split: the last ``int(validation_split * n)`` files are the validation
    subset, the others the training subset."""
    if not validation_split:
        return files, labels
    n_val = int(validation_split * len(files))
    if n_val == 0 or n_val == len(files):
        raise ValueError(f"image_dataset_from_directory: validation_split={validation_split} of the {len(files)} "
                         f"image files in {directory!r} leaves "
                         f"{'no file for validation' if n_val == 0 else 'no file for training'}")
    if subset == "training":
        if verbose:
            print(f"Using {len(files) - n_val} files for training.")
        return files[:-n_val], None if labels is None else labels[:-n_val]
    if verbose:
        print(f"Using {n_val} files for validation.")
    return files[-n_val:], None if labels is None else labels[-n_val:]


def image_dataset_from_directory(directory: Any, labels: Any = "inferred", label_mode: Optional[str] = "int",
                                 class_names: Optional[Sequence[str]] = None, color_mode: str = "rgb",
                                 batch_size: int = 32, image_size: Optional[Any] = (256, 256), shuffle: bool = True,
                                 seed: Optional[int] = None, validation_split: Optional[float] = None,
                                 subset: Optional[str] = None, interpolation: str = "bilinear",
                                 follow_links: bool = False, crop_to_aspect_ratio: bool = False,
                                 pad_to_aspect_ratio: bool = False, data_format: Optional[str] = None,
                                 verbose: bool = True, *, workers: Optional[int] = None,
                                 max_queue_size: Optional[int] = None) -> Any:
    """Keras's image_dataset_from_directory: batches ``(images, labels)`` from the image files (.bmp .gif .jpeg .jpg
    .png) under ``directory``, with ``labels="inferred"`` one class per subdirectory (in alphanumeric order, or the
    order of ``class_names``), an explicit list of labels (files in sorted path order) or ``None``.

    Returns an :class:`ImageDataset` (a ``PyDataset``; ``subset="both"``: a ``(training, validation)`` pair) with
    ``class_names`` and ``file_paths``; each batch is float32 ``(n, height, width, channels)`` in 0..255, with labels
    int32 ``(n,)`` (``label_mode="int"``), float32 one-hot ``(n, classes)`` (``"categorical"``), float32 ``(n, 1)``
    (``"binary"``, 2 classes) or none (``label_mode=None``: the images alone). Files are shuffled with ``seed``, then
    reshuffled at each epoch's end; ``validation_split`` keeps the last fraction of the shuffled files for
    ``subset="validation"``. Images are resized to ``image_size`` as Keras does (``crop_to_aspect_ratio`` /
    ``pad_to_aspect_ratio`` keep the aspect ratio); ``image_size=None`` keeps their size, which must then be the same
    for all. nncore's own keywords: ``workers`` (threads decoding batches ahead, default ``min(4, cpu_count)``) and
    ``max_queue_size``."""
    what = "image_dataset_from_directory"
    directory = os.fspath(directory)
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(f'{what}: labels should be "inferred", None, or a list/tuple of integer labels of the '
                             f"same size as the number of image files in the directory; got labels={labels!r}")
        if class_names:
            raise ValueError(f'{what}: class_names can only be passed with labels="inferred"; got labels={labels!r} '
                             f"and class_names={class_names!r}")
    elif labels is None and class_names is not None:
        raise ValueError(f"{what}: when labels=None (no labels), class_names cannot be specified")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f'{what}: label_mode must be one of "int", "categorical", "binary" or None; got '
                         f"label_mode={label_mode!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    channels = {"rgb": 3, "rgba": 4, "grayscale": 1}.get(color_mode)
    if channels is None:
        raise ValueError(f'{what}: color_mode must be one of "rgb", "rgba", "grayscale"; got color_mode={color_mode!r}')
    size = None if image_size is None else _target_hw(image_size, what, "image_size")
    interpolation = str(interpolation).lower()
    if interpolation not in _DATASET_INTERPOLATIONS:
        raise ValueError(f"{what}: interpolation should be one of {_DATASET_INTERPOLATIONS}; got "
                         f"interpolation={interpolation!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"{what}: only one of pad_to_aspect_ratio and crop_to_aspect_ratio can be True")
    data_format = _data_format(data_format, what)
    if batch_size is None or isinstance(batch_size, bool) or int(batch_size) < 1:
        raise ValueError(f"{what}: batch_size must be a positive integer, got {batch_size!r} (nncore's dataset is "
                         "always batched)")
    batch_size = int(batch_size)
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"{what}: validation_split must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(f"{what}: if subset is set, validation_split must be set, and inversely")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'{what}: subset must be either "training", "validation" or "both", received: {subset!r}')
    if validation_split and shuffle and seed is None:
        raise ValueError(f"{what}: when using validation_split and shuffling the data, you must provide a seed "
                         "argument, to make sure that there is no overlap between the training and validation "
                         "subsets")
    _pil()
    if seed is None:
        seed = np.random.randint(1e6)
    seed = int(seed)
    files, file_labels, names = _index_directory(directory, labels, None if class_names is None else list(class_names),
                                                 shuffle, seed, follow_links, verbose)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f'{what}: label_mode="binary" needs exactly 2 classes; found {len(names)}: '
                         f"class_names={names}")
    if not files:
        hint = (" (labels='inferred' reads the images in the class subdirectories of the directory)"
                if labels == "inferred" else "")
        raise ValueError(f"{what}: no images found in directory {directory!r}{hint}. Allowed formats: "
                         f"{ALLOWLIST_FORMATS}")
    common = dict(label_mode=label_mode, class_names=names, num_channels=channels, color_mode=color_mode,
                  batch_size=batch_size, image_size=size, interpolation=interpolation,
                  crop_to_aspect_ratio=bool(crop_to_aspect_ratio), pad_to_aspect_ratio=bool(pad_to_aspect_ratio),
                  data_format=data_format, seed=seed, workers=workers, max_queue_size=max_queue_size)
    if subset == "both":
        train_files, train_labels = _split(files, file_labels, validation_split, "training", directory, verbose)
        val_files, val_labels = _split(files, file_labels, validation_split, "validation", directory, verbose)
        return (ImageDataset(train_files, train_labels, shuffle=shuffle, **common),
                ImageDataset(val_files, val_labels, shuffle=False, **common))
    files, file_labels = _split(files, file_labels, validation_split, subset, directory, verbose)
    return ImageDataset(files, file_labels, shuffle=shuffle, **common)


class ImageDataset(PyDataset):
    """The batches of :func:`image_dataset_from_directory`: ``len(ds)`` batches; ``ds[i]`` is ``(images, labels)``
    (images alone without labels), decoded and resized on demand; ``for x, y in ds`` iterates over one epoch (worker
    threads decode ahead). ``class_names`` and ``file_paths`` as Keras's dataset; ``on_epoch_end`` reshuffles the
    order of the files when ``shuffle=True`` (deterministic for a given seed)."""

    def __init__(self, file_paths: List[str], labels: Optional[np.ndarray], *, label_mode: Optional[str],
                 class_names: Optional[List[str]], num_channels: int, color_mode: str, batch_size: int,
                 image_size: Optional[Tuple[int, int]], interpolation: str, crop_to_aspect_ratio: bool,
                 pad_to_aspect_ratio: bool, data_format: str, shuffle: bool, seed: int,
                 workers: Optional[int] = None, max_queue_size: Optional[int] = None) -> None:
        workers = min(4, os.cpu_count() or 1) if workers is None else int(workers)
        super().__init__(workers=workers, max_queue_size=max(2, 2 * workers) if max_queue_size is None
                         else max_queue_size)
        self.file_paths = list(file_paths)
        self.class_names = class_names
        self.batch_size = batch_size
        self.label_mode = label_mode
        self.color_mode = color_mode
        self.num_channels = num_channels
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.data_format = data_format
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self._labels = None if labels is None else np.asarray(labels)
        self._num_classes = len(class_names) if class_names else 0
        self._epoch = 0
        self._order = np.arange(len(self.file_paths))
        self._own_size = image_size is None
        self.image_size = image_size if image_size is not None else self._common_size()

    def _common_size(self) -> Tuple[int, int]:
        """image_size=None: every image's own (height, width), which must be the same for all."""
        Image = _pil()

        def size_of(path: str) -> Tuple[int, int]:
            try:
                with Image.open(path) as img:
                    return img.size[1], img.size[0]
            except Exception as exc:
                raise OSError(f"image_dataset_from_directory: cannot read image file {path!r}: {exc}") from exc

        with ThreadPoolExecutor(max(1, self.workers)) as pool:
            sizes = list(pool.map(size_of, self.file_paths))
        first = sizes[0]
        for path, s in zip(self.file_paths, sizes):
            if s != first:
                raise ValueError(f"image_dataset_from_directory: with image_size=None every image must have the same "
                                 f"size, but {path!r} is {s[0]}x{s[1]} (height x width) while {self.file_paths[0]!r} "
                                 f"is {first[0]}x{first[1]}; pass image_size=(height, width) to resize the images")
        return first

    def __len__(self) -> int:
        return -(-len(self.file_paths) // self.batch_size)

    def _load(self, path: str) -> np.ndarray:
        Image = _pil()
        try:
            with Image.open(path) as img:
                img.load()
                arr = np.asarray(_convert_mode(img, self.color_mode, "image_dataset_from_directory"))
        except Exception as exc:
            raise OSError(f"image_dataset_from_directory: cannot read image file {path!r}: {exc}") from exc
        if arr.ndim == 2:
            arr = arr[:, :, None]
        size = self.image_size
        if self.crop_to_aspect_ratio:
            out = _resample(_crop_to_aspect(arr, size), size, self.interpolation)
        elif self.pad_to_aspect_ratio:
            out = _resize_with_pad(arr, size, self.interpolation)
        else:
            if self._own_size and arr.shape[:2] != tuple(size):
                raise ValueError(f"image_dataset_from_directory: with image_size=None every image must have the same "
                                 f"size, but {path!r} is {arr.shape[0]}x{arr.shape[1]} (height x width), not "
                                 f"{size[0]}x{size[1]}; pass image_size=(height, width) to resize the images")
            out = _resample(arr, size, self.interpolation)
        if self.data_format == "channels_first":
            out = out.transpose(2, 0, 1)
        return out

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        index = int(index)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"ImageDataset: batch index {index} out of range for {n} batches")
        picks = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        x = np.stack([self._load(self.file_paths[i]) for i in picks]).astype(_F, copy=False)
        if self.label_mode is None:
            return x
        y = self._labels[picks]
        if self.label_mode == "binary":
            y = y.astype(_F).reshape(-1, 1)
        elif self.label_mode == "categorical":
            y = y.astype(np.int64)
            onehot = np.zeros((len(y), self._num_classes), _F)
            ok = (y >= 0) & (y < self._num_classes)  # out-of-range labels: rows of zeros, as tf.one_hot
            onehot[np.nonzero(ok)[0], y[ok]] = 1.0
            y = onehot
        else:
            y = y.astype(np.int32)
        return x, y

    def on_epoch_end(self) -> None:
        self._epoch += 1
        if self.shuffle:
            self._order = np.random.default_rng([self.seed, self._epoch]).permutation(len(self.file_paths))

    def __iter__(self) -> Iterator[Any]:
        """One epoch of batches, in order (worker threads decode ahead); a complete pass ends the epoch."""
        n = len(self)
        if self.workers <= 1:
            for i in range(n):
                yield self[i]
        else:
            pool = ThreadPoolExecutor(self.workers)
            try:
                window = 2 * self.workers
                futures = [pool.submit(self.__getitem__, i) for i in range(min(window, n))]
                for i in range(n):
                    batch = futures[i].result()
                    if i + window < n:
                        futures.append(pool.submit(self.__getitem__, i + window))
                    futures[i] = None
                    yield batch
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        self.on_epoch_end()

    def __repr__(self) -> str:
        return (f"<ImageDataset: {len(self.file_paths)} files, {len(self)} batches of {self.batch_size}, "
                f"image_size={self.image_size}, class_names={self.class_names}>")
