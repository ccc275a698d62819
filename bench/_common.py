"""Shared benchmark plumbing: machine description, medians, running one framework per child process."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
import subprocess
import sys
from typing import Any, Callable, Dict, List


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def median(xs: List[float]) -> float:
    return statistics.median(xs)


def median_seconds(fn: Callable[[], object], reps: int) -> float:
    """Median seconds per call of fn, over reps samples of enough calls (~20 ms) that timer resolution and call
    overhead stay small, after a warm-up (caches, thread pools, packing buffers and workspaces). First a 50 ms pause:
    the worker threads of what ran before (another library's, whose OpenMP workers spin for milliseconds after each
    call) go to sleep instead of competing with fn's for the cores."""
    time.sleep(0.05)
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(0.02 / once))
    for _ in range(2):
        fn()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls)
    return statistics.median(samples)


def ort_session(path: str, threads: int) -> Any:
    """An ONNX Runtime CPU session on `threads` intra-op threads (one inter-op), as the inference benchmarks time it."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def run_child(script: str, args: List[str], threads: int) -> Dict[str, Any]:
    """Run ``script args`` in a fresh process (so peak memory is its own) and parse its last JSON line."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads))
    # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE slow a current OpenBLAS on this machine; the peer runs without them.
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def gemm_rate(threads: int) -> float:
    """nncore's float32 GEMM rate (FLOP/s) on 2048 x 2048 x 2048 at `threads` threads (bench_gemm's figure), median
    of 5 after a warm-up: the machine's practical peak that the benchmarks compare their rates with."""
    import numpy as np

    import nncore

    nncore.set_num_threads(threads)
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    nncore.ops.matmul(a, a)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        nncore.ops.matmul(a, a)
        times.append(time.perf_counter() - t0)
    return 2.0 * 2048 ** 3 / median(times)


def build_cpp_bench(build_dir: str, target: str) -> str:
    """bench/cpp built against the installed nncore (find_package(nncore CONFIG)); the path of `target`."""
    import shutil

    import nncore

    cmake = shutil.which("cmake")
    if cmake is None:
        raise SystemExit("cmake is required (pip install cmake)")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run([cmake, "-S", os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpp"), "-B", build_dir,
                    *gen, "-DCMAKE_BUILD_TYPE=Release", f"-Dnncore_DIR={nncore.get_cmake_dir()}"], check=True,
                   capture_output=True)
    subprocess.run([cmake, "--build", build_dir, "--target", target], check=True, capture_output=True)
    return os.path.join(build_dir, target)

