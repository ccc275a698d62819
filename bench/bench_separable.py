"""SeparableConv2D and Conv2DTranspose forward + backward on the shapes of keras-io's oxford_pets U-Net (input
160 x 160, batch 8): nncore's layers against PyTorch 2.13's depthwise (groups = channels) + pointwise Conv2d and
ConvTranspose2d, each framework in its own process, alternating (issue 15's target: >= 1.0x PyTorch).

    python bench/bench_separable.py [--rounds 3] [--threads 2] [--batch 8]

Each row is one layer as a one-layer model: the forward (predict; no_grad in PyTorch) and a training step (forward,
an MSE loss, backward to the input's and the weights' gradients, an SGD update), median over repetitions, in
milliseconds; "bwd" is the step less the forward.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# (kind, H, W, C_in, C_out): the U-Net's separable blocks (80x80 after the strided entry conv, then 40, 20) and its
# first decoder transposed convolutions.
SHAPES = [("separable", 80, 80, 32, 64), ("separable", 80, 80, 64, 64), ("separable", 40, 40, 64, 128),
          ("separable", 40, 40, 128, 128), ("separable", 20, 20, 128, 256), ("separable", 20, 20, 256, 256),
          ("transpose", 10, 10, 256, 256), ("transpose", 20, 20, 256, 128), ("transpose", 40, 40, 128, 64),
          ("transpose", 80, 80, 64, 32)]


def median_ms(fn, reps: int = 7) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def run_nncore(threads: int, batch: int) -> dict:
    import nncore
    from nncore import layers

    nncore.set_num_threads(threads)
    rng = np.random.default_rng(0)
    out = {}
    for kind, H, W, C, F in SHAPES:
        layer = (layers.SeparableConv2D(F, 3, padding="same") if kind == "separable"
                 else layers.Conv2DTranspose(F, 3, padding="same"))
        model = nncore.Sequential([nncore.Input((H, W, C)), layer])
        model.compile(optimizer=nncore.optimizers.SGD(1e-3), loss="mse")
        x = rng.standard_normal((batch, H, W, C)).astype(np.float32)
        y = rng.standard_normal((batch, H, W, F)).astype(np.float32)
        fwd = median_ms(lambda: model.predict(x, batch_size=batch, verbose=0))
        step = median_ms(lambda: model.train_on_batch(x, y))
        out[f"{kind} {H}x{W}x{C}->{F}"] = (fwd, max(step - fwd, 0.0))
    return out


def run_torch(threads: int, batch: int) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    out = {}
    for kind, H, W, C, F in SHAPES:
        if kind == "separable":
            layer = nn.Sequential(nn.Conv2d(C, C, 3, padding=1, groups=C, bias=False), nn.Conv2d(C, F, 1))
        else:
            layer = nn.ConvTranspose2d(C, F, 3, padding=1)
        opt = torch.optim.SGD(layer.parameters(), lr=1e-3)
        x = torch.from_numpy(rng.standard_normal((batch, C, H, W)).astype(np.float32)).requires_grad_()
        y = torch.from_numpy(rng.standard_normal((batch, F, H, W)).astype(np.float32))

        def step():
            opt.zero_grad()
            x.grad = None
            torch.nn.functional.mse_loss(layer(x), y).backward()
            opt.step()

        with torch.no_grad():
            fwd = median_ms(lambda: layer(x))
        out[f"{kind} {H}x{W}x{C}->{F}"] = (fwd, max(median_ms(step) - fwd, 0.0))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--child", choices=["nncore", "torch"])
    args = p.parse_args()
    if args.child:
        run = run_nncore if args.child == "nncore" else run_torch
        print(json.dumps(run(args.threads, args.batch)))
        return
    from _common import cpu_name, median, run_child
    print(f"{cpu_name()}, {args.threads} threads, batch {args.batch}, 3x3 'same'; ms (median of {args.rounds} runs)")
    runs = {"nncore": [], "torch": []}
    for r in range(args.rounds):
        for who in (("nncore", "torch") if r % 2 == 0 else ("torch", "nncore")):
            runs[who].append(run_child(__file__, ["--child", who, "--threads", str(args.threads), "--batch",
                                                  str(args.batch)], args.threads))
    print(f"{'layer':34s} {'nncore fwd':>10} {'torch fwd':>10} {'ratio':>6}   {'nncore bwd':>10} {'torch bwd':>10} "
          f"{'ratio':>6}   {'fwd+bwd ratio':>13}")
    for key in runs["nncore"][0]:
        nf, nb = (median([r[key][i] for r in runs["nncore"]]) for i in (0, 1))
        tf, tb = (median([r[key][i] for r in runs["torch"]]) for i in (0, 1))
        print(f"{key:34s} {nf:10.2f} {tf:10.2f} {tf / nf:6.2f}   {nb:10.2f} {tb:10.2f} {tb / nb:6.2f}   "
              f"{(tf + tb) / (nf + nb):13.2f}")


if __name__ == "__main__":
    main()
