"""Helpers to take nncore model files apart and forge new ones (for the loader's fuzz and hostile-input tests)."""
from __future__ import annotations

import json
import struct


def fnv1a64(data: bytes) -> int:
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def split_file(blob: bytes):
    """(header dict, tensor bytes) of a safetensors file."""
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def forge(header: dict, data: bytes = b"", checksum: bool = True) -> bytes:
    """A safetensors file with a header of our choosing and, like the writer's, a valid checksum."""
    header = json.loads(json.dumps(header))
    if checksum:
        header.setdefault("__metadata__", {})["nncore_checksum"] = "0" * 16
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    blob = struct.pack("<Q", len(text)) + text + data
    if not checksum:
        return blob
    marker = b'"nncore_checksum": "0000000000000000"'
    at = blob.index(marker) + len(marker) - 17
    return blob[:at] + b"%016x" % fnv1a64(blob) + blob[at + 16:]
