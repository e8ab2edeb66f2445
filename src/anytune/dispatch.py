"""Which provider runs a job: the configured choice, the fallback chain, cheapest-first, and the budget guard.

The dispatcher only calls the Provider verbs; it never looks at a provider's name to decide anything.
Every candidate it passes over is recorded with the reason, so the user (and the job record) can see why:
a capability the spec asks for and the provider lacks (``Provider.unsupported``), not ready, no hardware
that fits, over budget.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from . import registry
from .errors import AnytuneError, BudgetExceeded, ConfigError, PluginError, ProviderError, ProviderUnavailable
from .provider import Provider
from .spec import ChooseSpec, JobSpec
from .types import CostEstimate, DataStats, Money, Readiness


@dataclass
class Candidate:
    name: str
    provider: Provider | None = None
    estimate: CostEstimate | None = None
    skipped: str = ""  # why it was passed over; empty = viable
    spot: bool = False
    bad_input: bool = False  # skipped for a fault of the spec (e.g. a base model it cannot load), not of the provider

    @property
    def cost(self) -> Money | None:
        return self.estimate.planned_total(self.spot) if self.estimate else None

    def as_record(self) -> dict[str, Any]:
        return {"provider": self.name, "skipped": self.skipped,
                "cost": str(self.cost.rounded().amount) if self.cost else None,
                "instance": self.estimate.instance if self.estimate else None}


@dataclass
class Plan:
    viable: list[Candidate] = field(default_factory=list)  # in the order they will be tried
    skipped: list[Candidate] = field(default_factory=list)

    @property
    def all(self) -> list[Candidate]:
        return self.viable + self.skipped

    def record(self) -> list[dict[str, Any]]:
        return [c.as_record() for c in self.viable + self.skipped]


def provider_choice(spec: JobSpec, override: str | None = None) -> JobSpec:
    """Apply ``--provider`` (or ``ANYTUNE_PROVIDER``) over the spec: a name or a comma-separated fallback list."""
    value = override or os.environ.get("ANYTUNE_PROVIDER")
    if not value:
        return spec
    names = [v.strip() for v in value.split(",") if v.strip()]
    if value.startswith("cheapest:"):
        return spec.with_provider(ChooseSpec(candidates=[n.strip() for n in value[9:].split(",") if n.strip()]))
    return spec.with_provider(names[0] if len(names) == 1 else names)


def options_for(spec: JobSpec, name: str, profile: dict[str, dict] | None) -> dict[str, Any]:
    return {**(profile or {}).get(name, {}), **spec.options_for(name)}


def make_provider(spec: JobSpec, name: str, profile: dict[str, dict] | None = None) -> Provider:
    return registry.create(name, options_for(spec, name, profile))


def plan(spec: JobSpec, stats: DataStats, profile: dict[str, dict] | None = None, *, check: bool = True) -> Plan:
    """Check and estimate every candidate; order the viable ones; raise when none is left.
    ``check=False`` (for dry runs) skips the readiness checks, which may need credentials and network."""
    result = Plan()
    names = spec.candidates
    single = len(names) == 1
    budget = Decimal(str(spec.budget.max_usd)) if spec.budget.max_usd is not None else None
    found = None
    if check:  # a base model that cannot be anything (no such folder, no config.json) is bad input for all
        from .basemodel import check_adapter, locate

        found = locate(spec.base_model)
        if spec.init_adapter:
            check_adapter(spec.init_adapter)
    for name in names:
        cand = Candidate(name=name, spot=spec.compute.spot)
        try:
            cand.provider = make_provider(spec, name, profile)
        except (PluginError, ConfigError) as exc:
            if single:
                raise
            cand.skipped = str(exc)
            result.skipped.append(cand)
            continue
        cand.skipped = _why_not(cand, spec, stats, budget, check, found)
        (result.skipped if cand.skipped else result.viable).append(cand)
    if isinstance(spec.provider, ChooseSpec):
        result.viable.sort(key=lambda c: c.cost.amount)
    if not result.viable:
        reasons = "; ".join(f"{c.name}: {c.skipped}" for c in result.skipped)
        if all(c.bad_input for c in result.skipped):
            exc: AnytuneError = ConfigError(f"no provider can run this job: {reasons}")
        elif budget is not None and any(c.skipped.startswith("over budget") for c in result.skipped):
            exc = BudgetExceeded(f"no provider can run this job within the budget of ${budget} ({reasons})")
        else:
            exc = ProviderUnavailable(f"no provider can run this job ({reasons})")
        if not isinstance(exc, ConfigError):  # bad input says it in one message; the rest get the table
            exc.plan = result  # the CLI shows the table of candidates
        raise exc
    return result


def _base_model_problem(cand: Candidate, spec: JobSpec, found) -> str:
    """Why the machine this candidate trains on cannot load the base model ("" when it can)."""
    from .basemodel import hub_reachable

    if found.kind != "hub" or cand.provider.fetches_hub_models:
        return ""
    why = hub_reachable(found.where)
    if why is None:
        return ""
    cand.bad_input = True
    return (f"base_model {spec.base_model} is not in this machine's Hugging Face cache and cannot be downloaded "
            f"({why}); download it once where there is network (`hf download {spec.base_model}`) or give a "
            "local model folder")


def _why_not(cand: Candidate, spec: JobSpec, stats: DataStats, budget: Decimal | None, check: bool,
             found=None) -> str:
    cannot = cand.provider.cannot(spec)
    if cannot:  # the spec asks for what this provider does not do: the spec, not the provider, must change
        cand.bad_input = True
        return "cannot run this spec: " + "; ".join(cannot)
    if check and found is not None:
        problem = _base_model_problem(cand, spec, found)
        if problem:
            return f"not ready: {problem}"
    missing = cand.provider.missing_sdk() if check else None
    if missing:
        ready = Readiness(ready=False, reason=missing)
    else:
        ready = cand.provider.check(spec) if check else None
    try:
        cand.estimate = cand.provider.estimate(spec, stats)
    except AnytuneError as exc:
        return f"cannot estimate: {exc}"
    ignored = tuple(w for w in cand.provider.ignores(spec) if w not in cand.estimate.warnings)
    if ignored:  # asked for, and meaningless here: shown before the launch like every other difference
        cand.estimate = cand.estimate.model_copy(update={"warnings": cand.estimate.warnings + ignored})
    if ready is not None and not ready.ready:
        return f"not ready: {ready.reason}"
    if not cand.estimate.fits:
        return "the model does not fit on any offered hardware: " + "; ".join(cand.estimate.rejected[:3])
    if budget is not None and cand.cost.amount > budget:
        return f"over budget: {cand.cost} > ${budget}"
    return ""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def with_retries(fn: Callable[[], Any], attempts: int = 3) -> Any:
    """Retry transient provider errors (rate limits, brief outages) with exponential backoff."""
    for attempt in Retrying(retry=retry_if_exception(_retryable), stop=stop_after_attempt(attempts),
                            wait=wait_exponential(multiplier=float(os.environ.get("ANYTUNE_RETRY_WAIT", "1")), max=30),
                            reraise=True):
        with attempt:
            return fn()


def run_with_fallback(plan: Plan, attempt: Callable[[Candidate], Any]) -> tuple[Candidate, Any]:
    """Call ``attempt`` on each viable candidate in turn. Errors that another provider may not have
    (quota, capacity, auth, unavailable) move on to the next candidate; others propagate."""
    last: ProviderError | None = None
    for cand in list(plan.viable):
        try:
            return cand, with_retries(lambda c=cand: attempt(c))
        except ProviderError as exc:
            if not exc.fallback:
                raise
            cand.skipped = f"{type(exc).__name__}: {exc}"
            plan.viable.remove(cand)
            plan.skipped.append(cand)
            last = exc
    reasons = "; ".join(f"{c.name}: {c.skipped}" for c in plan.skipped)
    raise ProviderUnavailable(f"every candidate provider failed ({reasons})") from last
