"""Array conversion policy shared by the Python facade (one place, used everywhere)."""
from __future__ import annotations

from typing import Any

import numpy as np

_EXACT_INT_LIMIT = 1 << 24  # integers above this are not exact in float32


def as_float32(a: Any, what: str) -> np.ndarray:
    """Return ``a`` as a C-contiguous float32 array, without a copy when it already is one.

    Floating-point and boolean inputs are converted (float64 data arrives this way from ``x / 255.0``);
    integers are converted when float32 holds them exactly; anything else raises ``TypeError``.
    """
    arr = np.asarray(a)
    if arr.dtype == np.float32:
        return np.ascontiguousarray(arr)
    kind = arr.dtype.kind
    if kind in "iu":
        if arr.size and int(np.max(np.abs(arr.astype(np.int64)))) > _EXACT_INT_LIMIT:
            raise TypeError(f"{what}: integer values above 2**24 cannot be represented exactly in float32 "
                            f"(dtype {arr.dtype}, max |value| {int(np.max(np.abs(arr)))})")
        return np.ascontiguousarray(arr, dtype=np.float32)
    if kind in "fb":
        return np.ascontiguousarray(arr, dtype=np.float32)
    raise TypeError(f"{what}: expected a numeric array (float, int or bool), got dtype {arr.dtype}")


def per_sample_shape(shape: Any, what: str) -> tuple:
    """Normalize a Keras-style shape argument to a tuple of positive ints (no batch axis), with -1 for ``None``
    (an axis whose length is known only when a batch arrives: ``Input((None, 8))``), as the C++ core reads it."""
    if isinstance(shape, (int, np.integer)) or shape is None:
        shape = (shape,)
    try:
        dims = tuple(-1 if d is None else int(d) for d in shape)
    except TypeError as exc:
        raise TypeError(f"{what}: expected a tuple of ints (or None for an unknown length), got {shape!r}") from exc
    if any(d <= 0 and d != -1 for d in dims) or any(d is not None and int(d) == -1 for d in shape):
        raise ValueError(f"{what}: expected positive dimensions (or None for an unknown length), got {shape!r}")
    return dims


def py_shape(shape: Any) -> tuple:
    """A shape from the C++ core as Keras shows it: unknown lengths (-1) as ``None``."""
    return tuple(None if int(d) < 0 else int(d) for d in shape)


def pair(v: Any, what: str) -> tuple:
    """Keras's int-or-pair arguments (kernel_size=3 means (3, 3))."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v), int(v))
    try:
        a, b = v
        return (int(a), int(b))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: expected an int or a pair of ints, got {v!r}") from exc
