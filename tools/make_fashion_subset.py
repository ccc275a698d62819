#!/usr/bin/env python3
"""Build the Fashion-MNIST subset shipped inside nncore.

Reads the four Fashion-MNIST IDX files (by default Debian's copy in
/usr/share/datasets/fashion-mnist) and writes
python/nncore/datasets/data/fashion_mnist_subset.npz holding, for each
split, the first N images of every class, kept in their original order:

    x_train, y_train, x_test, y_test   uint8 images / labels
    train_index, test_index            uint16 positions in the full splits

The output is byte-reproducible (fixed zip timestamps).  Usage:

    python tools/make_fashion_subset.py [--src DIR] [--train-per-class 600]
                                        [--test-per-class 100] [--out FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import zipfile
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "python" / "nncore" / "datasets"
DEFAULT_SRC = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = PKG / "data" / "fashion_mnist_subset.npz"


def _load_idx_module():
    """Import nncore/datasets/_idx.py by path (no compiled nncore needed)."""
    spec = importlib.util.spec_from_file_location("_nncore_idx",
                                                  PKG / "_idx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _find(src: Path, stem: str) -> Path:
    for path in (src / stem, src / (stem + ".gz")):
        if path.is_file():
            return path
    raise FileNotFoundError(f"{src}: missing {stem}[.gz]")


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Sorted indices of the first ``per_class`` samples of every class."""
    picks = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)[:per_class]
        if len(idx) < per_class:
            raise ValueError(f"class {cls} has only {len(idx)} samples")
        picks.append(idx)
    return np.sort(np.concatenate(picks))


def write_npz(path: Path, arrays: Dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with fixed timestamps (reproducible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED,
                         compresslevel=9) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(name + ".npy",
                                   date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array),
                                          allow_pickle=False)


def subset(idx_mod, src: Path, prefix: str,
           per_class: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (images, labels, indices) of the subset of one split."""
    images, labels = idx_mod.read_pair(
        _find(src, f"{prefix}-images-idx3-ubyte"),
        _find(src, f"{prefix}-labels-idx1-ubyte"))
    index = first_per_class(labels, per_class)
    return images[index], labels[index], index.astype(np.uint16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--test-per-class", type=int, default=100)
    args = parser.parse_args()

    idx_mod = _load_idx_module()
    x_train, y_train, i_train = subset(idx_mod, args.src, "train",
                                       args.train_per_class)
    x_test, y_test, i_test = subset(idx_mod, args.src, "t10k",
                                    args.test_per_class)
    write_npz(args.out, {
        "x_train": x_train, "y_train": y_train,
        "x_test": x_test, "y_test": y_test,
        "train_index": i_train, "test_index": i_test,
    })
    print(f"wrote {args.out}: {len(x_train)} train / {len(x_test)} test, "
          f"{args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
