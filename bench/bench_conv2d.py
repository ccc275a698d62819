"""Benchmark nncore.ops.conv2d (forward) and conv2d + conv2d_backward (forward + backward) against PyTorch.

Batch 32, channels-last float32, at 1 and 2 threads. Every shape is validated (output and all three gradients)
against PyTorch in float64, or against NumPy and nncore's reference loops when PyTorch is not installed, before
anything is timed. PyTorch runs in NCHW, its native layout, with inputs converted outside the timed region;
it is timed both in contiguous NCHW and in channels_last memory format and the faster of the two is reported.
GFLOP/s counts 2*B*OH*OW*OC*KH*KW*C per forward and three times that per forward + backward (dx, dw, db).
The machine's GEMM rate (nncore.ops.matmul, 2048 x 2048 x 2048) is measured in the same run at each thread count,
and each nncore rate is also given as a share of it.
Run: python bench/bench_conv2d.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Optional

import numpy as np

import nncore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import gemm_rate, median_seconds  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # nncore is still timed; the peer columns say n/a
    torch = None

B = 32
# (H, W, C, OC, K, padding, note). The first layer of the classic MNIST CNN uses 'valid', as Keras's example does.
SHAPES = [
    (28, 28, 1, 32, 3, "valid", "MNIST conv1"),
    (14, 14, 32, 64, 3, "same", ""),
    (32, 32, 64, 64, 3, "same", ""),
    (16, 16, 128, 128, 3, "same", ""),
    (56, 56, 64, 64, 3, "same", ""),
    (8, 8, 128, 128, 3, "same", ""),
    (32, 32, 64, 64, 1, "same", "pointwise"),
]


def out_size(n: int, k: int, padding: str) -> tuple[int, int]:
    """Output size and padding before, Keras's rule (stride 1, dilation 1)."""
    if padding == "valid":
        return n - k + 1, 0
    return n, (k - 1) // 2


def flops_forward(h: int, w: int, c: int, oc: int, k: int, padding: str) -> float:
    oh, _ = out_size(h, k, padding)
    ow, _ = out_size(w, k, padding)
    return 2.0 * B * oh * ow * oc * k * k * c


def numpy_conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: str) -> np.ndarray:
    """float64 oracle: y[b, oh, ow, o] = sum over taps of the shifted (zero-padded) input times w[kh, kw]."""
    k = w.shape[0]
    _, h, wd, _ = x.shape
    oh, pt = out_size(h, k, padding)
    ow, pl = out_size(wd, k, padding)
    xp = np.zeros((x.shape[0], h + k, wd + k, x.shape[3]))
    xp[:, pt:pt + h, pl:pl + wd] = x
    y = np.zeros((x.shape[0], oh, ow, w.shape[3])) + b
    for kh in range(k):
        for kw in range(k):
            y += xp[:, kh:kh + oh, kw:kw + ow, :] @ w[kh, kw].astype(np.float64)
    return y


def check_close(name: str, got: np.ndarray, want: np.ndarray, terms: int) -> None:
    # float32 sums of `terms` products: the error grows like sqrt(terms) times the magnitude of the values.
    scale = float(np.abs(want).max()) + 1e-30
    err = float(np.abs(got.astype(np.float64) - want).max())
    if err > 1e-5 * scale * np.sqrt(terms) + 1e-6:
        raise AssertionError(f"{name}: max error {err:.3g} against a scale of {scale:.3g}")


def validate(case: dict) -> None:
    x, w, b, dy, pad = case["x"], case["w"], case["b"], case["dy"], case["padding"]
    k, c, oc = w.shape[0], w.shape[2], w.shape[3]
    y = nncore.ops.conv2d(x, w, b, padding=pad)
    dx, dw, db = nncore.ops.conv2d_backward(dy, x, w, padding=pad)
    label = case["label"]
    if torch is not None:
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float64)).requires_grad_()
        wt = torch.from_numpy(w.transpose(3, 2, 0, 1).astype(np.float64)).requires_grad_()
        bt = torch.from_numpy(b.astype(np.float64)).requires_grad_()
        yt = F.conv2d(xt, wt, bt, padding=(0 if pad == "valid" else (k - 1) // 2))
        yt.backward(torch.from_numpy(dy.transpose(0, 3, 1, 2).astype(np.float64)))
        want_y = yt.detach().numpy().transpose(0, 2, 3, 1)
        want_dx = xt.grad.numpy().transpose(0, 2, 3, 1)
        want_dw = wt.grad.numpy().transpose(2, 3, 1, 0)
        want_db = bt.grad.numpy()
    else:
        want_y = numpy_conv2d(x, w, b, pad)
        want_dx, want_dw, want_db = nncore.ops.conv2d_backward(dy, x, w, padding=pad, reference=True)
    check_close(f"{label} forward", y, want_y, k * k * c)
    check_close(f"{label} dx", dx, want_dx, k * k * oc)
    check_close(f"{label} dw", dw, want_dw, dy.shape[0] * dy.shape[1] * dy.shape[2])
    check_close(f"{label} db", db, want_db, dy.shape[0] * dy.shape[1] * dy.shape[2])


def torch_times(case: dict, reps: int) -> tuple[Optional[float], Optional[float], str]:
    """(forward, forward + backward) seconds of PyTorch's faster memory format, and that format's name."""
    if torch is None:
        return None, None, "n/a"
    k = case["w"].shape[0]
    padding = 0 if case["padding"] == "valid" else (k - 1) // 2
    best = None
    for fmt_name, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        x = torch.from_numpy(case["x"].transpose(0, 3, 1, 2).copy()).contiguous(memory_format=fmt)
        w = torch.from_numpy(case["w"].transpose(3, 2, 0, 1).copy()).contiguous(memory_format=fmt)
        b = torch.from_numpy(case["b"].copy())
        dy = torch.from_numpy(case["dy"].transpose(0, 3, 1, 2).copy()).contiguous(memory_format=fmt)

        def fwd():
            with torch.no_grad():
                return F.conv2d(x, w, b, padding=padding)

        def fwd_bwd():
            with torch.no_grad():
                F.conv2d(x, w, b, padding=padding)
                return torch.ops.aten.convolution_backward(dy, x, w, [w.shape[0]], [1, 1], [padding, padding],
                                                           [1, 1], False, [0, 0], 1, [True, True, True])

        t = (median_seconds(fwd, reps), median_seconds(fwd_bwd, reps))
        if best is None or t[0] + t[1] < best[0] + best[1]:
            best = (t[0], t[1], fmt_name)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two shapes, fewer repetitions (smoke run)")
    args = parser.parse_args()
    reps = 3 if args.quick else 7
    rng = np.random.default_rng(0)
    if torch is None:
        print("note: PyTorch not installed; validating against NumPy, timing nncore only (pip install torch)")

    cases = []
    for h, w, c, oc, k, pad, note in SHAPES[:2] if args.quick else SHAPES:
        oh, _ = out_size(h, k, pad)
        ow, _ = out_size(w, k, pad)
        case = {
            "x": rng.standard_normal((B, h, w, c), dtype=np.float32),
            "w": (rng.standard_normal((k, k, c, oc), dtype=np.float32) / np.sqrt(k * k * c)).astype(np.float32),
            "b": rng.standard_normal(oc, dtype=np.float32),
            "dy": rng.standard_normal((B, oh, ow, oc), dtype=np.float32),
            "padding": pad,
            "label": f"{h}x{w}x{c}->{oc} {k}x{k} {pad}" + (f" ({note})" if note else ""),
            "flops": flops_forward(h, w, c, oc, k, pad),
        }
        validate(case)
        cases.append(case)
    time.sleep(0.5)  # let the thread pools that computed the references go idle

    header = (f"{'batch 32, channels-last':>36} {'thr':>3} {'fwd nncore':>10} {'fwd torch':>9} {'ratio':>6} "
              f"{'f+b nncore':>10} {'f+b torch':>9} {'ratio':>6} {'fwd/GEMM':>8} {'f+b/GEMM':>8}  torch format")
    print("GFLOP/s (ratio = nncore speed / torch speed; x/GEMM = nncore's rate / its GEMM rate in this run)")
    print(header)
    print("-" * len(header))
    for threads in (1, 2):
        # Each library is timed over all shapes in one stretch, with a pause between: a pool that has just
        # worked keeps spinning for a while and would steal the other's cores.
        nncore.set_num_threads(threads)
        gemm = gemm_rate(threads)
        print(f"GEMM 2048^3, {threads} thread(s): {gemm * 1e-9:.1f} GFLOP/s")
        t_nn = []
        for case in cases:
            x, w, b, dy, pad = case["x"], case["w"], case["b"], case["dy"], case["padding"]
            t_f = median_seconds(lambda: nncore.ops.conv2d(x, w, b, padding=pad), reps)
            t_fb = median_seconds(lambda: (nncore.ops.conv2d(x, w, b, padding=pad),
                                           nncore.ops.conv2d_backward(dy, x, w, padding=pad)), reps)
            t_nn.append((t_f, t_fb))
        time.sleep(0.5)
        t_pt = []
        if torch is not None:
            torch.set_num_threads(threads)
        for case in cases:
            t_pt.append(torch_times(case, reps))
        time.sleep(0.5)
        for case, (nf, nfb), (pf, pfb, fmt) in zip(cases, t_nn, t_pt):
            fl = case["flops"]
            pf_s = f"{fl / pf * 1e-9:>9.1f}" if pf else f"{'n/a':>9}"
            pfb_s = f"{3 * fl / pfb * 1e-9:>9.1f}" if pfb else f"{'n/a':>9}"
            r_f = f"{pf / nf:>6.2f}" if pf else f"{'':>6}"
            r_fb = f"{pfb / nfb:>6.2f}" if pfb else f"{'':>6}"
            print(f"{case['label']:>36} {threads:>3} {fl / nf * 1e-9:>10.1f} {pf_s} {r_f} "
                  f"{3 * fl / nfb * 1e-9:>10.1f} {pfb_s} {r_fb} {fl / nf / gemm:>8.0%} {3 * fl / nfb / gemm:>8.0%}  {fmt}")


if __name__ == "__main__":
    main()
