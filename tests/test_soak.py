"""Soak: fit, evaluate, predict, save and load_model in a loop must not grow the process. After a warm-up (buffers
sized, allocator pools filled) the resident set may grow by at most 5 MB over 500 cycles (a model leaked per cycle
would grow it by about 50 MB)."""
from __future__ import annotations

import gc
import os

import numpy as np
import pytest

import nncore
from nncore.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, LSTM, MaxPooling2D

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def build(kind: str):
    if kind == "cnn":
        model = nncore.Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), BatchNormalization(),
                                   MaxPooling2D(), Flatten(), Dropout(0.1), Dense(3, activation="softmax")])
        x = np.random.default_rng(0).random((32, 8, 8, 1), dtype=np.float32)
    else:
        model = nncore.Sequential([LSTM(6, input_shape=(5, 3)), Dense(3, activation="softmax")])
        x = np.random.default_rng(0).random((32, 5, 3), dtype=np.float32)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, x, np.random.default_rng(1).integers(0, 3, 32)


def cycle(model, x, y, path):
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    model.save(path)
    loaded = nncore.load_model(path)
    loaded.predict(x[:4], verbose=0)
    return loaded


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident set from /proc")
@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_resident_memory_stops_growing(tmp_path, kind):
    nncore.set_random_seed(0)
    model, x, y = build(kind)
    path = tmp_path / "soak.nncore"
    for _ in range(300):  # warm-up: buffers sized, allocator arenas and pools filled
        model = cycle(model, x, y, path)
    # Two windows of 500 cycles. A leak grows both; the allocator's own one-off steps (glibc moves its mmap and trim
    # thresholds once, a few MB, at a moment that varies from run to run) land in one at most.
    growth = []
    for _ in range(2):
        gc.collect()
        start = peak = rss_bytes()
        for i in range(500):
            model = cycle(model, x, y, path)  # continue with the loaded model: its buffers are new each time
            if i % 50 == 49:
                gc.collect()
                peak = max(peak, rss_bytes())
        growth.append(peak - start)
    assert min(growth) <= 5 * 2**20, f"{kind}: resident set grew {[round(g / 2**20, 1) for g in growth]} MB " \
                                      "in two windows of 500 cycles"
