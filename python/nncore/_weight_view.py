"""A built layer's weight as ``layer.weights`` hands it out: the zero-copy numpy view onto the C++ buffer (writes go
to the layer, training shows through) that also answers what code written for Keras 3 asks of a ``keras.Variable``:
``numpy()``, ``name``, ``path``, ``trainable``, ``value``, ``assign``.

Example:
    >>> layer = nncore.layers.Dense(3, name="d"); layer.build((None, 4))
    >>> k = layer.weights[0]
    >>> k.name, k.path, k.trainable, k.shape
    ('kernel', 'd/kernel', True, (4, 3))
    >>> k.numpy()            # a copy, as Keras's Variable.numpy()
    >>> k[...] = 0           # a view: writes into the layer
"""
from __future__ import annotations

import weakref
from typing import Any, List, Optional, Tuple

import numpy as np

__all__ = ["WeightView", "weight_view"]


class WeightView(np.ndarray):
    """A numpy view onto one weight of a built layer, with Keras's Variable attributes. Arithmetic on it gives
    plain arrays; ``copy()`` and ``numpy()`` give plain copies; ``repr`` is the array's."""

    _layer: Any = None
    _index: int = -1
    _key: Optional[str] = None  # the layer's name for it: "kernel", or "dense_1/kernel" in a custom layer

    def __array_finalize__(self, obj: Any) -> None:
        # Slices and other views made from a weight are arrays, not the weight: no name.
        self._layer, self._index, self._key = None, -1, None

    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: bool = False) -> Any:
        array = np.asarray(array).view(np.ndarray)
        return array[()] if return_scalar else array

    @property
    def name(self) -> Optional[str]:
        """The weight's own name (Keras's ``variable.name``: ``"kernel"``)."""
        return None if self._key is None else self._key.rsplit("/", 1)[-1]

    @property
    def path(self) -> Optional[str]:
        """``"<layer name>/<weight name>"``, through the sublayers of a custom layer (Keras's ``variable.path``)."""
        if self._layer is None:
            return None
        return f"{self._layer.name}/{self._key}"

    @property
    def trainable(self) -> Optional[bool]:
        """Whether an optimizer updates this weight (False for statistics such as a moving mean)."""
        if self._layer is None:
            return None
        return bool(self._layer._impl.weight_trainable[self._index])

    @property
    def value(self) -> np.ndarray:
        """The weight as a plain numpy view (no copy)."""
        return self.view(np.ndarray)

    def numpy(self) -> np.ndarray:
        """A copy of the weight's values (Keras's ``variable.numpy()``)."""
        return np.array(self.view(np.ndarray), copy=True)

    def copy(self, order: str = "C") -> np.ndarray:  # type: ignore[override]
        return np.ndarray.copy(self.view(np.ndarray), order)

    def assign(self, value: Any) -> "WeightView":
        """Writes ``value`` (the weight's shape) into the weight, as Keras's ``variable.assign``."""
        arr = np.asarray(value, np.float32)
        if arr.shape != self.shape:
            raise ValueError(f"Variable '{self.path}': assign expects a value of shape {self.shape} (the variable's), "
                             f"got shape {arr.shape}")
        self[...] = arr
        return self

    def assign_add(self, value: Any) -> "WeightView":
        return self.assign(self.view(np.ndarray) + np.asarray(value, np.float32))

    def assign_sub(self, value: Any) -> "WeightView":
        return self.assign(self.view(np.ndarray) - np.asarray(value, np.float32))

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))

    def __reduce__(self) -> Any:  # pickles as the plain array it holds
        return np.ndarray.__reduce__(self.view(np.ndarray))

    def __deepcopy__(self, memo: Any) -> np.ndarray:
        return self.copy()


def weight_view(layer: Any, index: int, key: Tuple[int, tuple]) -> WeightView:
    """The ``WeightView`` of ``layer``'s weight ``index`` (``key``: the C++ buffer's address and shape, from
    ``weight_keys``). The same object while the buffer stays where it is and the view is held anywhere, so
    ``layer.weights[0] is layer.trainable_weights[0]`` as in Keras. Held weakly: while a view of a weight is alive,
    inference reads the weight itself instead of the packed copy it keeps (a write through the view could come at any
    time), and a new view is made only when none is (each one released counts as a write)."""
    cache: List[Any] = layer.__dict__.setdefault("_weight_views", [])
    while len(cache) <= index:
        cache.append(None)
    old = cache[index]() if cache[index] is not None else None
    address, shape = key
    if old is not None and old.shape == tuple(shape) and old.__array_interface__["data"][0] == address:
        return old
    view = layer._impl.weight_view(index).view(WeightView)
    view._layer, view._index, view._key = layer, index, str(layer._impl.weight_names[index])
    cache[index] = weakref.ref(view)
    return view
