"""Tests for nncore.datasets (pure Python; no network is used)."""

from __future__ import annotations

import gzip
import hashlib
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from nncore.datasets import _idx, _loader, fashion_mnist, mnist

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
HAVE_DEBIAN = all(
    (DEBIAN_DIR / (stem + ".gz")).is_file() for stem in _loader.IDX_FILES)
needs_real = pytest.mark.skipif(
    not HAVE_DEBIAN, reason=f"Fashion-MNIST not installed in {DEBIAN_DIR}")

# SHA-256 of the decompressed official Fashion-MNIST IDX files.
FASHION_RAW_SHA256 = {
    "train-images-idx3-ubyte":
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte":
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte":
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte":
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


# --------------------------------------------------------------- helpers

def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as an IDX buffer."""
    if magic is None:
        magic = 0x0800 | array.ndim
    header = struct.pack(">I", magic)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def synthetic(n_train: int = 12, n_test: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    x_train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    y_train = rng.integers(0, 10, n_train, dtype=np.uint8)
    x_test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    y_test = rng.integers(0, 10, n_test, dtype=np.uint8)
    return (x_train, y_train), (x_test, y_test)


def file_blobs(data, gz: bool = True):
    """Map ``<stem>[.gz]`` -> encoded bytes for a synthetic dataset."""
    (x_train, y_train), (x_test, y_test) = data
    arrays = dict(zip(_loader.IDX_FILES, (x_train, y_train, x_test, y_test)))
    blobs = {}
    for stem, array in arrays.items():
        raw = idx_bytes(array)
        if gz:
            blobs[stem + ".gz"] = gzip.compress(raw, mtime=0)
        else:
            blobs[stem] = raw
    return blobs


def write_dataset(directory: Path, data, gz: bool = True) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, blob in file_blobs(data, gz).items():
        (directory / name).write_bytes(blob)


def assert_same(got, want) -> None:
    for got_split, want_split in zip(got, want):
        for g, w in zip(got_split, want_split):
            assert g.dtype == np.uint8
            np.testing.assert_array_equal(g, w)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No NNCORE_DATA, empty HOME and system dir, network that fails."""
    monkeypatch.delenv(_loader.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_loader, "SYSTEM_DATA_DIR", tmp_path / "system")
    calls = []

    def offline(url, timeout):
        calls.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(_loader, "_fetch", offline)
    return calls


# ------------------------------------------------------------ IDX parsing

def test_idx_roundtrip_plain_and_gz(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.uint32).astype(np.uint8)
    images = images.reshape(3, 28, 28)
    (tmp_path / "a").write_bytes(idx_bytes(images))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(images)))
    for name in ("a", "a.gz"):
        got = _idx.read_images(tmp_path / name)
        np.testing.assert_array_equal(got, images)
        assert got.flags.writeable


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_file_raises_value_error(tmp_path, gz):
    raw = idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-100]
    path = tmp_path / ("imgs.gz" if gz else "imgs")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(ValueError) as info:
        _idx.read_images(path)
    message = str(info.value)
    assert str(path) in message
    assert f"expected {16 + 4 * 784} bytes, got {16 + 4 * 784 - 100}" \
        in message


def test_truncated_gzip_stream_raises_value_error(tmp_path):
    blob = gzip.compress(idx_bytes(np.ones((4, 28, 28), np.uint8)))
    path = tmp_path / "imgs.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="imgs.gz"):
        _idx.read_images(path)


def test_trailing_garbage_raises_value_error(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8)) + b"\0")
    with pytest.raises(ValueError, match="expected 13 bytes, got 14"):
        _idx.read_labels(path)


def test_bad_magic_raises_value_error(tmp_path):
    labels = tmp_path / "labels"
    labels.write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(ValueError, match="expected 2051.*got 2049"):
        _idx.read_images(labels)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x12\x34\x56\x78" + bytes(20))
    with pytest.raises(ValueError, match="bad IDX magic"):
        _idx.read_labels(junk)


def test_wrong_image_shape_and_count_mismatch(tmp_path):
    small = tmp_path / "small"
    small.write_bytes(idx_bytes(np.zeros((2, 8, 8), np.uint8)))
    with pytest.raises(ValueError, match=r"\(28, 28\)"):
        _idx.read_images(small)
    images = tmp_path / "images"
    labels = tmp_path / "labels"
    images.write_bytes(idx_bytes(np.zeros((3, 28, 28), np.uint8)))
    labels.write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="3 images but .* 4 labels"):
        _idx.read_pair(images, labels)


# ----------------------------------------------------------------- lookup

@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("module", [fashion_mnist, mnist])
def test_nncore_data_subdirectory(tmp_path, monkeypatch, isolated, gz,
                                  module):
    data = synthetic()
    write_dataset(tmp_path / "data" / module.DATASET.name, data, gz)
    monkeypatch.setenv(_loader.ENV_VAR, str(tmp_path / "data"))
    assert_same(module.load_data(), data)
    assert isolated == []  # no download attempted


def test_nncore_data_itself(tmp_path, monkeypatch, isolated):
    data = synthetic(seed=1)
    write_dataset(tmp_path / "flat", data, gz=False)
    monkeypatch.setenv(_loader.ENV_VAR, str(tmp_path / "flat"))
    assert_same(mnist.load_data(), data)


def test_lookup_order(tmp_path, monkeypatch, isolated):
    env_data, home_data, sys_data = (synthetic(seed=s) for s in (1, 2, 3))
    write_dataset(tmp_path / "system" / "mnist", sys_data)
    assert_same(mnist.load_data(), sys_data)
    write_dataset(tmp_path / "home" / ".nncore" / "datasets" / "mnist",
                  home_data)
    assert_same(mnist.load_data(), home_data)
    write_dataset(tmp_path / "env" / "mnist", env_data)
    monkeypatch.setenv(_loader.ENV_VAR, str(tmp_path / "env"))
    assert_same(mnist.load_data(), env_data)


def test_incomplete_directory_is_skipped(tmp_path, monkeypatch, isolated):
    data = synthetic(seed=4)
    write_dataset(tmp_path / "env" / "mnist", synthetic(seed=5))
    (tmp_path / "env" / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    write_dataset(tmp_path / "system" / "mnist", data)
    monkeypatch.setenv(_loader.ENV_VAR, str(tmp_path / "env"))
    assert_same(mnist.load_data(), data)


def test_corrupt_local_file_is_reported(tmp_path, monkeypatch, isolated):
    directory = tmp_path / "env"
    write_dataset(directory, synthetic(), gz=False)
    path = directory / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    monkeypatch.setenv(_loader.ENV_VAR, str(directory))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        mnist.load_data()


# ------------------------------------------------------ download / cache

def test_download_verifies_and_caches(tmp_path, monkeypatch, isolated):
    data = synthetic(seed=6)
    blobs = file_blobs(data)
    spec = _loader.IdxDataset(
        name="toy", title="Toy", mirrors=("http://a/", "http://b/"),
        sha256={k: hashlib.sha256(v).hexdigest() for k, v in blobs.items()})
    fetched = []

    def fake_fetch(url, timeout):
        fetched.append(url)
        mirror, name = url.rsplit("/", 1)
        if mirror == "http://a":  # first mirror serves corrupt data
            return blobs[name][:-1]
        return blobs[name]

    monkeypatch.setattr(_loader, "_fetch", fake_fetch)
    assert_same(_loader.load(spec), data)
    cache = tmp_path / "home" / ".nncore" / "datasets" / "toy"
    assert sorted(p.name for p in cache.iterdir()) == sorted(blobs)
    assert len(fetched) == 8
    fetched.clear()
    assert_same(_loader.load(spec), data)  # now served from the cache
    assert fetched == []


def test_offline_fails_fast_after_one_attempt(isolated):
    with pytest.raises(_loader.DatasetNotFoundError):
        mnist.load_data()
    assert len(isolated) == 1


def test_http_error_tries_next_mirror(monkeypatch, isolated):
    urls = []

    def not_found(url, timeout):
        urls.append(url)
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)

    monkeypatch.setattr(_loader, "_fetch", not_found)
    with pytest.raises(FileNotFoundError, match="HTTP 404"):
        mnist.load_data()
    assert len(urls) == len(mnist.DATASET.mirrors)


# ---------------------------------------------------------- not found

def test_mnist_missing_raises_clear_error(tmp_path, isolated):
    with pytest.raises(FileNotFoundError) as info:
        mnist.load_data()
    err = info.value
    assert isinstance(err, _loader.DatasetNotFoundError)
    message = str(err)
    assert "NNCORE_DATA" in message
    assert str(tmp_path / "home" / ".nncore" / "datasets" / "mnist") \
        in message
    assert str(tmp_path / "system" / "mnist") in message
    assert "download failed" in message
    assert "train-images-idx3-ubyte" in message
    assert not (tmp_path / "home" / ".nncore").exists()


def test_mnist_missing_lists_nncore_data_dirs(tmp_path, monkeypatch,
                                              isolated):
    monkeypatch.setenv(_loader.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as info:
        mnist.load_data()
    assert str(tmp_path / "env" / "mnist") in str(info.value)
    assert len(info.value.searched) == 5  # 2 env + home + system + download


def test_fashion_falls_back_to_shipped_subset(tmp_path, monkeypatch,
                                              isolated):
    def no_download(spec, dest, stems=_loader.IDX_FILES):
        raise _loader.DownloadError("offline")

    monkeypatch.setattr(_loader, "download", no_download)
    with pytest.warns(UserWarning) as record:
        (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    message = str(record[0].message)
    assert "subset" in message
    assert str(tmp_path / "system" / "fashion-mnist") in message
    assert record[0].filename == __file__
    assert x_train.shape == (6000, 28, 28) and y_train.shape == (6000,)
    assert x_test.shape == (1000, 28, 28) and y_test.shape == (1000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8


# ----------------------------------------------------- shipped subset

def test_subset_is_class_balanced():
    (_, y_train), (_, y_test) = _loader.read_npz(fashion_mnist.SUBSET_PATH)
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10),
                                  [600] * 10)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10),
                                  [100] * 10)


@needs_real
def test_subset_matches_real_images():
    (x_train, y_train), (x_test, y_test) = _loader.read_files(
        _loader.find_files(DEBIAN_DIR)[0])
    with np.load(fashion_mnist.SUBSET_PATH) as npz:
        for prefix, x, y, per_class in (("train", x_train, y_train, 600),
                                        ("test", x_test, y_test, 100)):
            index = npz[f"{prefix}_index"].astype(np.int64)
            # First `per_class` samples of each class, in original order.
            expected = np.sort(np.concatenate(
                [np.flatnonzero(y == c)[:per_class] for c in range(10)]))
            np.testing.assert_array_equal(index, expected)
            np.testing.assert_array_equal(npz[f"x_{prefix}"], x[index])
            np.testing.assert_array_equal(npz[f"y_{prefix}"], y[index])


# -------------------------------------------------------- real dataset

@needs_real
def test_real_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.delenv(_loader.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert y_train.min() == 0 and y_train.max() == 9
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert len(fashion_mnist.class_names) == 10


@needs_real
def test_debian_copy_matches_official_data():
    for stem, digest in FASHION_RAW_SHA256.items():
        raw = _idx.read_bytes(DEBIAN_DIR / (stem + ".gz"))
        assert hashlib.sha256(raw).hexdigest() == digest
