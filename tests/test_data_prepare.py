"""The public pipeline: prepare() end to end, splits, content hash, manifest, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from anytune.data import DataOptions, DataValidationError, PreparedData, prepare, validate
from anytune.errors import DataError
from anytune.spec import JobSpec


def chat(i: int, extra: str = "") -> dict:
    return {"messages": [{"role": "system", "content": "Answer briefly."},
                         {"role": "user", "content": f"What is {i} + {i}?{extra}"},
                         {"role": "assistant", "content": f"{2 * i}."}]}


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_prepare_from_spec_writes_splits_manifest_and_stats(tmp_path):
    src = write_jsonl(tmp_path / "train.jsonl", [chat(i) for i in range(100)])
    spec = JobSpec(name="t", base_model="gpt-4o-mini", data={"train": str(src)})
    p = prepare(spec, tmp_path / "out")
    assert isinstance(p, PreparedData)
    assert p.format == "chat"
    assert set(p.files) == {"train", "validation", "test"}
    counts = {k: len(read_jsonl(f)) for k, f in p.files.items()}
    assert counts == {"train": 80, "validation": 10, "test": 10}
    assert p.stats.train.examples == 80
    assert p.stats.tokenizer.startswith("o200k_base") and not p.stats.approximate
    assert p.stats.train.min_tokens > 10 and p.stats.train.max_tokens < 40
    assert 80 * p.stats.train.min_tokens <= p.stats.train.tokens <= 80 * p.stats.train.max_tokens
    manifest = json.loads((p.directory / "manifest.json").read_text())
    assert manifest["content_hash"] == p.content_hash and len(p.content_hash) == 64
    assert manifest["files"]["train"]["examples"] == 80
    # every record reaches exactly one split, unchanged
    seen = sorted(json.dumps(r, sort_keys=True) for f in p.files.values() for r in read_jsonl(f))
    assert seen == sorted(json.dumps(chat(i), sort_keys=True) for i in range(100))


def test_default_directory_is_keyed_by_content_hash_and_reused(tmp_path, anytune_home):
    src = write_jsonl(tmp_path / "d.jsonl", [chat(i) for i in range(30)])
    a = prepare(DataOptions(train=str(src)))
    assert a.directory == anytune_home / "datasets" / a.content_hash
    b = prepare(DataOptions(train=str(src)))
    assert b == a
    assert not [p for p in a.directory.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_hash_is_stable_independent_of_shard_order_and_changes_with_settings(tmp_path):
    recs = [chat(i) for i in range(60)]
    d1, d2 = tmp_path / "one", tmp_path / "two"
    d1.mkdir(), d2.mkdir()
    write_jsonl(d1 / "a.jsonl", recs[:25]), write_jsonl(d1 / "b.jsonl", recs[25:])
    write_jsonl(d2 / "a.jsonl", recs[40:]), write_jsonl(d2 / "b.jsonl", list(reversed(recs[:40])))
    h1 = validate(DataOptions(train=str(d1))).content_hash
    h2 = validate(DataOptions(train=str(d2))).content_hash
    assert h1 == h2
    assert validate(DataOptions(train=str(d1))).content_hash == h1  # stable across runs
    assert validate(DataOptions(train=str(d1), max_seq_length=512)).content_hash != h1
    assert validate(DataOptions(train=str(d1), base_model="gpt-4o-mini")).content_hash != h1
    assert validate(DataOptions(train=str(d1), base_model="gpt-4")).content_hash not in (h1, validate(
        DataOptions(train=str(d1), base_model="gpt-4o-mini")).content_hash)
    assert validate(DataOptions(train=str(d1), seed=7)).content_hash != h1


def test_csv_prompt_completion_with_column_mapping_converts_to_chat(tmp_path):
    src = tmp_path / "qa.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["question", "answer", "topic"])
        for i in range(20):
            w.writerow([f"q{i}, with a comma", f"line one\nline two {i}", "x"])
    opts = DataOptions(train=str(src), columns={"prompt": "question", "completion": "answer"},
                       format="chat", system_prompt="Be kind.")
    p = prepare(opts, tmp_path / "out")
    first = read_jsonl(p.files["train"])[0]
    assert first["messages"][0] == {"role": "system", "content": "Be kind."}
    assert first["messages"][1]["content"].startswith("q") and "\n" in first["messages"][2]["content"]
    rep = validate(opts)
    assert rep.conversions == {"prompt_completion -> chat": 20}


def test_unusable_data_raises_data_error_with_every_problem(tmp_path):
    lines = [json.dumps(chat(i)) for i in range(20)]
    lines[3] = '{"messages": [{"role": "bot", "content": "hi"}]}'
    lines[7] = '{"messages": [{"role": "user", "content": "hi"}'
    lines[11] = '{"messages": [{"role": "user", "content": "only a question"}]}'
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        prepare(DataOptions(train=str(src)), tmp_path / "out")
    err = info.value
    assert isinstance(err, DataValidationError) and err.exit_code == 2
    found = {(d.line, d.code) for d in err.report.diagnostics.errors}
    assert found == {(4, "role"), (8, "json"), (12, "no_assistant")}
    assert f"{src}:4" in str(err)
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_explicit_validation_file_and_no_test(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", [chat(i) for i in range(40)])
    val = write_jsonl(tmp_path / "v.jsonl", [chat(i) for i in range(100, 105)])
    p = prepare(DataOptions(train=str(train), validation=str(val), test="none"), tmp_path / "out")
    assert set(p.files) == {"train", "validation"}
    assert p.stats.splits["train"].examples == 40 and p.stats.splits["validation"].examples == 5


def test_too_few_examples_for_the_split_and_for_the_provider(tmp_path):
    src = write_jsonl(tmp_path / "few.jsonl", [chat(i) for i in range(4)])
    rep = validate(DataOptions(train=str(src)))
    assert not rep.ok and "too_few" in rep.diagnostics.totals_by_code("error")
    rep = validate(DataOptions(train=str(src), test="none", split=(0.5, 0.5, 0.0), min_examples=10))
    msgs = [d.message for d in rep.diagnostics.errors]
    assert msgs == ["2 training examples; at least 10 are needed"]


def test_the_strictest_provider_minimum_applies(tmp_path, monkeypatch):
    import importlib
    import sys

    from anytune import registry

    (tmp_path / "strictmod.py").write_text(
        "from anytune.hookspecs import hookimpl\n"
        "class Strict:\n    name = 'strict'\n    min_examples = 25\n"
        "class Lax:\n    name = 'lax'\n"
        "@hookimpl\n"
        "def anytune_register_providers(register):\n"
        "    register('strict', 'strictmod:Strict')\n    register('lax', 'strictmod:Lax')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reset(registry.load(extra_plugins=(importlib.import_module("strictmod"),)))
    sys.modules.pop("strictmod", None)
    src = write_jsonl(tmp_path / "d.jsonl", [chat(i) for i in range(20)])
    lax = JobSpec(name="t", base_model="x", data={"train": str(src)}, provider="lax")
    assert DataOptions.from_spec(lax).min_examples == 1
    both = JobSpec(name="t", base_model="x", data={"train": str(src)}, provider=["lax", "strict", "unknown"])
    with pytest.raises(DataError, match="16 training examples; at least 25 are needed"):
        prepare(both, tmp_path / "out")


def test_unchanged_sources_are_not_processed_twice(tmp_path, monkeypatch):
    import os

    from anytune.data import gather as gather_mod

    src = write_jsonl(tmp_path / "d.jsonl", [chat(i) for i in range(30)])
    first = prepare(DataOptions(train=str(src)))
    calls = []
    real = gather_mod.gather
    monkeypatch.setattr("anytune.data.pipeline.gather", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert prepare(DataOptions(train=str(src))) == first and calls == []  # same files, same options
    assert prepare(DataOptions(train=str(src), seed=3)).content_hash != first.content_hash and calls == [1]
    write_jsonl(src, [chat(i) for i in range(31)])
    os.utime(src, ns=(1, 1))
    assert prepare(DataOptions(train=str(src))).content_hash != first.content_hash and calls == [1, 1]
