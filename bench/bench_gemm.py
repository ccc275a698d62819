"""Benchmark nncore.ops.matmul against numpy (OpenBLAS) on square and MLP shapes, at 1 and 2 threads.

Validates every shape against numpy before timing, warms up, and reports the median of several repetitions.
Run: python bench/bench_gemm.py [--quick]
"""
from __future__ import annotations

import argparse
import sys
import os
import time

# OpenBLAS tuning overrides would skew the peer; drop them before numpy loads OpenBLAS.
for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_var, None)

import numpy as np  # noqa: E402

import nncore  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import median_seconds  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # numpy then runs on its default thread count; the table says so
    threadpool_limits = None

# (M, N, K, transpose_a, transpose_b, label). MLP layer 784 -> 256 -> 256 -> 10 at batch B:
# forward Y = X W (B x in x out), backward dW = X^T dY (in x B x out), dX = dY W^T (B x out x in).
SQUARE = [128, 256, 512, 1024, 2048]
MLP = [(32, 784, 256), (128, 784, 256), (32, 256, 256), (32, 256, 10)]


def shapes(quick: bool) -> list[tuple[int, int, int, bool, bool, str]]:
    out = [(n, n, n, False, False, "square") for n in (SQUARE[:3] if quick else SQUARE)]
    for batch, fan_in, fan_out in MLP[:2] if quick else MLP:
        out.append((batch, fan_out, fan_in, False, False, "fwd X W"))
        out.append((fan_in, fan_out, batch, True, False, "dW X^T dY"))
        out.append((batch, fan_in, fan_out, False, True, "dX dY W^T"))
    return out


def numpy_threads(n: int):
    if threadpool_limits is None:
        return _NoLimit()
    return threadpool_limits(limits=n)


class _NoLimit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repetitions (smoke run)")
    args = parser.parse_args()
    reps = 3 if args.quick else 7
    rng = np.random.default_rng(0)
    if threadpool_limits is None:
        print("note: threadpoolctl not installed; numpy uses its default thread count in every row "
              "(pip install threadpoolctl)")

    header = f"{'shape (M x N x K)':>22} {'op':>10} {'thr':>3} {'nncore GF/s':>12} {'numpy GF/s':>11} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    cases = []
    for m, n, k, ta, tb, label in shapes(args.quick):
        a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
        got = nncore.ops.matmul(a, b, transpose_a=ta, transpose_b=tb)
        want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k),
                                   err_msg=f"nncore.ops.matmul wrong for {m}x{n}x{k} ta={ta} tb={tb}")
        cases.append((m, n, k, ta, tb, label, a, b))
    time.sleep(0.5)  # let the thread pool that computed the float64 references go idle

    for threads in (1, 2):
        # Each library is timed over all shapes in one stretch, with a pause between: a pool that has just
        # worked keeps spinning for a while (OpenBLAS's and OpenMP's both), and would steal the other's cores.
        nncore.set_num_threads(threads)
        t_nn = [median_seconds(lambda: nncore.ops.matmul(a, b, transpose_a=ta, transpose_b=tb), reps)
                for _, _, _, ta, tb, _, a, b in cases]
        time.sleep(0.5)
        with numpy_threads(threads):
            t_np = [median_seconds(lambda: (a.T if ta else a) @ (b.T if tb else b), reps)
                    for _, _, _, ta, tb, _, a, b in cases]
        time.sleep(0.5)
        for (m, n, k, _, _, label, _, _), tn, tp in zip(cases, t_nn, t_np):
            flops = 2.0 * m * n * k
            shape = f"{m} x {n} x {k}"
            print(f"{shape:>22} {label:>10} {threads:>3} {flops / tn * 1e-9:>12.1f} {flops / tp * 1e-9:>11.1f} "
                  f"{tp / tn:>6.2f}")

if __name__ == "__main__":
    main()
