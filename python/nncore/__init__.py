"""nncore: fast CPU deep learning with a Keras-compatible API and a C++17 core.

Example:
    >>> import nncore
    >>> from nncore.layers import Dense
    >>> model = nncore.Sequential([Dense(64, activation="relu", input_shape=(20,)), Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> history = model.fit(x, y, epochs=5, batch_size=32)
"""
from __future__ import annotations

import os as _os

from . import _core
from ._core import get_isa, get_num_threads, set_isa, set_num_threads, set_random_seed
from . import callbacks, datasets, initializers, layers, losses, metrics, ops, optimizers, regularizers
from .models import Input, Model, ModelFileError, Sequential, load_model
from .gradcheck import gradient_check
from . import activations, backend, distributed, preprocessing, random, saving, utils
from .plotting import plot_history

__version__ = _core.__version__

__all__ = ["Sequential", "Model", "Input", "load_model", "ModelFileError", "layers", "losses", "metrics", "optimizers", "callbacks", "datasets", "ops", "regularizers", "initializers", "distributed",
           "set_num_threads", "get_num_threads", "set_random_seed", "get_isa", "set_isa", "get_cmake_dir",
           "get_include_dir", "gradient_check", "plot_history", "__version__"]


def get_cmake_dir() -> str:
    """The directory to hand to CMake's ``find_package(nncore CONFIG)`` (as ``nncore_DIR``)."""
    # Relative to the compiled module: in an editable install the Python files stay in the source tree
    # while the compiled parts (extension, headers, library, CMake files) are installed together.
    return _os.path.join(_os.path.dirname(_core.__file__), "lib", "cmake", "nncore")


def get_include_dir() -> str:
    """The directory holding nncore's public C++ headers."""
    return _os.path.join(_os.path.dirname(_core.__file__), "include")
