"""Keras-style datasets: ``fashion_mnist`` and ``mnist``.

Both provide ``load_data()`` returning ``(x_train, y_train), (x_test,
y_test)`` uint8 arrays read from the standard IDX files.  Set the
``NNCORE_DATA`` environment variable to a directory holding the files to
use a local copy.
"""

from . import fashion_mnist, mnist
from ._loader import DatasetNotFoundError

__all__ = ["fashion_mnist", "mnist", "DatasetNotFoundError"]
