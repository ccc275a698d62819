"""What the learning tests share: running the programs in examples/ in their quick form (NNCORE_EXAMPLE_QUICK=1), as
subprocesses, and the marker for tests that need Fashion-MNIST (Debian's dataset-fashion-mnist)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, cwd: Path, timeout: int = 300) -> str:
    """The example's standard output; fails the test with its last output when it exits with an error."""
    env = dict(os.environ, NNCORE_EXAMPLE_QUICK="1")
    result = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def squash(s: str) -> str:
    """s without whitespace: for checking that a program's lines are in an example's source."""
    return re.sub(r"\s+", "", s)


FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
HAVE_FASHION = all((FASHION_DIR / f"{stem}.gz").is_file() for stem in (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
needs_fashion = pytest.mark.skipif(not HAVE_FASHION, reason=f"Fashion-MNIST not found in {FASHION_DIR}")
