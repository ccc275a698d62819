"""The model-file fuzzer's corpus through the normal loader: the seeds (tools/make_fuzz_corpus.py) and every file
the coverage-guided fuzzer (tools/fuzz_model_file.sh) ever found to crash, hang or leak, kept as a regression file
(crash-*, timeout-*, leak-*, oom-*). The fuzzing build ignores checksums, so each file is re-signed here with a valid
checksum and must then load or raise nncore.ModelFileError — in well under a second."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

import nncore
from model_files import fnv1a64

CORPUS = Path(__file__).parent / "corpus" / "model_files"
FILES = sorted(p for p in CORPUS.iterdir() if p.is_file())
MARKER = re.compile(rb'"nncore_checksum": "[0-9a-fA-F]{16}"')


def resign(blob: bytes) -> bytes:
    """The file with its checksum recomputed, as the writer would have stored it (unchanged if it has none)."""
    found = list(MARKER.finditer(blob))
    if len(found) != 1:
        return blob
    at = found[0].end() - 17
    zeroed = blob[:at] + b"0" * 16 + blob[at + 16:]
    return blob[:at] + b"%016x" % fnv1a64(zeroed) + blob[at + 16:]


def test_the_corpus_has_seeds_of_every_family():
    names = {p.name for p in FILES}
    for family in ("mlp_adam", "cnn_sgd", "cnn_global", "text_lstm", "seq_gru_rnn", "functional_two_outputs",
                   "int8_quantized"):
        assert f"seed_{family}.nncore" in names and f"seed_{family}.weights.nncore" in names


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_file_loads_or_raises_model_file_error(tmp_path, path):
    target = tmp_path / path.name
    target.write_bytes(resign(path.read_bytes()))
    t0 = time.perf_counter()
    try:
        model = nncore.load_model(target)
    except nncore.ModelFileError as e:
        assert str(target) in str(e)
        if path.name.startswith("seed_") and not path.name.endswith(".weights.nncore"):
            raise  # the seeds are valid model files
        model = None
    assert time.perf_counter() - t0 < 1.0 * float(os.environ.get("NNCORE_TIME_SCALE", "1"))
    if model is None:
        return
    assert not path.name.endswith(".weights.nncore")
    if model._impl.num_inputs == 1 and np.prod(model.input_shape[1:]) <= 4096:
        x = np.zeros((2,) + tuple(model.input_shape[1:]), np.float32)
        try:
            model.predict(x, verbose=0)
        except ValueError:
            pass  # refused with a clear error (e.g. Embedding ids), never a crash
