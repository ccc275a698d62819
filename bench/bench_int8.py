"""int8 quantization (issue 16): ``model.quantize("int8")`` against the float model and against ONNX Runtime's
dynamically quantized version of the same model.

    python bench/bench_int8.py [--models mlp,cnn,lstm] [--batches 32 256] [--threads 1 2] [--rounds 5] [--no-accuracy]

Speed: per (model, threads, batch), nncore float and int8 ``predict_on_batch``, ONNX Runtime on nncore's float
ONNX export and on that file quantized by ``onnxruntime.quantization.quantize_dynamic`` (int8 weights, activations
quantized per call: ORT's counterpart of Keras's int8 mode), each timed in turn for ``--rounds`` rounds (median of
each round's median latency). Targets: nncore int8 >= 2x nncore float (MLP, LSTM at batches 32 and 256) and >= ORT's
dynamic int8. Accuracy (Fashion-MNIST, the full training set): each model trained in float, its test accuracy, then
quantized and evaluated again; target: within 0.5 points. File sizes: the .nncore files, float and int8 (target:
int8 >= 3.5x smaller).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_name, median, median_seconds, ort_session  # noqa: E402
from bench_inference import MODELS, nncore_model  # noqa: E402

import nncore  # noqa: E402


def accuracy(name: str, epochs: int) -> tuple:
    """(float accuracy, int8 accuracy, seconds to train) of the model trained on Fashion-MNIST."""
    from nncore.datasets import fashion_mnist

    (x, y), (xt, yt) = fashion_mnist.load_data()
    shape = (-1, *MODELS[name][0])
    x, xt = x.reshape(shape).astype(np.float32) / 255, xt.reshape(shape).astype(np.float32) / 255
    nncore.utils.set_random_seed(0)
    model = nncore_model(name)
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - t0
    acc = lambda: float(np.mean(np.argmax(model.predict(xt, batch_size=256, verbose=0), -1) == yt))  # noqa: E731
    a_float = acc()
    model.quantize("int8")
    return a_float, acc(), seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="mlp,cnn,lstm")
    p.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-accuracy", action="store_true")
    args = p.parse_args()
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        ort = None
        print("onnxruntime not installed: its columns say n/a (pip install onnxruntime onnx)")
    print(f"bench_int8: {cpu_name()}, {time.strftime('%Y-%m-%d')}, nncore ISA {nncore.get_isa()}"
          + (f", onnxruntime {ort.__version__}" if ort else ""))
    names = args.models.split(",")
    tmp = tempfile.mkdtemp()
    if not args.no_accuracy:
        print(f"{'model':>20} {'epochs':>6} {'float acc':>9} {'int8 acc':>9} {'diff (pts)':>10}")
        for name in names:
            epochs = {"mlp": 5, "cnn": 2, "lstm": 3}.get(name, 1)
            a, q, _ = accuracy(name, epochs)
            print(f"{MODELS[name][1][:20]:>20} {epochs:>6} {a:>9.4f} {q:>9.4f} {100 * (q - a):>+10.2f}", flush=True)
    print(f"{'model':>20} {'float MB':>8} {'int8 MB':>8} {'smaller':>7}")
    for name in names:
        model = nncore_model(name)
        model.save(os.path.join(tmp, "f.nncore"))
        model.quantize("int8")
        model.save(os.path.join(tmp, "q.nncore"))
        f, q = (os.path.getsize(os.path.join(tmp, n)) / 1e6 for n in ("f.nncore", "q.nncore"))
        print(f"{MODELS[name][1][:20]:>20} {f:>8.3f} {q:>8.3f} {f / q:>6.2f}x", flush=True)
    print(f"{'model':>20} {'batch':>5} {'thr':>3} {'float us':>9} {'int8 us':>9} {'ORT us':>9} {'ORT i8 us':>9} "
          f"{'i8/float':>8} {'vs ORTi8':>8}")
    rng = np.random.default_rng(0)
    for name in names:
        shape = MODELS[name][0]
        f_model, q_model = nncore_model(name), nncore_model(name)
        q_model.set_weights(f_model.get_weights())
        q_model.quantize("int8")
        sessions = {}
        if ort is not None:
            fpath, qpath = os.path.join(tmp, f"{name}.onnx"), os.path.join(tmp, f"{name}.int8.onnx")
            f_model.export_onnx(fpath)
            quantize_dynamic(fpath, qpath, weight_type=QuantType.QInt8)
        for threads in args.threads:
            nncore.set_num_threads(threads)
            if ort is not None:
                sessions = {k: ort_session(path, threads) for k, path in (("ort", fpath), ("ort_i8", qpath))}
            for batch in args.batches:
                x = rng.random((batch, *shape), dtype=np.float32)
                feeds = {k: {s.get_inputs()[0].name: x} for k, s in sessions.items()}
                runs = {"float": lambda: f_model.predict_on_batch(x), "int8": lambda: q_model.predict_on_batch(x)}
                for k, s in sessions.items():
                    runs[k] = (lambda s=s, feed=feeds[k]: s.run(None, feed))
                for f in runs.values():
                    f()  # first calls allocate
                times = {k: [] for k in runs}
                for _ in range(args.rounds):
                    for k, f in runs.items():
                        times[k].append(median_seconds(f, 9))
                t = {k: median(v) * 1e6 for k, v in times.items()}
                col = lambda k: f"{t[k]:>9.1f}" if k in t else f"{'n/a':>9}"  # noqa: E731
                vs = f"{t['ort_i8'] / t['int8']:>7.2f}x" if "ort_i8" in t else f"{'n/a':>8}"
                print(f"{MODELS[name][1][:20]:>20} {batch:>5} {threads:>3} {col('float')} {col('int8')} {col('ort')} "
                      f"{col('ort_i8')} {t['float'] / t['int8']:>7.2f}x {vs}", flush=True)


if __name__ == "__main__":
    main()
