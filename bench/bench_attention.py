"""The keras-io Transformer text classifier (text_classification_with_transformer: vocab 20,000, embed 32, 2 heads of
key_dim 32, feed-forward 32, sequence 200, batch 32, Adam) for one training epoch, nncore against the same model in
PyTorch (F.scaled_dot_product_attention) in the same run, each in its own process, alternating (issue 14's target:
>= 3x PyTorch):

    python bench/bench_attention.py [--samples 25000] [--rounds 3] [--threads 2]

The data are synthetic reviews (IMDB is not available offline): ids 3..9999 praise and 10000..19999 blame, length
100-200 padded with 0; the label says whether praise outweighs blame. Both frameworks see the same arrays and report
the epoch's training accuracy, so equal learning is visible next to the times. nncore runs the keras-io program
with only its imports changed (custom layers TransformerBlock and TokenAndPositionEmbedding, traced into C++).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _transformer import MAXLEN, VOCAB, nncore_classifier, torch_classifier  # noqa: E402


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(3, VOCAB, (n, MAXLEN))
    length = rng.integers(MAXLEN // 2, MAXLEN + 1, n)
    x[np.arange(MAXLEN)[None, :] >= length[:, None]] = 0
    score = np.where((x >= 3) & (x < VOCAB // 2), 1, np.where(x >= VOCAB // 2, -1, 0)).sum(1)
    return x, (score > 0).astype(np.int64)


def run_nncore(n: int, threads: int) -> dict:
    import nncore as keras

    keras.set_num_threads(threads)
    keras.utils.set_random_seed(0)
    model = nncore_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    xs, ys = data(n)
    xs, ys = xs.astype(np.float32), ys.astype(np.float32)
    model.fit(xs[:256], ys[:256], batch_size=32, epochs=1, verbose=0)  # warm-up: tracing, buffers
    t = time.perf_counter()
    h = model.fit(xs, ys, batch_size=32, epochs=1, verbose=0)
    return {"seconds": time.perf_counter() - t, "accuracy": h.history["accuracy"][-1]}


def run_torch(n: int, threads: int) -> dict:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch_classifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    xs, ys = data(n)
    xs, ys = torch.from_numpy(xs), torch.from_numpy(ys)

    def epoch(count: int) -> float:
        hits = 0
        order = torch.randperm(count)
        for i in range(0, count, 32):
            idx = order[i:i + 32]
            opt.zero_grad()
            logits = model(xs[idx])
            loss = F.cross_entropy(logits, ys[idx])
            loss.backward()
            opt.step()
            hits += int((logits.argmax(1) == ys[idx]).sum())
        return hits / count

    model.train()
    epoch(256)  # warm-up
    t = time.perf_counter()
    acc = epoch(n)
    return {"seconds": time.perf_counter() - t, "accuracy": acc}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=25000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", choices=["nncore", "torch"])
    args = p.parse_args()
    if args.child:
        result = (run_nncore if args.child == "nncore" else run_torch)(args.samples, args.threads)
        print(json.dumps(result))
        return
    from _common import cpu_name, median, run_child
    print(f"{cpu_name()}, {args.threads} threads, {args.samples} sequences of {MAXLEN}, batch 32")
    times = {"nncore": [], "torch": []}
    for r in range(args.rounds):
        for who in (("nncore", "torch") if r % 2 == 0 else ("torch", "nncore")):
            res = run_child(__file__, ["--child", who, "--samples", str(args.samples), "--threads",
                                       str(args.threads)], args.threads)
            times[who].append(res["seconds"])
            print(f"round {r} {who}: {res['seconds']:.2f} s, training accuracy {res['accuracy']:.3f}", flush=True)
    a, b = median(times["nncore"]), median(times["torch"])
    print(f"median epoch: nncore {a:.2f} s, PyTorch {b:.2f} s: {b / a:.2f}x")


if __name__ == "__main__":
    main()
