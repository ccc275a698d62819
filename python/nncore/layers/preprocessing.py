"""Preprocessing layers: Rescaling, Normalization."""
from __future__ import annotations

import itertools
from typing import Any, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

from .. import _core
from .._convert import as_float32
from .._feeds import PyDataset
from .base import Layer, _check_kwargs, _int_arg, _number

__all__ = ["Rescaling", "Normalization"]


class Rescaling(Layer):
    """``x * scale + offset`` (Keras's Rescaling; ``scale`` and ``offset`` are numbers).

    Example:
        >>> Rescaling(1.0 / 255)                  # [0, 255] -> [0, 1]
        >>> Rescaling(1.0 / 127.5, offset=-1.0)   # [0, 255] -> [-1, 1]
    """

    def __init__(self, scale: float, offset: float = 0.0, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Rescaling", kwargs)
        impl = _core.Rescaling(_number(scale, "Rescaling", "scale"), _number(offset, "Rescaling", "offset"),
                               name or "")
        super().__init__(impl, input_shape)

    @property
    def scale(self) -> float:
        return self._impl.scale

    @property
    def offset(self) -> float:
        return self._impl.offset


def _values(v: Any, what: str) -> Optional[np.ndarray]:
    """Normalization's mean/variance argument: None, a number or an array of numbers (float64)."""
    if v is None:
        return None
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        a = None
    if a is None or a.dtype != np.float64:
        raise ValueError(f"Normalization: {what} must be a number or an array of numbers, got {v!r}")
    return a


class Normalization(Layer):
    """Shifts and scales inputs to mean 0 and variance 1: ``(x - mean) / max(sqrt(variance), 1e-7)``, with one mean
    and variance per index of the ``axis`` axes (Keras counts the batch axis: ``-1``, the default, is the last; a
    tuple keeps several; ``None`` uses one mean and variance for everything), broadcast over the other axes.
    ``invert=True`` applies the inverse, ``x * sqrt(variance) + mean`` (de-normalizing outputs).

    The statistics come from ``mean`` and ``variance`` given here (anything that broadcasts to the kept axes; the
    layer then has no weights, as in Keras) or from data with ``adapt``, which sets the layer's non-trainable
    weights ``mean``, ``variance`` and ``count`` (Keras's layout; ``count`` stays 0, as in Keras 3).

    Example:
        >>> norm = Normalization()
        >>> norm.adapt(x_train)                  # per-feature mean and variance of the training data
        >>> model = Sequential([Input((8,)), norm, Dense(16, activation="relu"), Dense(1)])
        >>> Normalization(mean=3.0, variance=2.0, axis=None)
    """

    def __init__(self, axis: Union[int, Sequence[int], None] = -1, mean: Any = None, variance: Any = None,
                 invert: bool = False, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("Normalization", kwargs)
        if axis is None:
            axes: list = []
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            axes = [int(axis)]
        elif isinstance(axis, (list, tuple)) and all(
                isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis):
            axes = [int(a) for a in axis]
        else:
            raise ValueError(f"Normalization: axis must be an int, a tuple of ints or None, got {axis!r}")
        if not isinstance(invert, (bool, np.bool_)):
            raise ValueError(f"Normalization: invert must be True or False, got {invert!r}")
        impl = _core.Normalization(axes, _values(mean, "mean"), _values(variance, "variance"), bool(invert),
                                   name or "")
        super().__init__(impl, input_shape)

    @property
    def axis(self) -> Tuple[int, ...]:
        """The kept axes as Keras stores them: a tuple (empty for None)."""
        return tuple(self._impl.axis)

    @property
    def invert(self) -> bool:
        return self._impl.invert

    @property
    def input_mean(self) -> Optional[np.ndarray]:
        """The mean given to the constructor (None when the layer adapts)."""
        return self._impl.given_mean

    @property
    def input_variance(self) -> Optional[np.ndarray]:
        return self._impl.given_variance

    @property
    def mean(self) -> Optional[np.ndarray]:
        """The mean in use, of the kept axes' shape (None before the layer is built)."""
        return self._impl.mean_values if self.built else None

    @property
    def variance(self) -> Optional[np.ndarray]:
        return self._impl.variance_values if self.built else None

    def adapt(self, data: Any, batch_size: Optional[int] = None, steps: Optional[int] = None) -> None:
        """Computes the mean and variance of ``data`` along the axes that are not kept, and stores them in the
        layer's weights (replacing earlier ones). ``data`` is an array (read ``batch_size`` samples at a time when
        given), or batches: a ``PyDataset``, a generator or any iterable of arrays (or of ``(x, y)`` tuples, whose
        ``x`` is used), of which ``steps`` batches are read when given. The batches' moments are merged in float64,
        so streaming gives numpy's mean and (biased) variance of all the data. 1-D data is one value per sample.

        Example:
            >>> norm = Normalization(axis=-1)
            >>> norm.adapt(x_train, batch_size=1024)
            >>> norm.adapt(batches_of_x, steps=100)
        """
        who = f"Normalization '{self.name}'"
        if self._impl.given_mean is not None:
            raise ValueError(f"{who}: adapt() needs a layer without fixed statistics; this one was given mean and "
                             "variance")
        if batch_size is not None:
            batch_size = _int_arg(batch_size, f"{who}: adapt()", "batch_size")
        if steps is not None:
            steps = _int_arg(steps, f"{who}: adapt()", "steps")
        impl = self._impl
        if isinstance(data, np.ndarray) or (hasattr(data, "__array__") and hasattr(data, "shape")):
            if steps is not None:
                raise ValueError(f"{who}: adapt() takes steps with batches (a PyDataset, a generator, an iterable); "
                                 f"for an array give batch_size, got steps={steps}")
            x = self._batch(data, "data")
            n = x.shape[0]
            size = n if batch_size is None else batch_size
            impl.reset_state()
            for start in range(0, max(n, 1), max(size, 1)):
                impl.update_state(as_float32(x[start:start + size], f"{who} adapt() data"))
            impl.finalize_state()
            return
        if isinstance(data, (str, bytes, dict)) or not (isinstance(data, PyDataset) or hasattr(data, "__iter__")):
            raise TypeError(f"{who}: adapt() expected an array, a PyDataset or an iterable of batches, got "
                            f"{type(data).__name__}")
        if batch_size is not None:
            raise ValueError(f"{who}: adapt() takes batch_size with an array; batches (a PyDataset, a generator, an "
                             f"iterable) come in their own sizes, got batch_size={batch_size}")
        batches: Iterable[Any]
        if isinstance(data, PyDataset):
            n = len(data) if steps is None else min(len(data), steps)
            batches = (data[i] for i in range(n))
        else:
            batches = iter(data) if steps is None else itertools.islice(iter(data), steps)
        impl.reset_state()
        count = 0
        for i, batch in enumerate(batches):
            if isinstance(batch, tuple):  # (x, y) or (x, y, sample_weight): the inputs
                batch = batch[0]
            impl.update_state(as_float32(self._batch(batch, f"batch {i}"), f"{who} adapt() batch {i}"))
            count += 1
        if count == 0:
            raise ValueError(f"{who}: adapt() received no batches; expected at least one")
        impl.finalize_state()

    def _batch(self, data: Any, what: str) -> np.ndarray:
        """A batch as an array of at least 2 dimensions: 1-D data is one value per sample, (n,) -> (n, 1)."""
        try:
            x = np.asarray(data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Normalization '{self.name}': adapt() {what} is not an array: {exc}") from exc
        if x.ndim == 0:
            raise ValueError(f"Normalization '{self.name}': adapt() {what} must be an array of samples, got a scalar")
        return x.reshape(-1, 1) if x.ndim == 1 else x
