"""Data statistics for estimates, cached so that `anytune compare` does not prepare the data twice.

The cache key is cheap to compute without running the pipeline: the sha256 of the data files' bytes,
the spec's data settings, the base model (and the size and time of its tokenizer files when it is a local
folder) and max_seq_length. A hit returns the DataStats that ``anytune.data.prepare`` produced for the
same inputs; a miss runs ``prepare`` once and stores its statistics under ``<ANYTUNE_HOME>/stats/``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import paths
from ..types import DataStats

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "tokenizer.model")


def _hash_path(h, path: Path) -> None:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f"\0{f.relative_to(path) if path.is_dir() else f.name}\0".encode())
        with f.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)


def stats_key(spec) -> str:
    h = hashlib.sha256(b"anytune-stats-1")
    h.update(spec.data.model_dump_json().encode())
    h.update(f"\0{spec.base_model}\0{spec.hyperparameters.max_seq_length}".encode())
    for name in ("train", "validation", "test"):
        p = Path(getattr(spec.data, name))
        if p.exists():
            _hash_path(h, p)
    model = Path(spec.base_model)
    if model.is_dir():
        for name in _TOKENIZER_FILES:
            f = model / name
            if f.is_file():
                st = f.stat()
                h.update(f"\0{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def cache_path(key: str) -> Path:
    return paths.home() / "stats" / f"{key}.json"


def cached_stats(spec) -> DataStats | None:
    path = cache_path(stats_key(spec))
    try:
        return DataStats.from_json(path.read_bytes())
    except (OSError, ValueError):
        return None


def store_stats(spec, stats: DataStats) -> Path:
    path = cache_path(stats_key(spec))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(json.loads(stats.to_json()), indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def stats_for(spec, *, progress: bool = False) -> DataStats:
    """The spec's data statistics: from the cache, else by preparing the data (and caching the result)."""
    hit = cached_stats(spec)
    if hit is not None:
        return hit
    from ..data import prepare

    stats = prepare(spec, progress=progress).stats
    store_stats(spec, stats)
    return stats
