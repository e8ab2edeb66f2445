"""Splits: seeded, stratified by label, duplicates grouped; duplicate and leakage reports."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np

from anytune.data import DataOptions, prepare, validate
from anytune.data.split import assign


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _split_of(p) -> dict[str, str]:
    """text -> split name for a prepared dataset of text records."""
    return {json.loads(line)["text"]: name for name, f in p.files.items() for line in f.read_text().splitlines()}


def test_split_is_seeded_and_independent_of_input_order():
    rng = np.random.default_rng(0)
    norm = rng.integers(0, 2**63, 1000, dtype=np.uint64)
    a = assign(norm, None, (0.8, 0.1, 0.1), seed=1)
    assert np.bincount(a).tolist() == [800, 100, 100]
    assert (assign(norm, None, (0.8, 0.1, 0.1), seed=1) == a).all()
    assert (assign(norm, None, (0.8, 0.1, 0.1), seed=2) != a).any()
    perm = rng.permutation(1000)
    assert (assign(norm[perm], None, (0.8, 0.1, 0.1), seed=1) == a[perm]).all()


def test_stratified_by_label_column(tmp_path):
    labels = ["spam"] * 300 + ["ham"] * 600 + ["eggs"] * 100
    random.Random(0).shuffle(labels)
    recs = [{"text": f"message {i}", "label": lab} for i, lab in enumerate(labels)]
    src = _write(tmp_path / "d.jsonl", recs)
    p = prepare(DataOptions(train=str(src), label_column="label"), tmp_path / "out")
    where = _split_of(p)
    by_split = {name: Counter() for name in ("train", "validation", "test")}
    for r in recs:
        by_split[where[r["text"]]][r["label"]] += 1
    assert by_split["validation"] == {"spam": 30, "ham": 60, "eggs": 10}
    assert by_split["test"] == {"spam": 30, "ham": 60, "eggs": 10}
    assert "label" not in p.files["train"].read_text()  # the label column is not training text


def test_duplicates_never_cross_splits(tmp_path):
    recs = []
    for i in range(200):
        recs.append({"text": f"Example number {i} about printers"})
        if i % 5 == 0:
            recs.append({"text": f"Example number {i} about printers"})  # exact duplicate
            recs.append({"text": f"  example NUMBER {i}   about printers "})  # same after normalising
    random.Random(1).shuffle(recs)
    src = _write(tmp_path / "d.jsonl", recs)
    p = prepare(DataOptions(train=str(src), pii="off"), tmp_path / "out")
    groups: dict[str, set[str]] = {}
    for name, f in p.files.items():
        for line in f.read_text().splitlines():
            key = " ".join(json.loads(line)["text"].lower().split())
            groups.setdefault(key, set()).add(name)
    assert all(len(s) == 1 for s in groups.values())
    rep = validate(DataOptions(train=str(src), pii="off"))
    assert rep.duplicates == {"exact": 40, "normalised": 40}
    assert rep.leakage == {"train/validation": 0, "train/test": 0, "validation/test": 0}
    dup = [d for d in rep.diagnostics.warnings if d.code == "duplicate_exact"][0]
    assert dup.line and "repeats line" in dup.message


def test_leakage_between_given_files_is_reported_with_a_location(tmp_path):
    train = _write(tmp_path / "train.jsonl", [{"text": f"t {i}"} for i in range(50)])
    val = _write(tmp_path / "val.jsonl", [{"text": f"v {i}"} for i in range(8)] + [{"text": "T 3"}, {"text": "t 7"}])
    rep = validate(DataOptions(train=str(train), validation=str(val), test="none"))
    assert rep.ok
    assert rep.leakage["train/validation"] == 2
    leak = [d for d in rep.diagnostics.warnings if d.code == "leakage"][0]
    assert leak.file == str(val) and leak.line == 9
