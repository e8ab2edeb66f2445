"""OpenAI billed tokens, counted the way OpenAI counts them (worked example 2 of docs/estimation.md)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from anytune.errors import DataError
from anytune.estimation import load_catalog, openai_billed_tokens, openai_default_epochs, plan_tokens
from anytune.estimation import pricing as pricing_mod
from anytune.spec import parse_spec
from anytune.types import DataStats, SplitStats

CATALOG = Path(__file__).resolve().parents[1] / "plugins/anytune-openai/src/anytune_openai/data/pricing.json"

# A small training file. Tokens (o200k_base) by hand, per OpenAI's cookbook: 3 per message, every string
# field encoded (role, content, name), +1 per name, +3 priming the reply.
RECORDS = [
    {"messages": [{"role": "system", "content": "You are terse."},  # 3 + system 1 + You|are|terse|. 4 = 8
                  {"role": "user", "content": "Hi"},                 # 3 + user 1 + Hi 1 = 5
                  {"role": "assistant", "content": "Hello!"}]},      # 3 + assistant 1 + Hello|! 2 = 6   (+3) = 22
    {"messages": [{"role": "user", "content": "What is 2+2?"},       # 3 + 1 + What|is| |2|+|2|? 7 = 11
                  {"role": "assistant", "content": "4", "weight": 1}]},  # 3 + 1 + 4 1 = 5 (weight: not text) (+3) = 19
    {"messages": [{"role": "user", "content": "Capital of France?", "name": "alice"},  # 3+1+4 + alice 1 + 1 = 10
                  {"role": "assistant", "content": "Paris"}]},       # 3 + 1 + Paris 1 = 5   (+3) = 18
]
HAND_COUNT = [22, 19, 18]


@pytest.fixture
def catalog():
    return load_catalog(CATALOG, provider="openai")


def test_billed_tokens_equal_the_hand_count(catalog):
    billed = openai_billed_tokens(RECORDS, "gpt-4o-mini", 2, catalog=catalog)
    assert list(billed.per_example) == HAND_COUNT
    assert billed.per_epoch == 59 and billed.billed == 118 and billed.truncated == 0


def test_default_epochs_follow_openai_rule(catalog):
    # 3 examples x 3 epochs = 9 passes < 100, so OpenAI raises epochs to min(25, 100 // 3) = 25
    billed = openai_billed_tokens(RECORDS, "gpt-4o-mini-2024-07-18", None, catalog=catalog)
    assert billed.epochs == 25 and billed.billed == 59 * 25
    assert openai_default_epochs(50) == 3
    assert openai_default_epochs(20_000) == 1  # 60,000 passes > 25,000 -> max(1, 25000 // 20000)
    assert openai_default_epochs(5_000) == 3  # 15,000 passes: within range
    assert openai_default_epochs(10_000) == 2


def test_examples_longer_than_the_context_are_billed_at_the_context(tmp_path, monkeypatch):
    data = json.loads(CATALOG.read_text())
    data["models"][0]["context"] = 20
    path = tmp_path / "openai.json"
    path.write_text(json.dumps(data))
    cat = load_catalog(path, provider="openai")
    billed = openai_billed_tokens(RECORDS, data["models"][0]["name"], 1, catalog=cat)
    assert billed.truncated == 1 and billed.per_epoch == 20 + 19 + 18


def test_not_a_chat_record_is_a_data_error(catalog):
    with pytest.raises(DataError, match=r"^train.jsonl:2: not a chat record"):
        openai_billed_tokens([RECORDS[0], {"prompt": "x"}], "gpt-4o-mini", 1, catalog=catalog, source="train.jsonl")


def _spec(model, **hp):
    return parse_spec({"name": "t", "base_model": model, "data": {"train": "x"}, "provider": "openai",
                       "hyperparameters": hp})


def test_plan_tokens_prices_per_million_and_warns_about_the_retirement(catalog, monkeypatch):
    monkeypatch.setattr(pricing_mod, "today", lambda: dt.date(2026, 11, 21))
    stats = DataStats(splits={"train": SplitStats(examples=1000, tokens=2_000_000, max_tokens=900)},
                      tokenizer="o200k_base (openai counting)")
    est = plan_tokens(_spec("gpt-4o-mini", epochs=2), stats, catalog)
    assert est.fits and est.lines[0].quantity == Decimal("4") and est.total.amount == Decimal("12.00")
    assert any("fine-tuning being retired" in n and "2027-01-06" in n for n in est.notes)
    auto = plan_tokens(_spec("gpt-4o-mini"), stats, catalog)  # epochs not given: OpenAI's default (3)
    assert auto.lines[0].quantity == Decimal("6")


def test_after_the_last_sunset_openai_does_not_fit(catalog, monkeypatch):
    monkeypatch.setattr(pricing_mod, "today", lambda: dt.date(2027, 2, 1))
    stats = DataStats(splits={"train": SplitStats(examples=10, tokens=1000)})
    est = plan_tokens(_spec("gpt-4.1-nano"), stats, catalog)
    assert not est.fits and "stops accepting new fine-tuning jobs" in est.rejected[0]


def test_a_model_openai_does_not_fine_tune_is_rejected(catalog):
    est = plan_tokens(_spec("meta-llama/Llama-2-7b-hf"), DataStats(splits={"train": SplitStats(examples=1, tokens=1)}),
                      catalog)
    assert not est.fits and "not fine-tunable" in est.rejected[0]


def test_a_retired_base_model_is_closed_on_its_own_date_and_the_others_still_fit(catalog, monkeypatch):
    stats = DataStats(splits={"train": SplitStats(examples=10, tokens=1000)})
    monkeypatch.setattr(pricing_mod, "today", lambda: dt.date(2026, 12, 3))
    nano = plan_tokens(_spec("gpt-4.1-nano"), stats, catalog)
    assert not nano.fits and "shuts gpt-4.1-nano-2025-04-14 down" in nano.rejected[0] and "2026-10-23" in nano.rejected[0]
    assert plan_tokens(_spec("gpt-4o-mini"), stats, catalog).fits
    monkeypatch.setattr(pricing_mod, "today", lambda: dt.date(2026, 10, 1))
    assert plan_tokens(_spec("gpt-4.1-nano"), stats, catalog).fits
