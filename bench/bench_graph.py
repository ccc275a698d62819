"""The graph of issue 12 against built-in layers, in the same run, alternating:

    python bench/bench_graph.py [--rounds 5] [--threads 2]

custom: the 784-256-256-10 ReLU MLP of bench_train's `mlp` (Fashion-MNIST, Adam, batch 32), once with built-in Dense
        layers and once with a Dense written by subclassing nncore.layers.Layer (add_weight; ops.matmul(x, w) + b;
        ops.relu): the custom layer is traced into C++ op nodes. Reports median epoch times and the ratio.
shared: a two-tower model whose tower (Dense 784-256-256) is one shared layer called on both inputs, against the
        same model with two separate towers of the same sizes (one epoch on pairs of images).
lengths: predict on token sequences of growing lengths (Input((None,)), Embedding + GRU + Dense, batch 64,
        lengths 16, 32, ..., 512, twice) in a child process, against a child that predicts only the longest: the
        resident memory of the first should end where the second's does (buffers grow to the largest batch seen
        and are reused), not at the sum over lengths.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
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


LENGTHS = [16 * 2 ** k for k in range(6)]  # 16 .. 512


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def lengths_child(mode: str) -> None:
    """Prints the resident memory (MB) after each predict, one line per call."""
    import nncore
    from nncore import layers
    nncore.set_random_seed(0)
    ids = nncore.Input((None,), dtype="int32")
    h = layers.Embedding(1000, 64)(ids)
    h = layers.GRU(128, return_sequences=True)(h)
    model = nncore.Model(ids, layers.Dense(64)(h))
    rng = np.random.default_rng(0)
    plan = LENGTHS * 2 if mode == "growing" else LENGTHS[-1:] * 2
    for n in plan:
        x = rng.integers(0, 1000, size=(64, n)).astype(np.int32)
        model.predict(x, batch_size=64, verbose=0)
        print(n, round(rss_mb(), 1), flush=True)


def lengths_memory() -> tuple:
    out = {}
    for mode in ("growing", "largest"):
        r = subprocess.run([sys.executable, __file__, "--lengths-child", mode], capture_output=True, text=True,
                           check=True)
        out[mode] = [tuple(float(v) for v in line.split()) for line in r.stdout.split("\n") if line.strip()]
    return out["growing"], out["largest"]


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
    p.add_argument("--lengths-child", choices=["growing", "largest"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.lengths_child:
        return lengths_child(args.lengths_child)
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
    growing, largest = lengths_memory()
    first_max = next(rss for n, rss in growing if n == LENGTHS[-1])
    print(f"  lengths {LENGTHS[0]}..{LENGTHS[-1]} twice: RSS MB after each predict "
          f"{[rss for _, rss in growing]}")
    print(f"  RSS at the end {growing[-1][1]:.1f} MB (after first reaching length {LENGTHS[-1]}: {first_max:.1f}); "
          f"predicting only length {LENGTHS[-1]}: {largest[-1][1]:.1f} MB; ratio {growing[-1][1] / largest[-1][1]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
