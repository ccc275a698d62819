"""Saving and loading, as Keras's ``keras.saving``: registration of custom layers and models for ``load_model``."""
from __future__ import annotations

from ._custom import custom_object_scope, get_registered_name, register_keras_serializable
from .models import load_model

__all__ = ["register_keras_serializable", "custom_object_scope", "get_registered_name", "load_model"]
