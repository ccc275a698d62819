"""The adding problem (Hochreiter & Schmidhuber 1997): SimpleRNN against LSTM of the same size, same data, same
optimizer and epoch budget; prints the test MSE after every epoch for both (the trivial predictor scores ~0.167).

    python bench/bench_adding.py [--T 100] [--units 32] [--train 8000] [--epochs 20] [--seed 0] [--threads 2]

Sequences: T steps of (value in [0, 1), marker); two markers, one in each half; the target is the sum of the two
marked values. Adam(learning_rate=0.01), batch 32, MSE. Not run by pytest (tests/test_recurrent_learning.py has
the T = 50 LSTM test).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from test_recurrent_learning import adding_problem  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--train", type=int, default=8000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import nncore
    from nncore.layers import LSTM, Dense, SimpleRNN

    nncore.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    x, y = adding_problem(args.train, args.T, rng)
    xt, yt = adding_problem(2000, args.T, rng)
    print(f"adding problem T={args.T}: {args.train} training / 2000 test sequences, {args.units} units, "
          f"Adam(0.01), batch 32, seed {args.seed}; trivial predictor test MSE {np.mean((yt - 1) ** 2):.4f}")
    curves, times = {}, {}
    for name, cls in (("SimpleRNN", SimpleRNN), ("LSTM", LSTM)):
        nncore.set_random_seed(args.seed)
        model = nncore.Sequential([cls(args.units, input_shape=(args.T, 2)), Dense(1)])
        model.compile(nncore.optimizers.Adam(learning_rate=0.01), "mse")
        curve = []
        t0 = time.perf_counter()
        for _ in range(args.epochs):
            model.fit(x, y, epochs=1, batch_size=32, verbose=0)
            curve.append(model.evaluate(xt, yt, verbose=0))
        times[name] = time.perf_counter() - t0
        curves[name] = curve
    print(f"{'epoch':>5} {'SimpleRNN':>10} {'LSTM':>10}")
    for e in range(args.epochs):
        print(f"{e + 1:>5} {curves['SimpleRNN'][e]:>10.4f} {curves['LSTM'][e]:>10.4f}")
    print(f"params: SimpleRNN {args.units * (args.units + 3) + args.units + 1}, "
          f"LSTM {4 * args.units * (args.units + 3) + args.units + 1}; "
          f"time: SimpleRNN {times['SimpleRNN']:.1f} s, LSTM {times['LSTM']:.1f} s")


if __name__ == "__main__":
    main()
