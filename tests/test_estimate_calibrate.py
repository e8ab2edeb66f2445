"""`anytune calibrate`: a measured local tokens/s replaces the assumed MFU in later local estimates."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import typer
from typer.testing import CliRunner

from anytune import cli_cost
from anytune.errors import ConfigError
from anytune.estimation import plan_machine
from anytune.estimation.calibration import calibration_path, load_all
from anytune.estimation.model_size import model_size
from anytune.estimation.workload import flops_per_token
from anytune.spec import parse_spec
from anytune.types import DataStats, SplitStats

MODEL = "HuggingFaceTB/SmolLM2-135M"


def _app():
    app = typer.Typer()
    app.command("calibrate")(cli_cost.calibrate_cmd)
    app.command("compare")(cli_cost.compare_cmd)
    return app


def _metrics(tmp_path, **over):
    # the keys anytune.trainer writes into metrics.json
    m = {"base_model": MODEL, "method": "lora", "device": "cpu", "tokens_per_second": 1500.0,
         "examples": {"train": 100}, "epochs": 2, "train_runtime_s": 40.0, "total_parameters": 134_515_008, **over}
    path = tmp_path / "run" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(m))
    return path


def _spec():
    return parse_spec({"name": "c", "base_model": MODEL, "data": {"train": "x"},
                       "hyperparameters": {"batch_size": 4, "max_seq_length": 512, "epochs": 1}})


STATS = DataStats(splits={"train": SplitStats(examples=1000, tokens=300_000, max_tokens=512)})


def test_calibrate_records_and_local_estimates_use_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-cache"))
    before = plan_machine(_spec(), STATS, Decimal(0), None, 0, provider="local")
    assert any("not calibrated" in n for n in before.notes)
    res = CliRunner().invoke(_app(), ["calibrate", "--from-metrics", str(_metrics(tmp_path))])
    assert res.exit_code == 0, res.output
    (cal,) = load_all()
    assert cal.gpu == "CPU" and cal.method == "lora" and cal.tokens_per_second == 1500.0
    # context = 1500 tok/s × 40 s / (100 examples × 2 epochs) = 300 tokens per example
    size = model_size(MODEL)
    assert cal.tflops_per_gpu == pytest.approx(1500 * flops_per_token(size, "lora", 300) / 1e12)
    after = plan_machine(_spec(), STATS, Decimal(0), None, 0, provider="local")
    expected_h = 300_000 * flops_per_token(size, "lora", 300) / (cal.tflops_per_gpu * 1e12) / 3600
    assert after.hours == pytest.approx(expected_h)
    assert after.hours == pytest.approx(300_000 / 1500 / 3600)  # same model and shape: tokens / measured rate
    assert not any("not calibrated" in n for n in after.notes)
    assert any("calibrated" in a and "measured" in a for a in after.assumptions)
    assert calibration_path().is_file()


def test_gpu_run_needs_the_gpu_type(tmp_path):
    path = _metrics(tmp_path, device="cuda")
    res = CliRunner().invoke(_app(), ["calibrate", "--from-metrics", str(path)], env={"PATH": str(tmp_path)})
    assert isinstance(res.exception, ConfigError) and "pass --gpu NAME" in str(res.exception)
    ok = CliRunner().invoke(_app(), ["calibrate", "--from-metrics", str(path), "--gpu", "NVIDIA A10G"])
    assert ok.exit_code == 0 and load_all()[-1].gpu == "A10G"
    est = plan_machine(_spec(), STATS, Decimal("1.2"), "NVIDIA A10G", 1, provider="local")
    assert any("measured" in a for a in est.assumptions)


def test_bad_metrics_are_reported_with_the_file(tmp_path):
    res = CliRunner().invoke(_app(), ["calibrate", "--from-metrics", str(_metrics(tmp_path, tokens_per_second=None))])
    assert isinstance(res.exception, ConfigError) and "no tokens_per_second" in str(res.exception)
    assert res.exception.exit_code == 2
    missing = CliRunner().invoke(_app(), ["calibrate", "--from-metrics", str(tmp_path / "none.json")])
    assert isinstance(missing.exception, ConfigError) and "none.json" in str(missing.exception)


def test_without_a_file_the_newest_local_run_is_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(_app(), ["calibrate"])
    assert isinstance(res.exception, ConfigError) and "no metrics.json found" in str(res.exception)
    _metrics(tmp_path / "runs")
    assert CliRunner().invoke(_app(), ["calibrate"]).exit_code == 0
    assert load_all()[-1].source.endswith("runs/run/metrics.json")


def test_an_unknown_local_gpu_is_estimated_and_calibratable(tmp_path):
    est = plan_machine(_spec(), STATS, Decimal(0), "NVIDIA GeForce GTX 1080", 1, provider="local")
    assert est.fits and any("not in anytune's hardware catalog" in n for n in est.notes)
    path = _metrics(tmp_path, device="cuda")
    res = CliRunner().invoke(_app(), ["calibrate", "--from-metrics", str(path), "--gpu", "NVIDIA GeForce GTX 1080"])
    assert res.exit_code == 0, res.output
    after = plan_machine(_spec(), STATS, Decimal(0), "NVIDIA GeForce GTX 1080", 1, provider="local")
    assert after.hours == pytest.approx(300_000 / 1500 / 3600)
    assert any("measured" in a for a in after.assumptions)
