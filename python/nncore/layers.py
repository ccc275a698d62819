"""Keras-compatible layers. Each wraps a C++ layer; the math runs in nncore._core.

Example:
    >>> from nncore.layers import Dense
    >>> layer = Dense(4, activation="relu")
    >>> y = layer.forward(np.ones((2, 3), np.float32))   # builds for input (None, 3)
    >>> [w.shape for w in layer.get_weights()]
    [(3, 4), (4,)]
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, Optional, Sequence, Union

import numpy as np

from . import _core
from . import regularizers as _regularizers
from ._convert import as_float32, pair, per_sample_shape

__all__ = ["Layer", "Lambda", "Add", "Subtract", "Multiply", "Average", "Concatenate", "Dense", "Activation", "Flatten", "Dropout", "SpatialDropout2D", "Conv2D", "MaxPooling2D",
           "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "ZeroPadding2D", "Reshape",
           "BatchNormalization", "LayerNormalization", "Embedding", "Conv1D", "MaxPooling1D", "AveragePooling1D",
           "GlobalAveragePooling1D", "GlobalMaxPooling1D", "TimeDistributed",
           "SimpleRNN", "LSTM", "GRU", "Bidirectional"]

ActivationArg = Union[str, None, Callable[..., Any]]


def _activation_name(activation: ActivationArg, where: str) -> str:
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation
    name = getattr(activation, "__name__", None)
    if name in _core.activation_names():
        return name
    raise TypeError(f"{where}: activation must be a name such as 'relu' (valid: "
                    f"{', '.join(_core.activation_names())}), got {activation!r}")


class Layer:
    """Base of all layers: a thin handle on a C++ layer.

    ``forward(x, training=False)`` and ``backward(dy) -> dx`` run the layer by itself (building it for
    ``x.shape[1:]`` on first use); ``weights`` and ``gradients`` are numpy views onto the C++ buffers,
    in Keras order; ``get_weights()`` returns copies and ``set_weights()`` copies in.

    Subclass it as in Keras to write a layer: ``__init__`` calling ``super().__init__(**kwargs)``,
    ``build(input_shape)`` creating weights with ``self.add_weight(...)``, and ``call(inputs, training=None)``
    built from ``nncore.ops`` and other layers (see ``nncore._custom``). In a model the layer is traced into a graph
    of C++ ops and layers, so it trains at built-in speed and is saved with the model.
    """

    _impl: Any

    def __init__(self, impl: Any = None, input_shape: Optional[Sequence[int]] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        if impl is None or isinstance(impl, str):  # a user's subclass: super().__init__(name=..., ...)
            from . import _custom
            if isinstance(impl, str):
                kwargs["name"] = impl
            _custom.init_custom(self, input_shape=input_shape, trainable=trainable, **kwargs)
            return
        self._impl = impl
        cls = type(self).__name__
        self._input_shape = None if input_shape is None else per_sample_shape(input_shape, f"{cls} input_shape")
        self._impl.trainable = bool(trainable)

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_custom") and not name.startswith("_"):
            from . import _custom
            _custom.track(self, value)
        object.__setattr__(self, name, value)

    @property
    def _is_custom(self) -> bool:
        return bool(self.__dict__.get("_custom"))

    def add_loss(self, value: Any) -> None:
        """Keras's add_loss in a custom layer's call: ``self.add_loss(1e-2 * ops.mean(inputs))`` adds to the
        training loss (traced into the graph); on arrays it is recorded in ``layer.losses``."""
        if not self._is_custom:
            raise TypeError(f"{type(self).__name__}: add_loss is for custom layers (subclasses that define call)")
        from . import _custom
        _custom.add_loss(self, value)

    @property
    def losses(self) -> list:
        """The losses the last call added (add_loss), and the weight penalties of the sublayers of a custom layer."""
        if not self._is_custom:
            return []
        from . import _custom
        return _custom.losses(self)

    def add_weight(self, shape: Any = None, initializer: Any = None, dtype: Any = None, trainable: bool = True,
                   regularizer: Any = None, constraint: Any = None, name: Optional[str] = None,
                   **kwargs: Any) -> Any:
        """A weight of a custom layer (Keras's add_weight): in ``__init__`` (with a known shape) or ``build``."""
        if not self._is_custom:
            raise TypeError(f"{type(self).__name__}: add_weight is for custom layers (subclasses that define call)")
        from . import _custom
        return _custom.add_weight(self, shape, initializer, dtype, trainable, regularizer, constraint, name, **kwargs)

    # -- identity and shapes ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._impl.name

    @property
    def built(self) -> bool:
        if self._is_custom:
            return bool(self.__dict__.get("_py_built"))
        return self._impl.built

    @built.setter
    def built(self, value: bool) -> None:  # Keras code sets self.built = True at the end of build
        if self._is_custom:
            self.__dict__["_py_built"] = bool(value)

    def build(self, input_shape: Sequence[Optional[int]]) -> None:
        """Build for ``input_shape``: Keras-style with a leading batch axis (``(None, 784)``) or per sample."""
        if self._is_custom:  # the base of a custom layer's build (super().build(input_shape)): nothing to create
            self.__dict__["_py_built"] = True
            return
        shape = tuple(input_shape)
        if len(shape) > 0 and shape[0] is None:
            shape = shape[1:]
        self._impl.build(list(per_sample_shape(shape, f"{type(self).__name__}.build")))

    @property
    def input_shape(self) -> tuple:
        return (None, *self._impl.input_shape)

    @property
    def output_shape(self) -> tuple:
        return (None, *self._impl.output_shape)

    @property
    def trainable(self) -> bool:
        return self._impl.trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._impl.trainable = bool(value)

    # -- weights ----------------------------------------------------------------------------------------
    def _weights_and_flags(self) -> list:
        """(array view, trainable) per weight. A custom layer not traced yet: its variables, then its sublayers'."""
        pairs = list(zip(self._impl.weights, self._impl.weight_trainable))
        if self._is_custom:  # its own weights as the Variables add_weight returned (Keras: layer.weights == [w, b])
            variables = self.__dict__["_variables"]
            pairs[:len(variables)] = [(v, v.trainable) for v in variables]
            if not self._impl.traced:
                return pairs + [(w, s.trainable and any(w is t for t in s.trainable_weights))
                                for s in self.__dict__["_sublayers"] for w in s.weights]
        return pairs

    @property
    def weights(self) -> list:
        return [w for w, _ in self._weights_and_flags()]

    @property
    def trainable_weights(self) -> list:
        """The weights an optimizer updates: none when the layer is frozen; never its statistics or constants."""
        if not self.trainable:
            return []
        return [w for w, t in self._weights_and_flags() if t]

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self.weights
        return [w for w, t in self._weights_and_flags() if not t]

    @property
    def gradients(self) -> list:
        return self._impl.gradients

    def get_weights(self) -> list:
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        views = self.weights
        if len(weights) != len(views):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): expected {len(views)} weight arrays "
                             f"({', '.join(self._impl.weight_names)}), got {len(weights)}")
        new = [as_float32(w, f"Layer '{self.name}' set_weights") for w in weights]
        for view, w, wname in zip(views, new, self._impl.weight_names):
            if w.shape != view.shape:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): weight '{wname}' expects shape "
                                 f"{view.shape}, got {w.shape}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"Layer '{self.name}': weight '{wname}' contains NaN or inf")
        for view, w in zip(views, new):
            view[...] = w

    def count_params(self) -> int:
        return self._impl.count_params()

    # -- configuration -----------------------------------------------------------------------------------
    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments (Keras names), as saved in model files. A custom layer returns Keras's base
        config (name, trainable, dtype); override it to add its own arguments."""
        if self._is_custom:
            return {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        return json.loads(_core.layer_config(self._impl))

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Layer":
        """A new, unbuilt layer of this class from ``get_config()``'s dictionary."""
        if getattr(cls, "call", None) is not None and cls.call is not Layer.call:
            return cls(**{k: v for k, v in config.items() if k != "dtype"})
        spec = json.dumps({"class_name": cls.__name__, "config": config})
        return _wrap(_core.layer_from_config(spec))

    @classmethod
    def _wrap(cls, impl: Any) -> "Layer":
        """A Python handle on an existing C++ layer (a loaded model's), without running ``__init__``."""
        obj = cls.__new__(cls)
        obj._impl = impl
        obj._input_shape = None
        return obj

    def _set_regularizers(self, kernel: Any, bias: Any) -> None:
        for weight, reg in (("kernel", kernel), ("bias", bias)):
            r = _regularizers.get(reg)
            if r is not None and (r.l1 or r.l2):
                self._impl.set_regularizer(weight, r.l1, r.l2)

    # -- running the layer by itself -----------------------------------------------------------------------
    call = None  # a custom layer's computation (subclasses define it)

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        if self._is_custom:
            from . import _custom
            return _custom.eager_call(self, x, training, {})
        x = as_float32(x, f"Layer '{self.name}' input")
        if not self.built:
            if x.ndim < 2:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): expected input of shape "
                                 f"(batch, ...), got {x.shape}")
            self._impl.build(list(x.shape[1:]))
        return self._impl.forward(x, training)

    def __call__(self, x: Any, training: Optional[bool] = None) -> Any:
        """On arrays: ``forward``. On KerasTensors (``nncore.Input`` or other layers' outputs): records the call
        for the functional API and returns the symbolic output (a list for a layer with several outputs). A layer
        may be called any number of times; its calls share its weights. ``training`` fixes the call's mode in a
        model (``False``: always inference, e.g. a frozen base model; ``True``: always training; ``None``: the
        model's mode: training in ``fit``, inference in ``predict`` and ``evaluate``)."""
        from .models import _is_symbolic, _symbolic_call
        if self._is_custom:
            from . import _custom
            if _is_symbolic(x):
                return _custom.symbolic_call(self, x, training)
            return _custom.eager_call(self, x, training, {})
        if _is_symbolic(x):
            return _symbolic_call(self, x, training)
        return self.forward(x, bool(training))

    def backward(self, dy: Any) -> np.ndarray:
        return self._impl.backward(as_float32(dy, f"Layer '{self.name}' gradient"), True)

    def zero_grad(self) -> None:
        self._impl.zero_grad()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name='{self.name}' built={self.built}>"


def snake_case_name(class_name: str) -> str:
    """"MyDenseLayer" -> "my_dense_layer": a custom layer's default name (made unique by the C++ side)."""
    import re
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", class_name).lower()


def _check_kwargs(cls: str, kwargs: dict) -> None:
    allowed = {"dtype"}
    unknown = set(kwargs) - allowed
    if unknown:
        raise TypeError(f"{cls}: unexpected keyword argument(s): {', '.join(sorted(unknown))}")


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``; kernel ``(in, units)`` as in Keras.

    Example:
        >>> Dense(10, activation="softmax", input_shape=(784,))
    """

    def __init__(self, units: int, activation: ActivationArg = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("Dense", kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)):
            raise TypeError(f"Dense: units must be a positive int, got {units!r}")
        impl = _core.Dense(int(units), _activation_name(activation, "Dense"), bool(use_bias),
                           kernel_initializer, bias_initializer, name or "")
        super().__init__(impl, input_shape, trainable)
        self._set_regularizers(kernel_regularizer, bias_regularizer if use_bias else None)

    @property
    def units(self) -> int:
        return self._impl.units


class Activation(Layer):
    """Applies an activation function: ``Activation('relu')``."""

    def __init__(self, activation: ActivationArg, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Activation", kwargs)
        super().__init__(_core.Activation(_activation_name(activation, "Activation"), name or ""), input_shape)


class Flatten(Layer):
    """Flattens each sample to one axis: ``(batch, 28, 28, 1) -> (batch, 784)``."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("Flatten", kwargs)
        super().__init__(_core.Flatten(name or ""), input_shape)


class Dropout(Layer):
    """Inverted dropout: in training, zeroes a fraction ``rate`` of inputs and scales the rest by
    ``1/(1-rate)``; the identity in ``predict``/``evaluate``."""

    def __init__(self, rate: float, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("Dropout", kwargs)
        super().__init__(_core.Dropout(float(rate), name or ""), input_shape)

    @property
    def rate(self) -> float:
        return self._impl.rate


class SpatialDropout2D(Layer):
    """Spatial dropout for channels-last images ``(batch, height, width, channels)``: in training, drops
    whole feature maps (one draw per sample and channel, shared over height and width) and scales the kept
    ones by ``1/(1-rate)``; the identity in ``predict``/``evaluate``. Reproducible under
    ``nncore.set_random_seed``.

    Example:
        >>> model = Sequential([Conv2D(16, 3, activation="relu", input_shape=(28, 28, 1)),
        ...                     SpatialDropout2D(0.2), Flatten(), Dense(10, activation="softmax")])
    """

    def __init__(self, rate: float, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("SpatialDropout2D", kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"SpatialDropout2D: only data_format='channels_last' is supported, got {data_format!r}")
        super().__init__(_core.SpatialDropout2D(float(rate), name or ""), input_shape)

    @property
    def rate(self) -> float:
        return self._impl.rate


class Conv2D(Layer):
    """2-D convolution on channels-last images ``(batch, height, width, channels)``.

    The kernel has Keras's layout ``(kernel_h, kernel_w, in_channels, filters)``.

    Example:
        >>> Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=(28, 28, 1))
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 dilation_rate: Any = (1, 1), activation: ActivationArg = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Conv2D", kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Conv2D: only data_format='channels_last' is supported, got {data_format!r}")
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)):
            raise TypeError(f"Conv2D: filters must be a positive int, got {filters!r}")
        impl = _core.Conv2D(int(filters), pair(kernel_size, "Conv2D kernel_size"), pair(strides, "Conv2D strides"),
                            str(padding).lower(), pair(dilation_rate, "Conv2D dilation_rate"),
                            _activation_name(activation, "Conv2D"), bool(use_bias), kernel_initializer,
                            bias_initializer, name or "")
        super().__init__(impl, input_shape, trainable)
        self._set_regularizers(kernel_regularizer, bias_regularizer if use_bias else None)

    @property
    def filters(self) -> int:
        return self._impl.filters

    @property
    def kernel_size(self) -> tuple:
        return tuple(self._impl.kernel_size)

    @property
    def strides(self) -> tuple:
        return tuple(self._impl.strides)

    @property
    def padding(self) -> str:
        return self._impl.padding


class _Pooling2D(Layer):
    _core_class: Any = None

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        cls = type(self).__name__
        _check_kwargs(cls, kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{cls}: only data_format='channels_last' is supported, got {data_format!r}")
        pool = pair(pool_size, f"{cls} pool_size")
        stride = pool if strides is None else pair(strides, f"{cls} strides")
        super().__init__(type(self)._core_class(pool, stride, str(padding).lower(), name or ""), input_shape)

    @property
    def pool_size(self) -> tuple:
        return tuple(self._impl.pool_size)

    @property
    def strides(self) -> tuple:
        return tuple(self._impl.strides)


class MaxPooling2D(_Pooling2D):
    """Max over ``pool_size`` windows (strides default to ``pool_size``): ``MaxPooling2D((2, 2))``."""

    _core_class = _core.MaxPooling2D


class AveragePooling2D(_Pooling2D):
    """Mean over ``pool_size`` windows; with ``padding='same'`` the padding is not counted (as Keras)."""

    _core_class = _core.AveragePooling2D


class GlobalAveragePooling2D(Layer):
    """``(batch, H, W, C) -> (batch, C)``: the mean over each image's positions."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("GlobalAveragePooling2D", kwargs)
        super().__init__(_core.GlobalAveragePooling2D(name or ""), input_shape)


class GlobalMaxPooling2D(Layer):
    """``(batch, H, W, C) -> (batch, C)``: the max over each image's positions."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        _check_kwargs("GlobalMaxPooling2D", kwargs)
        super().__init__(_core.GlobalMaxPooling2D(name or ""), input_shape)


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


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1): ``Reshape((28, 28, 1))``."""

    def __init__(self, target_shape: Sequence[int], input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Reshape", kwargs)
        super().__init__(_core.Reshape([int(d) for d in target_shape], name or ""), input_shape)


def _check_axis(cls: str, axis: Any) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{cls}: only axis=-1 (the last axis) is supported, got axis={axis!r}")
    if int(axis) != -1 and int(axis) < 1:
        raise ValueError(f"{cls}: only axis=-1 (the last axis) is supported, got axis={int(axis)}")
    return int(axis)


class BatchNormalization(Layer):
    """Normalizes each channel (the last axis) over the batch and every other axis, then scales by ``gamma`` and
    shifts by ``beta``. Training uses the batch's statistics and updates ``moving_mean``/``moving_variance``
    (``moving = moving * momentum + batch * (1 - momentum)``); inference, and a frozen layer
    (``trainable=False``), use the moving statistics. Weights: gamma, beta, moving_mean, moving_variance.

    Example:
        >>> model = Sequential([Dense(64, input_shape=(784,)), BatchNormalization(), Activation("relu"),
        ...                     Dense(10, activation="softmax")])
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: str = "zeros", gamma_initializer: str = "ones",
                 moving_mean_initializer: str = "zeros", moving_variance_initializer: str = "ones",
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        _check_kwargs("BatchNormalization", kwargs)
        impl = _core.BatchNormalization(_check_axis("BatchNormalization", axis), float(momentum), float(epsilon),
                                        bool(center), bool(scale), beta_initializer, gamma_initializer,
                                        moving_mean_initializer, moving_variance_initializer, name or "")
        super().__init__(impl, input_shape, trainable)

    @property
    def axis(self) -> int:
        return self._impl.axis

    @property
    def momentum(self) -> float:
        return self._impl.momentum

    @property
    def epsilon(self) -> float:
        return self._impl.epsilon


class LayerNormalization(Layer):
    """Normalizes each sample over its last axis, then scales by ``gamma`` and shifts by ``beta`` (both of
    shape ``(last,)``). Behaves the same in training and inference.

    Example:
        >>> layer = LayerNormalization()
        >>> y = layer.forward(np.random.rand(2, 5, 8).astype(np.float32))   # each (8,) row: mean 0, var ~1
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer: str = "zeros", gamma_initializer: str = "ones",
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        _check_kwargs("LayerNormalization", kwargs)
        impl = _core.LayerNormalization(_check_axis("LayerNormalization", axis), float(epsilon), bool(center),
                                        bool(scale), beta_initializer, gamma_initializer, name or "")
        super().__init__(impl, input_shape, trainable)

    @property
    def axis(self) -> int:
        return self._impl.axis

    @property
    def epsilon(self) -> float:
        return self._impl.epsilon


class _Merge(Layer):
    """Base of the merge layers: called on a list of inputs (KerasTensors in a functional model, or arrays)."""

    def __init__(self, name: Optional[str] = None, **kwargs: Any) -> None:
        cls = type(self).__name__
        _check_kwargs(cls, kwargs)
        super().__init__(getattr(_core, cls)(name or ""))

    def forward(self, xs: Any, training: bool = False) -> np.ndarray:
        if not isinstance(xs, (list, tuple)):
            raise TypeError(f"Layer '{self.name}' ({type(self).__name__}) merges several inputs: call it on a list, "
                            f"e.g. layer([a, b])")
        arrays = [as_float32(x, f"Layer '{self.name}' input {i}") for i, x in enumerate(xs)]
        for i, a in enumerate(arrays):
            if a.ndim < 2:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): input {i} must be (batch, ...), "
                                 f"got {a.shape}")
        return self._impl.forward_list(arrays, training)[0]

    def backward(self, dy: Any) -> list:
        """Gradients for every input, in order."""
        return self._impl.backward_list([as_float32(dy, f"Layer '{self.name}' gradient")], True)


class Add(_Merge):
    """Sum of equal-shaped inputs: ``Add()([x, shortcut])`` (residual connections)."""


class Subtract(_Merge):
    """``a - b`` for exactly two equal-shaped inputs."""


class Multiply(_Merge):
    """Elementwise product of equal-shaped inputs (gating)."""


class Average(_Merge):
    """Elementwise mean of equal-shaped inputs."""


class Concatenate(_Merge):
    """Joins inputs along ``axis`` (default -1, the channels); the other axes must agree."""

    def __init__(self, axis: int = -1, name: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Concatenate", kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Concatenate: axis must be an int, got {axis!r}")
        Layer.__init__(self, _core.Concatenate(int(axis), name or ""))

    @property
    def axis(self) -> int:
        return self._impl.axis


def _python_classes() -> Dict[str, type]:
    found: Dict[str, type] = {}
    todo = [Layer]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            found.setdefault(sub.__name__, sub)
            todo.append(sub)
    return found


def _wrap(impl: Any) -> Layer:
    """The Python layer class matching a C++ layer's class_name, wrapped around it (a nested model too)."""
    if impl.class_name in ("Sequential", "Functional"):
        from .models import _wrap_model
        return _wrap_model(impl)
    if impl.class_name == "TracedLayer":
        from . import _custom
        return _custom.wrap_loaded(impl)
    cls = _python_classes().get(impl.class_name)
    if cls is None:
        raise TypeError(f"no Python layer class for the C++ layer class '{impl.class_name}'")
    return cls._wrap(impl)


# ---- sequence layers -------------------------------------------------------------------------------------------
def _positive(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
        raise TypeError(f"{what} must be a positive int, got {v!r}")
    return int(v)


class Embedding(Layer):
    """Turns integer ids into dense vectors: ``(batch, steps)`` ids -> ``(batch, steps, output_dim)``.

    Ids arrive in the model's float32 input and must be integers in ``[0, input_dim)`` (an error names the
    layer and the offending id otherwise). With ``mask_zero=True`` id 0 is padding: the layer emits a
    ``(batch, steps)`` mask that the following layers honor (``GlobalAveragePooling1D`` averages over the valid
    steps only), so the vocabulary needs ``input_dim = vocabulary size + 1``. Weights: ``embeddings``
    ``(input_dim, output_dim)``, as in Keras.

    Example:
        >>> model = Sequential([Embedding(1000, 16, mask_zero=True, input_length=20), GlobalAveragePooling1D(),
        ...                     Dense(1, activation="sigmoid")])
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: str = "uniform",
                 embeddings_regularizer: Any = None, mask_zero: bool = False,
                 input_length: Optional[int] = None, input_shape: Optional[Sequence[int]] = None,
                 name: Optional[str] = None, trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("Embedding", kwargs)
        length = 0 if input_length is None else _positive(input_length, "Embedding: input_length")
        impl = _core.Embedding(_positive(input_dim, "Embedding: input_dim"),
                               _positive(output_dim, "Embedding: output_dim"), embeddings_initializer,
                               bool(mask_zero), length, name or "")
        if input_shape is None and length:
            input_shape = (length,)
        super().__init__(impl, input_shape, trainable)
        r = _regularizers.get(embeddings_regularizer)
        if r is not None and (r.l1 or r.l2):
            self._impl.set_regularizer("embeddings", r.l1, r.l2)

    @property
    def input_dim(self) -> int:
        return self._impl.input_dim

    @property
    def output_dim(self) -> int:
        return self._impl.output_dim

    @property
    def mask_zero(self) -> bool:
        return self._impl.mask_zero

    def compute_mask(self, inputs: Any) -> Optional[np.ndarray]:
        """The mask this layer emits for ``inputs`` (``inputs != 0``), or None without ``mask_zero``."""
        return np.asarray(inputs) != 0 if self.mask_zero else None


def _single(v: Any, what: str) -> int:
    """Keras's int-or-1-tuple arguments of the 1-D layers (kernel_size=3 or (3,))."""
    if isinstance(v, (tuple, list)) and len(v) == 1:
        v = v[0]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
        raise ValueError(f"{what}: expected a positive int (or a 1-tuple), got {v!r}")
    return int(v)


def _channels_last(cls: str, data_format: Optional[str]) -> None:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{cls}: only data_format='channels_last' is supported, got {data_format!r}")


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
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("Conv1D", kwargs)
        _channels_last("Conv1D", data_format)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)):
            raise TypeError(f"Conv1D: filters must be a positive int, got {filters!r}")
        impl = _core.Conv1D(int(filters), _single(kernel_size, "Conv1D kernel_size"),
                            _single(strides, "Conv1D strides"), str(padding).lower(),
                            _single(dilation_rate, "Conv1D dilation_rate"), _activation_name(activation, "Conv1D"),
                            bool(use_bias), kernel_initializer, bias_initializer, name or "")
        super().__init__(impl, input_shape, trainable)
        self._set_regularizers(kernel_regularizer, bias_regularizer if use_bias else None)

    @property
    def filters(self) -> int:
        return self._impl.filters

    @property
    def kernel_size(self) -> tuple:
        return (self._impl.kernel_size,)

    @property
    def strides(self) -> tuple:
        return (self._impl.strides,)

    @property
    def dilation_rate(self) -> tuple:
        return (self._impl.dilation_rate,)

    @property
    def padding(self) -> str:
        return self._impl.padding


class _Pooling1D(Layer):
    _core_class: Any = None

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        cls = type(self).__name__
        _check_kwargs(cls, kwargs)
        _channels_last(cls, data_format)
        pool = _single(pool_size, f"{cls} pool_size")
        stride = 0 if strides is None else _single(strides, f"{cls} strides")
        super().__init__(type(self)._core_class(pool, stride, str(padding).lower(), name or ""), input_shape)

    @property
    def pool_size(self) -> tuple:
        return (self._impl.pool_size,)

    @property
    def strides(self) -> tuple:
        return (self._impl.strides,)

    @property
    def padding(self) -> str:
        return self._impl.padding


class MaxPooling1D(_Pooling1D):
    """Max over windows of ``pool_size`` steps (strides default to ``pool_size``): ``MaxPooling1D(2)``."""

    _core_class = _core.MaxPooling1D


class AveragePooling1D(_Pooling1D):
    """Mean over windows of ``pool_size`` steps; with ``padding='same'`` the padding is not counted (as Keras)."""

    _core_class = _core.AveragePooling1D


class GlobalAveragePooling1D(Layer):
    """``(batch, steps, features) -> (batch, features)``: the mean over the steps. Under a mask (from
    ``Embedding(mask_zero=True)``) the mean over the valid steps only, as in Keras."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("GlobalAveragePooling1D", kwargs)
        _channels_last("GlobalAveragePooling1D", data_format)
        super().__init__(_core.GlobalAveragePooling1D(name or ""), input_shape)


class GlobalMaxPooling1D(Layer):
    """``(batch, steps, features) -> (batch, features)``: the max over the steps."""

    def __init__(self, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        _check_kwargs("GlobalMaxPooling1D", kwargs)
        _channels_last("GlobalMaxPooling1D", data_format)
        super().__init__(_core.GlobalMaxPooling1D(name or ""), input_shape)


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step of ``(batch, time, ...)`` (time folded into the batch, one call).
    The weights are the wrapped layer's; ``.layer`` is the wrapped layer.

    Example:
        >>> model = Sequential([Embedding(100, 16, input_length=12), TimeDistributed(Dense(8, activation="relu")),
        ...                     GlobalAveragePooling1D(), Dense(2, activation="softmax")])
    """

    def __init__(self, layer: Layer, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("TimeDistributed", kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed: expected an nncore layer to wrap, got {type(layer).__name__}")
        super().__init__(_core.TimeDistributed(layer._impl, name or ""), input_shape, trainable)
        self._layer = layer

    @property
    def layer(self) -> Layer:
        # A handle made once: the one passed in, or (a loaded model's layer) a wrapper of the C++ inner layer.
        if getattr(self, "_layer", None) is None:
            self._layer = _wrap(self._impl.layer)
        return self._layer


# ---- recurrent layers ------------------------------------------------------------------------------------------

def _positive_units(cls: str, units: Any) -> int:
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
        raise ValueError(f"{cls}: units must be a positive int, got {units!r}")
    return int(units)


def _check_rnn_flags(cls: str, activation: ActivationArg, recurrent_activation: ActivationArg, kwargs: dict) -> None:
    # What the fused kernels compute; Keras's other choices would silently compute something else.
    if activation is not None and _activation_name(activation, cls) != "tanh":
        raise ValueError(f"{cls}: only activation='tanh' is supported, got {activation!r}")
    if recurrent_activation is not None and _activation_name(recurrent_activation, cls) != "sigmoid":
        raise ValueError(f"{cls}: only recurrent_activation='sigmoid' is supported, got {recurrent_activation!r}")
    for flag in ("stateful", "unroll", "time_major"):
        if kwargs.pop(flag, False):
            raise ValueError(f"{cls}: {flag}=True is not supported")
    kwargs.pop("implementation", None)  # Keras's implementation=1|2 selects an equivalent computation
    _check_kwargs(cls, kwargs)


class _Recurrent(Layer):
    """Shared behaviour of SimpleRNN, LSTM, GRU and Bidirectional: sequences ``(batch, time, features)``,
    optional ``mask`` (batch, time) in ``forward``, and Keras's ``return_state`` (``forward`` then returns
    ``[output, *states]``)."""

    def _cell(self) -> Any:
        """The C++ recurrent layer holding the flags (a Bidirectional's forward half)."""
        return self._impl

    @property
    def return_sequences(self) -> bool:
        return self._cell().return_sequences

    @property
    def return_state(self) -> bool:
        return self._cell().return_state

    def forward(self, x: Any, training: bool = False, mask: Any = None) -> Any:
        cls = type(self).__name__
        x = as_float32(x, f"{cls} '{self.name}' input")
        if x.ndim != 3:
            raise ValueError(f"{cls} '{self.name}': expected 3-D input (batch, time, features), got shape {x.shape}")
        if not self.built:
            self._impl.build(list(x.shape[1:]))
        m = None
        if mask is not None:
            m = np.asarray(mask)
            if m.shape != x.shape[:2]:
                raise ValueError(f"{cls} '{self.name}': expected a mask of shape {x.shape[:2]} (batch, time), "
                                 f"got {m.shape}")
            m = as_float32(m, f"{cls} '{self.name}' mask")
        out = self._impl.forward_masked(x, m, training)
        if self.return_state:
            return [out, *self._impl.states]
        return out

    def __call__(self, x: Any, training: Optional[bool] = None, mask: Any = None, initial_state: Any = None) -> Any:
        """On KerasTensors: the functional API (masks come from the layer before, as in Sequential); returns the
        output, or ``[output, *states]`` with ``return_state``. ``initial_state``: the starting states (a list:
        ``[h]``, ``[h, c]`` for an LSTM; for a Bidirectional the forward layer's then the backward layer's),
        KerasTensors in a functional model (gradients flow into them) or arrays in a call on arrays."""
        from .models import KerasTensor, _is_symbolic, _symbolic_call
        states = [] if initial_state is None else (list(initial_state) if isinstance(initial_state, (list, tuple))
                                                   else [initial_state])
        if _is_symbolic(x) or any(isinstance(s, KerasTensor) for s in states):
            if mask is not None:
                raise ValueError(f"{type(self).__name__} '{self.name}': in a functional model the mask comes from "
                                 "the layer before (Embedding(mask_zero=True)); mask= is for calls on arrays")
            if isinstance(x, (list, tuple)):
                raise TypeError(f"{type(self).__name__} '{self.name}': call it on one sequence; pass the states as "
                                "initial_state=[...]")
            return _symbolic_call(self, [x, *states], training)
        if states:
            if mask is not None:
                raise ValueError(f"{type(self).__name__} '{self.name}': mask= together with initial_state= is not "
                                 "supported on arrays; use a functional model")
            cls = type(self).__name__
            arrays = [as_float32(x, f"{cls} '{self.name}' input")] + [
                as_float32(s, f"{cls} '{self.name}' initial_state[{i}]") for i, s in enumerate(states)]
            outs = self._impl.forward_list(arrays, bool(training))
            return outs if self.return_state else outs[0]
        return self.forward(x, training=bool(training), mask=mask)

    def backward(self, dy: Any, dstates: Optional[Sequence[Any]] = None) -> np.ndarray:
        """``dx`` for the output gradient ``dy`` and, with ``return_state``, optionally the gradients of the
        final states (same order as ``forward`` returned them)."""
        dy = as_float32(dy, f"Layer '{self.name}' gradient")
        ds = [as_float32(d, f"Layer '{self.name}' state gradient") for d in (dstates or [])]
        return self._impl.backward_with_states(dy, ds, True)

    @property
    def states(self) -> list:
        """The final states of the last forward: ``[h]``, or ``[h, c]`` for an LSTM (per direction)."""
        return self._impl.states


class _RNNLayer(_Recurrent):
    def _setup(self, impl: Any, input_shape: Any, trainable: bool, kernel_regularizer: Any,
               recurrent_regularizer: Any, bias_regularizer: Any, use_bias: bool) -> None:
        super().__init__(impl, input_shape, trainable)
        for weight, reg in (("kernel", kernel_regularizer), ("recurrent_kernel", recurrent_regularizer),
                            ("bias", bias_regularizer if use_bias else None)):
            r = _regularizers.get(reg)
            if r is not None and (r.l1 or r.l2):
                self._impl.set_regularizer(weight, r.l1, r.l2)

    @property
    def units(self) -> int:
        return self._impl.units

    @property
    def go_backwards(self) -> bool:
        return self._impl.go_backwards

    @property
    def dropout(self) -> float:
        return self._impl.dropout

    @property
    def recurrent_dropout(self) -> float:
        return self._impl.recurrent_dropout


_RNN_DOC = """
    Arguments as Keras: ``return_sequences`` (the whole output sequence instead of the last output),
    ``return_state`` (``forward`` returns ``[output, *final_states]``; not usable inside ``Sequential``),
    ``go_backwards`` (process the sequence from its end; a returned sequence comes out in that order),
    ``dropout`` (inputs; one mask per sequence and feature) and ``recurrent_dropout`` (the state fed to the
    recurrent kernel; one mask per sequence and unit), the three initializers and regularizers, ``use_bias``.
    A mask from ``Embedding(mask_zero=True)`` (or ``forward(x, mask=...)``) makes padded steps keep the state and
    repeat the previous output."""


class SimpleRNN(_RNNLayer):
    __doc__ = """Fully connected recurrent layer: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel +
    bias)``; kernel ``(features, units)``, recurrent_kernel ``(units, units)``, bias ``(units,)``.
""" + _RNN_DOC + """

    Example:
        >>> model = Sequential([SimpleRNN(32, input_shape=(50, 2)), Dense(1)])
    """

    def __init__(self, units: int, activation: ActivationArg = "tanh", use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", recurrent_initializer: str = "orthogonal",
                 bias_initializer: str = "zeros", kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        _check_rnn_flags("SimpleRNN", None, None, kwargs)
        act = _activation_name(activation, "SimpleRNN")
        if act not in ("tanh", "relu", "sigmoid", "linear"):
            raise ValueError(f"SimpleRNN: activation must be one of tanh, relu, sigmoid, linear; got {activation!r}")
        impl = _core.SimpleRNN(_positive_units("SimpleRNN", units), act, bool(use_bias), kernel_initializer,
                               recurrent_initializer, bias_initializer, float(dropout), float(recurrent_dropout),
                               bool(return_sequences), bool(return_state), bool(go_backwards), name or "")
        self._setup(impl, input_shape, trainable, kernel_regularizer, recurrent_regularizer,
                    bias_regularizer, use_bias)


class LSTM(_RNNLayer):
    __doc__ = """Long short-term memory layer (Hochreiter & Schmidhuber 1997): gates i, f, c, o in Keras's layout,
    kernel ``(features, 4*units)``, recurrent_kernel ``(units, 4*units)``, bias ``(4*units,)``;
    ``unit_forget_bias`` starts the forget gate's bias at 1. Keras weights give the same outputs.
""" + _RNN_DOC + """

    Example:
        >>> model = Sequential([LSTM(128, input_shape=(28, 28)), Dense(10, activation="softmax")])
    """

    def __init__(self, units: int, activation: ActivationArg = "tanh", recurrent_activation: ActivationArg = "sigmoid",
                 use_bias: bool = True, kernel_initializer: str = "glorot_uniform",
                 recurrent_initializer: str = "orthogonal", bias_initializer: str = "zeros",
                 unit_forget_bias: bool = True, kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        _check_rnn_flags("LSTM", activation, recurrent_activation, kwargs)
        impl = _core.LSTM(_positive_units("LSTM", units), bool(use_bias), kernel_initializer, recurrent_initializer,
                          bias_initializer, bool(unit_forget_bias), float(dropout), float(recurrent_dropout),
                          bool(return_sequences), bool(return_state), bool(go_backwards), name or "")
        self._setup(impl, input_shape, trainable, kernel_regularizer, recurrent_regularizer,
                    bias_regularizer, use_bias)


class GRU(_RNNLayer):
    __doc__ = """Gated recurrent unit in Keras's ``reset_after=True`` form (its default): gates z, r, h, kernel
    ``(features, 3*units)``, recurrent_kernel ``(units, 3*units)``, bias ``(2, 3*units)`` (input bias, recurrent
    bias). ``h = z * h_prev + (1 - z) * tanh(x W_h + b_h + r * (h_prev U_h + rb_h))``.
""" + _RNN_DOC + """

    Example:
        >>> model = Sequential([GRU(64, input_shape=(28, 28)), Dense(10, activation="softmax")])
    """

    def __init__(self, units: int, activation: ActivationArg = "tanh", recurrent_activation: ActivationArg = "sigmoid",
                 use_bias: bool = True, kernel_initializer: str = "glorot_uniform",
                 recurrent_initializer: str = "orthogonal", bias_initializer: str = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, reset_after: bool = True,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs: Any) -> None:
        _check_rnn_flags("GRU", activation, recurrent_activation, kwargs)
        if not reset_after:
            raise ValueError("GRU: only reset_after=True (Keras's default) is supported")
        impl = _core.GRU(_positive_units("GRU", units), bool(use_bias), kernel_initializer, recurrent_initializer,
                         bias_initializer, True, float(dropout), float(recurrent_dropout), bool(return_sequences),
                         bool(return_state), bool(go_backwards), name or "")
        self._setup(impl, input_shape, trainable, kernel_regularizer, recurrent_regularizer,
                    bias_regularizer, use_bias)


class Bidirectional(_Recurrent):
    """Runs ``layer`` forwards and a copy of it (same configuration, ``go_backwards`` flipped) backwards over the
    same sequence and merges their outputs with ``merge_mode``: ``'concat'`` (default), ``'sum'``, ``'mul'`` or
    ``'ave'``. Weights: the forward layer's, then the backward layer's, as Keras. With ``return_state`` on the
    wrapped layer, ``forward`` returns ``[output, *forward_states, *backward_states]``.

    Example:
        >>> model = Sequential([Embedding(1000, 32, mask_zero=True), Bidirectional(LSTM(32)),
        ...                     Dense(1, activation="sigmoid")])
    """

    def __init__(self, layer: Layer, merge_mode: Optional[str] = "concat", weights: Any = None,
                 backward_layer: Any = None, input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        _check_kwargs("Bidirectional", kwargs)
        if not isinstance(layer, _RNNLayer):
            raise TypeError(f"Bidirectional: expected a SimpleRNN, LSTM or GRU layer, got {type(layer).__name__}")
        if backward_layer is not None:
            raise ValueError("Bidirectional: backward_layer is not supported (the backward layer is always a copy of "
                             "`layer` with go_backwards flipped)")
        if merge_mode is None or merge_mode not in ("concat", "sum", "mul", "ave"):
            raise ValueError(f"Bidirectional: merge_mode must be one of 'concat', 'sum', 'mul', 'ave', got "
                             f"{merge_mode!r}")
        if layer.built:
            raise ValueError(f"Bidirectional: layer '{layer.name}' is already built; pass a new layer")
        if input_shape is None:
            input_shape = layer._input_shape  # Keras also takes it from the wrapped layer
        super().__init__(_core.Bidirectional(layer._impl, merge_mode, name or ""), input_shape, trainable)
        if weights is not None:
            if self._input_shape is None:
                raise ValueError("Bidirectional: weights= needs input_shape= to build the layer first")
            self._impl.build(list(self._input_shape))
            self.set_weights(weights)

    def _cell(self) -> Any:
        return self._impl.forward_layer

    @property
    def forward_layer(self) -> Layer:
        return _wrap(self._impl.forward_layer)

    @property
    def backward_layer(self) -> Layer:
        return _wrap(self._impl.backward_layer)

    @property
    def merge_mode(self) -> str:
        return self._impl.merge_mode


class Lambda(Layer):
    """``Lambda(fn)``: a layer computing ``fn(inputs, **arguments)`` with ``nncore.ops`` (traced into the graph like
    any custom layer, so it trains in C++ and is saved with the model; loading it needs no Python function)."""

    def __init__(self, function: Callable[..., Any], output_shape: Any = None, mask: Any = None,
                 arguments: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {type(function).__name__}")
        if mask is not None:
            raise NotImplementedError("Lambda: mask= is not supported")
        super().__init__(**kwargs)
        self.function = function
        self.arguments = dict(arguments or {})

    def call(self, inputs: Any) -> Any:
        return self.function(inputs, **self.arguments)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "function": getattr(self.function, "__name__", repr(self.function))}


def _register_builtin_custom_classes() -> None:
    from . import _custom
    _custom.register_keras_serializable("nncore", "Lambda")(Lambda)


_register_builtin_custom_classes()

