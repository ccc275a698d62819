"""Data-parallel scaling over MPI (issue 17): the LeNet-style CNN (bench_train convnet) and the LSTM of bench_train on
Fashion-MNIST, batch 32 per rank, as 1 rank x 1 thread, 2 ranks x 1 thread (mpiexec -n 2) and 1 rank x 2 threads.

    python bench/bench_distributed.py [--models convnet,lstm] [--samples 12000] [--rounds 3] [--ranks 2]

Each configuration trains one epoch (after a warm-up epoch) in its own processes; the three alternate for
``--rounds`` rounds and the table gives the median throughput (samples per second over the global batch), the
speedup over 1 rank x 1 thread (target for 2 ranks: >= 1.8x), and, for the ranks, the allreduce's time per step
and share of the step. Then, on paper, the allreduce volume per step (a ring allreduce sends and receives
2 (n - 1) / n times the gradient's bytes per rank) and the efficiency expected across machines on 10 and 25 Gbit/s
networks for n = 2, 4, 8 one-machine-per-rank workers, each step's compute as measured here at 1 thread.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import cpu_name, median  # noqa: E402


def worker(model_name: str, samples: int) -> None:
    """One rank (or the single process): times one epoch after a warm-up; rank 0 prints a JSON line."""
    import numpy as np

    import nncore
    from bench_train import load_fashion, nncore_model

    if os.environ.get("NNCORE_BENCH_DIST") == "1":
        nncore.distributed.init()
    nncore.set_random_seed(0)
    model, shape = nncore_model(model_name)
    x, y, _, _ = load_fashion(False, shape)
    x, y = x[:samples], y[:samples]
    model.compile(nncore.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:2048], y[:2048], batch_size=32, epochs=1, verbose=0)  # warm-up: buffers, pages, threads
    reducer = nncore.distributed._state.reducer if nncore.distributed.initialized() else None
    if reducer is not None:
        reducer.seconds, reducer.calls = 0.0, 0
    nncore.distributed.barrier()
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    seconds = time.perf_counter() - t0
    params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    steps = -(-len(x) // (32 * nncore.distributed.size()))
    out = {"seconds": seconds, "samples": len(x), "params": params, "steps": steps,
           "allreduce_s": reducer.seconds if reducer else 0.0}
    if nncore.distributed.is_main():
        print(json.dumps(out), flush=True)


def launch(model_name: str, samples: int, ranks: int, threads: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", model_name, "--samples", str(samples)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if ranks > 1:
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        mpiexec = mpiexec if os.path.exists(mpiexec) else shutil.which("mpiexec")
        if mpiexec is None:
            raise SystemExit("bench_distributed: no mpiexec (pip install \"nncore[mpi]\")")
        cmd = [mpiexec, "-n", str(ranks)] + cmd
        env["NNCORE_BENCH_DIST"] = "1"
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="convnet,lstm")
    ap.add_argument("--samples", type=int, default=12000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--worker", default=None)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.samples)
    n = args.ranks
    print(f"bench_distributed: {cpu_name()}, {time.strftime('%Y-%m-%d')}, {args.samples} samples, batch 32 per rank, "
          f"{args.rounds} rounds (median)")
    configs = [("1 rank x 1 thread", 1, 1), (f"{n} ranks x 1 thread", n, 1), (f"1 rank x {n} threads", 1, n)]
    print(f"{'model':>8} {'configuration':>20} {'samples/s':>10} {'vs 1x1':>7} {'allreduce ms/step':>17} "
          f"{'share':>6}")
    for model_name in args.models.split(","):
        runs = {c[0]: [] for c in configs}
        for _ in range(args.rounds):
            for label, ranks, threads in configs:
                runs[label].append(launch(model_name, args.samples, ranks, threads))
        base = median([r["samples"] / r["seconds"] for r in runs[configs[0][0]]])
        step_s = median([r["seconds"] / r["steps"] for r in runs[configs[0][0]]])
        params = runs[configs[0][0]][0]["params"]
        for label, ranks, _ in configs:
            rate = median([r["samples"] / r["seconds"] for r in runs[label]])
            ar = median([r["allreduce_s"] / r["steps"] for r in runs[label]]) * 1e3
            share = median([r["allreduce_s"] / r["seconds"] for r in runs[label]])
            extra = f"{ar:>17.3f} {100 * share:>5.1f}%" if ranks > 1 else f"{'':>17} {'':>6}"
            print(f"{model_name:>8} {label:>20} {rate:>10.0f} {rate / base:>6.2f}x {extra}", flush=True)
        # On paper: a ring allreduce of the float32 gradient per step, over the network, not overlapped.
        grad_mb = params * 4 / 1e6
        print(f"{model_name:>8} on paper: {params:,} weights = {grad_mb:.2f} MB of gradient per step; compute "
              f"{step_s * 1e3:.1f} ms per step of 32 at 1 thread")
        for gbit in (10, 25):
            cells = []
            for workers in (2, 4, 8):
                sent = 2 * (workers - 1) / workers * grad_mb * 8 / 1e3  # Gbit per rank per step
                comm = sent / gbit
                cells.append(f"n={workers}: {comm * 1e3:.2f} ms, {step_s / (step_s + comm) * 100:.0f}%")
            print(f"{'':>8}   {gbit} Gbit/s: " + "; ".join(cells))


if __name__ == "__main__":
    main()
