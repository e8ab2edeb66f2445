"""The quickstart's committed files are what its scripts make, and its job file is valid."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from pathlib import Path

from anytune.spec import load_spec

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"quickstart_{name}", QUICKSTART / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_data_is_what_make_data_writes():
    make_data = _module("make_data")
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["question", "answer"])
    writer.writerows(make_data.generate(2500, seed=7))
    committed = (QUICKSTART / "support_tickets.csv").read_bytes()
    assert buf.getvalue().encode() == committed, "support_tickets.csv is stale: run examples/quickstart/make_data.py"
    rows = list(csv.DictReader(io.StringIO(committed.decode())))
    assert len(rows) == 2500 and len(committed) < 500_000
    assert len({r["question"] for r in rows}) > 1500  # varied questions, not a handful repeated


def test_job_file_points_at_the_committed_model_and_data():
    spec = load_spec(QUICKSTART / "job.yaml")
    assert spec.provider == "local" and spec.method in ("full", "lora")
    model = Path(spec.base_model)
    assert model == QUICKSTART / "model"
    assert Path(spec.data.train) == QUICKSTART / "support_tickets.csv"
    config = json.loads((model / "config.json").read_text())
    assert config["model_type"] == "llama" and (model / "model.safetensors").stat().st_size < 8 * 2**20
    assert (model / "tokenizer.json").exists() and (model / "chat_template.jinja").exists()


def test_corpus_is_deterministic():
    corpus = _module("corpus")
    assert corpus.paragraphs(20, seed=3) == corpus.paragraphs(20, seed=3)
    assert corpus.dialogues(20, seed=3) == corpus.dialogues(20, seed=3)
    assert all(m[-1]["role"] == "assistant" for m in corpus.dialogues(50))
