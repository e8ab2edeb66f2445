"""The OpenAI provider's own pieces: lazy import, options, check, estimate, the request body (checked
against the SDK's own request type), data conversion and OpenAI's data rules."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from anytune_openai import _data
from anytune_openai.provider import DEFAULT_MODEL, OpenAIProvider
from pydantic import TypeAdapter

from anytune import openai_format, registry
from anytune.errors import ConfigError, DataError
from anytune.spec import DataSpec, Hyperparameters, JobSpec
from anytune.testing.imports import run_blocking
from anytune.types import DataRef, DataStats, SplitStats


def spec_for(base_model="gpt-4.1-mini", **hp):
    return JobSpec(name="support bot".replace(" ", "_"), base_model=base_model, provider="openai",
                   data=DataSpec(train="train.jsonl"), hyperparameters=Hyperparameters(**hp))


STATS = DataStats(splits={"train": SplitStats(examples=100, tokens=50_000, max_tokens=900)},
                  tokenizer="o200k_base (bpe-openai, offline)")


def test_plugin_and_provider_do_not_import_openai_at_import_time():
    out = run_blocking("""
        import anytune_openai.plugin, anytune_openai.provider, sys
        from anytune.spec import DataSpec, JobSpec
        from anytune_openai.provider import OpenAIProvider
        p = OpenAIProvider({})
        spec = JobSpec(name="x", base_model="gpt-4.1-mini", data=DataSpec(train="t.jsonl"))
        print(p.check(spec).reason)
        assert "openai" not in sys.modules
    """, blocked=("openai", "torch", "transformers"))
    assert out.returncode == 0, out.stderr
    assert "pip install 'anytune[openai]'" in out.stdout


def test_registered_through_the_entry_point():
    assert "openai" in registry.get_registry().names()
    assert registry.get_registry().get_class("openai") is OpenAIProvider


def test_options_never_hold_a_key():
    with pytest.raises(ConfigError, match="api_key_env"):
        OpenAIProvider({"api_key_env": "sk-proj-123456"})
    with pytest.raises(ConfigError, match="api_key"):
        OpenAIProvider({"api_key": "sk-proj-123456"})


def test_check(monkeypatch):
    p = OpenAIProvider({})
    assert p.check(spec_for()).reason == "no API key: set $OPENAI_API_KEY"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    ready = p.check(spec_for())
    assert ready.ready and ready.details["model"] == "gpt-4.1-mini-2025-04-14"
    unknown = OpenAIProvider({"model": "gpt-2"}).check(spec_for())
    assert not unknown.ready and "gpt-2 is not fine-tunable" in unknown.reason and "gpt-4o-mini" in unknown.reason
    text = spec_for().model_copy(update={"data": DataSpec(train="t.jsonl", format="text")})
    assert "not plain text" in p.check(text).reason
    assert "AZURE_OPENAI_API_KEY" in OpenAIProvider({"api": "azure"}).check(spec_for()).reason


def test_check_after_openai_stops_new_jobs(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    from anytune.estimation import pricing
    monkeypatch.setattr(pricing, "today", lambda: dt.date(2027, 2, 1))
    result = OpenAIProvider({}).check(spec_for())
    assert not result.ready and "stops accepting new fine-tuning jobs" in result.reason
    # an OpenAI-compatible endpoint is not OpenAI: its retirement does not apply
    assert OpenAIProvider({"base_url": "http://127.0.0.1:1/v1"}).check(spec_for("tiny")).ready


def test_estimate_is_billed_tokens_times_price_with_date_and_sunset():
    est = OpenAIProvider({}).estimate(spec_for(epochs=3), STATS)
    assert est.instance == "gpt-4.1-mini-2025-04-14"
    assert est.total.amount == Decimal("50000") * 3 * Decimal("5.00") / 1_000_000  # $0.75
    assert est.as_of and est.lines[0].as_of and "openai.com" in est.lines[0].source
    assert any("fine-tuning being retired" in n for n in est.notes)
    assert "data leaves your network" in est.notes


def test_estimate_for_a_non_openai_base_model_says_what_it_fine_tunes():
    est = OpenAIProvider({}).estimate(spec_for("Qwen/Qwen2.5-0.5B-Instruct"), STATS)
    assert est.instance == "gpt-4.1-mini-2025-04-14" and DEFAULT_MODEL in " ".join(est.assumptions)


def test_estimate_at_a_compatible_endpoint():
    unknown = OpenAIProvider({"base_url": "http://gpu-box:8000/v1"}).estimate(spec_for("tiny", epochs=2), STATS)
    assert unknown.fits and unknown.total.amount == 0 and "price_per_million_tokens" in unknown.lines[0].source
    assert not any("retired" in n for n in unknown.notes)
    priced = OpenAIProvider({"base_url": "http://gpu-box:8000/v1", "price_per_million_tokens": "2"}).estimate(
        spec_for("tiny", epochs=2), STATS)
    assert priced.total.amount == Decimal("0.2")  # 100k billed tokens at $2 / 1M


def test_request_body_matches_the_sdk_request_type():
    from openai.types.fine_tuning.job_create_params import JobCreateParams

    p = OpenAIProvider({"suffix": "helpdesk", "learning_rate_multiplier": 0.5})
    data = DataRef(provider="openai", content_hash="h", uris={"train": "file-a", "validation": "file-b"})
    body = p.dry_run(spec_for(epochs=2.5, batch_size=4, gradient_accumulation=2, seed=9), data, "job-1")
    TypeAdapter(JobCreateParams).validate_python(body)
    assert body == {"model": "gpt-4.1-mini-2025-04-14", "training_file": "file-a", "validation_file": "file-b",
                    "method": {"type": "supervised", "supervised": {"hyperparameters": {
                        "n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 0.5}}},
                    "suffix": "helpdesk", "seed": 9, "metadata": {"anytune_job_id": "job-1"}}
    plain = OpenAIProvider({}).dry_run(spec_for(), DataRef(provider="openai", content_hash="h", uris={"train": "f"}), "j")
    TypeAdapter(JobCreateParams).validate_python(plain)
    assert plain["method"] == {"type": "supervised"} and plain["suffix"] == "support_bot"  # OpenAI's "auto"s
    dpo_spec = spec_for().model_copy(update={"data": DataSpec(train="t.jsonl", format="preference")})
    dpo = OpenAIProvider({"beta": 0.2}).dry_run(dpo_spec, DataRef(provider="openai", content_hash="h",
                                                                  uris={"train": "f"}), "j")
    TypeAdapter(JobCreateParams).validate_python(dpo)
    assert dpo["method"] == {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}


def _prepared(tmp_path, fmt, records, validation=()):
    files = {}
    for split, recs in (("train", records), ("validation", validation)):
        if recs:
            files[split] = tmp_path / f"{split}.jsonl"
            files[split].write_text("".join(json.dumps(r) + "\n" for r in recs))
    return SimpleNamespace(files=files, format=fmt, content_hash="h")


def test_prompt_completion_becomes_chat_with_the_system_prompt(tmp_path):
    spec = spec_for().model_copy(update={"data": DataSpec(train="t", system_prompt="Be brief.")})
    prepared = _prepared(tmp_path, "prompt_completion", [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(12)])
    out = _data.convert(spec, prepared, tmp_path / "out")
    assert out.kind == "chat" and out.method == "supervised" and out.examples == {"train": 12}
    first = json.loads(out.files["train"].read_text().splitlines()[0])
    assert first == {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q0"},
                                  {"role": "assistant", "content": "a0"}]}


def test_preference_becomes_openai_dpo_lines(tmp_path):
    recs = [{"prompt": f"q{i}", "chosen": "good", "rejected": "bad"} for i in range(10)]
    out = _data.convert(spec_for(), _prepared(tmp_path, "preference", recs, recs[:2]), tmp_path / "out")
    assert out.kind == "preference" and out.method == "dpo" and set(out.files) == {"train", "validation"}
    line = json.loads(out.files["train"].read_text().splitlines()[0])
    assert openai_format.check_record(line) == "preference"
    assert line == {"input": {"messages": [{"role": "user", "content": "q0"}]},
                    "preferred_output": [{"role": "assistant", "content": "good"}],
                    "non_preferred_output": [{"role": "assistant", "content": "bad"}]}


def test_openai_data_rules(tmp_path):
    chat = [{"messages": [{"role": "user", "content": "q", "weight": 1}, {"role": "assistant", "content": "a",
                                                                           "weight": 0}]}] * 9
    with pytest.raises(DataError, match="at least 10 training examples; the train split has 9"):
        _data.convert(spec_for(), _prepared(tmp_path, "chat", chat), tmp_path / "out")
    out = _data.convert(spec_for(), _prepared(tmp_path, "chat", chat * 2), tmp_path / "out")
    msgs = json.loads(out.files["train"].read_text().splitlines()[0])["messages"]
    assert "weight" not in msgs[0] and msgs[1]["weight"] == 0  # OpenAI allows weight on assistant turns only
    with pytest.raises(DataError, match="not 'text'"):
        _data.convert(spec_for(), _prepared(tmp_path, "text", [{"text": "t"}] * 12), tmp_path / "out")


def test_examples_longer_than_the_context(tmp_path):
    long = {"messages": [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]}
    short = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}
    p = OpenAIProvider({"base_url": "http://x/v1", "price_per_million_tokens": "1"})
    spec = spec_for("tiny", max_seq_length=64)  # a model the catalog does not know: context = max_seq_length
    prepared = _prepared(tmp_path, "chat", [short] * 11 + [long])
    kept = _data.convert(spec, prepared, tmp_path / "a", model="tiny", catalog=p._priced_catalog("tiny", spec))
    assert kept.truncated == 1  # OpenAI cuts it; data.too_long: fail refuses instead, naming the line
    strict = spec.model_copy(update={"data": DataSpec(train="t", too_long="fail")})
    with pytest.raises(DataError) as info:
        _data.convert(strict, prepared, tmp_path / "b", model="tiny", catalog=p._priced_catalog("tiny", strict))
    assert info.value.line == 12 and "takes at most 64" in str(info.value)
