"""Loaders: every format and layout gives the same canonical records; chunking keeps line numbers right."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anytune.data import DataOptions, prepare, readers, validate
from anytune.data import gather as gather_mod
from anytune.data import load as load_mod

PAIRS = [(f"question {i}, with \"quotes\"", f"answer {i}\nsecond line") for i in range(30)]


def _read(p) -> list[dict]:
    return [json.loads(line) for f in p.files.values() for line in f.read_text(encoding="utf-8").splitlines()]


def _pc_sorted(records):
    return sorted((r["prompt"], r["completion"]) for r in records)


def write_format(path: Path, kind: str, pairs=PAIRS) -> Path:
    rows = [{"prompt": p, "completion": c} for p, c in pairs]
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind == "json":
        path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    elif kind in ("csv", "tsv"):
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, delimiter="," if kind == "csv" else "\t")
            w.writerow(["prompt", "completion"])
            w.writerows(pairs)
    elif kind == "xlsx":
        import openpyxl

        wb = openpyxl.Workbook()
        wb.active.append(["prompt", "completion"])
        for p, c in pairs:
            wb.active.append([p, c])
        wb.save(path)
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "tsv", "xlsx", "parquet"])
def test_every_format_gives_the_same_records(tmp_path, kind):
    src = write_format(tmp_path / f"data.{kind}", kind)
    p = prepare(DataOptions(train=str(src)), tmp_path / "out")
    assert p.format == "prompt_completion"
    assert _pc_sorted(_read(p)) == sorted(PAIRS)


def test_same_content_in_any_format_has_the_same_hash(tmp_path):
    hashes = {kind: validate(DataOptions(train=str(write_format(tmp_path / f"d.{kind}", kind)))).content_hash
              for kind in ("jsonl", "json", "csv", "xlsx", "parquet")}
    assert len(set(hashes.values())) == 1, hashes


def test_folder_of_mixed_shards(tmp_path):
    shards = tmp_path / "shards"
    (shards / "more").mkdir(parents=True)
    write_format(shards / "a.jsonl", "jsonl", PAIRS[:10])
    write_format(shards / "more" / "b.csv", "csv", PAIRS[10:20])
    write_format(shards / "c.parquet", "parquet", PAIRS[20:])
    (shards / ".hidden.jsonl").write_text("not json\n")
    (shards / "README.md").write_text("ignored\n")
    p = prepare(DataOptions(train=str(shards)), tmp_path / "out")
    assert _pc_sorted(_read(p)) == sorted(PAIRS)


def test_parquet_with_nested_chat_messages_and_column_mapping(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"conv": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": f"yo {i}"}],
             "id": i} for i in range(20)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    p = prepare(DataOptions(train=str(tmp_path / "c.parquet"), columns={"messages": "conv"}), tmp_path / "out")
    assert p.format == "chat"
    assert sorted(r["messages"][0]["content"] for r in _read(p)) == sorted(f"hi {i}" for i in range(20))


def test_encodings_with_a_byte_order_mark_are_decoded(tmp_path):
    text = "prompt,completion\n" + "".join(f"Où est {i}?,Là-bas {i}\n" for i in range(20))
    for enc in ("utf-8-sig", "utf-16"):
        src = tmp_path / f"{enc}.csv"
        src.write_bytes(text.encode(enc))
        rep = validate(DataOptions(train=str(src)))
        assert rep.ok, rep.to_dict()["diagnostics"]
        assert rep.examples == 20
    bom_jsonl = tmp_path / "bom.jsonl"
    bom_jsonl.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(20)).encode())
    rep = validate(DataOptions(train=str(bom_jsonl)))
    assert rep.ok and rep.diagnostics.totals_by_code("warning") == {"bom": 1}


def test_json_lines_under_a_json_name_are_read(tmp_path):
    src = tmp_path / "d.json"
    src.write_text("".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(20)))
    rep = validate(DataOptions(train=str(src)))
    assert rep.ok and rep.examples == 20 and rep.format == "text"


def test_sharegpt_alpaca_preference_and_text_shapes(tmp_path):
    share = [{"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": f"h{i}"},
                                {"from": "gpt", "value": f"g{i}"}]} for i in range(20)]
    alpaca = [{"instruction": f"do {i}", "input": "with this" if i % 2 else "", "output": f"done {i}"}
              for i in range(20)]
    pref = [{"prompt": f"p{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(20)]
    for name, rows, fmt in (("s", share, "chat"), ("a", alpaca, "prompt_completion"), ("p", pref, "preference")):
        src = tmp_path / f"{name}.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
        p = prepare(DataOptions(train=str(src)), tmp_path / name)
        assert p.format == fmt
        first = sorted(_read(p), key=json.dumps)[0]
        if fmt == "chat":
            assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
        if fmt == "prompt_completion":
            assert set(first) == {"prompt", "completion"}
    rep = validate(DataOptions(train=str(tmp_path / "a.jsonl"), format="chat", system_prompt="Be brief."))
    assert rep.ok and rep.conversions == {"alpaca -> chat": 20}


def test_preference_prompts_may_be_conversations_and_bad_ones_are_named(tmp_path):
    convo = [{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"q{i} me@x.org"}],
              "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(20)]
    convo[7]["prompt"][1]["role"] = "assistant"  # the answer must follow a user turn
    src = tmp_path / "c.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in convo))
    rep = validate(DataOptions(train=str(src)))
    [err] = rep.diagnostics.errors
    assert (err.line, err.field) == (8, "prompt[1].role") and "end with a user message" in err.message
    del convo[7]
    src.write_text("".join(json.dumps(r) + "\n" for r in convo))
    p = prepare(DataOptions(train=str(src), pii="redact"), tmp_path / "c")
    first = _read(p)[0]
    assert p.format == "preference" and first["prompt"][0] == {"role": "system", "content": "Be brief."}
    assert "me@x.org" not in json.dumps(first) and p.stats.train.tokens > 0  # redacted inside the messages


def test_line_numbers_stay_right_across_chunks_and_workers(tmp_path, monkeypatch):
    lines = [json.dumps({"text": f"example {i} " + "x" * (i % 50)}) for i in range(400)]
    for bad in (0, 136, 137, 250, 399):
        lines[bad] = '{"text": broken}'
    lines.insert(200, "")  # a blank line still counts as a line
    src = tmp_path / "d.jsonl"
    src.write_text("\n".join(lines))  # no final newline
    expected = {1, 137, 138, 252, 401}
    baseline = validate(DataOptions(train=str(src)))
    assert {d.line for d in baseline.diagnostics.errors} == expected
    monkeypatch.setattr(gather_mod, "CHUNK_BYTES", 300)
    monkeypatch.setattr(gather_mod, "PARALLEL_MIN_BYTES", 0)
    for workers in (1, 2):
        rep = validate(DataOptions(train=str(src), workers=workers))
        assert {d.line for d in rep.diagnostics.errors} == expected
        assert rep.content_hash == baseline.content_hash
        assert rep.examples == 395


record_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1).filter(
    lambda s: s.strip())


@given(st.lists(st.tuples(record_text, record_text), min_size=1, max_size=25))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_property_every_loader_round_trips_arbitrary_text(tmp_path_factory, pairs):
    tmp = tmp_path_factory.mktemp("prop")
    for kind in ("jsonl", "json", "csv", "tsv"):
        src = write_format(tmp / f"d.{kind}", kind, pairs)
        (tmp / f"parts-{kind}").mkdir()
        g = gather_mod.gather(DataOptions(train=str(src), pii="off", count_tokens=False, format="prompt_completion"),
                              tmp / f"parts-{kind}")
        assert not g.diags.errors, (kind, [d.text() for d in g.diags.errors])
        got = [json.loads(line) for part in g.parts for line in Path(part).read_text(encoding="utf-8").splitlines()]
        assert [(r["prompt"], r["completion"]) for r in got] == pairs, kind


@given(st.lists(st.dictionaries(st.sampled_from(["text", "id", "meta"]), record_text, min_size=1), max_size=30),
       st.integers(1, 64))
@settings(max_examples=60, deadline=None)
def test_property_json_array_reader_is_independent_of_block_size(records, block):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "a.json"
        src.write_text(json.dumps(records, indent=1), encoding="utf-8")
        old = load_mod.JSON_BLOCK
        load_mod.JSON_BLOCK = block
        try:
            from anytune.data.report import Diagnostics

            diags = Diagnostics()
            got = [r for _, r in readers.iter_records(src, "json", None, diags)]
        finally:
            load_mod.JSON_BLOCK = old
    assert got == records
    assert [d.code for d in diags.errors] == ([] if records else ["empty"])


@given(st.binary(max_size=400))
@settings(max_examples=150, deadline=None)
def test_property_arbitrary_bytes_never_crash_the_loaders(data):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for suffix in (".jsonl", ".json", ".csv"):
            src = Path(d) / f"x{suffix}"
            src.write_bytes(data)
            rep = validate(DataOptions(train=str(src)))
            assert rep.ok or rep.diagnostics.total("error") > 0
