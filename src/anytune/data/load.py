"""Reading training files: JSONL, JSON (array), CSV, TSV, XLSX, Parquet; one file or a folder of shards.

Everything streams: JSONL is cut into newline-aligned byte ranges that worker processes read themselves;
the other formats are read record by record (csv module, an incremental JSON-array decoder, openpyxl's
read-only mode, pyarrow's batch iterator). openpyxl and pyarrow are imported only for those files.

Problems with a whole file (empty, wrong type, not decodable) and with single rows are reported through
:class:`~anytune.data.report.Diagnostics` with file and line; reading never stops at the first one.
"""

from __future__ import annotations

import codecs
import csv
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
    raise FileProblem(p, "no such file or folder", hint="check data.train/validation/test in the job spec")


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
    return _loads(text, raw_len=len(raw)) + (bom,)


def _loads(text: str, raw_len: int = 0) -> tuple[dict[str, Any] | None, tuple[str, str, str] | None]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, _json_problem(exc, text)
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


def _json_problem(exc: json.JSONDecodeError, text: str) -> tuple[str, str, str]:
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


# --- record-by-record readers -------------------------------------------------------------------------------


def iter_records(path: Path, kind: str, encoding: str | None, diags: Diagnostics) -> Iterator[tuple[int, dict]]:
    """(line or row number, record) for CSV/TSV/JSON/XLSX/Parquet and BOM-marked JSONL; problems go to diags."""
    if kind in ("csv", "tsv"):
        yield from _csv(path, "\t" if kind == "tsv" else ",", encoding, diags)
    elif kind == "json":
        yield from _json_array(path, encoding, diags)
    elif kind == "jsonl":
        yield from _jsonl_text(path, encoding, diags)
    elif kind == "xlsx":
        yield from _xlsx(path, diags)
    elif kind == "parquet":
        yield from _parquet(path, diags)
    else:  # pragma: no cover - sniff() only returns the kinds above
        raise FileProblem(path, f"unsupported kind {kind}")


def _open_text(path: Path, encoding: str | None):
    # surrogateescape keeps undecodable bytes as lone surrogates so each bad row is reported, not the file
    return open(path, encoding=encoding or "utf-8", errors="surrogateescape", newline="")


def _undecodable(s: str) -> int | None:
    for i, ch in enumerate(s):
        if "\udc80" <= ch <= "\udcff":
            return i
    return None


def _jsonl_text(path: Path, encoding: str | None, diags: Diagnostics) -> Iterator[tuple[int, dict]]:
    noted: set[str] = set()
    with _open_text(path, encoding) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            if (col := _undecodable(line)) is not None:
                diags.error("encoding", f"bytes that are not {encoding or 'UTF-8'} at column {col + 1}",
                            file=str(path), line=n)
                note_encoding(path, diags, noted)
                continue
            obj, problem = _loads(line)
            if problem:
                diags.error(problem[0], problem[1], file=str(path), line=n, hint=problem[2])
            else:
                yield n, obj


def _csv(path: Path, delimiter: str, encoding: str | None, diags: Diagnostics) -> Iterator[tuple[int, dict]]:
    csv.field_size_limit(MAX_RECORD_BYTES)
    name = "TSV" if delimiter == "\t" else "CSV"
    noted: set[str] = set()
    with _open_text(path, encoding) as f:
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        start = 1
        try:
            header = next(reader, None)
        except csv.Error as exc:
            diags.error("csv", f"the header row cannot be read: {exc}", file=str(path), line=1)
            return
        if header is None:
            diags.error("empty", "the file is empty", file=str(path), hint="export the data again")
            return
        header = [h.strip() for h in header]
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            diags.error("header", f"repeated column names in the header: {', '.join(dupes)}", file=str(path),
                        line=1, hint="give every column its own name")
            return
        if len(header) == 1 and delimiter == "," and "\t" in header[0]:
            diags.error("header", "the header has tabs but no commas: this is TSV", file=str(path), line=1,
                        hint="name the file .tsv")
            return
        start = reader.line_num + 1
        rows = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                text = str(exc)
                if "EOF" in text or "unexpected end of data" in text:
                    diags.error("csv", "a quoted field that starts here is never closed", file=str(path),
                                line=start, hint="balance the double quotes; a quote inside a field is written \"\"")
                    break
                if "field larger than field limit" in text:
                    diags.error("too_large", f"a field over {MAX_RECORD_BYTES >> 20} MiB (an unclosed quote?)",
                                file=str(path), line=start, hint="check the quotes on this row")
                    break
                diags.error("csv", f"malformed {name} row: {text}", file=str(path), line=start,
                            hint="quote fields that contain the delimiter, quotes or newlines")
                start = reader.line_num + 1
                continue
            line, start = start, reader.line_num + 1
            if not row or not any(c.strip() for c in row):
                continue
            rows += 1
            if len(row) != len(header):
                diags.error("columns", f"{len(row)} fields but the header has {len(header)}", file=str(path),
                            line=line, hint="quote fields that contain the delimiter")
                continue
            bad = next((c for c in row if _undecodable(c) is not None), None)
            if bad is not None:
                diags.error("encoding", f"bytes that are not {encoding or 'UTF-8'} in this row", file=str(path),
                            line=line)
                note_encoding(path, diags, noted)
                continue
            if any("\x00" in c for c in row):
                diags.error("nul", "NUL bytes (0x00) in this row", file=str(path), line=line,
                            hint="the file may be binary or UTF-16; save it as UTF-8 text")
                continue
            yield line, dict(zip(header, row, strict=True))
        if rows == 0 and not diags.total("error"):
            diags.error("empty", "the file has a header but no rows", file=str(path), line=1,
                        hint="add examples below the header")


def _json_array(path: Path, encoding: str | None, diags: Diagnostics) -> Iterator[tuple[int, dict]]:
    """An incremental reader for ``[ {...}, {...} ]``: memory is bounded by the largest element."""
    decoder = json.JSONDecoder()
    where = {"file": str(path)}
    with _open_text(path, encoding) as f:
        buf, pos, line, eof = "", 0, 1, False

        def fill(need_more: bool = False) -> bool:
            nonlocal buf, pos, line, eof
            if eof:
                return False
            line += buf.count("\n", 0, pos)
            buf = buf[pos:]
            pos = 0
            block = f.read(JSON_BLOCK if not need_more else max(JSON_BLOCK, len(buf)))
            if not block:
                eof = True
                return False
            buf += block
            return True

        def skip_ws() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n\ufeff":
                    pos += 1
                if pos < len(buf) or not fill():
                    return buf[pos] if pos < len(buf) else ""

        def here() -> int:
            return line + buf.count("\n", 0, pos)

        first = skip_ws()
        if first == "{":
            yield from _json_objects(path, encoding, diags)
            return
        if first != "[":
            diags.error("json", "a .json file must hold one array of records: [ {...}, {...} ]", **where,
                        line=here(), hint="check the file is JSON (or name it for what it is)")
            return
        pos += 1
        count = 0
        while True:
            c = skip_ws()
            if c == "]" and count == 0:
                pos += 1
                break
            start_line = here()
            while True:
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    if len(buf) - pos > MAX_RECORD_BYTES:
                        diags.error("too_large", f"an element over {MAX_RECORD_BYTES >> 20} MiB", **where,
                                    line=start_line, hint="split it or check the brackets")
                        return
                    if not fill(need_more=True):
                        _json_array_error(diags, exc, buf, where, line)
                        return
                except RecursionError:
                    diags.error("json", "JSON nested too deeply", **where, line=start_line,
                                hint="a training example is a flat object with text fields")
                    return
            pos = end
            count += 1
            if isinstance(obj, dict):
                yield start_line, obj
            else:
                diags.error("not_object", "an array element is not a JSON object", **where, line=start_line,
                            hint='each element must be an object like {"prompt": ..., "completion": ...}')
            c = skip_ws()
            if c == ",":
                pos += 1
                continue
            if c == "]":
                pos += 1
                break
            if c == "":
                diags.error("json", "the array is not closed: the file is cut off", **where, line=here(),
                            hint="the file seems truncated; export it again")
            else:
                diags.error("json", f"expected ',' or ']' after an element, found {c!r}", **where, line=here(),
                            hint="a comma is missing between elements")
            return
        if skip_ws():
            diags.error("json", "extra data after the closing ]", **where, line=here(),
                        hint="the file should hold exactly one array")
        if count == 0:
            diags.error("empty", "the array is empty", **where, hint="add examples")


def _json_array_error(diags: Diagnostics, exc: json.JSONDecodeError, buf: str, where: dict, line: int) -> None:
    hint = "fix the JSON syntax there"
    if exc.pos >= len(buf.rstrip()) - 1 or exc.msg.startswith("Unterminated"):
        hint = "the file is cut off (truncated?); export it again"
    diags.error("json", f"not valid JSON: {exc.msg}", **where, line=line + buf.count("\n", 0, exc.pos), hint=hint)


def _json_objects(path: Path, encoding: str | None, diags: Diagnostics) -> Iterator[tuple[int, dict]]:
    """A .json file that starts with an object: JSON Lines under a .json name (as pandas and datasets write
    them), or one object holding the records under a key (an error that names the key)."""
    from .formats import shape_of

    with _open_text(path, encoding) as f:
        obj, _ = _loads(f.readline(MAX_RECORD_BYTES))
    if obj is None or shape_of(obj) is None:
        with _open_text(path, encoding) as f:
            text = f.read(MAX_RECORD_BYTES + 1)
        try:
            whole = json.loads(text)
        except (ValueError, RecursionError):
            whole = None
        if isinstance(whole, dict):
            keys = [k for k, v in whole.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
            hint = (f"the records seem to be under the key {keys[0]!r}: write that array alone to the file"
                    if keys else "write the records as a top-level array, or one JSON object per line (.jsonl)")
            diags.error("json", "the file holds one JSON object, not an array of records", file=str(path), line=1,
                        hint=hint)
            return
    yield from _jsonl_text(path, encoding, diags)


def _xlsx(path: Path, diags: Diagnostics) -> Iterator[tuple[int, dict]]:
    try:
        import openpyxl
    except ImportError:
        raise FileProblem(path, "reading .xlsx needs openpyxl", hint="pip install openpyxl") from None
    from zipfile import BadZipFile

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileProblem(path, f"not a readable XLSX workbook ({type(exc).__name__}: {str(exc)[:120]})",
                          hint="open it in a spreadsheet and save it again as .xlsx") from None
    try:
        sheets = wb.sheetnames
        ws = wb[sheets[0]]
        if len(sheets) > 1:
            diags.warning("sheets", f"{len(sheets)} sheets: only the first ({sheets[0]!r}) is read", file=str(path))
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None or all(h is None for h in header):
            diags.error("empty", "the first sheet is empty", file=str(path), hint="put a header row and examples in it")
            return
        names = [str(h).strip() if h is not None else "" for h in header]
        n = 0
        for r, row in enumerate(rows, 2):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                continue
            n += 1
            yield r, {k: v for k, v in zip(names, row, strict=False) if k}
        if n == 0:
            diags.error("empty", "the sheet has a header but no rows", file=str(path), line=1,
                        hint="add examples below the header")
    finally:
        wb.close()


def _parquet(path: Path, diags: Diagnostics) -> Iterator[tuple[int, dict]]:
    try:
        import pyarrow.parquet as pq
        from pyarrow import ArrowException
    except ImportError:
        raise FileProblem(path, "reading .parquet needs pyarrow", hint="pip install pyarrow") from None
    try:
        pf = pq.ParquetFile(path)
        batches = pf.iter_batches(batch_size=2048)
        row = 0
        for batch in batches:
            for rec in batch.to_pylist():
                row += 1
                yield row, rec
    except (ArrowException, OSError) as exc:
        raise FileProblem(path, f"not a readable Parquet file ({str(exc)[:160]})",
                          hint="write it again with pyarrow or pandas .to_parquet()") from None
    if row == 0:
        diags.error("empty", "the Parquet file has no rows", file=str(path), hint="add examples")
