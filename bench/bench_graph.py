"""The graph of issue 12 against built-in layers, in the same run, alternating:

    python bench/bench_graph.py [--rounds 5] [--threads 2]

custom: the 784-256-256-10 ReLU MLP of bench_train's `mlp` (Fashion-MNIST, Adam, batch 32), once with built-in Dense
        layers and once with a Dense written by subclassing nncore.layers.Layer (add_weight; ops.matmul(x, w) + b;
        ops.relu): the custom layer is traced into C++ op nodes. Reports median epoch times and the ratio.
shared: a two-tower model whose tower (Dense 784-256-256) is one shared layer called on both inputs, against the
        same model with two separate towers of the same sizes (one epoch on pairs of images).
lengths: predict on sequences of growing lengths (Embedding + GRU) cannot be run yet: a model's per-sample shapes
        are fixed when it is built (unknown axes are not built yet), so this part is skipped and says so.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def data():
    from nncore.datasets import fashion_mnist
    (x, y), _ = fashion_mnist.load_data()
    return (x.reshape(-1, 784) / 255.0).astype("float32"), y


def custom_dense_class():
    import nncore
    from nncore import ops

    class MyDense(nncore.layers.Layer):
        def __init__(self, units, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.units, self.activation = units, activation

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

        def call(self, x):
            y = ops.matmul(x, self.w) + self.b
            return ops.relu(y) if self.activation == "relu" else y

    return MyDense


def mlp(custom: bool):
    import nncore
    from nncore.layers import Dense
    D = custom_dense_class() if custom else Dense
    inp = nncore.Input((784,))
    h = D(256, activation="relu")(inp)
    h = D(256, activation="relu")(h)
    out = Dense(10, activation="softmax")(h)  # the loss fuses with a built-in softmax in both
    return nncore.Model(inp, out)


def towers(shared: bool):
    import nncore
    from nncore.layers import Concatenate, Dense
    a, b = nncore.Input((784,)), nncore.Input((784,))
    t1 = [Dense(256, activation="relu"), Dense(256, activation="relu")]
    t2 = t1 if shared else [Dense(256, activation="relu"), Dense(256, activation="relu")]
    ha, hb = t1[1](t1[0](a)), t2[1](t2[0](b))
    return nncore.Model([a, b], Dense(10, activation="softmax")(Concatenate()([ha, hb])))


def epoch_time(model, xs, y) -> float:
    import nncore
    model.compile(nncore.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    t0 = time.perf_counter()
    model.fit(xs, y, epochs=1, batch_size=32, verbose=0)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import nncore
    nncore.set_num_threads(args.threads)
    nncore.set_random_seed(0)
    x, y = data()
    times = {"builtin": [], "custom": [], "unshared": [], "shared": []}
    for r in range(args.rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        for custom in order:
            times["custom" if custom else "builtin"].append(epoch_time(mlp(custom), x, y))
        half = len(x) // 2
        for shared in order:
            times["shared" if shared else "unshared"].append(epoch_time(towers(shared), [x[:half], x[half:]], y[:half]))
        print({k: [round(t, 3) for t in v] for k, v in times.items()}, flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"threads {args.threads}, {args.rounds} rounds, median epoch seconds:")
    print(f"  MLP built-in Dense {med['builtin']:.3f}  custom Dense (traced ops) {med['custom']:.3f}  "
          f"custom speed = {med['builtin'] / med['custom']:.2f}x built-in")
    print(f"  towers unshared {med['unshared']:.3f}  shared {med['shared']:.3f}  "
          f"shared cost = {med['shared'] / med['unshared']:.2f}x unshared")
    print("  lengths: skipped (unknown per-sample axes are not built yet)")


if __name__ == "__main__":
    sys.exit(main())
