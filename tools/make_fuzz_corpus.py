#!/usr/bin/env python3
"""Write the seed corpus of the model-file fuzzer: small, valid nncore files of every layer family.

The fuzzer (tools/fuzz_model_file.sh) mutates these; tests/test_fuzz_corpus.py loads every file of the corpus
folder, seeds and the regression files that fuzzing found, through the normal (checksum-verifying) loader. Run
once after a change of the file format, and commit the output:

    python tools/make_fuzz_corpus.py [--out tests/corpus/model_files]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import nncore
from nncore import Input, Model, Sequential
from nncore.layers import (GRU, LSTM, Activation, Add, AveragePooling1D, AveragePooling2D, BatchNormalization,
                           Bidirectional, Concatenate, Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten,
                           GlobalAveragePooling1D, GlobalMaxPooling2D, LayerNormalization, MaxPooling2D, Multiply,
                           Reshape, SimpleRNN, SpatialDropout2D, Subtract, TimeDistributed, ZeroPadding2D)

REPO = Path(__file__).resolve().parent.parent


def models():
    """(name, model, fit data or None); every model small enough that its file stays a few kilobytes."""
    rng = np.random.default_rng(0)
    yield "mlp_adam", Sequential([Dense(6, activation="relu", input_shape=(4,), kernel_regularizer="l2"),
                                  Dropout(0.2), Dense(3, activation="softmax")]), \
        ("adam", "sparse_categorical_crossentropy", rng.random((8, 4)), rng.integers(0, 3, 8))
    yield "cnn_sgd", Sequential([ZeroPadding2D(1, input_shape=(6, 6, 1)), Conv2D(2, 3, activation="relu"),
                                 BatchNormalization(), SpatialDropout2D(0.1), MaxPooling2D(),
                                 AveragePooling2D(1), Flatten(), Dense(2, activation="sigmoid")]), \
        (nncore.optimizers.SGD(0.01, momentum=0.9), "binary_crossentropy", rng.random((4, 6, 6, 1)),
         rng.integers(0, 2, (4, 2)).astype(np.float32))
    yield "cnn_global", Sequential([Conv2D(3, 2, padding="same", input_shape=(5, 5, 2)), LayerNormalization(),
                                    GlobalMaxPooling2D(), Reshape((3, 1)), Flatten(), Activation("tanh")]), None
    yield "text_lstm", Sequential([Embedding(10, 3, mask_zero=True, input_shape=(5,)),
                                   Bidirectional(LSTM(2, return_sequences=True)), GlobalAveragePooling1D(),
                                   Dense(1)]), ("rmsprop", "mse", rng.integers(0, 10, (4, 5)), rng.random((4, 1)))
    yield "seq_gru_rnn", Sequential([GRU(3, return_sequences=True, input_shape=(4, 2)),
                                     SimpleRNN(2, return_sequences=True), TimeDistributed(Dense(2)),
                                     Conv1D(2, 2, padding="causal"), AveragePooling1D(2), Flatten()]), None
    a, b = Input((3,), name="a"), Input((3,), name="b")
    h = Concatenate()([Dense(2, name="da")(a), Dense(2, name="db")(b)])
    m = Add()([Subtract()([h, h]), Multiply()([h, h])])
    two = Model([a, b], [Dense(2, activation="softmax", name="cls")(m), Dense(1, name="reg")(m)])
    yield "functional_two_outputs", two, \
        ("adagrad", ["sparse_categorical_crossentropy", "mae"], [rng.random((4, 3)), rng.random((4, 3))],
         [rng.integers(0, 2, 4), rng.random((4, 1))])
    # Quantized with model.quantize("int8") after the fit (main): I8 kernels and float scales in the file.
    yield "int8_quantized", Sequential([Embedding(10, 3, input_shape=(6,)), Bidirectional(LSTM(2, return_sequences=True)),
                                        Conv1D(2, 2), Reshape((5, 2, 1)), Conv2D(2, 2, padding="same"), Flatten(),
                                        Dense(2)]), \
        ("adam", "mse", rng.integers(0, 10, (4, 6)), rng.random((4, 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "corpus" / "model_files")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    nncore.set_random_seed(0)
    for name, model, fit in models():
        if fit is not None:
            opt, loss, x, y = fit
            model.compile(opt, loss)
            model.fit(x, y, epochs=1, verbose=0)
        if name.startswith("int8"):
            model.quantize("int8")
        model.save(args.out / f"seed_{name}.nncore")
        model.save_weights(args.out / f"seed_{name}.weights.nncore")
    for p in sorted(args.out.glob("seed_*")):
        print(f"{p.relative_to(REPO)}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
