"""What the augmentation layers add to an epoch of the classic CNN (issue 15's target: <= 10%): bench_train's "cnn"
(Conv2D(32, 3x3, relu) -> MaxPooling2D -> Flatten -> Dense(10, softmax), Adam, batch 32, Fashion-MNIST's 60,000
images) with and without RandomFlip("horizontal") + RandomRotation(0.05) + RandomTranslation(0.1, 0.1) in front,
alternating in one process, median of the epochs.

    python bench/bench_augment.py [--epochs 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import nncore
from nncore import layers as L
from nncore.datasets import fashion_mnist


def model(augment: bool) -> nncore.Model:
    aug = [L.RandomFlip("horizontal"), L.RandomRotation(0.05), L.RandomTranslation(0.1, 0.1)] if augment else []
    m = nncore.Sequential([nncore.Input((28, 28, 1)), *aug, L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
                           L.Flatten(), L.Dense(10, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    nncore.set_num_threads(args.threads)
    (x, y), _ = fashion_mnist.load_data()
    x, y = x[..., None].astype(np.float32) / 255, y.astype(np.float32)
    models = {False: model(False), True: model(True)}
    for m in models.values():
        m.fit(x[:2048], y[:2048], epochs=1, batch_size=32, verbose=0)  # warm-up
    times = {False: [], True: []}
    for e in range(args.epochs):
        for augment in ((False, True) if e % 2 == 0 else (True, False)):
            t = time.perf_counter()
            models[augment].fit(x, y, epochs=1, batch_size=32, verbose=0)
            times[augment].append(time.perf_counter() - t)
    plain, aug = np.median(times[False]), np.median(times[True])
    print(f"{args.threads} threads, {args.epochs} epochs each: plain {plain:.2f} s, augmented {aug:.2f} s per epoch: "
          f"+{100 * (aug / plain - 1):.1f}%")


if __name__ == "__main__":
    main()
