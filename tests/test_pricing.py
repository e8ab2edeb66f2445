"""Price catalogs: schema, regions, user override, refreshed snapshots, staleness, `anytune pricing show`."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from anytune import cli_cost
from anytune.errors import ConfigError
from anytune.estimation import catalogs as catalogs_mod
from anytune.estimation import load_catalog, plan_gpu
from anytune.estimation import pricing as pricing_mod
from anytune.spec import parse_spec
from anytune.types import DataStats, SplitStats

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = {name: ROOT / f"plugins/anytune-{name}/src/anytune_{name}/data/pricing.json"
            for name in ("sagemaker", "vertex", "azureml", "openai")}
TODAY = dt.date(2026, 11, 21)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(pricing_mod, "today", lambda: TODAY)


def _spec(**compute):
    return parse_spec({"name": "t", "base_model": "meta-llama/Llama-2-7b-hf", "data": {"train": "x"},
                       "hyperparameters": {"batch_size": 1, "max_seq_length": 2048}, "compute": compute})


STATS = DataStats(splits={"train": SplitStats(examples=1000, tokens=1_500_000, max_tokens=2048)})


@pytest.mark.parametrize("name", sorted(CATALOGS))
def test_shipped_catalogs_are_valid_dated_and_sourced(name):
    cat = load_catalog(CATALOGS[name], provider=name)
    prices = cat.all_prices()
    assert prices, "a catalog without prices"
    for p in prices:
        assert p.as_of <= TODAY
        assert p.source.startswith(("https://", "AWS Price List API")), p.source
    # every instance is priced in the default region
    assert all(not isinstance(cat.offer(i), str) for i in cat.data.instances)


def test_gpu_catalogs_have_a_spot_assumption_or_spot_prices():
    for name in ("sagemaker", "vertex", "azureml"):
        cat = load_catalog(CATALOGS[name], provider=name)
        assert cat.data.spot is not None
        assert ("planning assumption" in cat.data.spot.assumption) or ("0.73 of 3.673" in cat.data.spot.assumption)
        est = plan_gpu(_spec(), STATS, cat)
        assert est.fits and est.spot_total is not None and est.spot_total.amount < est.total.amount


def test_low_confidence_and_derived_prices_are_labelled_in_the_estimate():
    cat = load_catalog(CATALOGS["vertex"], provider="vertex")
    est = plan_gpu(_spec(gpu="L4"), STATS, cat)
    assert est.instance == "g2-standard-8+1xL4"
    assert any("NVIDIA_L4 (accelerator) is derived (confidence L): Compute Engine" in n for n in est.notes)


def test_vertex_prices_machine_plus_accelerators():
    cat = load_catalog(CATALOGS["vertex"], provider="vertex")
    inst = next(i for i in cat.data.instances if i.name == "a3-highgpu-8g+8xH100")
    offer = cat.offer(inst)
    machine, accel = offer.parts
    assert accel.quantity == 8 and accel.on_demand == Decimal("9.797")
    assert offer.hourly == machine.on_demand + 8 * Decimal("9.797")
    est = plan_gpu(_spec(gpu="H100"), STATS, cat)
    assert [line.unit for line in est.lines] == ["hour", "GPU-hour"]
    assert est.lines[1].quantity == est.lines[0].quantity * 8
    assert sum(line.total.amount for line in est.lines) == est.total.amount


def test_openai_catalog_holds_contexts_and_sunsets():
    cat = load_catalog(CATALOGS["openai"], provider="openai")
    assert cat.model("gpt-4o-mini").context == 65_536 and cat.model("gpt-4.1-nano").context == 32_768
    assert cat.model("gpt-3.5-turbo").encoding == "cl100k_base"
    last = max(cat.data.sunsets, key=lambda s: s.date)
    assert last.date == dt.date(2027, 1, 6) and last.blocks_all_new_jobs


def test_invalid_catalog_names_the_file_and_field(tmp_path):
    data = json.loads(CATALOGS["sagemaker"].read_text())
    del data["instances"][0]["prices"]["us-east-1"]["source"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        load_catalog(path, provider="sagemaker")
    assert "instances.0.prices.us-east-1.source" in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ConfigError, match="not 'vertex'"):
        load_catalog(CATALOGS["sagemaker"], provider="vertex")


def test_regions_scaled_by_a_labelled_assumption_or_not_offered():
    us = load_catalog(CATALOGS["sagemaker"], provider="sagemaker")
    eu = load_catalog(CATALOGS["sagemaker"], provider="sagemaker", region="eu-west-1")
    inst = us.data.instances[0]
    assert eu.offer(inst).hourly == us.offer(inst).hourly * Decimal("1.12")
    est = plan_gpu(_spec(), STATS, eu)
    assert any("in this region is an assumption" in n for n in est.notes)
    nowhere = load_catalog(CATALOGS["sagemaker"], provider="sagemaker", region="ap-south-9")
    est = plan_gpu(_spec(), STATS, nowhere)
    assert not est.fits and all("not priced in ap-south-9" in r for r in est.rejected)


def test_user_override_wins_over_the_snapshot(monkeypatch, tmp_path):
    override = pricing_mod.override_path("sagemaker")
    override.parent.mkdir(parents=True)
    override.write_text(json.dumps({"instances": [{"name": "ml.g5.xlarge", "prices": {"us-east-1": {
        "on_demand": "0.50", "source": "our AWS private pricing agreement", "as_of": "2026-11-15",
        "confidence": "H"}}}]}))
    cat = load_catalog(CATALOGS["sagemaker"], provider="sagemaker")
    assert cat.sources[-1] == str(override)
    est = plan_gpu(_spec(), STATS, cat)
    assert est.instance == "ml.g5.xlarge" and est.lines[0].unit_price.amount == Decimal("0.50")
    assert est.lines[0].source == "our AWS private pricing agreement"
    override.write_text(json.dumps({"instances": [{"name": "ml.g5.xlarge", "prices": {"us-east-1": {"on_demand": "x"}}}]}))
    with pytest.raises(ConfigError, match="pricing/sagemaker.json"):
        load_catalog(CATALOGS["sagemaker"], provider="sagemaker")


def test_refreshed_snapshot_is_used_only_when_newer():
    refreshed = pricing_mod.refreshed_path("azureml")
    refreshed.parent.mkdir(parents=True)
    data = json.loads(CATALOGS["azureml"].read_text())
    data["instances"][0]["prices"]["eastus"].update(on_demand="0.40", as_of="2026-11-20", confidence="H")
    refreshed.write_text(json.dumps(data))
    cat = load_catalog(CATALOGS["azureml"], provider="azureml")
    assert cat.offer(cat.data.instances[0]).hourly == Decimal("0.40") and str(refreshed) in cat.sources
    data["instances"][0]["prices"]["eastus"].update(as_of="2026-01-01")
    for inst in data["instances"]:
        for p in inst["prices"].values():
            p["as_of"] = "2026-01-01"
    refreshed.write_text(json.dumps(data))
    old = load_catalog(CATALOGS["azureml"], provider="azureml")
    assert old.offer(old.data.instances[0]).hourly == Decimal("0.526") and str(refreshed) not in old.sources


def test_prices_older_than_90_days_are_flagged_in_every_estimate(monkeypatch):
    cat = load_catalog(CATALOGS["sagemaker"], provider="sagemaker")
    fresh = plan_gpu(_spec(), STATS, cat)
    assert not any("days old" in n for n in fresh.notes)
    monkeypatch.setattr(pricing_mod, "today", lambda: dt.date(2027, 3, 1))
    stale = plan_gpu(_spec(), STATS, cat)
    assert any("(120 days old, over 90): run `anytune pricing refresh`" in n for n in stale.notes)
    # the one price read in August 2026 is already stale today
    monkeypatch.setattr(pricing_mod, "today", lambda: TODAY)
    g5 = plan_gpu(_spec(gpu="A10G", gpu_count=1), STATS,
                  load_catalog(CATALOGS["sagemaker"], provider="sagemaker"))
    assert g5.instance == "ml.g5.xlarge"
    only_2x = cat.data.model_copy(update={"instances": [i for i in cat.data.instances if i.name == "ml.g5.2xlarge"]})
    est = plan_gpu(_spec(), STATS, pricing_mod.Catalog(only_2x, "us-east-1"))
    assert any("as of 2026-08-01 (112 days old" in n for n in est.notes)


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(cli_cost.pricing_app, name="pricing")
    app.command("compare")(cli_cost.compare_cmd)
    return app


def test_pricing_show_prints_dates_confidence_and_sources(monkeypatch):
    monkeypatch.setattr(catalogs_mod, "installed_catalogs", lambda: {**CATALOGS, "local": None})
    res = CliRunner().invoke(_app(), ["pricing", "show"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "sagemaker — us-east-1" in out and "ml.g5.2xlarge" in out and "2026-08-01" in out
    assert "vertex — us-central1" in out and "machine type + GPU count × accelerator" in out
    assert "gpt-4o-mini-2024-07-18" in out and "65,536 tokens" in out and "2027-01-06" in out
    assert "local: no price catalog" in out
    assert "(112 days old, over 90)" in out  # the stale SageMaker entry is called out
    one = CliRunner().invoke(_app(), ["pricing", "show", "--provider", "azureml", "--region", "westeurope"])
    assert one.exit_code == 0 and "azureml — westeurope" in one.output and "sagemaker" not in one.output
    assert "4.2240" not in one.output and "4.224" in one.output  # 3.673 × 1.15, trailing zeros trimmed


def test_pricing_show_unknown_provider_is_bad_input(monkeypatch):
    monkeypatch.setattr(catalogs_mod, "installed_catalogs", lambda: dict(CATALOGS))
    res = CliRunner().invoke(_app(), ["pricing", "show", "--provider", "nope"])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit)  # one line on stderr, no traceback
    assert "installed: sagemaker, vertex, azureml, openai" in " ".join(res.output.split())
