"""Shared benchmark plumbing: machine description, medians, running one framework per child process."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from typing import Any, Dict, List


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
