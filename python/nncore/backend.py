"""Keras's ``keras.backend`` as far as nncore has one: ``clear_session`` and the backend's name."""
from __future__ import annotations

import gc

from . import _core

__all__ = ["clear_session", "backend", "floatx", "epsilon"]


def clear_session() -> None:
    """Starts layer names over (the next Dense is "dense" again) and frees unreferenced models, as Keras's
    clear_session does between experiments in one process. Existing layers and models keep their names."""
    _core.reset_layer_names()
    gc.collect()


def backend() -> str:
    return "nncore"


def floatx() -> str:
    return "float32"


def epsilon() -> float:
    return 1e-7
