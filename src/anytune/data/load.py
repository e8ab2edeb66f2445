"""Finding and opening training files: JSONL, JSON (array), CSV, TSV, XLSX, Parquet; one file or a folder.

``discover`` lists the files, ``sniff`` checks each one's first bytes against its name (empty, binary,
compressed, wrong type, UTF-16 without BOM) and finds its text encoding. JSONL — the format that matters
at scale — is cut into newline-aligned byte ranges that worker processes read themselves
(``jsonl_ranges``, ``range_lines``, ``parse_json_line``); the other formats are read by ``readers``.

Problems with a whole file raise :class:`FileProblem`; problems with single lines are returned or reported
through :class:`~anytune.data.report.Diagnostics` with file and line, never stopping at the first one.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError
from .report import Diagnostics

MAX_RECORD_BYTES = 8 << 20  # one example larger than 8 MiB is a broken file, not training data
SNIFF_BYTES = 1 << 16
JSON_BLOCK = 1 << 20  # characters read at a time by the JSON-array reader

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
            ".tab": "tsv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet", ".pq": "parquet"}
MAGIC = {b"PK\x03\x04": "a ZIP archive (an XLSX workbook?)", b"PAR1": "a Parquet file",
         b"\x1f\x8b": "gzip-compressed", b"\xd0\xcf\x11\xe0": "a legacy Excel .xls workbook",
         b"\x89PNG": "a PNG image", b"%PDF": "a PDF document", b"BZh": "bzip2-compressed",
         b"\xfd7zXZ": "xz-compressed", b"(\xb5/\xfd": "zstd-compressed", b"SQLite format 3": "an SQLite database"}
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class FileProblem(DataError):
    """A whole file cannot be read; carries the file, what is wrong (``what``) and a fix (``hint``)."""

    def __init__(self, path: str | Path, what: str, hint: str | None = None):
        self.what = what
        super().__init__(what, file=str(path), hint=hint)


def discover(location: str | Path) -> list[Path]:
    """The data files at ``location``: the file itself, or every supported file under a folder, in a
    stable order (sorted relative paths; hidden files skipped)."""
    p = Path(location).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted((f for f in p.rglob("*") if f.is_file() and _suffix(f) in SUFFIXES
                        and not any(part.startswith(".") for part in f.relative_to(p).parts)),
                       key=lambda f: f.relative_to(p).as_posix())
        if not files:
            raise FileProblem(p, "the folder holds no data files",
                              hint=f"put shards named *{', *'.join(sorted(set(SUFFIXES)))} in it")
        return files
    if p.exists():  # /dev/zero, a FIFO, a socket: reading one would never end, or block
        raise FileProblem(p, f"is {_special_kind(p)}, not a data file", hint="give a CSV, JSON(L), XLSX or "
                          "Parquet file, or a folder of them")
    raise FileProblem(p, "no such file or folder")


def _special_kind(p: Path) -> str:
    import stat

    mode = p.stat().st_mode
    return ("a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode) else
            "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a special file")


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def sniff(path: Path) -> tuple[str, str | None]:
    """(kind, text encoding) of a file, checking its first bytes against its name. Raises FileProblem."""
    kind = SUFFIXES.get(_suffix(path))
    if kind is None:
        raise FileProblem(path, f"unsupported file type {path.suffix or '(no extension)'!r}",
                          hint="use .jsonl, .json, .csv, .tsv, .xlsx or .parquet")
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        raise FileProblem(path, f"cannot be read: {exc.strerror or exc}") from None
    if not head:
        raise FileProblem(path, "the file is empty", hint="export the data again")
    found = next((what for magic, what in MAGIC.items() if head.startswith(magic)), None)
    if kind == "xlsx":
        if not head.startswith(b"PK\x03\x04"):
            raise FileProblem(path, f"not an XLSX workbook ({found or _looks_like(head)})",
                              hint="save it from your spreadsheet as .xlsx, or rename it to what it is")
        return kind, None
    if kind == "parquet":
        if not head.startswith(b"PAR1"):
            raise FileProblem(path, f"not a Parquet file ({found or _looks_like(head)})",
                              hint="write it with pyarrow/pandas .to_parquet(), or rename it to what it is")
        return kind, None
    if found:
        raise FileProblem(path, f"named {path.suffix} but it is {found}",
                          hint="decompress it or give it the right extension")
    encoding = next((enc for bom, enc in BOMS if head.startswith(bom)), None)
    if encoding is None and head.count(b"\x00") > len(head) // 4:
        raise FileProblem(path, "mostly NUL bytes: UTF-16/32 text without a byte-order mark, or binary data",
                          hint="save it as UTF-8 (e.g. `iconv -f utf-16le -t utf-8`)")
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body == b"":
        raise FileProblem(path, "the file holds only whitespace", hint="export the data again")
    if kind == "jsonl" and body.startswith(b"[") and not body.split(b"\n", 1)[0].rstrip().endswith(b"]"):
        raise FileProblem(path, "a JSON array spread over many lines, not JSON Lines (one object per line)",
                          hint=f"name it {path.stem}.json, or write one record per line")
    return kind, encoding


def _looks_like(head: bytes) -> str:
    text = head[:200].lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "it looks like JSON text"
    if b"," in text.split(b"\n", 1)[0] and text.isascii():
        return "it looks like CSV text"
    return "unrecognised content"


def encoding_hint(path: Path) -> str:
    """How to fix a file with bytes that are not UTF-8: convert it all, or only the odd lines (guessing their
    encoding with charset-normalizer from the first MiB)."""
    from charset_normalizer import from_bytes

    with open(path, "rb") as f:
        lines = f.read(1 << 20).splitlines()
    bad = []
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(line)
    guess = _guess(from_bytes(b"\n".join(bad or lines)))
    if bad and len(bad) * 2 < len(lines):
        like = f" (they look like {guess})" if guess and guess not in ("utf_8", "ascii") else ""
        return f"most lines are UTF-8 but {len(bad)} are not{like}: mixed encodings; re-save those lines as UTF-8"
    if guess and guess not in ("utf_8", "ascii"):
        return (f"the file looks like {guess}, not UTF-8: convert it, e.g. "
                f"`iconv -f {guess} -t utf-8 {path.name} > {path.stem}.utf8{path.suffix}`")
    return "save the file as UTF-8"


LIKELY = ("cp1252", "latin_1", "utf_16", "shift_jis", "gb18030", "big5", "euc_kr", "cp1251", "cp1250")


def _guess(matches) -> str | None:
    """charset-normalizer's best guess, preferring common encodings among near-equal candidates (its ranking
    is unreliable on short samples)."""
    best = matches.best()
    if best is None:
        return None
    close = {m.encoding for m in matches if m.chaos <= best.chaos + 0.05}
    return next((enc for enc in LIKELY if enc in close), best.encoding)


def note_encoding(path: Path, diags: Diagnostics, noted: set[str]) -> None:
    """One file-level note (with the encoding guess) for a file that has undecodable rows."""
    if str(path) not in noted:
        noted.add(str(path))
        diags.warning("encoding_guess", encoding_hint(path), file=str(path))


# --- JSONL: newline-aligned byte ranges, read by workers ---------------------------------------------------


def jsonl_ranges(path: Path, chunk_bytes: int) -> Iterator[tuple[int, int]]:
    """Byte ranges [start, end) covering the file, each ending just after a newline (or at EOF)."""
    size = path.stat().st_size
    start = 0
    with open(path, "rb") as f:
        while start < size:
            end = min(start + chunk_bytes, size)
            if end < size:
                f.seek(end - 1)
                while True:
                    block = f.read(1 << 16)
                    if not block:
                        end = size
                        break
                    i = block.find(b"\n")
                    if i >= 0:
                        end = f.tell() - len(block) + i + 1
                        break
            yield start, end
            start = end


def range_lines(path: Path, start: int, end: int) -> Iterator[bytes | int]:
    """The lines in [start, end) without their newline; a line over MAX_RECORD_BYTES comes as its size (int)
    and is never held in memory whole."""
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        if left <= MAX_RECORD_BYTES:  # the usual case: no line in the range can be too long
            lines = f.read(left).split(b"\n")
            if lines and not lines[-1]:
                lines.pop()
            yield from lines
            return
        partial = b""
        oversize = 0
        while left > 0:
            block = f.read(min(1 << 22, left))
            if not block:
                break
            left -= len(block)
            parts = block.split(b"\n")
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                if oversize:
                    oversize += len(part)
                    if not last:
                        yield oversize
                        oversize = 0
                    continue
                if i == 0 and partial:
                    part = partial + part
                    partial = b""
                if last:
                    if len(part) > MAX_RECORD_BYTES:
                        oversize = len(part)
                    else:
                        partial = part
                elif len(part) > MAX_RECORD_BYTES:
                    yield len(part)
                else:
                    yield part
        if oversize:
            yield oversize
        elif partial:
            yield partial


def parse_json_line(raw: bytes, first: bool) -> tuple[dict[str, Any] | None, tuple[str, str, str] | None, bool]:
    """(record, None, bom) or (None, (code, message, hint), bom) for one JSONL line."""
    bom = raw.startswith(codecs.BOM_UTF8)
    if bom:
        if not first:
            return None, ("bom", "a byte-order mark (BOM) in the middle of the file",
                          "files were probably concatenated; remove the BOM bytes (EF BB BF) at the start of "
                          "this line"), bom
        raw = raw[3:]
    if b"\x00" in raw:
        return None, ("nul", f"NUL bytes (0x00) in the line ({raw.count(0)} of them)",
                      "the file may be binary or UTF-16; save it as UTF-8 text"), bom
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, ("encoding", f"not valid UTF-8: byte 0x{raw[exc.start]:02X} at column {exc.start + 1}",
                      ""), bom
    return loads_record(text, raw_len=len(raw)) + (bom,)


def loads_record(text: str, raw_len: int = 0) -> tuple[dict[str, Any] | None, tuple[str, str, str] | None]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, json_problem(exc, text)
    except RecursionError:
        return None, ("json", "JSON nested too deeply", "a training example is a flat object with text fields")
    if not isinstance(obj, dict):
        kind = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
                type(None): "null"}.get(type(obj), type(obj).__name__)
        hint = 'each line must be one JSON object like {"messages": [...]}'
        if isinstance(obj, list):
            hint += "; a file holding one JSON array should be named .json"
        return None, ("not_object", f"the line is {kind}, not a JSON object", hint)
    return obj, None


def json_problem(exc: json.JSONDecodeError, text: str) -> tuple[str, str, str]:
    msg = f"not valid JSON: {exc.msg} at column {exc.colno}"
    stripped = text.rstrip()
    if stripped in ("[", "]", "],", "{", "}", "},"):
        hint = "this looks like pretty-printed JSON: write one record per line"
    elif exc.msg.startswith("Extra data"):
        hint = "more than one JSON value on the line: put each record on its own line"
    elif exc.pos >= len(stripped) - 1 or exc.msg.startswith("Unterminated string"):
        hint = "the line is cut off (truncated file or a record split over several lines?)"
    elif exc.msg.startswith("Expecting property name"):
        hint = "keys need double quotes and no trailing comma"
    elif "delimiter" in exc.msg:
        hint = "a comma or quote is missing near that column"
    else:
        hint = "fix the JSON syntax near that column"
    return "json", msg, hint
