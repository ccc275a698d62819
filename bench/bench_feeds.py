"""fit on batches from a PyDataset or a generator against fit on the same in-memory arrays, in the same process,
alternating (issue 13's target: >= 0.85x the epoch speed of the arrays, workers=1):

    python bench/bench_feeds.py [--models mlp,cnn] [--rounds 3] [--threads 2]

Fashion-MNIST, batch 32, Adam, bench_train's mlp and cnn. The arrays path gathers each shuffled batch in C++; the
PyDataset path slices the (pre-shuffled) arrays in Python on a background thread and the C++ loop copies each batch
in; the generator path yields the same slices. Reports median epoch seconds and the ratios.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import bench_train
    import nncore
    from nncore.utils import PyDataset

    nncore.set_num_threads(args.threads)

    class Batches(PyDataset):
        def __init__(self, x, y, batch_size):
            super().__init__(workers=1)
            self.x, self.y, self.batch_size = x, y, batch_size

        def __len__(self):
            return -(-len(self.x) // self.batch_size)

        def __getitem__(self, i):
            s = slice(i * self.batch_size, (i + 1) * self.batch_size)
            return self.x[s], self.y[s]

    def generator(x, y, batch_size):
        while True:
            for i in range(0, len(x), batch_size):
                yield x[i:i + batch_size], y[i:i + batch_size]

    for name in args.models.split(","):
        nncore.set_random_seed(0)
        model, shape = bench_train.nncore_model(name)
        x, y, _, _ = bench_train.load_data(name, False, shape)
        x = np.ascontiguousarray(x, np.float32)
        y = np.asarray(y, np.float32)
        model.compile(nncore.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        steps = -(-len(x) // 32)
        times = {"arrays": [], "pydataset": [], "generator": []}
        gen = generator(x, y, 32)
        for r in range(args.rounds):
            order = list(times) if r % 2 == 0 else list(reversed(list(times)))
            for kind in order:
                t0 = time.perf_counter()
                if kind == "arrays":
                    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
                elif kind == "pydataset":
                    model.fit(Batches(x, y, 32), epochs=1, verbose=0)
                else:
                    model.fit(gen, steps_per_epoch=steps, epochs=1, verbose=0)
                times[kind].append(time.perf_counter() - t0)
            print(name, {k: [round(t, 3) for t in v] for k, v in times.items()}, flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{name}: median epoch seconds, {args.threads} threads, {args.rounds} rounds: arrays {med['arrays']:.3f}"
              f"  PyDataset {med['pydataset']:.3f} ({med['arrays'] / med['pydataset']:.2f}x)"
              f"  generator {med['generator']:.3f} ({med['arrays'] / med['generator']:.2f}x)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
