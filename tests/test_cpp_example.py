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


@pytest.fixture(scope="module")
def examples_build(tmp_path_factory) -> Path:
    """examples/cpp built once against the installed package through find_package(nncore CONFIG)."""
    cmake = _cmake()
    build = tmp_path_factory.mktemp("examples") / "build"
    configure = [cmake, "-S", str(ROOT / "examples" / "cpp"), "-B", str(build), f"-Dnncore_DIR={nncore.get_cmake_dir()}",
                 "-DCMAKE_BUILD_TYPE=Release"]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    subprocess.run(configure, check=True, capture_output=True)
    subprocess.run([cmake, "--build", str(build)], check=True, capture_output=True)
    return build


def test_cpp_example_builds_against_installed_package_and_trains(examples_build):
    exe = examples_build / "train_mlp"
    result = subprocess.run([str(exe), "200"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"loss: ([0-9.]+)\s+accuracy: ([0-9.]+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(2)) >= 0.97
    assert "Total params: 8,577" in result.stdout


def test_cpp_infer_loads_a_python_model_and_predicts_the_same(examples_build, tmp_path):
    import numpy as np
    from nncore.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    nncore.set_random_seed(9)
    model = nncore.Sequential([Conv2D(8, 3, activation="relu", input_shape=(12, 12, 1)), BatchNormalization(),
                               MaxPooling2D(), Flatten(), Dropout(0.3), Dense(5, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((50, 12, 12, 1), dtype=np.float32)
    model.fit(x, rng.integers(0, 5, 50), epochs=2, batch_size=10, verbose=0)
    model.save(tmp_path / "m.nncore")
    x[:7].tofile(tmp_path / "x.f32")

    result = subprocess.run([str(examples_build / "infer"), str(tmp_path / "m.nncore"), str(tmp_path / "x.f32")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [l for l in result.stdout.splitlines() if re.fullmatch(r"[-0-9.e ]+", l.strip() or "x")]
    got = np.array([[np.float32(v) for v in l.split()] for l in lines], dtype=np.float32)
    np.testing.assert_array_equal(got, model.predict(x[:7]))  # bit-identical: %.9g round-trips float32
    assert "Total params:" in result.stdout

    # The int8-quantized model: its file's I8 weights load in C++ and predict the same as in Python.
    model.quantize("int8")
    model.save(tmp_path / "q.nncore")
    result = subprocess.run([str(examples_build / "infer"), str(tmp_path / "q.nncore"), str(tmp_path / "x.f32")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [l for l in result.stdout.splitlines() if re.fullmatch(r"[-0-9.e ]+", l.strip() or "x")]
    got = np.array([[np.float32(v) for v in l.split()] for l in lines], dtype=np.float32)
    np.testing.assert_array_equal(got, model.predict(x[:7]))

    (tmp_path / "bad.nncore").write_bytes((tmp_path / "m.nncore").read_bytes()[:100])
    result = subprocess.run([str(examples_build / "infer"), str(tmp_path / "bad.nncore"), str(tmp_path / "x.f32")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "truncated" in result.stderr


def test_cpp_train_mpi_trains_on_two_ranks(examples_build, tmp_path):
    import numpy as np

    exe = examples_build / "train_mpi"
    if not exe.exists():
        pytest.skip("CMake found no MPI, so examples/cpp/train_mpi was not built (pip install mpich)")
    mpiexec = Path(sys.executable).with_name("mpiexec")
    mpiexec = str(mpiexec) if mpiexec.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("no mpiexec")
    out = tmp_path / "m.nncore"
    result = subprocess.run([mpiexec, "-n", "2", str(exe), "60", str(out)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ranks: 2" in result.stdout and "accuracy: " in result.stdout
    m0, m1 = nncore.load_model(f"{out}.0"), nncore.load_model(f"{out}.1")
    for a, b in zip(m0.get_weights(), m1.get_weights()):  # the ranks' weights, bit for bit
        np.testing.assert_array_equal(a, b)


def test_cpp_serve_hammers_one_model_from_8_threads(examples_build, tmp_path):
    """examples/cpp/serve.cpp: a pool of 8 workers, each with its own nncore::InferenceSession on one loaded model
    (a CNN with BatchNormalization and Dropout, and an LSTM model), answers 3,000 batch-1 requests from a queue; the
    program compares every answer bit for bit with the single-threaded one (exit code 1 on any difference) and prints
    both throughputs."""
    import numpy as np
    from nncore.layers import LSTM, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    nncore.set_random_seed(3)
    rng = np.random.default_rng(1)
    models = {
        "cnn": (nncore.Sequential([Conv2D(16, 3, activation="relu", input_shape=(14, 14, 1)), BatchNormalization(),
                                   MaxPooling2D(), Flatten(), Dropout(0.3), Dense(10, activation="softmax")]),
                (14, 14, 1)),
        "lstm": (nncore.Sequential([LSTM(32, input_shape=(9, 6)), Dense(3)]), (9, 6)),
    }
    for name, (model, shape) in models.items():
        model.save(tmp_path / f"{name}.nncore")
        x = rng.random((40, *shape), dtype=np.float32)
        x.tofile(tmp_path / f"{name}.f32")
        result = subprocess.run([str(examples_build / "serve"), str(tmp_path / f"{name}.nncore"),
                                 str(tmp_path / f"{name}.f32"), "8", "3000"], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "answered: 3000, mismatches: 0" in result.stdout, result.stdout
        assert re.search(r"single-threaded: \d+ requests/s", result.stdout), result.stdout
        assert re.search(r"8 workers: \d+ requests/s", result.stdout), result.stdout


def test_cpp_library_alone_installs_and_serves_find_package(tmp_path):
    """The README's Python-free path: configure the source tree with CMake, build, `cmake --install` to a prefix,
    then build examples/cpp against that prefix only (not the wheel) and train."""
    if not (ROOT / "CMakeLists.txt").is_file() or not (ROOT / "cpp" / "src").is_dir():
        pytest.skip("needs the source tree (tests run from a checkout)")
    cmake = _cmake()
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    build, prefix, ex = tmp_path / "build", tmp_path / "prefix", tmp_path / "ex"

    def run(*args: str) -> None:
        r = subprocess.run([cmake, *args], capture_output=True, text=True)
        assert r.returncode == 0, f"cmake {' '.join(args)}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"

    # -O1: the install path is under test, not the kernels' speed (a Release build takes CI a minute more).
    run("-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=None", "-DCMAKE_CXX_FLAGS=-O1", *gen)
    run("--build", str(build))
    run("--install", str(build), "--prefix", str(prefix))
    config = list(prefix.glob("lib*/cmake/nncore/nncoreConfig.cmake"))
    assert config, sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*"))
    assert (prefix / "include" / "nncore" / "nncore.hpp").is_file()
    run("-S", str(ROOT / "examples" / "cpp"), "-B", str(ex), f"-Dnncore_DIR={config[0].parent}",
        "-DCMAKE_BUILD_TYPE=Release", *gen)
    run("--build", str(ex))
    result = subprocess.run([str(ex / "train_mlp"), "200"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"accuracy: ([0-9.]+)", result.stdout)
    assert match and float(match.group(1)) >= 0.97, result.stdout
