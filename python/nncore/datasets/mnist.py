"""MNIST: 70,000 28x28 grayscale images of handwritten digits.

``load_data()`` mirrors ``keras.datasets.mnist.load_data()`` but reads the
four IDX files.  See :mod:`nncore.datasets._loader` for where they are
looked for.  Unlike Fashion-MNIST there is no shipped fallback: if the
files cannot be found or downloaded, a ``DatasetNotFoundError`` (a
``FileNotFoundError``) explains where it looked and how to provide them.
"""

from __future__ import annotations

from . import _loader

__all__ = ["load_data"]

# SHA-256 of the canonical .gz files (identical on every mirror below; the
# torchvision MD5s f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d... match
# the same archives).
SHA256 = {
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

DATASET = _loader.IdxDataset(
    name="mnist",
    title="MNIST",
    mirrors=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ),
    sha256=SHA256,
)


def load_data() -> _loader.Data:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``.

    ``x_*`` are uint8 arrays of shape ``(N, 28, 28)`` and ``y_*`` uint8
    labels in 0-9 of shape ``(N,)`` (N = 60,000 train / 10,000 test).
    """
    return _loader.load(DATASET)
