"""`anytune compare`: every installed provider in one table, cheapest first, without cloud SDKs."""

from __future__ import annotations

import json
import os
import sys
import types
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import anytune
from anytune import cli_cost, registry
from anytune.comparison import bars, compare, estimate_all, footnotes, plot, table
from anytune.errors import ConfigError
from anytune.estimation import load_catalog, plan_gpu, plan_tokens
from anytune.estimation import stats as stats_mod
from anytune.hookspecs import hookimpl
from anytune.provider import Provider
from anytune.spec import load_spec, parse_spec
from anytune.testing.imports import HEAVY, run_blocking
from anytune.types import DataStats, SplitStats

ROOT = Path(__file__).resolve().parents[1]
SAGEMAKER = ROOT / "plugins/anytune-sagemaker/src/anytune_sagemaker/data/pricing.json"
AZURE = ROOT / "plugins/anytune-azureml/src/anytune_azureml/data/pricing.json"
OPENAI = ROOT / "plugins/anytune-openai/src/anytune_openai/data/pricing.json"


# --- providers registered through the real plugin hook -----------------------------------------

class _Base(Provider):
    def check(self, spec): ...
    def upload(self, spec, data): ...
    def launch(self, spec, data, job_id): ...
    def status(self, handle): ...
    def logs(self, handle, cursor=""): ...
    def cancel(self, handle): ...
    def retrieve(self, handle, dest): ...


class AwsLike(_Base):
    name = "awslike"
    notes = ("data goes to your S3 bucket",)

    def estimate(self, spec, stats):
        return plan_gpu(spec, stats, load_catalog(SAGEMAKER, provider="sagemaker"), provider=self.name)


class AzureLike(_Base):
    name = "azurelike"

    def estimate(self, spec, stats):
        return plan_gpu(spec, stats, load_catalog(AZURE, provider="azureml"), provider=self.name)


class TokenLike(_Base):
    name = "tokenlike"
    notes = ("data leaves your network", "weights not downloadable")

    def estimate(self, spec, stats):
        return plan_tokens(spec.model_copy(update={"base_model": "gpt-4o-mini"}), stats,
                           load_catalog(OPENAI, provider="openai"), provider=self.name)


class Broken(_Base):
    name = "broken"

    def estimate(self, spec, stats):
        raise ConfigError("provider_options.broken.region: no such region\n  - details")


class Buggy(_Base):
    name = "buggy"

    def estimate(self, spec, stats):
        return {}["missing"]


def _plugin(*classes) -> types.ModuleType:
    module = __name__

    @hookimpl
    def anytune_register_providers(register):
        for cls in classes:
            register(cls.name, f"{module}:{cls.__name__}")

    plugin = types.ModuleType("test_compare_plugin")
    plugin.anytune_register_providers = anytune_register_providers
    return plugin


@pytest.fixture
def providers():
    assert sys.modules[__name__].AwsLike is AwsLike  # the registry imports classes by "module:Class"
    reg = registry.load(extra_plugins=(_plugin(AwsLike, AzureLike, TokenLike, Broken, Buggy),))
    assert not reg.problems, reg.problems
    registry.reset(reg)
    yield reg
    registry.reset()


def _spec(method="lora", **extra):
    return parse_spec({"name": "cmp", "base_model": "meta-llama/Llama-2-7b-hf", "method": method,
                       "data": {"train": "x"}, "hyperparameters": {"batch_size": 1, "max_seq_length": 2048},
                       **extra})


STATS = DataStats(splits={"train": SplitStats(examples=2000, tokens=3_000_000, max_tokens=2048)},
                  tokenizer="test")


def test_rows_sorted_by_cost_with_unfit_and_errors_last(providers):
    rows = estimate_all(_spec(), STATS, providers=["awslike", "buggy", "azurelike", "tokenlike", "broken"])
    fitting = [r for r in rows if r.fits]
    costs = [r.cost(False) for r in fitting]
    assert costs == sorted(costs) and len(fitting) == 3
    assert [r.provider for r in rows[-2:]] == ["broken", "buggy"]
    assert rows[-2].error == "provider_options.broken.region: no such region"
    assert rows[-1].error == "KeyError: 'missing' (a bug in the buggy provider)"
    assert "data leaves your network" in next(r for r in rows if r.provider == "tokenlike").notes
    spot_rows = estimate_all(_spec(compute={"spot": True}), STATS, providers=["awslike", "azurelike"])
    assert [r.cost(True) for r in spot_rows] == sorted(r.cost(True) for r in spot_rows)


def test_a_model_too_big_everywhere_is_shown_as_not_fitting(providers):
    comp = compare(_spec(method="full", compute={"strategy": "ddp"}), stats=STATS, providers=["awslike", "azurelike"])
    assert [r.fits for r in comp.rows] == [False, False]
    assert all("needs 110" in r.estimate.rejected[0] for r in comp.rows)


def test_every_installed_provider_appears_and_only_those(providers):
    comp = compare(_spec(), stats=STATS)
    assert sorted(r.provider for r in comp.rows) == registry.get_registry().names()


def test_json_bars_footnotes_and_table(providers):
    comp = compare(_spec(), stats=STATS, providers=["awslike", "azurelike", "tokenlike", "broken"])
    data = comp.to_json()
    assert data["sorted_by"] == "on_demand_usd" and data["data"]["train_tokens"] == 3_000_000
    first = data["providers"][0]
    assert Decimal(first["on_demand_usd"]) == comp.rows[0].estimate.total.rounded().amount
    assert sum(Decimal(line["unit_price"]["amount"]) * Decimal(line["quantity"]) for line in first["lines"]) \
        == comp.rows[0].estimate.total.amount
    lines = bars(comp, width=20)
    assert len(lines) == 3 and lines[-1].count("█") == 20  # the most expensive has the full bar
    notes = footnotes(comp)
    assert any(n.endswith("data leaves your network") for n in notes)
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(table(comp))
    text = console.export_text()
    assert "awslike" in text and "ml.g6.xlarge (1× L4)" in text and "error" in text


def test_plot_writes_a_png(providers, tmp_path):
    pytest.importorskip("matplotlib")
    comp = compare(_spec(), stats=STATS, providers=["awslike", "azurelike"])
    out = plot(comp, tmp_path / "cost.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_facade_functions_are_not_shadowed_by_submodules():
    """The modules behind compare() and estimate() are named apart from them (comparison, estimation)."""
    import importlib

    for name in ("anytune.comparison", "anytune.estimation.plan", "anytune.estimation.refresh", "anytune.estimation.stats"):
        importlib.import_module(name)
    assert callable(anytune.compare) and callable(anytune.estimate)


# --- with real data: stats via the data pipeline, cached ----------------------------------------

def _model_folder(path: Path) -> None:
    """A model folder as estimating needs it — config.json and the tokenizer — without torch or weights."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from anytune.testing.tiny_model import CHAT_TEMPLATE, SPECIAL_TOKENS, tiny_corpus

    path.mkdir(parents=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(tiny_corpus(), trainer=trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    tok.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": CHAT_TEMPLATE, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
         "tokenizer_class": "PreTrainedTokenizerFast"}))
    (path / "config.json").write_text(json.dumps(
        {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "intermediate_size": 64, "vocab_size": 512, "tie_word_embeddings": True}))


@pytest.fixture
def quick_job(tmp_path):
    from anytune.testing.tiny_model import write_tiny_data

    _model_folder(tmp_path / "model")
    write_tiny_data(tmp_path / "data")
    job = tmp_path / "job.yaml"
    job.write_text("name: cmp\nbase_model: model\nmethod: lora\ndata:\n  train: data/train.jsonl\n"
                   "  validation: data/validation.jsonl\n  test: data/test.jsonl\n"
                   "hyperparameters: {epochs: 2, batch_size: 4, max_seq_length: 256}\n")
    return job


def test_stats_come_from_the_pipeline_once_then_from_the_cache(providers, quick_job, monkeypatch):
    spec = load_spec(quick_job)
    first = compare(spec, providers=["awslike"])
    assert first.stats.train.examples == 64 and not first.stats.approximate
    assert stats_mod.cache_path(stats_mod.stats_key(spec)).is_file()
    import anytune.data

    def no_prepare(*a, **k):
        raise AssertionError("prepare ran again")

    monkeypatch.setattr(anytune.data, "prepare", no_prepare)
    again = compare(spec, providers=["awslike"])
    assert again.stats == first.stats
    (quick_job.parent / "data" / "train.jsonl").write_text(
        (quick_job.parent / "data" / "train.jsonl").read_text().replace("printer", "scanner"))
    with pytest.raises(AssertionError, match="prepare ran again"):  # changed data: a new key
        compare(load_spec(quick_job), providers=["awslike"])


def test_cli_json_and_plot(providers, quick_job, tmp_path):
    app = typer.Typer()
    app.command("compare")(cli_cost.compare_cmd)
    app.command("calibrate")(cli_cost.calibrate_cmd)
    res = CliRunner().invoke(app, ["compare", str(quick_job), "--json", "--providers", "awslike,tokenlike"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [p["provider"] for p in data["providers"]] == ["awslike", "tokenlike"] or \
        [p["provider"] for p in data["providers"]] == ["tokenlike", "awslike"]
    costs = [Decimal(p["on_demand_usd"]) for p in data["providers"]]
    assert costs == sorted(costs)
    png = tmp_path / "c.png"
    res = CliRunner().invoke(app, ["compare", str(quick_job), "--plot", str(png)])
    assert res.exit_code == 0 and "awslike" in res.output and "█" in res.output and png.is_file()


# --- the import-light guarantee -----------------------------------------------------------------

def test_compare_imports_no_cloud_sdk_torch_or_transformers(quick_job, tmp_path):
    """A fresh interpreter where importing any heavy module raises; compare runs over every installed
    provider (cold: the data is prepared in the same process) and none of them got imported."""
    code = f"""
        import sys, typer
        from anytune.cli_cost import compare_cmd
        sys.argv = ["anytune-compare", {str(quick_job)!r}, "--json"]
        try:
            typer.run(compare_cmd)
        except SystemExit as exc:
            assert not exc.code, exc.code
        heavy = [m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in {HEAVY!r})]
        assert not heavy, heavy
        print("CLEAN")
    """
    env = {**os.environ, "ANYTUNE_HOME": str(tmp_path / "home"), "ANYTUNE_CONFIG_DIR": str(tmp_path / "cfg"),
           "COLUMNS": "200"}
    res = run_blocking(code, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.rstrip().endswith("CLEAN")
    data = json.loads(res.stdout.rstrip()[: -len("CLEAN")])
    assert {p["provider"] for p in data["providers"]} == set(registry.get_registry().names())
    assert not any("blocked import" in (p.get("error") or "") for p in data["providers"]), data


def test_a_spec_for_several_machines_prices_only_the_providers_that_claim_multi_node():
    comp = compare(_spec(method="full", compute={"nodes": 2, "gpu": "H100", "gpu_count": 8}), stats=STATS,
                   providers=["local", "sagemaker"])
    by = {r.provider: r for r in comp.rows}
    assert by["local"].estimate is None
    assert by["local"].error == "cannot run this spec: compute.nodes: 2: this provider trains on one machine " \
                                "(it does not claim multi_node)"
    sm = by["sagemaker"].estimate
    assert sm.fits and sm.nodes == 2 and sm.hardware == "2 × ml.p5.48xlarge (16× H100)"
    assert comp.to_json()["providers"][0]["nodes"] == 2
