"""Price catalogs: dated, sourced data files each provider plugin ships (``data/pricing.json``).

Load order for a provider (later wins, entry by entry):
1. the snapshot shipped with the plugin (the ``path`` given to :func:`load_catalog`);
2. a refreshed snapshot written by ``anytune pricing refresh`` (``<ANYTUNE_HOME>/pricing/<provider>.json``),
   used when it is newer than the shipped one;
3. the user's override file (``<config dir>/pricing/<provider>.json``), same schema, any subset of entries.

The schema is documented in docs/estimation.md ("Price catalogs").
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import paths
from ..errors import ConfigError
from ..spec import problems_from

STALE_DAYS = 90
GLOBAL = "global"  # the region key of a price that does not depend on region (OpenAI)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Price(_Entry):
    """One price, where it came from and when. ``derived`` says how, when it was not read directly."""

    on_demand: Decimal = Field(ge=0)
    spot: Decimal | None = Field(None, ge=0, description="Spot / low-priority price where the vendor lists one.")
    source: str = Field(min_length=1, description="URL (or API) the price was read from.")
    as_of: dt.date
    confidence: Literal["H", "M", "L"]
    derived: str = Field("", description="How a price that was not read directly was worked out.")


class SpotPolicy(_Entry):
    """Spot as a fraction of on-demand where no spot price is listed. Always an assumption."""

    fraction: Decimal = Field(gt=0, le=1)
    assumption: str = Field(min_length=1)


class RegionRule(_Entry):
    """A region priced as a multiple of the catalog's default region (an assumption until refreshed)."""

    factor: Decimal = Field(gt=0)
    confidence: Literal["H", "M", "L"] = "L"
    note: str = Field(min_length=1)


class Component(_Entry):
    """A separately priced part: a Vertex machine type or accelerator (per unit per hour)."""

    prices: dict[str, Price] = Field(default_factory=dict)


class Instance(_Entry):
    """A trainable machine. Priced directly (``prices``) or as machine + gpu_count x accelerator."""

    name: str
    gpu: str
    gpu_count: int = Field(ge=1)
    gpu_memory_gb: float = Field(gt=0)
    vcpus: int | None = None
    memory_gb: float | None = None
    prices: dict[str, Price] = Field(default_factory=dict)
    machine: str | None = None
    accelerator: str | None = None
    network_gbps: float | None = Field(None, gt=0, description="Network bandwidth per machine between machines "
                                       "(EFA, InfiniBand, GPUDirect or Ethernet), from the vendor's instance page; "
                                       "sets the multi-node efficiency.")


class TokenModel(_Entry):
    """A model fine-tuned per token (OpenAI): price per 1M training tokens."""

    name: str
    aliases: list[str] = Field(default_factory=list)
    context: int = Field(gt=0, description="Tokens per training example; longer examples are truncated.")
    encoding: str
    prices: dict[str, Price] = Field(default_factory=dict)


class Sunset(_Entry):
    """A known retirement, e.g. a service no longer accepting new fine-tuning jobs."""

    what: str
    date: dt.date
    applies_to: list[str] = Field(default_factory=lambda: ["*"])
    blocks_all_new_jobs: bool = Field(False, description="From this date no new job can start at all.")
    source: str
    confidence: Literal["H", "M", "L"]


class RefreshSource(_Entry):
    """Where ``anytune pricing refresh`` reads current prices (see anytune.estimation.refresh)."""

    api: Literal["aws-price-list", "azure-retail-prices", "gcp-cloud-billing"]
    service: str = Field("", description="AWS ServiceCode, or the GCP billing service ('services/<id>').")
    usage_type: str = Field("", description="AWS usagetype with {prefix} and {instance}, e.g. '{prefix}-Train:{instance}'.")
    sku_patterns: dict[str, str] = Field(default_factory=dict, description="GCP: accelerator -> regex on the SKU description.")


class CatalogFile(_Entry):
    schema_version: Literal[1] = 1
    provider: str
    currency: str = "USD"
    unit: Literal["hour", "1M tokens"] = "hour"
    default_region: str
    overhead_minutes: float = Field(0, ge=0, description="Billed start-up time per job (an assumption).")
    spot: SpotPolicy | None = None
    regions: dict[str, RegionRule] = Field(default_factory=dict)
    instances: list[Instance] = Field(default_factory=list)
    machines: dict[str, Component] = Field(default_factory=dict)
    accelerators: dict[str, Component] = Field(default_factory=dict)
    models: list[TokenModel] = Field(default_factory=list)
    sunsets: list[Sunset] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    refresh: RefreshSource | None = None


@dataclass(frozen=True)
class PricePart:
    """One priced component of an offer in one region."""

    item: str
    quantity: int
    price: Price
    regional: RegionRule | None = None  # set when the price was scaled from the default region
    unit: str = "hour"  # "GPU-hour" for an accelerator priced per GPU

    @property
    def on_demand(self) -> Decimal:
        return self.price.on_demand * (self.regional.factor if self.regional else 1)

    @property
    def spot(self) -> Decimal | None:
        if self.price.spot is None:
            return None
        return self.price.spot * (self.regional.factor if self.regional else 1)


@dataclass(frozen=True)
class Offer:
    """An instance as offered in one region: its priced parts (hourly)."""

    instance: Instance
    parts: tuple[PricePart, ...]

    @property
    def hourly(self) -> Decimal:
        return sum((p.on_demand * p.quantity for p in self.parts), Decimal(0))


@dataclass
class Catalog:
    """A provider's prices, resolved for one region."""

    data: CatalogFile
    region: str
    sources: list[str] = field(default_factory=list)  # files merged, in order

    @property
    def provider(self) -> str:
        return self.data.provider

    # --- resolution -------------------------------------------------------------------------

    def _price(self, prices: dict[str, Price]) -> tuple[Price, RegionRule | None] | None:
        if self.region in prices:
            return prices[self.region], None
        if GLOBAL in prices:
            return prices[GLOBAL], None
        rule = self.data.regions.get(self.region)
        if rule is not None and self.data.default_region in prices:
            return prices[self.data.default_region], rule
        return None

    def offer(self, inst: Instance) -> Offer | str:
        """The instance priced in this region, or why it cannot be."""
        parts: list[PricePart] = []
        if inst.machine or inst.accelerator:
            for kind, table, name, qty in (("machine", self.data.machines, inst.machine, 1),
                                           ("accelerator", self.data.accelerators, inst.accelerator, inst.gpu_count)):
                if not name:
                    continue
                comp = table.get(name)
                found = self._price(comp.prices) if comp else None
                if found is None:
                    return f"no {kind} price for {name} in {self.region}"
                parts.append(PricePart(f"{name} ({kind})", qty, *found, unit="GPU-hour" if kind == "accelerator" else "hour"))
        else:
            found = self._price(inst.prices)
            if found is None:
                return f"not priced in {self.region}"
            parts.append(PricePart(inst.name, 1, *found))
        return Offer(inst, tuple(parts))

    def model(self, name: str) -> TokenModel | None:
        for m in self.data.models:
            if name == m.name or name in m.aliases:
                return m
        return None

    def sunsets_for(self, name: str = "*") -> list[Sunset]:
        return [s for s in self.data.sunsets if "*" in s.applies_to or name in s.applies_to]

    # --- dates ------------------------------------------------------------------------------

    def all_prices(self) -> list[Price]:
        out = [p for i in self.data.instances for p in i.prices.values()]
        out += [p for c in (*self.data.machines.values(), *self.data.accelerators.values()) for p in c.prices.values()]
        out += [p for m in self.data.models for p in m.prices.values()]
        return out

    @property
    def oldest(self) -> dt.date | None:
        dates = [p.as_of for p in self.all_prices()]
        return min(dates) if dates else None

    @property
    def newest(self) -> dt.date | None:
        dates = [p.as_of for p in self.all_prices()]
        return max(dates) if dates else None


def today() -> dt.date:
    return dt.date.today()


def sunset_note(s: Sunset) -> str:
    when = "since" if s.date <= today() else "from"
    return f"fine-tuning being retired: {s.what} {when} {s.date.isoformat()} (confidence {s.confidence})"


def age_days(as_of: dt.date | None) -> int | None:
    return None if as_of is None else (today() - as_of).days


def staleness_note(provider: str, as_of: dt.date | None) -> str | None:
    """A note for estimates built on prices older than STALE_DAYS."""
    days = age_days(as_of)
    if days is None or days <= STALE_DAYS:
        return None
    return (f"{provider} prices as of {as_of.isoformat()} ({days} days old, over {STALE_DAYS}): "
            "run `anytune pricing refresh`")


# --- loading -------------------------------------------------------------------------------


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"price catalog not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable JSON price catalog: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a price catalog is a JSON object")
    return data


def _validate(data: dict[str, Any], source: str) -> CatalogFile:
    try:
        return CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid price catalog {source}", problems_from(exc, None, source)) from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Entry-by-entry merge: named entries (instances, models) and keyed tables merge by name/key and
    their ``prices`` by region; other top-level fields are replaced; sunsets and notes are added."""
    out = dict(base)
    for key, value in over.items():
        if key in ("instances", "models"):
            merged = {e["name"]: dict(e) for e in base.get(key, [])}
            for e in value:
                old = merged.get(e["name"], {})
                merged[e["name"]] = {**old, **e, "prices": {**old.get("prices", {}), **e.get("prices", {})}}
            out[key] = list(merged.values())
        elif key in ("machines", "accelerators", "regions"):
            table = {k: dict(v) for k, v in base.get(key, {}).items()}
            for name, entry in value.items():
                old = table.get(name, {})
                table[name] = {**old, **entry}
                if "prices" in entry:
                    table[name]["prices"] = {**old.get("prices", {}), **entry["prices"]}
            out[key] = table
        elif key in ("sunsets", "notes"):
            out[key] = list(base.get(key, [])) + [v for v in value if v not in base.get(key, [])]
        else:
            out[key] = value
    return out


def refreshed_path(provider: str) -> Path:
    return paths.home() / "pricing" / f"{provider}.json"


def override_path(provider: str) -> Path:
    return paths.config_dir() / "pricing" / f"{provider}.json"


def load_catalog(path: str | Path, *, provider: str, region: str | None = None) -> Catalog:
    """The provider's catalog for ``region`` (None = the catalog's default region): the shipped snapshot,
    a newer refreshed snapshot if any, then the user's override file."""
    path = Path(path)
    raw = _read(path)
    shipped = _validate(raw, str(path))
    if shipped.provider != provider:
        raise ConfigError(f"{path}: catalog is for provider {shipped.provider!r}, not {provider!r}")
    sources = [str(path)]
    refreshed = refreshed_path(provider)
    if refreshed.is_file():
        fresh_raw = _read(refreshed)
        fresh = _validate(fresh_raw, str(refreshed))
        if (Catalog(fresh, "").newest or dt.date.min) > (Catalog(shipped, "").newest or dt.date.min):
            raw = _merge(raw, fresh_raw)
            sources.append(str(refreshed))
    override = override_path(provider)
    if override.is_file():
        over = _read(override)
        raw = _merge(raw, over)
        sources.append(str(override))
    data = _validate(raw, " + ".join(sources))
    return Catalog(data=data, region=region or data.default_region, sources=sources)
