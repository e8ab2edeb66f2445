"""`anytune data validate|prepare`: readable report and summary table, --json, exit codes, spec files."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from anytune.cli_data import app

runner = CliRunner()


def _data(tmp_path, n=40):
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"My printer {i} fails, mail bob{i}@example.com"},
        {"role": "assistant", "content": f"Restart printer {i}."}]}) + "\n" for i in range(n)))
    return src


def test_validate_prints_report_and_summary_table(tmp_path):
    result = runner.invoke(app, ["validate", str(_data(tmp_path)), "--model", "gpt-4o-mini"])
    assert result.exit_code == 0, result.output
    out = result.output
    for words in ("o200k_base (bpe-openai, offline)", "train", "validation", "test", "median", "p95",
                  "PII", "email 40", "data is usable", "content hash"):
        assert words in out, words
    assert "bob1@example.com" not in out


def test_validate_json_has_the_same_content(tmp_path):
    result = runner.invoke(app, ["validate", str(_data(tmp_path)), "--json", "--max-seq-length", "16"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and report["examples"] == 40 and report["format"] == "chat"
    assert set(report["splits"]) == {"train", "validation", "test"}
    assert report["too_long"]["max_seq_length"] == 16 and report["approximate_tokens"] is True
    assert report["redaction"] == {"EMAIL": 40}


def test_prepare_writes_splits_and_manifest(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["prepare", str(_data(tmp_path)), "-o", str(out), "--format", "chat"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["train"]["examples"] == 32 and manifest["redaction"]["counts"] == {"EMAIL": 40}
    assert (out / "train.jsonl").is_file() and "<EMAIL>" in (out / "train.jsonl").read_text()
    assert manifest["content_hash"] in result.output


def test_prepare_refuses_bad_data_with_exit_2_and_writes_nothing(tmp_path):
    src = _data(tmp_path)
    src.write_text(src.read_text() + "{broken\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["prepare", str(src), "-o", str(out)])
    assert result.exit_code == 2
    assert f"{src}:41" in result.output and "not valid JSON" in result.output
    assert not (out / "train.jsonl").exists()


def test_a_job_spec_supplies_the_data_section(tmp_path):
    src = _data(tmp_path)
    spec = tmp_path / "job.yaml"
    spec.write_text(f"name: j\nbase_model: gpt-4o-mini\ndata:\n  train: {src.name}\n  pii: fail\n")
    result = runner.invoke(app, ["validate", str(spec), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output)["error_counts"]["pii"] == 40
    assert runner.invoke(app, ["validate", str(spec), "--pii", "redact"]).exit_code == 0


def test_bad_options_exit_2_without_traceback(tmp_path):
    src = _data(tmp_path)
    for args in (["--pii", "maybe"], ["--column", "prompt"], ["--too-long", "cut"], ["--format", "csv"]):
        result = runner.invoke(app, ["validate", str(src), *args])
        assert result.exit_code == 2, args
        assert isinstance(result.exception, SystemExit)
    bad_spec = tmp_path / "bad.yaml"
    bad_spec.write_text("name: j\nbase_model: x\ndata:\n  train: d.jsonl\n  pii_patterns: {id: '(unclosed'}\n")
    result = runner.invoke(app, ["validate", str(bad_spec)])
    assert result.exit_code == 2 and "pii_patterns.id" in result.output
