"""The C++ API without Python: examples/cpp/train_mlp.cpp builds against the installed package through
CMake's find_package(nncore CONFIG) and trains a model to a stated accuracy."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nncore

ROOT = Path(__file__).resolve().parents[1]


def _cmake() -> str:
    exe = shutil.which("cmake")
    if exe is None:
        pytest.skip("cmake is not installed (it comes with the test extra)")
    return exe


def test_cmake_dir_is_printed_and_holds_the_config():
    out = subprocess.run([sys.executable, "-m", "nncore", "--cmake-dir"], capture_output=True, text=True, check=True)
    cmake_dir = Path(out.stdout.strip())
    assert cmake_dir == Path(nncore.get_cmake_dir())
    assert (cmake_dir / "nncoreConfig.cmake").is_file()
    assert (Path(nncore.get_include_dir()) / "nncore" / "nncore.hpp").is_file()


def test_cpp_example_builds_against_installed_package_and_trains(tmp_path):
    cmake = _cmake()
    build = tmp_path / "build"
    env = dict(os.environ)
    configure = [cmake, "-S", str(ROOT / "examples" / "cpp"), "-B", str(build), f"-Dnncore_DIR={nncore.get_cmake_dir()}",
                 "-DCMAKE_BUILD_TYPE=Release"]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    subprocess.run(configure, check=True, capture_output=True, env=env)
    subprocess.run([cmake, "--build", str(build)], check=True, capture_output=True, env=env)
    exe = build / "train_mlp"
    result = subprocess.run([str(exe), "200"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"loss: ([0-9.]+)\s+accuracy: ([0-9.]+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(2)) >= 0.97
    assert "Total params: 8,577" in result.stdout
