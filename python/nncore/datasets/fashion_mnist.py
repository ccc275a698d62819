"""Fashion-MNIST: 70,000 28x28 grayscale images of 10 clothing classes.

``load_data()`` mirrors ``keras.datasets.fashion_mnist.load_data()``.  See
:mod:`nncore.datasets._loader` for where the IDX files are looked for.  If
they cannot be found or downloaded, a small class-balanced subset of the
real data shipped with nncore is returned instead, with a ``UserWarning``.

The copyright for Fashion-MNIST is held by Zalando SE; it is licensed under
the MIT license (https://github.com/zalandoresearch/fashion-mnist).
"""

from __future__ import annotations

from pathlib import Path

from . import _loader

__all__ = ["class_names", "load_data"]

class_names = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

SUBSET_PATH = (Path(__file__).resolve().parent / "data"
               / "fashion_mnist_subset.npz")

# SHA-256 of the official .gz files, as listed in keras/src/datasets/
# fashion_mnist.py.  (Debian's dataset-fashion-mnist recompresses the
# archives, so its .gz digests differ, but the decompressed IDX data is
# byte-identical; local files are validated structurally, not hashed.)
SHA256 = {
    "train-images-idx3-ubyte.gz":
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz":
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz":
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz":
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}

DATASET = _loader.IdxDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
    sha256=SHA256,
    fallback=SUBSET_PATH,
)


def load_data() -> _loader.Data:
    """Load Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``.

    ``x_*`` are uint8 arrays of shape ``(N, 28, 28)`` and ``y_*`` uint8
    labels in 0-9 of shape ``(N,)`` (N = 60,000 train / 10,000 test).
    """
    return _loader.load(DATASET)
