"""The cost of built-in metric objects in fit (issue 13's target: Precision, Recall and AUC with 200 thresholds add
<= 5% to an MLP epoch), in the same process, alternating:

    python bench/bench_metrics.py [--rounds 5] [--threads 2]

Fashion-MNIST, bench_train's mlp (784-256-256-10), batch 32, Adam, one-hot targets with categorical_crossentropy
(the confusion metrics read targets shaped like the output). Compares metrics=["accuracy"] with
metrics=["accuracy", Precision(), Recall(), AUC()], and reports median epoch seconds and the ratio.
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
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import bench_train
    import nncore
    from nncore import metrics as M

    nncore.set_num_threads(args.threads)
    model, shape = bench_train.nncore_model("mlp")
    x, y, _, _ = bench_train.load_data("mlp", False, shape)
    x = np.ascontiguousarray(x, np.float32)
    y = np.eye(10, dtype=np.float32)[np.asarray(y, np.int64)]
    initial = model.get_weights()
    variants = {"accuracy": lambda: ["accuracy"],
                "+precision,recall,auc": lambda: ["accuracy", M.Precision(), M.Recall(), M.AUC(num_thresholds=200)]}
    times = {k: [] for k in variants}
    for r in range(args.rounds + 1):  # round 0 warms up
        for name, metrics in (variants.items() if r % 2 == 0 else reversed(list(variants.items()))):
            model.set_weights(initial)
            model.compile(nncore.optimizers.Adam(1e-3), "categorical_crossentropy", metrics=metrics())
            t = time.perf_counter()
            h = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
            if r > 0:
                times[name].append(time.perf_counter() - t)
            last = {k: round(v[-1], 4) for k, v in h.history.items()}
        print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items() if v), last, flush=True)
    base, extra = (statistics.median(times[k]) for k in variants)
    print(f"threads={args.threads}: accuracy only {base:.3f}s, + Precision, Recall, AUC(200) {extra:.3f}s: "
          f"{100 * (extra / base - 1):+.1f}% per epoch ({len(x)} samples, batch 32)")


if __name__ == "__main__":
    main()
