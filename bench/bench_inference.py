"""Inference latency (issue 16): nncore's predict, and nncore from C++ (bench/cpp/bench_inference.cpp: an
InferenceSession on the model file, built against the installed package), beside ONNX Runtime (on nncore's own
ONNX export of the same model, the same weights) and PyTorch (the same architecture under no_grad), one model call
per timing, batches 1, 8, 32, 256, at 1 and 2 threads.

    python bench/bench_inference.py [--models small,mlp,cnn,lstm,transformer] [--batches 1 8 32 256] [--threads 1 2]
                                    [--rounds 3]

nncore is timed through ``model.predict_on_batch(x)`` (Keras's call for one batch: the whole batch in one C++
call); ``predict(x)`` costs the same for a batch of up to 32 (its default batch size) and splits larger ones.
Every model's ONNX Runtime output is checked against nncore's before anything is timed. Each (model, threads)
runs the three frameworks in turn for ``--rounds`` rounds; the table gives the median over rounds of each round's
median latency (microseconds) and nncore's (Python) speed relative to each peer (> 1: nncore faster); the C++
column is the same model in a C++ process, without Python's call overhead.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build_cpp_bench, cpu_name, median, median_seconds, ort_session  # noqa: E402
from _transformer import MAXLEN, VOCAB, nncore_classifier, torch_classifier  # noqa: E402

import nncore  # noqa: E402
from nncore import layers as L  # noqa: E402

MODELS = {
    # name: (input shape without the batch, description)
    "small": ((20,), "Dense 20-64-64-1"),
    "mlp": ((784,), "MLP 784-256-256-10"),
    "cnn": ((28, 28, 1), "classic CNN (Conv2D(32) -> MaxPool -> Dense(10))"),
    "lstm": ((28, 28), "LSTM(128) over 28 steps -> Dense(10)"),
    "transformer": ((MAXLEN,), "keras-io Transformer classifier (ids 200)"),
}


def nncore_model(name: str) -> nncore.Model:
    shape = MODELS[name][0]
    if name == "transformer":
        model = nncore_classifier()
        model.compile("adam", "sparse_categorical_crossentropy")
        return model
    if name == "small":
        body = [L.Dense(64, activation="relu"), L.Dense(64, activation="relu"), L.Dense(1)]
    elif name == "mlp":
        body = [L.Dense(256, activation="relu"), L.Dense(256, activation="relu"), L.Dense(10, activation="softmax")]
    elif name == "cnn":
        body = [L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dense(10, activation="softmax")]
    else:
        body = [L.LSTM(128), L.Dense(10, activation="softmax")]
    model = nncore.Sequential([nncore.Input(shape), *body])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def torch_model(name: str):
    import torch.nn as nn

    if name == "transformer":
        return torch_classifier()
    if name == "small":
        return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10),
                             nn.Softmax(dim=1))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 13 * 13, 10),
                             nn.Softmax(dim=1))

    class Rows(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(28, 128, batch_first=True)
            self.fc = nn.Linear(128, 10)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1]).softmax(dim=1)

    return Rows()


def torch_input(name: str, x: np.ndarray):
    import torch

    t = torch.from_numpy(x)
    if name == "transformer":
        return t.long()
    return t.permute(0, 3, 1, 2).contiguous() if name == "cnn" else t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="small,mlp,cnn,lstm,transformer")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 256])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
        print("onnxruntime not installed: its column says n/a (pip install onnxruntime onnx)")
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch not installed: its column says n/a")
    print(f"bench_inference: {cpu_name()}, {time.strftime('%Y-%m-%d')}, nncore ISA {nncore.get_isa()}"
          + (f", onnxruntime {ort.__version__}" if ort else "") + (f", torch {torch.__version__}" if torch else ""))
    tmp = tempfile.mkdtemp()
    try:
        cpp = build_cpp_bench(os.path.join(tmp, "cpp"), "bench_inference")
    except (SystemExit, subprocess.CalledProcessError) as e:
        cpp = None
        print(f"the C++ timing program did not build ({e}): its column says n/a")
    print(f"{'model':>20} {'batch':>5} {'thr':>3} {'nncore us':>10} {'C++ us':>8} {'ORT us':>9} {'torch us':>9} "
          f"{'vs ORT':>7} {'vs torch':>8}")
    rng = np.random.default_rng(0)
    for name in args.models.split(","):
        shape = MODELS[name][0]
        model = nncore_model(name)
        model.predict_on_batch(np.zeros((1, *shape), np.float32))
        session = None
        model_file = os.path.join(tmp, f"{name}.nncore")
        model.save(model_file)
        if ort is not None:
            path = os.path.join(tmp, f"{name}.onnx")
            model.export_onnx(path)
        tm = torch_model(name).eval() if torch is not None else None
        for threads in args.threads:
            nncore.set_num_threads(threads)
            if ort is not None:
                session = ort_session(path, threads)
                input_name = session.get_inputs()[0].name
            if torch is not None:
                torch.set_num_threads(threads)
            cpp_us = {}
            if cpp is not None:  # C++ first, in its own process; its medians over rounds
                runs = []
                for _ in range(args.rounds):
                    ids = [f"--ids={VOCAB}"] if name == "transformer" else []
                    out = subprocess.run([cpp, model_file, str(threads), *ids, *map(str, args.batches)], check=True,
                                         capture_output=True, text=True).stdout
                    runs.append({int(b): float(us) for b, us in (line.split() for line in out.splitlines())})
                cpp_us = {b: median([r[b] for r in runs]) for b in args.batches}
            for batch in args.batches:
                x = rng.integers(0, VOCAB, (batch, *shape)).astype(np.float32) if name == "transformer" else \
                    rng.random((batch, *shape), dtype=np.float32)
                if session is not None:  # the same model: the same outputs
                    np.testing.assert_allclose(session.run(None, {input_name: x})[0], model.predict_on_batch(x),
                                               rtol=1e-3, atol=1e-4)
                xt = torch_input(name, x) if torch is not None else None
                times = {"nncore": [], "ort": [], "torch": []}
                for _ in range(args.rounds):
                    times["nncore"].append(median_seconds(lambda: model.predict_on_batch(x), 7))
                    if session is not None:
                        times["ort"].append(median_seconds(lambda: session.run(None, {input_name: x}), 7))
                    if tm is not None:
                        with torch.no_grad():
                            times["torch"].append(median_seconds(lambda: tm(xt), 7))
                t = {k: median(v) * 1e6 if v else None for k, v in times.items()}
                col = lambda v: f"{v:>9.1f}" if v else f"{'n/a':>9}"  # noqa: E731
                ratio = lambda v, w: f"{v / t['nncore']:>7.2f}x"[:w] if v else f"{'':>7}"  # noqa: E731
                c_us = f"{cpp_us[batch]:>8.1f}" if batch in cpp_us else f"{'n/a':>8}"
                print(f"{MODELS[name][1][:20]:>20} {batch:>5} {threads:>3} {t['nncore']:>10.1f} {c_us} "
                      f"{col(t['ort'])} {col(t['torch'])} {ratio(t['ort'], 8):>7} {ratio(t['torch'], 8):>8}",
                      flush=True)


if __name__ == "__main__":
    main()
