"""Reading and validating IDX files (the MNIST / Fashion-MNIST format).

An IDX file starts with a 4-byte magic number -- two zero bytes, a type
code (``0x08`` = unsigned byte) and the number of dimensions -- followed by
one big-endian ``uint32`` per dimension and then the raw data.  Images use
magic 2051 (``0x00000803``, 3 dims) and labels magic 2049 (``0x00000801``,
1 dim).  Files may be plain or gzip-compressed; compression is detected from
the content, not the file name.

This module depends on nothing but the standard library and numpy, so tools
can load it by file path without importing the (compiled) ``nncore`` package.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from typing import Tuple, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: PathLike) -> bytes:
    """Return the (decompressed) contents of a plain or gzip IDX file."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as err:
        raise ValueError(
            f"{path}: corrupt or truncated gzip stream ({err})") from err


def parse_idx(data: bytes, path: PathLike = "<bytes>",
              magic: int | None = None) -> np.ndarray:
    """Parse an unsigned-byte IDX buffer into a new, writable uint8 array.

    Raises ValueError (naming ``path``) when the magic number is wrong or
    unexpected, or when the buffer length disagrees with the header.
    """
    path = os.fspath(path)
    if len(data) < 4:
        raise ValueError(
            f"{path}: too short for an IDX header: expected at least 4 "
            f"bytes, got {len(data)}")
    got_magic = struct.unpack(">I", data[:4])[0]
    if magic is not None and got_magic != magic:
        raise ValueError(
            f"{path}: bad IDX magic number: expected {magic} "
            f"(0x{magic:08x}), got {got_magic} (0x{got_magic:08x})")
    if data[0] != 0 or data[1] != 0 or data[2] != _UBYTE or data[3] == 0:
        raise ValueError(
            f"{path}: not an unsigned-byte IDX file "
            f"(magic 0x{got_magic:08x})")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(
            f"{path}: truncated IDX header: expected {header_size} bytes, "
            f"got {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    expected = header_size + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise ValueError(
            f"{path}: size does not match IDX header {tuple(dims)}: "
            f"expected {expected} bytes, got {len(data)}")
    array = np.frombuffer(data, dtype=np.uint8, offset=header_size)
    return array.reshape(dims).copy()


def read_images(path: PathLike,
                image_shape: Tuple[int, int] | None = (28, 28)
                ) -> np.ndarray:
    """Read an IDX image file into an ``(N, rows, cols)`` uint8 array."""
    images = parse_idx(read_bytes(path), path, IMAGES_MAGIC)
    if images.ndim != 3:
        raise ValueError(
            f"{os.fspath(path)}: expected 3 dimensions for images, "
            f"got {images.ndim}")
    if image_shape is not None and images.shape[1:] != tuple(image_shape):
        raise ValueError(
            f"{os.fspath(path)}: expected images of shape "
            f"{tuple(image_shape)}, got {images.shape[1:]}")
    return images


def read_labels(path: PathLike) -> np.ndarray:
    """Read an IDX label file into an ``(N,)`` uint8 array."""
    labels = parse_idx(read_bytes(path), path, LABELS_MAGIC)
    if labels.ndim != 1:
        raise ValueError(
            f"{os.fspath(path)}: expected 1 dimension for labels, "
            f"got {labels.ndim}")
    return labels


def read_pair(images_path: PathLike, labels_path: PathLike,
              image_shape: Tuple[int, int] | None = (28, 28)
              ) -> Tuple[np.ndarray, np.ndarray]:
    """Read matching image and label files; their counts must agree."""
    images = read_images(images_path, image_shape)
    labels = read_labels(labels_path)
    if len(images) != len(labels):
        raise ValueError(
            f"{os.fspath(images_path)} has {len(images)} images but "
            f"{os.fspath(labels_path)} has {len(labels)} labels")
    return images, labels
