"""The per-chunk work, run in worker processes (or in-process for small inputs).

A chunk is a newline-aligned byte range of a JSONL file or a batch of already-read records. For each
record: parse, map columns, convert to the canonical format, check, redact PII, serialise, digest and
(optionally) count tokens. Valid records go to a part file; the chunk returns small arrays of digests,
token counts and line numbers plus its diagnostics — never the text.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .formats import Problem, apply_columns, canonical, dumps, texts
from .hashing import norm_key
from .load import MAX_RECORD_BYTES, parse_json_line, range_lines
from .pii import Redactor
from .report import ERROR, WARNING, Diagnostics
from .tokens import Counter as TokenCounter
from .tokens import TokenizerRef


@dataclass(frozen=True)
class Settings:
    """What every worker needs to know (picklable)."""

    target: str  # canonical format
    columns: dict[str, str]
    system_prompt: str | None
    label_column: str | None
    pii: str  # off | redact | fail
    pii_patterns: dict[str, str]
    tokenizer: TokenizerRef | None  # None: do not count
    part_dir: str | None  # where valid records go; None when only validating
    pii_engine: str = "patterns"  # or "presidio": names and places too (anytune.data.pii_ner)
    pii_model: str | None = None


@dataclass(frozen=True)
class Task:
    index: int
    file: str
    start: int = 0  # JSONL byte range
    end: int = 0
    records: list[tuple[int, dict[str, Any]]] | None = None  # or records read by the main process
    tabular: bool = False


@dataclass
class ChunkResult:
    index: int
    lines: int = 0  # physical lines in a byte range (to number the next chunk's lines)
    read: int = 0  # records seen (valid or not)
    sha: bytes = b""  # 32 bytes per valid record: sha256 of its canonical line
    norm: bytes = b""  # 8 bytes per valid record: normalised-text digest
    label: bytes = b""  # 8 bytes per valid record: label digest (zeros without a label column)
    tokens: array = field(default_factory=lambda: array("q"))  # per valid record, -1 when not counted
    line_no: array = field(default_factory=lambda: array("q"))  # per valid record (relative for byte ranges)
    diags: Diagnostics = field(default_factory=Diagnostics)
    redaction: Counter = field(default_factory=Counter)
    conversions: Counter = field(default_factory=Counter)
    part: str | None = None


_state: dict[str, Any] = {}


def make_redactor(settings: Settings) -> Redactor:
    if settings.pii_engine == "presidio":
        from .pii_ner import NerRedactor

        return NerRedactor(settings.pii_patterns, settings.pii_model)
    return Redactor(settings.pii_patterns)


def init(settings: Settings) -> None:
    """Per-process setup (pool initializer): the redactor and the token counter are built once."""
    _state["settings"] = settings
    _state["redactor"] = make_redactor(settings) if settings.pii != "off" else None
    _state["counter"] = TokenCounter(settings.tokenizer) if settings.tokenizer is not None else None


def run(task: Task) -> ChunkResult:
    s: Settings = _state["settings"]
    res = ChunkResult(task.index)
    if task.records is not None:
        items = iter(task.records)
    else:
        items = _parse_range(task, res)
    out = None
    if s.part_dir is not None:
        res.part = str(Path(s.part_dir) / f"part-{task.index:06d}.jsonl")
        out = open(res.part, "wb")  # noqa: SIM115 - closed below
    try:
        _process(task, s, items, res, out)
    finally:
        if out is not None:
            out.close()
    return res


def _parse_range(task: Task, res: ChunkResult):
    n = 0
    first = task.start == 0
    for raw in range_lines(Path(task.file), task.start, task.end):
        n += 1
        if type(raw) is int:
            res.read += 1
            res.diags.error("too_large", f"a line of {raw / 1e6:.1f} MB (the limit for one example is "
                            f"{MAX_RECORD_BYTES >> 20} MiB)", file=task.file, line=n,
                            hint="a file without line breaks, or an example that is far too long")
            continue
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw or raw.isspace():
            res.diags.count_only(WARNING, "blank_lines", 1)
            continue
        res.read += 1
        obj, problem, bom = parse_json_line(raw, first=first and n == 1)
        if problem is not None:
            res.diags.error(problem[0], problem[1], file=task.file, line=n, hint=problem[2] or None)
            continue
        if bom:
            res.diags.warning("bom", "the file starts with a UTF-8 byte-order mark (ignored)", file=task.file,
                              line=1, hint="harmless here; some tools reject it")
        yield n, obj
    res.lines = n


def _process(task: Task, s: Settings, items, res: ChunkResult, out) -> None:
    redactor: Redactor | None = _state["redactor"]
    counter: TokenCounter | None = _state["counter"]
    diags, file, target, tabular = res.diags, task.file, s.target, task.tabular
    sha, norm, label = bytearray(), bytearray(), bytearray()
    line_no, tokens = res.line_no, res.tokens
    pending: list[dict[str, Any]] = []  # records waiting for a batched token count
    found: Counter[str] = Counter()
    sha256, blake2b, zero = hashlib.sha256, hashlib.blake2b, bytes(8)
    count_read = task.records is not None
    for n, raw in items:
        if count_read:
            res.read += 1
        try:
            lab = raw.get(s.label_column) if s.label_column else None
            if s.columns:
                raw = apply_columns(raw, s.columns)
            rec, shape, notes = canonical(raw, target, system_prompt=s.system_prompt, tabular=tabular)
        except Problem as p:
            diags.error(p.code, p.message, file=file, line=n, field=p.field, hint=p.hint)
            continue
        if shape != target:
            res.conversions[f"{shape} -> {target}"] += 1
        for note in notes:
            diags.warning("record", note, file=file, line=n)
        line = dumps(rec)
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError as exc:
            diags.error("surrogate", f"an unpaired surrogate (\\u{ord(line[exc.start]):04x}) in the text", file=file,
                        line=n, hint="the text holds a broken \\ud800-\\udfff escape; fix the encoding of the source")
            continue
        if b"\\u0000" in data and any("\x00" in t for t in texts(rec)):
            diags.error("nul", "a NUL character (\\u0000) in the text", file=file, line=n,
                        hint="remove the NUL characters; they are never meaningful in training text")
            continue
        if redactor is not None and redactor.could_contain_line(data):
            found.clear()
            _redact(rec, redactor, found)
            if found:
                if s.pii == "fail":
                    kinds = ", ".join(f"{k.lower()} x{v}" for k, v in sorted(found.items()))
                    diags.error("pii", f"personal data found: {kinds}", file=file, line=n,
                                hint="remove it, or set data.pii: redact to replace it with placeholders")
                    continue
                res.redaction.update(found)
                data = dumps(rec).encode("utf-8")
        if out is not None:
            out.write(data + b"\n")
        sha += sha256(data).digest()
        norm += norm_key(texts(rec))
        label += blake2b(_label_text(lab).encode("utf-8", "surrogatepass"), digest_size=8).digest() \
            if s.label_column else zero
        line_no.append(n)
        tokens.append(-1)
        if counter is not None:
            pending.append(rec)
    if counter is not None and pending:
        for at, n_tok in enumerate(counter.count(pending)):
            if isinstance(n_tok, Problem):
                diags.error(n_tok.code, n_tok.message, file=file, line=line_no[at], field=n_tok.field,
                            hint=n_tok.hint)
                tokens[at] = -2  # unusable: the trainer could not render it
            else:
                tokens[at] = n_tok
    res.sha, res.norm, res.label = bytes(sha), bytes(norm), bytes(label)


def _label_text(v: Any) -> str:
    return "" if v is None else v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)


def _redact(rec: dict[str, Any], redactor: Redactor, found: Counter) -> None:
    if "messages" in rec:
        for m in rec["messages"]:
            c = m["content"]
            if redactor.could_contain(c):
                m["content"] = redactor.redact(c, found)
        return
    for k, v in rec.items():
        if isinstance(v, list):  # a preference prompt given as messages
            _redact({"messages": v}, redactor, found)
        elif redactor.could_contain(v):
            rec[k] = redactor.redact(v, found)


__all__ = ["ERROR", "ChunkResult", "Settings", "Task", "init", "run"]
