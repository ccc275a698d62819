"""Memory-bound training kernels against the machine's copy bandwidth, and the cost of BatchNormalization and
Dropout in a LeNet-style network.

    python bench/bench_optim.py [--quick]

1. Adam update and BatchNormalization forward+backward, timed in C++ through nncore's public API
   (bench/cpp/bench_optim.cpp, built here with CMake against the installed package), reported in GB/s of the
   bytes each pass must move, beside numpy's copy of the same number of bytes in the same run (copy bandwidth
   counts bytes read + bytes written, like the kernels). Target: >= 0.7x copy bandwidth.
2. One epoch of the LeNet-style network with and without BatchNormalization after each hidden layer and
   Dropout, on Fashion-MNIST (median of 5 epochs each, the two models alternating). Target: <= 20% more time
   per epoch.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_var, None)

import numpy as np  # noqa: E402

import nncore  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import build_cpp_bench, cpu_name, median  # noqa: E402


def copy_gbps(nbytes: float, reps: int = 21) -> float:
    """numpy copy moving `nbytes` in total (half read, half written)."""
    n = int(nbytes / 8)
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t)
    return 8.0 * n / median(times) / 1e9


def lenet(batch_norm: bool):
    from nncore.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    def block(layer):
        return [layer, BatchNormalization(), Activation("relu")] if batch_norm else [layer, Activation("relu")]

    layers = [*block(Conv2D(6, (5, 5), padding="same", input_shape=(28, 28, 1))), MaxPooling2D((2, 2)),
              *block(Conv2D(16, (5, 5))), MaxPooling2D((2, 2)), Flatten(), *block(Dense(120)),
              *([Dropout(0.3)] if batch_norm else []), *block(Dense(84)), Dense(10, activation="softmax")]
    model = nncore.Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"bench_optim: {cpu_name()}, {time.strftime('%Y-%m-%d')}, nncore ISA {nncore.get_isa()}")

    adam_n, bn_rows, bn_c = (1 << 20, 8192, 64) if args.quick else (1 << 23, 32 * 26 * 26, 32)
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_cpp_bench(tmp, "bench_optim")
        print(f"{'kernel':>32} {'thr':>3} {'GB/s':>8} {'copy GB/s':>10} {'ratio':>6}")
        rounds = 1 if args.quick else 3  # each a median of 21 timings; the machine is shared and noisy
        for threads in (1, 2):
            nncore.set_num_threads(threads)
            rows = {}
            for _ in range(rounds):  # kernel and copy alternate, so that a change in load hits both
                out = subprocess.run([exe, str(adam_n), str(bn_rows), str(bn_c), str(threads)], check=True,
                                     capture_output=True, text=True)
                r = json.loads(out.stdout)
                for name, s, nbytes in (("Adam update (%d params)" % adam_n, r["adam_s"], r["adam_bytes"]),
                                        ("BatchNorm fwd+bwd (%dx%d)" % (bn_rows, bn_c), r["bn_s"], r["bn_bytes"])):
                    rows.setdefault(name, []).append((nbytes / s / 1e9, copy_gbps(nbytes)))
            for name, pairs in rows.items():
                gbps, copy = median([p[0] for p in pairs]), median([p[1] for p in pairs])
                print(f"{name:>32} {threads:>3} {gbps:>8.1f} {copy:>10.1f} {gbps / copy:>6.2f}")

    from nncore.datasets import fashion_mnist

    (x, y), _ = fashion_mnist.load_data()
    n = 6000 if args.quick else 60000
    x = (x[:n].reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    y = y[:n]
    nncore.set_num_threads(os.cpu_count() or 1)
    print(f"\nLeNet-style, one epoch of {n} images, batch 32, {nncore.get_num_threads()} threads")
    models = {}
    for bn in (False, True):
        nncore.set_random_seed(0)
        models[bn] = lenet(bn)
        models[bn].fit(x[:2000], y[:2000], epochs=1, batch_size=32, verbose=0)  # warm-up: buffers, pages
    runs = {False: [], True: []}
    for _ in range(1 if args.quick else 5):  # interleaved, so that a change in the machine's load hits both
        for bn in (False, True):
            t = time.perf_counter()
            models[bn].fit(x, y, epochs=1, batch_size=32, verbose=0)
            runs[bn].append(time.perf_counter() - t)
    times = {bn: median(r) for bn, r in runs.items()}
    for bn in (False, True):
        print(f"  {'with' if bn else 'without':>7} BatchNormalization + Dropout: {times[bn]:.3f} s (median of "
              f"{len(runs[bn])})")
    print(f"  overhead: {100 * (times[True] / times[False] - 1):.1f}%  (target <= 20%)")


if __name__ == "__main__":
    main()
