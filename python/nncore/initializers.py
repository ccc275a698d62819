"""Weight initializers, as Keras 3's ``keras.initializers``: objects with their arguments, the snake-case names,
``get``, ``serialize`` and ``deserialize``.

Every layer argument that takes an initializer (``kernel_initializer``, ``bias_initializer``,
``recurrent_initializer``, ``embeddings_initializer``, ``gamma_initializer``, ``alpha_initializer``, ...) accepts a
name, one of these objects, a serialized dict, or a user's callable ``fn(shape, dtype=None) -> array``. The built-in
ones are drawn in C++ when the layer is built: unseeded from the layer's generator (so ``nncore.set_random_seed``
makes reruns bit-identical), with ``seed=`` by themselves (the same values at every use, as in Keras). A user's
callable runs in Python at build time (its values are checked for shape and finiteness); it is saved by name, and
``from_config`` / ``Model.from_config`` find it again when registered with
``nncore.saving.register_keras_serializable`` (a model file holds the weights, so ``load_model`` needs no function).

Called directly, ``initializer(shape, dtype=None)`` returns a numpy array, as Keras does eagerly. Unlike Keras 3,
an unseeded initializer draws fresh values at each call (from nncore's seed stream).

Example:
    >>> from nncore.initializers import RandomNormal
    >>> layer = nncore.layers.Dense(4, kernel_initializer=RandomNormal(0.0, 0.02))
    >>> RandomNormal(stddev=0.02, seed=1)((3, 4)).std()
"""
from __future__ import annotations

import inspect
import json
import math
import numbers
from typing import Any, Callable, Dict, Optional, Sequence, Union

import numpy as np

from . import _core
from . import _serialization

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "Identity", "RandomNormal", "RandomUniform", "TruncatedNormal",
           "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
           "Orthogonal", "OrthogonalInitializer", "IdentityInitializer", "zeros", "ones", "constant", "identity",
           "random_normal", "random_uniform", "truncated_normal", "variance_scaling", "glorot_uniform",
           "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "orthogonal", "get",
           "serialize", "deserialize"]


# ---- argument checks: ValueError naming the class and the argument, expected versus received ----------------------
def _number(v: Any, cls: str, arg: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise ValueError(f"{cls}: {arg} must be a finite number, got {v!r}")
    return float(v)


def _seed(seed: Any, cls: str) -> Optional[int]:
    if seed is None:
        return None
    # Configs keep numbers as JSON doubles, exact up to 2**53.
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) <= 2 ** 53:
        raise ValueError(f"{cls}: seed must be None or an int in [0, 2**53], got {seed!r}")
    return int(seed)


class Initializer:
    """Base of the initializers (Keras's ``keras.initializers.Initializer``). A subclass of your own implements
    ``__call__(self, shape, dtype=None) -> array`` and, to be saved and loaded, ``get_config``; layers call it in
    Python when they are built.

    Example:
        >>> class Halves(nncore.initializers.Initializer):
        ...     def __call__(self, shape, dtype=None):
        ...         return np.full(shape, 0.5, np.float32)
        >>> nncore.layers.Dense(3, kernel_initializer=Halves())
    """

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        spec = self._core_spec()
        if spec is None:
            raise NotImplementedError("Initializer subclasses must implement the __call__() method")
        name = type(self).__name__
        if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
            shape = (int(shape),)
        if not isinstance(shape, (tuple, list)) or not all(
                isinstance(d, numbers.Integral) and not isinstance(d, bool) and int(d) >= 0 for d in shape):
            raise ValueError(f"{name}: shape must be a tuple of ints >= 0, got {shape!r}")
        out = _core.Initializer.from_config(json.dumps(spec)).values([int(d) for d in shape])
        return out if dtype is None else out.astype(_dtype(dtype, name))

    def get_config(self) -> Dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Initializer":
        return cls(**config)

    def clone(self) -> "Initializer":
        return self.__class__.from_config(self.get_config())

    def _core_spec(self) -> Optional[Dict[str, Any]]:
        """The Keras config that C++ draws from (None: not a built-in initializer)."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _dtype(dtype: Any, cls: str) -> np.dtype:
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"{cls}: dtype must be a numeric dtype such as 'float32', got {dtype!r}") from None
    if d.kind not in "fiu":
        raise ValueError(f"{cls}: dtype must be a numeric dtype such as 'float32', got {dtype!r}")
    return d


class _Builtin(Initializer):
    """An initializer that C++ draws: its Keras class name (the nearest built-in ancestor's) and its config."""

    def _core_spec(self) -> Dict[str, Any]:
        cls = next(c for c in type(self).__mro__ if c.__name__ in _BUILTIN_NAMES and c.__module__ == __name__)
        return {"class_name": cls.__name__, "config": _Builtin.get_config_of(self, cls)}

    @staticmethod
    def get_config_of(obj: Any, cls: type) -> Dict[str, Any]:
        return cls.get_config(obj)


class Zeros(_Builtin):
    """All zeros."""


class Ones(_Builtin):
    """All ones."""


class Constant(_Builtin):
    """Every value ``value`` (a scalar)."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = _number(value, "Constant", "value")

    def get_config(self) -> Dict[str, Any]:
        return {"value": self.value}


class Identity(_Builtin):
    """``gain`` times the identity matrix (2-D weights only)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _number(gain, "Identity", "gain")

    def get_config(self) -> Dict[str, Any]:
        return {"gain": self.gain}


class _Random(_Builtin):
    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = _seed(seed, type(self).__name__)

    def get_config(self) -> Dict[str, Any]:
        return {"seed": self.seed}


class RandomNormal(_Random):
    """Normal draws with ``mean`` and ``stddev``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Optional[int] = None) -> None:
        self.mean = _number(mean, type(self).__name__, "mean")
        self.stddev = _number(stddev, type(self).__name__, "stddev")
        if self.stddev < 0:
            raise ValueError(f"{type(self).__name__}: stddev must be >= 0, got {stddev!r}")
        super().__init__(seed)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """Normal draws with ``mean`` and ``stddev``; those more than two standard deviations from the mean are drawn
    again (the result's standard deviation is about 0.88 ``stddev``)."""


class RandomUniform(_Random):
    """Uniform draws in ``[minval, maxval)``."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Optional[int] = None) -> None:
        self.minval = _number(minval, "RandomUniform", "minval")
        self.maxval = _number(maxval, "RandomUniform", "maxval")
        if self.minval > self.maxval:
            raise ValueError(f"RandomUniform: minval must be <= maxval, got minval={minval!r}, maxval={maxval!r}")
        super().__init__(seed)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class VarianceScaling(_Random):
    """Draws with variance ``scale / n``, ``n`` the fan (``mode``: "fan_in", "fan_out" or "fan_avg", their mean):
    ``distribution`` "truncated_normal" (rescaled so the variance is exact; "normal" means it too),
    "untruncated_normal" or "uniform" (limit ``sqrt(3 scale / n)``)."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: Optional[int] = None) -> None:
        name = type(self).__name__
        self.scale = _number(scale, name, "scale")
        if self.scale <= 0:
            raise ValueError(f"{name}: scale must be a number > 0, got {scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"{name}: mode must be one of 'fan_in', 'fan_out', 'fan_avg', got {mode!r}")
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        if dist == "normal":
            dist = "truncated_normal"
        if dist not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"{name}: distribution must be one of 'truncated_normal', 'untruncated_normal', "
                             f"'uniform', got {distribution!r}")
        self.mode = mode
        self.distribution = dist
        super().__init__(seed)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "mode": self.mode, "distribution": self.distribution}


def _variance_scaling_case(class_name: str, scale: float, mode: str, distribution: str, doc: str) -> type:
    def __init__(self: Any, seed: Optional[int] = None) -> None:
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self: Any) -> Dict[str, Any]:
        return {"seed": self.seed}

    return type(class_name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                                                 "__module__": __name__})


GlorotUniform = _variance_scaling_case("GlorotUniform", 1.0, "fan_avg", "uniform",
                                       "Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)).")
GlorotNormal = _variance_scaling_case("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                                      "Truncated normal with stddev sqrt(2 / (fan_in + fan_out)).")
HeUniform = _variance_scaling_case("HeUniform", 2.0, "fan_in", "uniform",
                                   "Uniform in [-limit, limit], limit = sqrt(6 / fan_in).")
HeNormal = _variance_scaling_case("HeNormal", 2.0, "fan_in", "truncated_normal",
                                  "Truncated normal with stddev sqrt(2 / fan_in).")
LecunUniform = _variance_scaling_case("LecunUniform", 1.0, "fan_in", "uniform",
                                      "Uniform in [-limit, limit], limit = sqrt(3 / fan_in).")
LecunNormal = _variance_scaling_case("LecunNormal", 1.0, "fan_in", "truncated_normal",
                                     "Truncated normal with stddev sqrt(1 / fan_in).")


class Orthogonal(_Random):
    """``gain`` times an orthogonal matrix: the weight viewed as (product of all axes but the last, last axis)
    gets orthonormal rows or columns, whichever there are fewer of (weights of rank >= 2)."""

    def __init__(self, gain: float = 1.0, seed: Optional[int] = None) -> None:
        self.gain = _number(gain, "Orthogonal", "gain")
        super().__init__(seed)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "gain": self.gain}


OrthogonalInitializer = Orthogonal
IdentityInitializer = Identity

# Keras's snake-case names are the classes themselves.
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal

_CLASSES = [Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
            GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal]
_BUILTIN_NAMES = {c.__name__ for c in _CLASSES}


def _snake(name: str) -> str:
    import re
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


# Every name Keras's deserialize accepts: class names, snake-case names and aliases.
_BUILTINS: Dict[str, type] = {c.__name__: c for c in _CLASSES}
_BUILTINS.update({_snake(c.__name__): c for c in _CLASSES})
_BUILTINS.update({"uniform": RandomUniform, "normal": RandomNormal, "one": Ones, "zero": Zeros,
                  "OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity})


def serialize(initializer: Any) -> Dict[str, Any]:
    """Keras's serialized form: ``{"module", "class_name", "config", "registered_name"}``."""
    if isinstance(initializer, str):
        initializer = get(initializer)
    return _serialization.serialize(initializer, "keras.initializers", {c.__name__: c for c in _CLASSES})


def deserialize(config: Any, custom_objects: Optional[Dict[str, Any]] = None) -> Any:
    """The initializer of a serialized dict (Keras 3 or 2 form) or a name; a user's class or function is found by
    its registered name or in ``custom_objects``."""
    return _serialization.deserialize(config, _BUILTINS, "initializer", custom_objects)


def get(identifier: Any) -> Any:
    """An initializer from None, a name ('glorot_uniform', 'GlorotUniform'), a serialized dict, a class, an
    initializer object or a callable (returned as is)."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        obj = deserialize(identifier if isinstance(identifier, dict) else {"class_name": identifier, "config": {}})
    else:
        obj = identifier
    if inspect.isclass(obj):
        obj = obj()
    if not callable(obj):
        raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")
    return obj


# ---- what layers hand to C++ -------------------------------------------------------------------------------------
def _python_fill(fn: Callable[..., Any]) -> Callable[[tuple, str], Any]:
    """Keras calls an initializer as fn(shape, dtype=dtype)."""
    return lambda shape, dtype: fn(shape, dtype=dtype)


def to_core(identifier: Any, where: str) -> Union[str, Any]:
    """The C++ form of a layer's initializer argument ``where`` ("Dense kernel_initializer"): a name goes as is (C++
    checks it and names the layer), a built-in object as its config, a user's callable as a function C++ calls."""
    if isinstance(identifier, str):
        return identifier
    try:
        obj = get(identifier)
    except _serialization.NotFound as e:
        raise ValueError(f"{where}: {e}") from None
    except ValueError:
        obj = identifier
    if obj is None or not callable(obj):
        raise TypeError(f"{where}: expected an initializer name (e.g. 'glorot_uniform'), an "
                        f"nncore.initializers.Initializer, a config dict or a callable (shape, dtype=None) -> array; "
                        f"got {identifier!r}")
    if type(obj) in _CLASSES:
        return _core.Initializer.from_config(json.dumps(obj._core_spec()))
    return _core.Initializer.from_function(_python_fill(obj), json.dumps(serialize(obj), default=repr))


def _resolve(spec: str) -> Optional[Callable[..., Any]]:
    """C++'s resolver: the function for a user's initializer that a config names, or None when unknown here."""
    try:
        obj = get(json.loads(spec))
    except _serialization.NotFound:
        return None
    return _python_fill(obj)


_core.set_initializer_resolver(_resolve)
