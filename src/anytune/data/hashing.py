"""Record digests (duplicates, leakage, grouping) and the dataset's content hash.

Per record: the sha256 of its canonical JSON line (exact identity, and its first 8 bytes as a 64-bit key)
and a 64-bit blake2b of its normalised text (case-folded, whitespace collapsed) for near-duplicates.
Digests are kept in numpy arrays, never the strings: a million records cost ~50 MB, not gigabytes.

The content hash covers everything that changes what the model is trained on: each split's multiset of
records (sorted digests, so shard order and worker timing do not matter), the format, the tokenizer's
identity (hash of its tokenizer.json and chat template), max_seq_length and the too-long policy, and the
pipeline version. A cache keyed without the tokenizer would silently train on wrong tokens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

PIPELINE_VERSION = 1  # bump when canonical output for the same input changes


def norm_key(texts: list[str]) -> bytes:
    """8-byte digest of the record's text with case and whitespace differences removed."""
    text = " ".join("\x01".join(texts).lower().split())
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def content_hash(split_digests: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """sha256 over the settings and, per split, the sorted 32-byte record digests (a numpy 'S32' array)."""
    import numpy as np

    h = hashlib.sha256()
    header = {"anytune_dataset": PIPELINE_VERSION, **settings}
    h.update(json.dumps(header, sort_keys=True, separators=(",", ":"), default=str).encode())
    for name in sorted(split_digests):
        digests = np.sort(np.asarray(split_digests[name], dtype="S32"))
        h.update(f"\x00{name}\x00{len(digests)}\x00".encode())
        h.update(digests.tobytes())
    return h.hexdigest()


def file_sha256(path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()
