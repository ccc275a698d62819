"""Keras-compatible layers. Each wraps a C++ layer; the math runs in nncore._core.

Example:
    >>> from nncore.layers import Dense
    >>> layer = Dense(4, activation="relu")
    >>> y = layer.forward(np.ones((2, 3), np.float32))   # builds for input (None, 3)
    >>> [w.shape for w in layer.get_weights()]
    [(3, 4), (4,)]
"""
from __future__ import annotations

from . import (activations, attention, convolutional, core, dense_attention, input_layer, merging, normalization,
               pooling, preprocessing, regularization, reshaping, rnn)
from .activations import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .base import Layer, _python_classes, _wrap, snake_case_name  # noqa: F401
from .convolutional import *  # noqa: F401,F403
from .dense_attention import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .input_layer import *  # noqa: F401,F403
from .merging import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .preprocessing import *  # noqa: F401,F403
from .regularization import *  # noqa: F401,F403
from .reshaping import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .rnn import _Recurrent  # noqa: F401


def serialize(layer: Layer) -> dict:
    """Keras's ``keras.layers.serialize``: the layer's serialized form (``{"module", "class_name", "config",
    "registered_name"}``), as ``nncore.saving.serialize_keras_object``; ``deserialize`` makes a new layer of it."""
    from ..saving import serialize_keras_object
    if not isinstance(layer, Layer):
        raise TypeError(f"layers.serialize: expected an nncore layer, got {type(layer).__name__}")
    return serialize_keras_object(layer)


def deserialize(config: dict, custom_objects: dict = None) -> Layer:
    """Keras's ``keras.layers.deserialize``: a new (unbuilt) layer from ``serialize``'s form or Keras's; custom
    layers are found by their registered names or in ``custom_objects``."""
    from ..saving import deserialize_keras_object
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("layers.deserialize: expected a layer's serialized form, a dict with 'class_name' and "
                         f"'config', got {config!r}")
    return deserialize_keras_object(config, custom_objects=custom_objects)


# One family per module, mirroring cpp/src/layers/: base (Layer), core, activations, convolutional, pooling,
# normalization, merging, reshaping, preprocessing, regularization, rnn, attention.
__all__ = ["Layer", "serialize", "deserialize", *input_layer.__all__, *core.__all__, *activations.__all__,
           *convolutional.__all__, *pooling.__all__, *normalization.__all__, *merging.__all__, *reshaping.__all__,
           *preprocessing.__all__, *regularization.__all__, *rnn.__all__, *attention.__all__, *dense_attention.__all__]
