"""A wider Transformer encoder block, and attention's memory at long sequences (issue 14's second and third targets).

    python bench/bench_transformer_block.py [--rounds 3] [--threads 2] [--steps 10]

1. Speed: a post-norm encoder block (embed 256, 8 heads of 32, feed-forward 1024 with relu, no dropout, LayerNorm
   eps 1e-5), sequence 128, batch 32, one training step (forward, backward, an SGD update, MSE against a fixed
   target): nncore's MultiHeadAttention + Dense + LayerNormalization functional model against PyTorch 2.13's
   nn.TransformerEncoderLayer(batch_first=True), each in its own process, alternating. The step's FLOPs (the four
   projections, the feed-forward, the attention products, backward twice the forward, attention's backward with its
   recomputed scores 2.5 times) divided by the time give a rate, set against nncore's own GEMM rate at
   2048 x 2048 x 2048 (bench_gemm's figure) measured in the same run. Targets: >= 1.3x PyTorch, >= 60% of the GEMM
   rate.
2. Memory: MultiHeadAttention (8 heads of 32, embed 256) at sequence 2,048, batch 4, one training step, without
   return_attention_scores. The peak resident memory the step adds (VmHWM after the step, the peak reset before it,
   minus VmRSS before it) is set against the same measurement for a model of the same four projections without
   attention (q + k + v fed to the output projection). A (B, heads, T, S) float tensor would be 537 MB. Target: the
   attention model's peak <= 1.5x the projections'.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
EMBED, HEADS, FF, SEQ, BATCH = 256, 8, 1024, 128, 32
LONG_SEQ, LONG_BATCH = 2048, 4


def step_flops() -> float:
    tokens = BATCH * SEQ
    dense = 2.0 * tokens * (4 * EMBED * EMBED + 2 * EMBED * FF)
    attention = 2.0 * BATCH * HEADS * SEQ * SEQ * 2 * (EMBED // HEADS)
    return 3.0 * dense + 3.5 * attention


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_added_mb(fn) -> float:
    """Peak resident memory fn adds over what the process held before it, in MB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    before = rss_kb("VmRSS")
    fn()
    return (rss_kb("VmHWM") - before) / 1024.0


def run_nncore_block(threads: int, steps: int) -> dict:
    import nncore as keras
    from nncore import layers

    keras.set_num_threads(threads)
    keras.utils.set_random_seed(0)
    inputs = layers.Input(shape=(SEQ, EMBED))
    att = layers.MultiHeadAttention(num_heads=HEADS, key_dim=EMBED // HEADS)(inputs, inputs)
    x = layers.LayerNormalization(epsilon=1e-5)(inputs + att)
    ff = layers.Dense(EMBED)(layers.Dense(FF, activation="relu")(x))
    outputs = layers.LayerNormalization(epsilon=1e-5)(x + ff)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((BATCH, SEQ, EMBED)).astype(np.float32)
    ys = rng.standard_normal((BATCH, SEQ, EMBED)).astype(np.float32)
    for _ in range(2):
        model.train_on_batch(xs, ys)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_on_batch(xs, ys)
        times.append(time.perf_counter() - t)
    from _common import gemm_rate

    return {"seconds": float(np.median(times)), "gemm_gflops": gemm_rate(threads) * 1e-9}


def run_torch_block(threads: int, steps: int) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    block = nn.TransformerEncoderLayer(EMBED, HEADS, FF, dropout=0.0, batch_first=True)
    opt = torch.optim.SGD(block.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    xs = torch.from_numpy(rng.standard_normal((BATCH, SEQ, EMBED)).astype(np.float32))
    ys = torch.from_numpy(rng.standard_normal((BATCH, SEQ, EMBED)).astype(np.float32))
    block.train()

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(block(xs), ys)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return {"seconds": float(np.median(times))}


def run_nncore_memory(threads: int, which: str) -> dict:
    import nncore as keras
    from nncore import layers

    keras.set_num_threads(threads)
    keras.utils.set_random_seed(0)
    inputs = layers.Input(shape=(LONG_SEQ, EMBED))
    if which == "attention":
        outputs = layers.MultiHeadAttention(num_heads=HEADS, key_dim=EMBED // HEADS)(inputs, inputs)
    else:  # the same four projections, no attention between them
        q, k, v = (layers.Dense(EMBED)(inputs) for _ in range(3))
        outputs = layers.Dense(EMBED)(q + k + v)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((LONG_BATCH, LONG_SEQ, EMBED)).astype(np.float32)
    ys = rng.standard_normal((LONG_BATCH, LONG_SEQ, EMBED)).astype(np.float32)
    model.predict(xs[:1], verbose=0)  # builds the weights outside the measured step
    mb = peak_added_mb(lambda: model.train_on_batch(xs, ys))
    t = time.perf_counter()
    model.train_on_batch(xs, ys)
    return {"peak_mb": mb, "seconds": time.perf_counter() - t}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--child", choices=["nncore", "torch", "memory-attention", "memory-projections"])
    args = p.parse_args()
    if args.child:
        if args.child == "nncore":
            result = run_nncore_block(args.threads, args.steps)
        elif args.child == "torch":
            result = run_torch_block(args.threads, args.steps)
        else:
            result = run_nncore_memory(args.threads, args.child.split("-")[1])
        print(json.dumps(result))
        return
    from _common import cpu_name, median, run_child
    print(f"{cpu_name()}, {args.threads} threads")
    print(f"1. encoder block: embed {EMBED}, {HEADS} heads, ff {FF}, sequence {SEQ}, batch {BATCH}; "
          f"{step_flops() * 1e-9:.1f} GFLOP per training step")
    times = {"nncore": [], "torch": []}
    gemm = []
    for r in range(args.rounds):
        for who in (("nncore", "torch") if r % 2 == 0 else ("torch", "nncore")):
            res = run_child(__file__, ["--child", who, "--threads", str(args.threads), "--steps", str(args.steps)],
                            args.threads)
            times[who].append(res["seconds"])
            extra = f", GEMM 2048: {res['gemm_gflops']:.0f} GFLOP/s" if "gemm_gflops" in res else ""
            if "gemm_gflops" in res:
                gemm.append(res["gemm_gflops"])
            print(f"round {r} {who}: {res['seconds'] * 1e3:.1f} ms per step{extra}", flush=True)
    a, b, g = median(times["nncore"]), median(times["torch"]), median(gemm)
    rate = step_flops() / a * 1e-9
    print(f"median step: nncore {a * 1e3:.1f} ms, PyTorch {b * 1e3:.1f} ms: {b / a:.2f}x; nncore {rate:.0f} GFLOP/s "
          f"= {100 * rate / g:.0f}% of its GEMM rate ({g:.0f} GFLOP/s)")
    print(f"2. attention memory: sequence {LONG_SEQ}, {HEADS} heads, batch {LONG_BATCH}, embed {EMBED}; "
          f"a (B, heads, T, S) float tensor: {LONG_BATCH * HEADS * LONG_SEQ * LONG_SEQ * 4 / 2 ** 20:.0f} MB")
    mem = {}
    for which in ("attention", "projections"):
        res = run_child(__file__, ["--child", f"memory-{which}", "--threads", str(args.threads)], args.threads)
        mem[which] = res["peak_mb"]
        print(f"  {which}: the training step adds {res['peak_mb']:.0f} MB at its peak ({res['seconds']:.2f} s)")
    print(f"  ratio: {mem['attention'] / mem['projections']:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
