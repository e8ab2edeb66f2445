"""The bad-input corpus (tests/data/bad/ plus a few generated cases): every file gives a clear diagnostic and
exit code 2 through `anytune data validate`, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anytune.cli_data import app

BAD = Path(__file__).parent / "data" / "bad"

# file -> (error code expected in the report, words the message or hint must contain, extra CLI args)
EXPECTED: dict[str, tuple[str, str, list[str]]] = {
    "empty.jsonl": ("file", "the file is empty", []),
    "whitespace_only.jsonl": ("file", "only whitespace", []),
    "truncated_last_line.jsonl": ("json", "cut off", []),
    "bom_midfile.jsonl": ("bom", "byte-order mark (BOM) in the middle", []),
    "mixed_encoding.jsonl": ("encoding", "not valid UTF-8: byte 0xE9 at column 50", []),
    "cp1252_whole_file.csv": ("encoding", "not UTF-8", []),
    "unbalanced_quote.csv": ("csv", "malformed CSV row", []),
    "header_only.csv": ("empty", "header but no rows", []),
    "wrong_columns.csv": ("shape", "keys/columns found: reply, ticket", []),  # question/answer is detected
    "nul_bytes.jsonl": ("nul", "NUL bytes", []),
    "deeply_nested.jsonl": ("json", "nested too deeply", []),
    "deeply_nested.json": ("json", "nested too deeply", []),
    "fake.xlsx": ("file", "not an XLSX workbook (it looks like CSV text)", []),
    "fake.parquet": ("file", "not a Parquet file", []),
    "json_array_in_jsonl.jsonl": ("file", "not JSON Lines", []),
    "not_objects.jsonl": ("not_object", "not a JSON object", []),
    "no_assistant.jsonl": ("no_assistant", "no assistant message", []),
    "unknown_role.jsonl": ("role", "unknown role 'human'", []),
    "empty_content.jsonl": ("empty", "empty content", []),
    "wrong_types.jsonl": ("type", "must be a string, got a number", []),
    "null_completion.jsonl": ("missing_field", "missing 'completion'", []),
    "trailing_garbage.json": ("json", "extra data after the closing ]", []),
    "truncated_array.json": ("json", "cut off", []),
    "utf16_no_bom.jsonl": ("file", "UTF-16/32 text without a byte-order mark", []),
    "png_named_jsonl.jsonl": ("file", "it is a PNG image", []),
    "gzip_named_jsonl.jsonl": ("file", "gzip-compressed", []),
    "single_example.jsonl": ("too_few", "too few for a 80/10/10 split", []),
    "mixed_formats.jsonl": ("format_mix", "a text record cannot become chat", []),
    "bad_weight.jsonl": ("weight", "weight must be 0 or 1", []),
    "all_weights_zero.jsonl": ("no_assistant", "nothing to learn", []),
    "ragged_rows.csv": ("columns", "3 fields but the header has 2", []),
    "legacy.xls": ("file", "unsupported file type '.xls'", []),
    "unpaired_surrogate.jsonl": ("surrogate", "unpaired surrogate", []),
    "records_under_key.json": ("json", "under the key 'data'", []),
    "pii_with_fail_policy.jsonl": ("pii", "personal data found: email x1, phone x1", ["--pii", "fail"]),
    "too_long_with_fail_policy.jsonl": ("too_long", "longer than max_seq_length=64",
                                        ["--too-long", "fail", "--max-seq-length", "64"]),
    "notes.txt": ("file", "unsupported file type '.txt'", []),
    "duplicate_header.csv": ("header", "repeated column names", []),
    "tsv_named_csv.csv": ("header", "this is TSV", []),
    "messages_cell_not_json.csv": ("type", "messages cell is not valid JSON", []),
    "nan_values.jsonl": ("type", "'completion' must be a string, got a number", []),
    "empty_array.json": ("empty", "the array is empty", []),
    "unknown_keys.jsonl": ("shape", "no record is in a known format", []),
    "empty_folder": ("file", "holds no data files", []),
    "unclosed_quote_at_eof.csv": ("csv", "never closed", []),
}

runner = CliRunner()


def _generated(tmp: Path) -> dict[str, tuple[Path, str, str]]:
    """Cases built at test time: too big to commit, or binary formats written by their own libraries."""
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    cases = {}
    huge = tmp / "ten_mb_line.jsonl"
    huge.write_bytes(b'{"messages": [{"role": "user", "content": "' + b"x" * (10 << 20) + b'"}]}\n')
    cases["ten_mb_line"] = (huge, "too_large", "a line of 10.5 MB")
    wb = openpyxl.Workbook()
    wb.active.append(["prompt", "completion"])
    wb.save(tmp / "header_only.xlsx")
    cases["xlsx_header_only"] = (tmp / "header_only.xlsx", "empty", "header but no rows")
    wb = openpyxl.Workbook()
    wb.active.append(["ticket", "reply"])  # question/answer would be detected
    for i in range(12):
        wb.active.append([f"q{i}", f"a{i}"])
    wb.save(tmp / "wrong_columns.xlsx")
    cases["xlsx_wrong_columns"] = (tmp / "wrong_columns.xlsx", "shape", "keys/columns found: reply, ticket")
    pq.write_table(pa.table({"input": [f"i{i}" for i in range(12)], "label": list(range(12))}),
                   tmp / "wrong_columns.parquet")
    cases["parquet_wrong_columns"] = (tmp / "wrong_columns.parquet", "shape", "keys/columns found: input, label")
    truncated = tmp / "truncated.parquet"
    pq.write_table(pa.table({"prompt": ["p"] * 50, "completion": ["c"] * 50}), truncated)
    truncated.write_bytes(truncated.read_bytes()[:-40])
    cases["parquet_truncated"] = (truncated, "file", "not a readable Parquet file")
    return cases


def _check(path: Path, code: str, words: str, args: list[str]) -> None:
    human = runner.invoke(app, ["validate", str(path), *args])
    assert human.exit_code == 2, human.output
    assert isinstance(human.exception, SystemExit), human.exception  # a clean exit, not a crash
    assert "Traceback" not in human.output
    result = runner.invoke(app, ["validate", str(path), "--json", *args])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    report = json.loads(result.output)
    assert report["ok"] is False and report["errors"] >= 1
    assert code in report["error_counts"], report["error_counts"]
    texts = [f"{d['message']} {d.get('hint', '')}" for d in report["diagnostics"] if d["code"] == code]
    assert any(words in t for t in texts), texts
    located = [d for d in report["diagnostics"] if d["code"] == code]
    assert all("file" in d for d in located if code not in ("too_few", "too_long")), located


def test_the_corpus_has_at_least_25_kinds():
    on_disk = {p.name for p in BAD.iterdir()}
    assert on_disk == set(EXPECTED), on_disk ^ set(EXPECTED)
    assert len(EXPECTED) + 5 >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_gives_clear_diagnostic_and_exit_2(name):
    code, words, args = EXPECTED[name]
    _check(BAD / name, code, words, args)


def test_generated_bad_files(tmp_path):
    for name, (path, code, words) in _generated(tmp_path).items():
        try:
            _check(path, code, words, [])
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def test_pii_is_never_in_the_report():
    for extra in ([], ["--json"]):
        result = runner.invoke(app, ["validate", str(BAD / "pii_with_fail_policy.jsonl"), "--pii", "fail", *extra])
        assert "jane.doe" not in result.output and "7946" not in result.output
