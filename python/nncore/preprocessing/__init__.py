"""Keras 2's ``keras.preprocessing`` names that Keras 3 programs still use: ``sequence.pad_sequences``."""
from . import sequence  # noqa: F401

__all__ = ["sequence"]
