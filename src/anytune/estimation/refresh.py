"""``anytune pricing refresh``: read current prices from the vendors' public price APIs.

Each provider reads its own vendor's price API (``Provider.refresh_prices``, in its plugin); what it asks for
is catalog data (the catalog's ``refresh`` section). Here: the shared part, which writes the result.
The result is written to ``<ANYTUNE_HOME>/pricing/<provider>.json`` (the shipped snapshot is never
modified); :func:`~anytune.estimation.pricing.load_catalog` uses it while it is the newer. When an API cannot
be reached, nothing is written and the result says how old the snapshot in use is.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from . import pricing
from .pricing import CatalogFile, Price

TIMEOUT_S = 20

Key = tuple[str, str, str]  # ("instance" | "accelerator", name, region)


class Offline(Exception):
    """The price API could not be reached or refused us; the snapshot stays in use."""


@dataclass
class RefreshResult:
    provider: str
    updated: dict[Key, Price] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    written: Path | None = None
    problem: str | None = None  # why nothing was refreshed
    snapshot_as_of: dt.date | None = None

    @property
    def message(self) -> str:
        if self.problem:
            age = pricing.age_days(self.snapshot_as_of)
            since = f" from {self.snapshot_as_of} ({age} days old)" if self.snapshot_as_of else ""
            return f"{self.provider}: {self.problem}; kept the snapshot{since}"
        text = f"{self.provider}: {len(self.updated)} prices refreshed -> {self.written}"
        if self.missing:
            text += f"; not found in the API (kept): {', '.join(self.missing)}"
        return text


def _regions(cat: CatalogFile, regions: list[str] | None) -> list[str]:
    return regions or [cat.default_region, *cat.regions]


def price(amount: Decimal, source: str, spot: Decimal | None = None) -> Price:
    """A price read from a vendor's API today."""
    return Price(on_demand=amount, spot=spot, source=source, as_of=pricing.today(), confidence="H")


def get_json(url: str, headers: dict[str, str] | None = None) -> dict:
    """A JSON answer of a public price API, or Offline."""
    req = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise Offline(f"{urllib.parse.urlsplit(url).netloc} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Offline(f"{urllib.parse.urlsplit(url).netloc} unreachable ({reason})") from None


# --- apply -----------------------------------------------------------------------------------


def apply(raw: dict, updated: dict[Key, Price]) -> dict:
    """The catalog ``raw`` with ``updated`` prices set (instances by name, accelerators by key)."""
    out = json.loads(json.dumps(raw))
    by_name = {i["name"]: i for i in out.get("instances", [])}
    for (kind, name, region), price in updated.items():
        entry = by_name.get(name) if kind == "instance" else out.get("accelerators", {}).get(name)
        if entry is not None:
            entry.setdefault("prices", {})[region] = price.model_dump(mode="json", exclude_defaults=True)
    return out


def refresh(provider: str, path: Path, *, regions: list[str] | None = None, endpoint: str | None = None,
            api_key: str | None = None) -> RefreshResult:
    """Refresh one provider's catalog from its price API; see the module doc."""
    cat = pricing.load_catalog(path, provider=provider)
    result = RefreshResult(provider, snapshot_as_of=cat.oldest)
    src = cat.data.refresh
    if src is None:
        result.problem = "its catalog names no price API to refresh from"
        return result
    wanted = _regions(cat.data, regions)
    try:
        from .. import registry

        cls = registry.get_registry().get_class(provider)
        found, missing = cls.refresh_prices(cat.data, wanted, endpoint=endpoint, api_key=api_key)
    except Offline as exc:
        result.problem = str(exc)
        return result
    result.updated, result.missing = found, missing
    if not found:
        result.problem = "the price API returned none of the catalog's entries"
        return result
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    target = pricing.refreshed_path(provider)
    if target.is_file():  # keep what earlier refreshes found for other regions
        raw = pricing._merge(raw, json.loads(target.read_text(encoding="utf-8")))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(apply(raw, found), indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    result.written = target
    return result
