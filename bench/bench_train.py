"""One epoch of training, nncore beside PyTorch (when installed), in the same run.

    python bench/bench_train.py mlp|cnn|lenet|conv1d|lstm|gru [--threads 1 2] [--epochs 3] [--quick]
                                [--lr 1e-3] [--only nncore|torch]

All models: Adam (lr 1e-3 unless --lr, eps 1e-7), batch 32, sparse categorical cross-entropy, Fashion-MNIST
(conv1d: tokens).
mlp:   784-256-256-10 ReLU MLP.
cnn:   the classic tutorial CNN: Conv2D(32, 3x3, relu) -> MaxPooling2D(2x2) -> Flatten -> Dense(10, softmax).
lenet: Conv2D(6, 5x5, relu, same) -> MaxPool -> Conv2D(16, 5x5, relu) -> MaxPool -> Flatten -> Dense(120, relu)
       -> Dropout(0.3) -> Dense(84, relu) -> Dense(10, softmax).
convnet: the LeNet-style CNN with Keras's classic widths: Conv2D(32, 3x3, relu, same) -> MaxPool -> Conv2D(64, 3x3,
       relu, same) -> MaxPool -> Flatten -> Dense(128, relu) -> Dropout(0.5) -> Dense(10, softmax).
conv1d: a text CNN on a synthetic token task: Embedding(1000, 32) -> Conv1D(64, 5, relu) -> GlobalMaxPooling1D
       -> Dense(2, softmax). 20,000 training and 5,000 test sequences of 64 ids from a vocabulary of 1,000; the
       label is whether the bigram (3, 7) occurs (both tokens occur once in every sequence, adjacent or not).
lstm:  each image as a sequence of 28 rows of 28 pixels: LSTM(128) -> Dense(10, softmax) (PyTorch: nn.LSTM, the
       last step's output into nn.Linear).
gru:   the same with GRU(128) (PyTorch's nn.GRU is the reset_after=True form, as Keras's default).
Each framework runs in its own process (so its peak resident memory is its own); each reports the median
epoch time over the timed epochs (the first epoch is timed too but reported apart as warm-up), the test
accuracy after training, and the peak RSS. For the models made of Conv2D and Dense layers the training
arithmetic of an epoch (forward, dx but for the first layer, dW: 2 FLOP per multiply-add) divided by the epoch
time is given as a share of nncore's GEMM rate (2048^3) measured in the same run, at the same thread count.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import cpu_name, gemm_rate, median, run_child  # noqa: E402


def load_fashion(quick: bool, shape: tuple):
    from nncore.datasets import fashion_mnist

    (x, y), (xt, yt) = fashion_mnist.load_data()
    if quick:
        x, y = x[:6000], y[:6000]
    return ((x.reshape(-1, *shape) / 255.0).astype("float32"), y,
            (xt.reshape(-1, *shape) / 255.0).astype("float32"), yt)


TOKENS = {"n": 20000, "n_test": 5000, "steps": 64, "vocab": 1000}


def make_tokens(n: int, seed: int):
    """Ids (n, steps) in [1, vocab) and labels: 1 when token 3 is directly followed by token 7."""
    import numpy as np

    rng = np.random.default_rng(seed)
    T, V = TOKENS["steps"], TOKENS["vocab"]
    x = rng.integers(1, V, (n, T))
    x[(x == 3) | (x == 7)] = 5
    y = rng.integers(0, 2, n)
    p = rng.integers(0, T - 1, n)
    q = np.where(y == 1, p + 1, (p + 2 + rng.integers(0, T - 2, n)) % T)
    x[np.arange(n), p] = 3
    x[np.arange(n), q] = 7
    return x.astype("float32"), y


def load_data(name: str, quick: bool, shape: tuple):
    if name != "conv1d":
        return load_fashion(quick, shape)
    n = TOKENS["n"] // 10 if quick else TOKENS["n"]
    x, y = make_tokens(n, 0)
    xt, yt = make_tokens(TOKENS["n_test"], 1)
    return x, y, xt, yt


def nncore_model(name: str):
    from nncore import Sequential
    from nncore.layers import (GRU, LSTM, Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten,
                               GlobalMaxPooling1D, MaxPooling2D)

    if name in ("lstm", "gru"):
        rnn = LSTM if name == "lstm" else GRU
        return Sequential([rnn(128, input_shape=(28, 28)), Dense(10, activation="softmax")]), (28, 28)

    if name == "conv1d":
        return Sequential([Embedding(TOKENS["vocab"], 32, input_length=TOKENS["steps"]),
                           Conv1D(64, 5, activation="relu"), GlobalMaxPooling1D(),
                           Dense(2, activation="softmax")]), (TOKENS["steps"],)
    if name == "mlp":
        return Sequential([Dense(256, activation="relu", input_shape=(784,)), Dense(256, activation="relu"),
                           Dense(10, activation="softmax")]), (784,)
    if name == "cnn":
        return Sequential([Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
                           Flatten(), Dense(10, activation="softmax")]), (28, 28, 1)
    if name == "convnet":
        return Sequential([Conv2D(32, (3, 3), activation="relu", padding="same", input_shape=(28, 28, 1)),
                           MaxPooling2D((2, 2)), Conv2D(64, (3, 3), activation="relu", padding="same"),
                           MaxPooling2D((2, 2)), Flatten(), Dense(128, activation="relu"), Dropout(0.5),
                           Dense(10, activation="softmax")]), (28, 28, 1)
    return Sequential([Conv2D(6, (5, 5), activation="relu", padding="same", input_shape=(28, 28, 1)),
                       MaxPooling2D((2, 2)), Conv2D(16, (5, 5), activation="relu"), MaxPooling2D((2, 2)), Flatten(),
                       Dense(120, activation="relu"), Dropout(0.3), Dense(84, activation="relu"),
                       Dense(10, activation="softmax")]), (28, 28, 1)


def torch_model(name: str):
    import torch.nn as nn

    if name == "conv1d":
        class TextCNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(TOKENS["vocab"], 32)
                self.conv = nn.Conv1d(32, 64, 5)
                self.out = nn.Linear(64, 2)

            def forward(self, ids):
                h = self.conv(self.embed(ids).transpose(1, 2)).relu()  # (B, 64, T-4)
                return self.out(h.amax(dim=2))

        return TextCNN(), (TOKENS["steps"],)
    if name in ("lstm", "gru"):
        class RowsClassifier(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.rnn = (nn.LSTM if name == "lstm" else nn.GRU)(28, 128, batch_first=True)
                self.fc = nn.Linear(128, 10)

            def forward(self, x):
                out, _ = self.rnn(x)
                return self.fc(out[:, -1])

        return RowsClassifier(), (28, 28)
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)), (784,)
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(32 * 13 * 13, 10)), (1, 28, 28)
    if name == "convnet":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
                             nn.Dropout(0.5), nn.Linear(128, 10)), (1, 28, 28)
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)), (1, 28, 28)


def train_flops(model, n: int):
    """FLOPs of one epoch of n samples for a model of Conv2D / Dense layers (else None): each layer's forward is
    2 * outputs * (weights per output); training adds dW and, but for the first layer, dx: each as much again."""
    from nncore.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    total = 0.0
    for i, layer in enumerate(model.layers):
        if isinstance(layer, (Conv2D, Dense)):
            kernel = layer.get_weights()[0]
            per_output = kernel.size // kernel.shape[-1]  # multiply-adds per output value
            outputs = 1
            for d in layer.output_shape[1:]:
                outputs *= d
            total += 2.0 * outputs * per_output * (2 if i == 0 else 3)
        elif not isinstance(layer, (Dropout, Flatten, MaxPooling2D)):
            return None
    return total * n


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_nncore(model_name: str, epochs: int, quick: bool, threads: int, lr: float) -> dict:
    import nncore

    nncore.set_num_threads(threads)
    nncore.set_random_seed(0)
    model, shape = nncore_model(model_name)
    x, y, xt, yt = load_data(model_name, quick, shape)
    model.compile(optimizer=nncore.optimizers.Adam(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        times.append(time.perf_counter() - t0)
    acc = model.evaluate(xt, yt, verbose=0)[1]
    return {"times": times, "accuracy": acc, "peak_rss_mb": peak_rss_mb(), "flops": train_flops(model, len(x))}


def child_torch(model_name: str, epochs: int, quick: bool, threads: int, lr: float) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, shape = torch_model(model_name)
    x, y, xt, yt = load_data(model_name, quick, shape)
    if model_name == "conv1d":  # ids as integers for nn.Embedding
        x, xt = x.astype(np.int64), xt.astype(np.int64)
    X, Y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    n = X.shape[0]
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        model.train()
        for i in range(0, n, 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean())
    return {"times": times, "accuracy": acc, "peak_rss_mb": peak_rss_mb()}


CHILDREN = {"nncore": child_nncore, "torch": child_torch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", choices=["mlp", "cnn", "lenet", "convnet", "conv1d", "lstm", "gru"])
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="6,000 training images, 1 epoch: a smoke run")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (both frameworks)")
    ap.add_argument("--only", choices=list(CHILDREN), help="run one framework only")
    ap.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    args = ap.parse_args()
    epochs = 1 if args.quick else args.epochs

    if args.child:
        print(json.dumps(CHILDREN[args.child](args.model, epochs, args.quick, args.threads[0], args.lr)))
        return

    try:
        import torch  # noqa: F401
        frameworks = ["nncore", "torch"]
    except ImportError:
        frameworks = ["nncore"]
        print("PyTorch not installed: timing nncore alone (pip install torch==2.13.0 for the side-by-side run)")
    if args.only:
        frameworks = [args.only]
    print(f"bench_train {args.model}: {cpu_name()}, {time.strftime('%Y-%m-%d')}, epochs={epochs}, lr={args.lr}"
          f"{' (quick)' if args.quick else ''}")
    print(f"{'threads':>7} {'framework':>9} {'epoch s (median)':>17} {'first epoch s':>14} {'test acc':>9} "
          f"{'peak RSS MB':>12} {'speedup':>8} {'of GEMM rate':>12}")
    for threads in args.threads:
        gemm = gemm_rate(threads)
        time.sleep(0.5)
        results = {}
        for fw in frameworks:
            r = run_child(os.path.abspath(__file__),
                          [args.model, "--child", fw, "--threads", str(threads), "--epochs", str(epochs),
                           "--lr", str(args.lr)]
                          + (["--quick"] if args.quick else []), threads)
            timed = r["times"][1:] or r["times"]
            results[fw] = (median(timed), r)
        base = results.get("torch", results["nncore"])[0]
        flops = results.get("nncore", (0, {}))[1].get("flops")
        for fw, (med, r) in results.items():
            share = f"{flops / med / gemm:>12.0%}" if flops else f"{'n/a':>12}"
            print(f"{threads:>7} {fw:>9} {med:>17.3f} {r['times'][0]:>14.3f} {r['accuracy']:>9.4f} "
                  f"{r['peak_rss_mb']:>12.0f} {base / med:>7.2f}x {share}")
        print(f"{'':>7} GEMM 2048^3 at {threads} thread(s): {gemm * 1e-9:.1f} GFLOP/s"
              + (f"; one epoch is {flops * 1e-12:.2f} TFLOP" if flops else ""))


if __name__ == "__main__":
    main()
