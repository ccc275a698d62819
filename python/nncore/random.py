"""Keras 3's ``keras.random``: ``normal``, ``uniform``, ``dropout`` and ``SeedGenerator``. On arrays they draw with
numpy from a seed; on KerasTensors they add a ``RandomOp`` node that draws fresh numbers at every training step in
C++ (seeded by ``nncore.set_random_seed``, so runs repeat). A shape whose first entry is the batch size of a
KerasTensor (``ops.shape(x)[0]``) draws one row per sample."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from . import _core

__all__ = ["SeedGenerator", "normal", "uniform", "dropout"]


class SeedGenerator:
    """A stream of seeds (Keras's ``keras.random.SeedGenerator(seed)``). In a traced layer every op draws fresh
    numbers at each step anyway; the generator seeds the eager draws."""

    def __init__(self, seed: Optional[int] = None, **kwargs: Any) -> None:
        self._rng = np.random.default_rng(int(_core.next_seed()) if seed is None else int(seed))

    def next(self) -> int:
        return int(self._rng.integers(0, 2 ** 63 - 1))


def _eager_rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, SeedGenerator):
        return np.random.default_rng(seed.next())
    return np.random.default_rng(int(_core.next_seed()) if seed is None else int(seed))


def _batch_reference(shape: Sequence[Any]) -> Any:
    """The KerasTensor whose batch size the first entry of `shape` names, or None for a concrete shape."""
    from ._keras_ops import BatchDim
    if len(shape) and isinstance(shape[0], BatchDim):
        if any(isinstance(d, BatchDim) for d in shape[1:]):
            raise ValueError("keras.random: only the first entry of the shape may be a batch size")
        return shape[0].tensor
    if any(d is None for d in shape):
        raise ValueError(f"keras.random: the shape {tuple(shape)} has an unknown entry; in a model write the batch "
                         "size as ops.shape(x)[0] of a tensor x")
    return None


def _draw(op: str, shape: Sequence[Any], a: float, b: float, seed: Any) -> Any:
    ref = _batch_reference(shape)
    if ref is None:
        rng = _eager_rng(seed)
        dims = tuple(int(d) for d in shape)
        arr = rng.normal(a, b, dims) if op == "normal" else rng.uniform(a, b, dims)
        return arr.astype(np.float32)
    from ._keras_ops import RandomOp, _call
    per_sample = [int(d) for d in shape[1:]]
    return _call(RandomOp, _core.RandomOp(op, float(a), float(b), per_sample), [ref])


def normal(shape: Sequence[Any], mean: float = 0.0, stddev: float = 1.0, dtype: Any = None, seed: Any = None) -> Any:
    return _draw("normal", shape, mean, stddev, seed)


def uniform(shape: Sequence[Any], minval: float = 0.0, maxval: float = 1.0, dtype: Any = None,
            seed: Any = None) -> Any:
    return _draw("uniform", shape, minval, maxval, seed)


def dropout(inputs: Any, rate: float, noise_shape: Any = None, seed: Any = None) -> Any:
    """Zeroes a fraction ``rate`` of the entries and scales the rest by 1/(1-rate), at every call."""
    from ._keras_ops import RandomOp, _call, _is_symbolic
    if noise_shape is not None:
        raise NotImplementedError("keras.random.dropout: noise_shape is not supported")
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"random.dropout: rate must be in [0, 1), got {rate}")
    if _is_symbolic(inputs):
        return _call(RandomOp, _core.RandomOp("dropout", float(rate), 0.0, []), [inputs])
    x = np.asarray(inputs, np.float32)
    keep = _eager_rng(seed).random(x.shape) >= rate
    return np.where(keep, x / (1.0 - rate), 0.0).astype(np.float32)
