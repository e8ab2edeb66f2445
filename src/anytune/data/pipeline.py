"""The public entry points: ``prepare`` (validate + write canonical splits and a manifest) and ``validate``.

    prepared = prepare(spec)                 # raises DataValidationError (a DataError) with the report
    prepared.files["train"], prepared.stats, prepared.content_hash

Pass 1 (``gather.gather``) checks and converts every record into part files; ``analyse`` decides the
splits; pass 2 here streams the parts into ``train.jsonl``/``validation.jsonl``/``test.jsonl``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import paths
from ..types import DataStats
from .analyse import analyse
from .gather import gather
from .options import DataOptions
from .report import DataValidationError, Report
from .split import NAMES

if TYPE_CHECKING:
    from ..spec import JobSpec

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class PreparedData:
    directory: Path
    content_hash: str
    format: str
    files: dict[str, Path]
    stats: DataStats
    redaction: dict[str, int]
    warnings: tuple[str, ...]


def prepare(spec: JobSpec | DataOptions, out_dir: Path | None = None, *, progress: bool = False) -> PreparedData:
    """Load, convert, validate, redact, split and count the spec's data; write canonical JSONL splits and
    ``manifest.json`` into ``out_dir`` (default ``datasets_dir()/<content_hash>/``, reused when present).
    Raises :class:`DataValidationError` (a DataError, exit code 2) carrying the full report when unusable."""
    opts = spec if isinstance(spec, DataOptions) else DataOptions.from_spec(spec)
    base = Path(out_dir) if out_dir is not None else paths.datasets_dir()
    base.mkdir(parents=True, exist_ok=True)
    key = _source_key(opts) if out_dir is None else None
    if key is not None:
        known = _cached(base, key)
        if known is not None:
            return known
    staging = Path(tempfile.mkdtemp(prefix=".anytune-staging-", dir=base if out_dir is None else base.parent))
    try:
        parts = staging / "parts"
        parts.mkdir()
        g = gather(opts, parts, progress=progress)
        outcome = analyse(opts, g)
        report = outcome.report
        if not report.ok or outcome.stats is None:
            raise DataValidationError(report)
        final = base if out_dir is not None else base / outcome.content_hash  # reused when already there
        if not (out_dir is None and (final / MANIFEST).is_file()):
            files = _write_splits(g.parts, outcome.split, staging)
            shutil.rmtree(parts)
            manifest = _manifest(opts, report, outcome.stats, files)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            _publish(staging, final, files)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if key is not None:
        (base / "by-source").mkdir(exist_ok=True)
        (base / "by-source" / f"{key}.json").write_text(json.dumps({"content_hash": outcome.content_hash}))
    return load_prepared(final)


def _source_key(opts: DataOptions) -> str | None:
    """A key for "these exact files (path, size, mtime) with these options and this tokenizer", so that a
    second ``prepare`` of unchanged data (estimate, then run) returns at once. None when files are missing."""
    from dataclasses import asdict

    from .hashing import PIPELINE_VERSION
    from .load import discover
    from .tokens import resolve

    try:
        files = []
        for location in (opts.train, opts.validation, opts.test):
            if location in ("auto", "none", "", None):
                continue
            for p in discover(location):
                st = p.stat()
                files.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    except (OSError, ValueError):
        return None
    settings = {k: v for k, v in asdict(opts).items() if k not in ("workers", "origin")}
    ident = resolve(opts.base_model).identity if opts.count_tokens else None
    blob = json.dumps([PIPELINE_VERSION, settings, ident, files], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _cached(base: Path, key: str) -> PreparedData | None:
    try:
        content = json.loads((base / "by-source" / f"{key}.json").read_text())["content_hash"]
        return load_prepared(base / content) if (base / content / MANIFEST).is_file() else None
    except (OSError, ValueError, KeyError):
        return None


def validate(spec: JobSpec | DataOptions, *, progress: bool = False) -> Report:
    """Every check ``prepare`` makes, without writing anything; returns the report (never raises for bad data)."""
    opts = spec if isinstance(spec, DataOptions) else DataOptions.from_spec(spec)
    return analyse(opts, gather(opts, None, progress=progress)).report


def _write_splits(parts: list[str], split, staging: Path) -> dict[str, dict]:
    """Pass 2: stream the part files into one file per split, in input order; sha256 while writing."""
    names = [n for k, n in enumerate(NAMES) if (split == k).any()]
    outs = {n: open(staging / f"{n}.jsonl", "wb") for n in names}  # noqa: SIM115 - closed below
    hashes = {n: hashlib.sha256() for n in names}
    sizes = dict.fromkeys(names, 0)
    counts = dict.fromkeys(names, 0)
    targets = [outs.get(n) for n in NAMES]
    i = 0
    try:
        for part in parts:
            with open(part, "rb") as f:
                lines = f.read().splitlines(keepends=True)
            where = split[i:i + len(lines)].tolist()
            i += len(lines)
            buckets: dict[int, list[bytes]] = {}
            for line, k in zip(lines, where, strict=True):
                if k >= 0:
                    buckets.setdefault(k, []).append(line)
            for k, chunk in buckets.items():
                blob = b"".join(chunk)
                targets[k].write(blob)
                hashes[NAMES[k]].update(blob)
                sizes[NAMES[k]] += len(blob)
                counts[NAMES[k]] += len(chunk)
            os.unlink(part)
    finally:
        for f in outs.values():
            f.close()
    if i != len(split):
        raise RuntimeError(f"internal error: {i} records in part files, {len(split)} expected")
    return {n: {"path": f"{n}.jsonl", "sha256": hashes[n].hexdigest(), "bytes": sizes[n], "examples": counts[n]}
            for n in names}


def _manifest(opts: DataOptions, report: Report, stats: DataStats, files: dict) -> dict:
    from .. import __version__ as version

    return {
        "anytune_dataset": 1,
        "content_hash": report.content_hash,
        "format": report.format,
        "files": files,
        "stats": json.loads(stats.model_dump_json()),
        "tokenizer": report.tokenizer,
        "approximate_tokens": report.approximate_tokens,
        "max_seq_length": opts.max_seq_length,
        "too_long": report.too_long or {"count": 0, "policy": opts.too_long},
        "duplicates": report.duplicates,
        "leakage": report.leakage,
        "redaction": {"mode": opts.pii, "counts": report.redaction},
        "conversions": report.conversions,
        "columns_detected": report.columns,
        "warnings": _warning_lines(report),
        "sources": report.files,
        "split": {"fractions": list(opts.split), "seed": opts.seed, "label_column": opts.label_column},
        "created_by": f"anytune {version}",
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _warning_lines(report: Report) -> list[str]:
    d = report.diagnostics
    lines = [w.text() for w in d.warnings]
    for code, n in d.totals_by_code("warning").items():
        shown = sum(1 for w in d.warnings if w.code == code)
        if n > shown:
            lines.append(f"... {n - shown} more '{code}' warnings" if shown else f"{n} {code.replace('_', ' ')}")
    return lines


def _publish(staging: Path, final: Path, files: dict) -> None:
    """Move the finished files into ``final`` (the last step, so a crash never leaves half a dataset)."""
    final.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        stale = final / f"{name}.jsonl"
        if name not in files and stale.exists():
            stale.unlink()
    for name in [*files, MANIFEST]:
        src = staging / (files[name]["path"] if name in files else name)
        os.replace(src, final / src.name)


def load_prepared(directory: Path) -> PreparedData:
    """A prepared dataset from its folder (what ``prepare`` wrote)."""
    directory = Path(directory)
    m = json.loads((directory / MANIFEST).read_text())
    return PreparedData(
        directory=directory,
        content_hash=m["content_hash"],
        format=m["format"],
        files={name: directory / f["path"] for name, f in m["files"].items()},
        stats=DataStats.model_validate(m["stats"]),
        redaction=dict(m["redaction"]["counts"]),
        warnings=tuple(m.get("warnings", ())),
    )
