"""Record-by-record readers for CSV, TSV, JSON arrays, XLSX, Parquet and non-UTF-8 JSONL.

The main process reads these formats (workers get batches of records). Each reader streams: the csv module,
an incremental JSON-array decoder (memory bounded by the largest element), openpyxl's read-only mode and
pyarrow's batch iterator; openpyxl and pyarrow are imported only when such a file is read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from . import load
from .load import MAX_RECORD_BYTES, FileProblem, loads_record, note_encoding
from .report import Diagnostics


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
            obj, problem = loads_record(line)
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
            block = f.read(load.JSON_BLOCK if not need_more else max(load.JSON_BLOCK, len(buf)))
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
        obj, _ = loads_record(f.readline(MAX_RECORD_BYTES))
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
