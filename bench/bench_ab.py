"""Regression check: bench_train's nncore runs on two builds of nncore, alternating in the same run.

    python bench/bench_ab.py --base /tmp/base_site [--models mlp,cnn,lenet,lstm,gru] [--rounds 3] [--epochs 3]

--base is a folder holding another build of the package (e.g. `git worktree add /tmp/base <commit>` then
`pip install --no-deps --no-build-isolation --target /tmp/base_site /tmp/base`); the other side is the nncore this
Python imports. Each run is its own process (full Fashion-MNIST, 2 threads, batch 32, Adam); the order of the two
alternates per round. Reports the median epoch time of each side over every epoch of every round, and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r'''
import sys, json
site = sys.argv[1]
if site != "-":  # the other build: drop an editable install's import hook so the folder wins
    sys.meta_path[:] = [f for f in sys.meta_path if "ScikitBuild" not in type(f).__name__]
    sys.path.insert(0, site)
sys.path.insert(0, sys.argv[5])
import bench_train, nncore
print("FROM " + nncore.__file__)
r = bench_train.child_nncore(sys.argv[2], int(sys.argv[3]), False, int(sys.argv[4]), 1e-3)
print("RESULT" + json.dumps(r))
'''


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True)
    p.add_argument("--models", default="mlp,cnn,lenet,lstm,gru")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    models = args.models.split(",")
    times = {m: {"base": [], "new": []} for m in models}
    for r in range(args.rounds):
        for m in models:
            sides = [("base", args.base), ("new", "-")]
            for tag, site in (sides if r % 2 == 0 else sides[::-1]):
                out = subprocess.run([sys.executable, "-c", CHILD, site, m, str(args.epochs), str(args.threads), HERE],
                                     capture_output=True, text=True)
                res = [line for line in out.stdout.splitlines() if line.startswith("RESULT")]
                if not res:
                    sys.exit(out.stdout + out.stderr)
                times[m][tag] += json.loads(res[0][6:])["times"]
                print(m, tag, [round(t, 3) for t in times[m][tag]], flush=True)
    print(f"median epoch seconds over {args.rounds} rounds x {args.epochs} epochs, {args.threads} threads:")
    print(f"{'model':>6} {'base':>8} {'new':>8} {'new/base':>9}")
    for m in models:
        b, n = statistics.median(times[m]["base"]), statistics.median(times[m]["new"])
        print(f"{m:>6} {b:8.3f} {n:8.3f} {n / b:9.3f}")


if __name__ == "__main__":
    main()
