"""Shared lookup, download and cache logic for the IDX datasets.

Each dataset module describes itself with an :class:`IdxDataset` and calls
:func:`load`.  The four IDX files (plain or ``.gz``) are looked for, in
order, in

1. ``$NNCORE_DATA/<name>`` and ``$NNCORE_DATA`` itself,
2. ``~/.nncore/datasets/<name>`` (also the download cache),
3. ``/usr/share/datasets/<name>`` (e.g. Debian's ``dataset-fashion-mnist``),

and otherwise downloaded from the dataset's mirrors into the cache, each
file checked against its published SHA-256.  A directory is used only when
it holds all four files, so files from different places are never mixed.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import _idx

Split = Tuple[np.ndarray, np.ndarray]
Data = Tuple[Split, Split]

ENV_VAR = "NNCORE_DATA"
SYSTEM_DATA_DIR = Path("/usr/share/datasets")
DOWNLOAD_TIMEOUT = 10.0  # seconds, per blocking socket operation
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdxDataset:
    """Description of an MNIST-style dataset made of four IDX files."""

    name: str                       # directory name, e.g. "fashion-mnist"
    title: str                      # human-readable name for messages
    mirrors: Tuple[str, ...]        # base URLs, tried in order
    sha256: Mapping[str, str]       # "<file>.gz" -> hex digest
    fallback: Optional[Path] = None  # .npz used when nothing is found


class DatasetNotFoundError(FileNotFoundError):
    """The dataset files are neither on disk nor downloadable."""

    def __init__(self, message: str, searched: List[str]) -> None:
        super().__init__(message)
        self.searched = searched


class DownloadError(OSError):
    """A download failed (network unreachable, HTTP error, bad hash)."""


def cache_dir(name: str) -> Path:
    """Return the per-user cache directory for dataset ``name``."""
    return Path.home() / ".nncore" / "datasets" / name


def search_dirs(name: str) -> List[Path]:
    """Return the directories searched for dataset ``name``, in order."""
    dirs = []
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser()
        dirs += [root / name, root]
    dirs += [cache_dir(name), SYSTEM_DATA_DIR / name]
    return dirs


def _find(directory: Path, stem: str) -> Optional[Path]:
    """Return `directory/stem` or `directory/stem.gz` if either exists."""
    for candidate in (directory / stem, directory / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def find_files(directory: Path) -> Tuple[Dict[str, Path], List[str]]:
    """Return the IDX files found in ``directory`` and the missing stems."""
    found: Dict[str, Path] = {}
    missing: List[str] = []
    for stem in IDX_FILES:
        path = _find(directory, stem)
        if path is None:
            missing.append(stem)
        else:
            found[stem] = path
    return found, missing


def read_files(files: Mapping[str, Path]) -> Data:
    """Read the four IDX files into Keras's ``(train, test)`` tuples."""
    train = _idx.read_pair(files["train-images-idx3-ubyte"],
                           files["train-labels-idx1-ubyte"])
    test = _idx.read_pair(files["t10k-images-idx3-ubyte"],
                          files["t10k-labels-idx1-ubyte"])
    return train, test


def read_npz(path: Path) -> Data:
    """Read ``x_train, y_train, x_test, y_test`` from an ``.npz`` file."""
    with np.load(path, allow_pickle=False) as npz:
        return ((npz["x_train"], npz["y_train"]),
                (npz["x_test"], npz["y_test"]))


def _fetch(url: str, timeout: float) -> bytes:
    """Return the body of ``url`` (raises ``urllib.error.URLError``)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def download(spec: IdxDataset, dest: Path,
             stems: Tuple[str, ...] = IDX_FILES) -> None:
    """Download ``<stem>.gz`` files of ``spec`` into ``dest``.

    Each file is verified against ``spec.sha256`` before it is written.
    An HTTP error or hash mismatch moves on to the next mirror; any other
    network error (no route, DNS failure, timeout) aborts at once, so an
    offline machine fails fast.  Raises DownloadError.
    """
    for stem in stems:
        fname = stem + ".gz"
        expected = spec.sha256[fname]
        errors = []
        for mirror in spec.mirrors:
            url = mirror.rstrip("/") + "/" + fname
            try:
                data = _fetch(url, DOWNLOAD_TIMEOUT)
            except urllib.error.HTTPError as err:
                errors.append(f"{url}: HTTP {err.code}")
                continue
            except (OSError, ValueError, http.client.HTTPException) as err:
                # URLError is an OSError: no network, DNS failure, timeout.
                reason = getattr(err, "reason", err)
                raise DownloadError(f"{url}: {reason}") from err
            digest = hashlib.sha256(data).hexdigest()
            if digest != expected:
                errors.append(
                    f"{url}: sha256 mismatch (expected {expected}, "
                    f"got {digest})")
                continue
            _write_atomic(dest / fname, data)
            _log.info("downloaded %s to %s", url, dest / fname)
            break
        else:
            raise DownloadError("; ".join(errors))


def _not_found_message(spec: IdxDataset, searched: List[str]) -> str:
    """Explain where the files were looked for and how to provide them."""
    names = ", ".join(stem + "[.gz]" for stem in IDX_FILES)
    lines = [f"{spec.title} IDX files not found ({names}). Looked in:"]
    lines += [f"  - {entry}" for entry in searched]
    lines.append(
        f"To provide them, set {ENV_VAR} to a directory holding the four "
        f"files (directly or in a '{spec.name}' subdirectory), or copy "
        f"them into {cache_dir(spec.name)}.")
    return "\n".join(lines)


def locate(spec: IdxDataset) -> Dict[str, Path]:
    """Find (or download) the four files; raise DatasetNotFoundError."""
    searched: List[str] = []
    if not os.environ.get(ENV_VAR):
        searched.append(f"${ENV_VAR} (not set)")
    cache = cache_dir(spec.name)
    for directory in search_dirs(spec.name):
        found, missing = find_files(directory)
        if not missing:
            return found
        if not found:
            status = "not found" if not directory.exists() else "no files"
        else:
            status = "incomplete, missing " + ", ".join(missing)
        searched.append(f"{directory} ({status})")

    # Fetch whatever the cache lacks, then use the cache.
    _, missing = find_files(cache)
    try:
        download(spec, cache, tuple(missing))
    except OSError as err:  # DownloadError, or the cache is not writable
        searched.append(f"download failed: {err}")
        raise DatasetNotFoundError(
            _not_found_message(spec, searched), searched) from None
    found, _ = find_files(cache)
    return found


def load(spec: IdxDataset) -> Data:
    """Load ``spec``; fall back to ``spec.fallback`` with a UserWarning."""
    try:
        files = locate(spec)
    except DatasetNotFoundError as err:
        if spec.fallback is None:
            raise
        train, test = read_npz(spec.fallback)
        warnings.warn(
            f"{err}\nFalling back to the small real subset of "
            f"{spec.title} shipped with nncore "
            f"({len(train[0])} train / {len(test[0])} test images, "
            f"class-balanced); it is NOT the full dataset.",
            UserWarning, stacklevel=3)
        return train, test
    return read_files(files)
