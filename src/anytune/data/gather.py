"""Pass 1 of the pipeline: read every file in chunks, process them in parallel, gather digests and stats.

Memory stays flat: workers hold one chunk each; the main process keeps ~60 bytes per valid record
(digests, token count, line number) and the diagnostics it was sent (capped per kind).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import work
from .formats import CONVERTIBLE, NATURAL, apply_columns, shape_of
from .load import FileProblem, discover, jsonl_ranges, note_encoding, parse_json_line, range_lines, sniff
from .options import DataOptions
from .readers import iter_records
from .report import ERROR, Diagnostics
from .split import NAMES
from .tokens import TokenizerRef, resolve

CHUNK_BYTES = 4 << 20
BATCH_RECORDS = 2000
PARALLEL_MIN_BYTES = 16 << 20  # below this, process in-process (no worker start-up)
DETECT_RECORDS = 50


@dataclass
class Gathered:
    """What pass 1 produced."""

    files: list[tuple[str, str]]  # (role, path) per file id
    sources: list[str]  # every file or folder named, readable or not
    target: str | None
    tokenizer: TokenizerRef | None
    diags: Diagnostics
    read: int = 0
    sha: Any = None  # numpy S32 per valid record
    norm: Any = None  # uint64
    label: Any = None  # uint64 or None
    tokens: Any = None  # int64 (-1 not counted, -2 cannot be rendered)
    line: Any = None  # int64
    file_id: Any = None  # int32
    parts: list[str] = field(default_factory=list)
    redaction: Counter = field(default_factory=Counter)
    conversions: Counter = field(default_factory=Counter)
    columns: dict[str, str] = field(default_factory=dict)  # a mapping detected (not given), to report
    bytes_in: int = 0

    def role_of(self) -> Any:
        import numpy as np

        roles = np.array([NAMES.index(r) for r, _ in self.files] or [0], dtype=np.int8)
        return roles[self.file_id]


def resolve_files(opts: DataOptions, diags: Diagnostics) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for role, location in (("train", opts.train), ("validation", opts.validation), ("test", opts.test)):
        if role != "train" and location in ("auto", "none", "", None):
            continue
        try:
            out += [(role, p) for p in discover(location)]
        except FileProblem as exc:
            where = f"check data.{role} in the job spec" if opts.origin == "spec" else "check the path"
            diags.error("file", exc.what, file=exc.file, hint=exc.hint or where)
    return out


def detect_columns(opts: DataOptions, files: list[tuple[str, Path, str, str | None]],
                   diags: Diagnostics) -> dict[str, str] | None:
    """The column mapping to use, from the first record of the first readable file: the given one with each
    name as the file spells it, or one detected when none is given ({} if the records need none). None when a
    given name is not in the file (the error, with the real columns, is in ``diags``)."""
    from . import columns as cols

    for _role, path, kind, enc in files:
        for rec in _first_records(path, kind, enc):
            if opts.columns:
                mapping, problems = cols.resolve(dict(opts.columns), rec, opts.origin)
                for p in problems:
                    diags.error("columns", p, file=str(path))
                return None if problems else mapping
            return {} if shape_of(rec) is not None else cols.detect(rec)
    return dict(opts.columns)


def detect_target(opts: DataOptions, files: list[tuple[str, Path, str, str | None]], tok: TokenizerRef | None,
                  diags: Diagnostics, columns: dict[str, str] | None = None) -> tuple[str | None, bool]:
    """(canonical format, go on): the spec's format, else the natural format of the first recognised record.
    Records that parse but match no format give one clear error here and stop (go on = False); when no
    record parses at all, reading goes on so that every broken line is reported."""
    if opts.format != "auto":
        return opts.format, True
    keys: set[str] = set()
    for _role, path, kind, enc in files:
        for rec in _first_records(path, kind, enc):
            rec = apply_columns(rec, columns)
            shape = shape_of(rec)
            if shape is not None:
                target = NATURAL[shape]
                if tok is not None and tok.kind == "openai" and "chat" in CONVERTIBLE[shape]:
                    target = "chat"  # OpenAI fine-tunes chat models on chat records
                return target, True
            keys |= set(map(str, rec))
    if keys:
        where = "-c" if opts.origin == "cli" else "data.columns"
        mapped = f"; {where} maps {opts.columns}" if opts.columns else ""
        example = "-c prompt=question -c completion=answer" if opts.origin == "cli" else \
            "data.columns: {prompt: question, completion: answer}"
        diags.error("shape", f"no record is in a known format (keys/columns found: {', '.join(sorted(keys)[:12])})"
                    f"{mapped}", file=str(files[0][1]) if files else None,
                    hint=f"use messages, prompt/completion, text or prompt/chosen/rejected, or map your columns, "
                         f"e.g. {example}")
    return None, not keys


def _first_records(path: Path, kind: str, enc: str | None) -> Iterator[dict]:
    scratch = Diagnostics()
    try:
        if kind == "jsonl" and enc in (None, "utf-8-sig"):
            for n, (start, end) in enumerate(jsonl_ranges(path, 1 << 16)):
                for i, raw in enumerate(range_lines(path, start, end)):
                    if isinstance(raw, bytes) and raw.strip():
                        obj, problem, _ = parse_json_line(raw.rstrip(b"\r"), first=n == 0 and i == 0)
                        if obj is not None:
                            yield obj
                break
            return
        for i, (_, rec) in enumerate(iter_records(path, kind, enc, scratch)):
            yield rec
            if i >= DETECT_RECORDS:
                return
    except FileProblem:
        return


def _tasks(opts: DataOptions, files: list[tuple[str, Path, str, str | None]], diags: Diagnostics,
           meta: dict[int, tuple[int, bool, int]]) -> Iterator[work.Task]:
    """Tasks in file order; ``meta[task.index] = (file id, is_byte_range, bytes)``."""
    index = 0
    for fid, (_role, path, kind, enc) in enumerate(files):
        if kind == "jsonl" and enc in (None, "utf-8-sig"):
            for start, end in jsonl_ranges(path, CHUNK_BYTES):
                meta[index] = (fid, True, end - start)
                yield work.Task(index, str(path), start, end)
                index += 1
            continue
        batch: list[tuple[int, dict]] = []
        tabular = kind in ("csv", "tsv", "xlsx", "parquet")
        try:
            for rec in iter_records(path, kind, enc, diags):
                batch.append(rec)
                if len(batch) >= BATCH_RECORDS:
                    meta[index] = (fid, False, 0)
                    yield work.Task(index, str(path), records=batch, tabular=tabular)
                    index, batch = index + 1, []
        except FileProblem as exc:
            diags.error("file", exc.what, file=exc.file, hint=exc.hint)
        if batch:
            meta[index] = (fid, False, 0)
            yield work.Task(index, str(path), records=batch, tabular=tabular)
            index += 1


def gather(opts: DataOptions, part_dir: Path | None, progress: bool = False) -> Gathered:
    import numpy as np

    diags = Diagnostics()
    found = resolve_files(opts, diags)
    files: list[tuple[str, Path, str, str | None]] = []
    for role, path in found:
        try:
            kind, enc = sniff(path)
        except FileProblem as exc:
            diags.error("file", exc.what, file=exc.file, hint=exc.hint)
            continue
        files.append((role, path, kind, enc))
    tok = resolve(opts.base_model) if opts.count_tokens else None
    g = Gathered(files=[(r, str(p)) for r, p, _, _ in files], sources=[str(p) for _, p in found], target=None, tokenizer=tok, diags=diags)
    if not any(role == "train" for role, *_ in files):
        return g
    if opts.pii != "off" and opts.pii_engine == "presidio":  # a missing engine or model: one error, up front
        from .pii_ner import analyzer

        analyzer(opts.pii_model)
    columns = detect_columns(opts, files, diags)
    if columns is None:
        return g
    if columns and not opts.columns:
        g.columns = columns
    g.target, go_on = detect_target(opts, files, tok, diags, columns)
    if not go_on:
        return g
    g.bytes_in = sum(p.stat().st_size for _, p, _, _ in files)
    settings = work.Settings(
        # no record parsed yet: read on with any format to report what is wrong with each line
        target=g.target or "chat", columns=columns, system_prompt=opts.system_prompt,
        label_column=opts.label_column, pii=opts.pii, pii_patterns=dict(opts.pii_patterns), tokenizer=tok,
        pii_engine=opts.pii_engine, pii_model=opts.pii_model,
        part_dir=str(part_dir) if part_dir is not None else None)
    meta: dict[int, tuple[int, bool, int]] = {}
    tasks = _tasks(opts, files, diags, meta)
    workers = opts.effective_workers()
    chunks: dict[str, list] = {k: [] for k in ("sha", "norm", "label", "tokens", "line", "file_id")}
    lines_before: Counter[int] = Counter()
    bar = _progress(progress, g.bytes_in)
    encoding_files: set[int] = set()

    def merge(res: work.ChunkResult) -> None:
        fid, is_range, nbytes = meta.pop(res.index)
        offset = lines_before[fid] if is_range else 0
        if is_range:
            lines_before[fid] += res.lines
        if res.diags.counts[(ERROR, "encoding")]:
            encoding_files.add(fid)
        diags.merge(res.diags, line_offset=offset)
        g.read += res.read
        g.redaction.update(res.redaction)
        g.conversions.update(res.conversions)
        if res.part:
            g.parts.append(res.part)
        chunks["sha"].append(np.frombuffer(res.sha, dtype="S32"))
        chunks["norm"].append(np.frombuffer(res.norm, dtype=np.uint64))
        chunks["label"].append(np.frombuffer(res.label, dtype=np.uint64))
        chunks["tokens"].append(np.frombuffer(res.tokens, dtype=np.int64))
        chunks["line"].append(np.frombuffer(res.line_no, dtype=np.int64) + offset)
        chunks["file_id"].append(np.full(len(res.line_no), fid, dtype=np.int32))
        if bar is not None:
            bar[0].advance(bar[1], nbytes)
            bar[0].refresh()

    try:
        if workers <= 1 or g.bytes_in < PARALLEL_MIN_BYTES:
            work.init(settings)
            for task in tasks:
                merge(work.run(task))
        else:
            _run_pool(settings, tasks, workers, merge)
    finally:
        if bar is not None:
            bar[0].stop()
    noted: set[str] = set()
    for fid in sorted(encoding_files):
        note_encoding(files[fid][1], diags, noted)
    for key, parts in chunks.items():
        dtype = {"sha": "S32", "norm": np.uint64, "label": np.uint64}.get(key, np.int64 if key != "file_id" else np.int32)
        arr = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
        setattr(g, key, arr)
    if not opts.label_column:
        g.label = None
    return g


def _run_pool(settings: work.Settings, tasks: Iterator[work.Task], workers: int, merge) -> None:
    """Run tasks on a process pool with a bounded window, merging results in task order."""
    # fork on Linux: fast, and no `if __name__ == "__main__"` guard needed in the caller's script. The parent
    # runs no threads of its own at this point (the progress bar is refreshed by hand for that reason).
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    window = 2 * workers
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=work.init, initargs=(settings,))
    try:
        pending = []
        for task in tasks:
            pending.append(pool.submit(work.run, task))
            if len(pending) >= window:
                merge(pending.pop(0).result())
        for fut in pending:
            merge(fut.result())
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("checking data"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                   transient=True, console=Console(stderr=True), auto_refresh=False)
    task = bar.add_task("data", total=total)
    bar.start()
    return bar, task
