"""Provider choice, fallback and budget, with providers registered through the real plugin hook."""

from decimal import Decimal

import pytest

from anytune import dispatch
from anytune.errors import BudgetExceeded, PluginError, ProviderError, ProviderUnavailable, QuotaExceeded
from anytune.spec import JobSpec
from anytune.testing import fake
from anytune.types import DataStats, SplitStats

STATS = DataStats(splits={"train": SplitStats(examples=100, tokens=10_000)})


@pytest.fixture
def reg():
    from anytune import registry

    fake.reset()
    r = registry.load(extra_plugins=(fake, fake.more_providers("cheap", "pricey")))  # a second plugin
    registry.reset(r)
    yield r
    fake.reset()


def spec(provider, budget=None, **options):
    return JobSpec(name="d", base_model="m", data={"train": "t"}, provider=provider,
                   budget={"max_usd": budget}, provider_options=options)


def test_fallback_order_and_skip_reasons(reg):
    s = spec(["fake", "cheap", "pricey"], fake={"unready": "no credentials found"})
    plan = dispatch.plan(s, STATS)
    assert [c.name for c in plan.viable] == ["cheap", "pricey"]
    assert plan.skipped[0].name == "fake" and "no credentials found" in plan.skipped[0].skipped


def test_choose_cheapest_sorts_by_cost(reg):
    s = spec({"choose": "cheapest", "candidates": ["pricey", "cheap"]},
             pricey={"price_per_hour": "9"}, cheap={"price_per_hour": "1.5"})
    plan = dispatch.plan(s, STATS)
    assert [c.name for c in plan.viable] == ["cheap", "pricey"]
    assert plan.viable[0].cost.amount == Decimal("1.5")


def test_budget_refuses_with_the_table(reg):
    s = spec(["cheap", "pricey"], budget=1, cheap={"price_per_hour": "3"}, pricey={"price_per_hour": "5"})
    with pytest.raises(BudgetExceeded) as info:
        dispatch.plan(s, STATS)
    assert "over budget" in str(info.value)
    assert {c.name for c in info.value.plan.skipped} == {"cheap", "pricey"}


def test_spot_price_is_what_the_budget_sees(reg):
    s = spec("cheap", budget=1, cheap={"price_per_hour": "3"}).model_copy(
        update={"compute": spec("x").compute.model_copy(update={"spot": True})})
    plan = dispatch.plan(s, STATS)
    assert plan.viable[0].cost.amount == Decimal("0.9")


def test_unknown_provider_alone_is_an_error_in_a_list_is_skipped(reg):
    with pytest.raises(PluginError, match="unknown provider 'nope'"):
        dispatch.plan(spec("nope"), STATS)
    plan = dispatch.plan(spec(["nope", "cheap"]), STATS)
    assert [c.name for c in plan.viable] == ["cheap"] and "unknown provider" in plan.skipped[0].skipped


def test_launch_errors_fall_back_but_bad_requests_do_not(reg):
    s = spec(["fake", "cheap"], fake={"launch_error": "quota"})
    plan = dispatch.plan(s, STATS)
    chosen, result = dispatch.run_with_fallback(plan, lambda c: c.provider.launch(s, None, "j1") if c.name == "fake"
                                                else "launched")
    assert chosen.name == "cheap" and result == "launched"
    assert "QuotaExceeded" in plan.skipped[-1].skipped

    bad = spec(["fake", "cheap"], fake={"launch_error": "bad"})
    plan = dispatch.plan(bad, STATS)
    with pytest.raises(ProviderError):
        dispatch.run_with_fallback(plan, lambda c: c.provider.launch(bad, None, "j2"))


def test_transient_errors_are_retried_first(reg):
    s = spec("fake", fake={"launch_error": "rate", "launch_error_times": 2})
    plan = dispatch.plan(s, STATS)
    from anytune.types import DataRef

    ref = DataRef(provider="fake", content_hash="h", uris={"train": "x"})
    chosen, handle = dispatch.run_with_fallback(plan, lambda c: c.provider.launch(s, ref, "j3"))
    assert handle.remote_id == "fake-j3" and fake.FakeProvider.launches == 3


def test_every_candidate_failing_says_why(reg):
    s = spec(["fake", "cheap"], fake={"launch_error": "capacity"}, cheap={"launch_error": "auth"})
    plan = dispatch.plan(s, STATS)
    with pytest.raises(ProviderUnavailable) as info:
        dispatch.run_with_fallback(plan, lambda c: c.provider.launch(s, None, "j4"))
    assert "CapacityUnavailable" in str(info.value) and "AuthError" in str(info.value)
    assert isinstance(info.value.__cause__, QuotaExceeded.__mro__[1])


def test_provider_override_from_env(reg, monkeypatch):
    monkeypatch.setenv("ANYTUNE_PROVIDER", "cheap,pricey")
    assert dispatch.provider_choice(spec("fake")).candidates == ["cheap", "pricey"]
    assert dispatch.provider_choice(spec("fake"), "cheapest:fake,cheap").choose_cheapest
