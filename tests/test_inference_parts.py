"""A large batch at inference runs in parts that stay in cache (Model::inference_part_rows): predict_on_batch on
N samples gives the bits of one forward over all N, and a model whose layers may mix samples (a traced function
reducing over the batch axis) still runs all N at once."""
from __future__ import annotations

import numpy as np

import nncore
from nncore import ops
from nncore.layers import LSTM, Conv2D, Dense, Flatten, Lambda, MaxPooling2D


def _cnn():
    nncore.utils.set_random_seed(3)
    model = nncore.Sequential([nncore.Input((28, 28, 1)), Conv2D(8, 3, activation="relu"), MaxPooling2D(),
                               Flatten(), Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_cnn_batch_in_parts_matches_one_forward(threads):
    # 300 samples x ~27 KB (the pooling call's input and output) each: parts of 72 rows (4 x 72 + 12).
    model = _cnn()
    x = np.random.default_rng(0).random((300, 28, 28, 1), dtype=np.float32)
    whole = model.predict(x, batch_size=300, verbose=0)  # one forward over all 300
    np.testing.assert_array_equal(model.predict_on_batch(x), whole)
    np.testing.assert_array_equal(model.predict(x, batch_size=7, verbose=0), whole)


def test_lstm_batch_in_parts_matches_one_forward(threads):
    # The LSTM's gate buffers over 20 steps (~18 KB a sample) count towards a part's size: 200 samples run in parts.
    nncore.utils.set_random_seed(4)
    model = nncore.Sequential([nncore.Input((20, 6)), LSTM(32), Dense(3)])
    model.compile("adam", "mse")
    x = np.random.default_rng(1).standard_normal((200, 20, 6)).astype(np.float32)
    whole = model.predict(x, batch_size=200, verbose=0)
    np.testing.assert_array_equal(model.predict_on_batch(x), whole)


def test_part_sizes():
    # 300 CNN samples: parts of 72 (2 MiB / (5,408 + 1,352 floats of the pooling call), down to a multiple of 8);
    # a small MLP's 256 samples (~4 KB a sample) at once; a model with an op layer (an op may mix samples) at once.
    assert _cnn()._impl.inference_part_rows(300) == 72
    assert _cnn()._impl.inference_part_rows(32) == 32
    mlp = nncore.Sequential([nncore.Input((784,)), Dense(256, activation="relu"), Dense(10)])
    assert mlp._impl.inference_part_rows(256) == 256
    inp = nncore.Input((28, 28, 1))
    t = Lambda(lambda v: v * 2.0)(Conv2D(8, 3)(inp))
    assert nncore.Model(inp, t)._impl.inference_part_rows(300) == 300
