"""Keras-compatible layers. Each wraps a C++ layer; the math runs in nncore._core.

Example:
    >>> from nncore.layers import Dense
    >>> layer = Dense(4, activation="relu")
    >>> y = layer.forward(np.ones((2, 3), np.float32))   # builds for input (None, 3)
    >>> [w.shape for w in layer.get_weights()]
    [(3, 4), (4,)]
"""
from __future__ import annotations

from . import (activations, attention, augmentation, convolutional, core, dense_attention, input_layer, merging,
               normalization, pooling, preprocessing, regularization, reshaping, rnn)
from .activations import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .augmentation import *  # noqa: F401,F403
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
           *preprocessing.__all__, *regularization.__all__, *rnn.__all__, *attention.__all__, *dense_attention.__all__, *augmentation.__all__]

# Keras's other names for the same layers.
Convolution1D, Convolution2D = Conv1D, Conv2D  # noqa: F405
Convolution1DTranspose, Convolution2DTranspose = Conv1DTranspose, Conv2DTranspose  # noqa: F405
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D  # noqa: F405
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D  # noqa
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D  # noqa: F405
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D  # noqa: F405

# Keras 3 layers nncore does not have (yet): asking for one says so, rather than a bare AttributeError.
_NOT_BUILT = {
    "Conv3D": "3-D convolutions", "Conv3DTranspose": "3-D convolutions", "MaxPooling3D": "3-D pooling",
    "AveragePooling3D": "3-D pooling", "GroupNormalization": "GroupNormalization", "TextVectorization":
    "text preprocessing layers", "StringLookup": "text preprocessing layers", "IntegerLookup": "lookup layers",
    "ConvLSTM2D": "convolutional recurrent layers", "RNN": "the generic RNN wrapper (use SimpleRNN, LSTM or GRU)",
    "LSTMCell": "RNN cells (use LSTM)", "GRUCell": "RNN cells (use GRU)", "SimpleRNNCell": "RNN cells (use SimpleRNN)",
    "EinsumDense": "EinsumDense (use Dense, or nncore.ops.einsum in a custom layer)",
}


def __getattr__(name: str):
    if name in _NOT_BUILT:
        raise AttributeError(f"nncore.layers.{name}: Keras's {name} is not built in nncore yet "
                             f"({_NOT_BUILT[name]})")
    raise AttributeError(f"module 'nncore.layers' has no attribute '{name}'")

