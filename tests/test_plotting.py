"""nncore.plot_history."""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore.layers import Dense

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _history():
    nncore.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nncore.Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)


def test_plot_history_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    history = _history()
    path = tmp_path / "history.png"
    nncore.plot_history(history, str(path))
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    nncore.plot_history(history.history, tmp_path / "loss.png", metrics=["loss"])
    assert (tmp_path / "loss.png").read_bytes().startswith(PNG_SIGNATURE)


def test_plot_history_unknown_metric(tmp_path):
    with pytest.raises(ValueError, match="mae"):
        nncore.plot_history({"loss": [1.0, 0.5]}, str(tmp_path / "x.png"), metrics=["mae"])
