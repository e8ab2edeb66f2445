"""`anytune compare`: every installed provider's estimate for one job, cheapest first.

Pure computation from the providers' price catalogs: it calls each provider's ``estimate()`` (which
must not import a cloud SDK), never ``check()``, ``upload()`` or anything that talks to a cloud.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import registry
from .errors import AnytuneError, ConfigError
from .spec import JobSpec
from .types import CostEstimate, DataStats


@dataclass(frozen=True)
class Row:
    provider: str
    estimate: CostEstimate | None = None
    error: str = ""  # why there is no estimate
    provider_notes: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        return self.estimate is not None and self.estimate.fits

    def cost(self, spot: bool) -> Decimal | None:
        return self.estimate.planned_total(spot).amount if self.fits else None

    @property
    def notes(self) -> list[str]:
        seen: list[str] = []
        for n in (*self.provider_notes, *(self.estimate.notes if self.estimate else ())):
            if n not in seen:
                seen.append(n)
        return seen

    def to_json(self) -> dict[str, Any]:
        e = self.estimate
        if e is None:
            return {"provider": self.provider, "error": self.error, "notes": self.notes}
        return {
            "provider": self.provider, "instance": e.instance, "gpu": e.gpu, "gpu_count": e.gpu_count, "nodes": e.nodes,
            "fits": e.fits,
            "substitute": e.substitute or None,
            "hours": round(e.hours, 4) if e.gpu_count or e.hours else None,
            "on_demand_usd": str(e.total.rounded().amount) if e.fits else None,
            "spot_usd": str(e.spot_total.rounded().amount) if e.fits and e.spot_total is not None else None,
            "as_of": e.as_of.isoformat() if e.as_of else None, "notes": self.notes,
            "assumptions": list(e.assumptions), "rejected": list(e.rejected),
            "lines": [json.loads(line.to_json()) for line in e.lines],
        }


@dataclass
class Comparison:
    spec: JobSpec
    stats: DataStats
    rows: list[Row] = field(default_factory=list)

    @property
    def spot(self) -> bool:
        return self.spec.compute.spot

    def to_json(self) -> dict[str, Any]:
        train = self.stats.train
        return {"job": self.spec.name, "base_model": self.spec.base_model, "method": self.spec.method,
                "sorted_by": "spot_usd" if self.spot else "on_demand_usd",
                "data": {"train_examples": train.examples, "train_tokens": train.tokens,
                         "tokenizer": self.stats.tokenizer, "approximate": self.stats.approximate},
                "providers": [r.to_json() for r in self.rows]}


def _profile(name: str | None) -> dict[str, dict]:
    """Per-provider settings of the profile (the default one when ``name`` is None), as `run` uses them."""
    import importlib.util

    if importlib.util.find_spec("anytune.profiles") is None:  # profiles not shipped in this build
        return {}
    from .profiles import load_profile

    return load_profile(name)


def _sort_key(spot: bool):
    def key(row: Row):
        cost = row.cost(spot)
        return (0 if cost is not None else 1 if row.estimate is not None else 2,
                cost if cost is not None else Decimal(0), row.provider)
    return key


def estimate_all(spec: JobSpec, stats: DataStats, *, providers: Iterable[str] | None = None,
                 profile: dict[str, dict] | None = None) -> list[Row]:
    """One row per installed provider (or per name in ``providers``), sorted: fitting ones by cost first,
    then those that do not fit, then those that could not estimate."""
    reg = registry.get_registry()
    rows: list[Row] = []
    for name in providers or reg.names():
        options = {**(profile or {}).get(name, {}), **spec.options_for(name)}
        cls = None
        try:
            cls = reg.get_class(name)
            cannot = cls.cannot(spec)
            if cannot:  # e.g. compute.nodes on a one-machine provider: not priced as if it could
                rows.append(Row(name, error="cannot run this spec: " + "; ".join(cannot),
                                provider_notes=tuple(cls.notes)))
                continue
            est = cls(options).estimate(spec, stats)
        except AnytuneError as exc:
            rows.append(Row(name, error=str(exc).splitlines()[0], provider_notes=tuple(getattr(cls, "notes", ()))))
            continue
        except Exception as exc:  # a broken plugin is shown as such; it must not hide the other providers
            rows.append(Row(name, error=f"{type(exc).__name__}: {exc} (a bug in the {name} provider)"))
            continue
        rows.append(Row(name, est, provider_notes=tuple(cls.notes)))
    rows.sort(key=_sort_key(spec.compute.spot))
    return rows


def compare(spec: JobSpec, *, stats: DataStats | None = None, providers: Iterable[str] | None = None,
            profile: str | None = None) -> Comparison:
    """Estimates for every installed provider, cheapest first. ``stats`` default: the data's statistics,
    from the cache or by preparing the data once (see anytune.estimation.stats)."""
    if stats is None:
        from .estimation.stats import stats_for

        stats = stats_for(spec)
    return Comparison(spec, stats, estimate_all(spec, stats, providers=providers, profile=_profile(profile)))


# --- output ------------------------------------------------------------------------------------


def table(comp: Comparison):
    """The comparison as a rich table; notes are numbered and listed under it (see :func:`footnotes`)."""
    from rich import box
    from rich.table import Table

    refs = _note_numbers(comp)
    t = Table(box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False, title=f"{comp.spec.name}: {comp.spec.base_model}, {comp.spec.method}, "
              f"{comp.stats.train.tokens:,} train tokens{' (approx.)' if comp.stats.approximate else ''}")
    for name, kw in (("provider", {"no_wrap": True}), ("instance\n(GPU × count)", {"min_width": 14, "ratio": 1, "overflow": "fold"}),
                     ("fits?", {"no_wrap": True}), ("est.\nhours", {"justify": "right", "no_wrap": True}),
                     ("on-demand\n$", {"justify": "right", "no_wrap": True}),
                     ("spot\n$", {"justify": "right", "no_wrap": True}), ("price\nas of", {"no_wrap": True}),
                     ("notes", {"min_width": 5})):
        t.add_column(name, **kw)
    for row in comp.rows:
        e = row.estimate
        marks = _ranges(sorted(refs[n] for n in row.notes))
        if e is None:
            t.add_row(row.provider, f"[red]{row.error}[/]", "[red]error[/]", "", "", "", "", marks)
        elif not e.fits:
            why = e.rejected[0] if e.rejected else "nothing offered fits"
            t.add_row(row.provider, f"[yellow]{why}[/]", "[yellow]no[/]", "", "", "", "", marks)
        else:
            hours = _hours(e.hours) if e.gpu_count or e.hours else "—"
            spot = f"{e.spot_total.rounded().amount:,.2f}" if e.spot_total is not None else "—"
            fits = "[yellow]other model[/]" if e.substitute else "[green]yes[/]"  # not the same job
            t.add_row(row.provider, e.hardware, fits, hours, f"{e.total.rounded().amount:,.2f}", spot,
                      e.as_of.isoformat() if e.as_of else "—", marks)
    return t


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 4, 7] -> "1-4,7": note references that stay short."""
    out: list[str] = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        out.append(f"{numbers[i]}-{numbers[j]}" if j - i >= 2 else ",".join(map(str, numbers[i:j + 1])))
        i = j + 1
    return ",".join(out)


def _hours(h: float) -> str:
    return f"{h:.2f}" if h >= 0.01 else "<0.01"


def _note_numbers(comp: Comparison) -> dict[str, int]:
    refs: dict[str, int] = {}
    for row in comp.rows:
        for n in row.notes:
            refs.setdefault(n, len(refs) + 1)
    return refs


def footnotes(comp: Comparison) -> list[str]:
    """The notes the table refers to by number."""
    return [f"[{i}] {n}" for n, i in _note_numbers(comp).items()]


def bars(comp: Comparison, width: int = 40) -> list[str]:
    """Terminal bars of the planned cost (spot when the spec asks for spot), longest = most expensive."""
    costs = [(r.provider, r.cost(comp.spot)) for r in comp.rows if r.fits]
    if not costs:
        return []
    top = max(c for _, c in costs) or Decimal(1)
    name_w = max(len(n) for n, _ in costs)
    out = []
    for name, cost in costs:
        n = int(round(float(cost / top) * width)) if top else 0
        out.append(f"{name:<{name_w}} {'█' * max(n, 1 if cost else 0):<{width}} ${cost:,.2f}")
    return out


def plot(comp: Comparison, path: Path) -> Path:
    """A PNG bar chart of on-demand and spot cost per fitting provider (needs matplotlib)."""
    from .report.charts import pyplot

    plt = pyplot()
    rows = [r for r in comp.rows if r.fits]
    if not rows:
        raise ConfigError("nothing to plot: no provider can run this job")
    names = [f"{r.provider}\n{r.estimate.hardware}" for r in rows]
    on_demand = [float(r.estimate.total.amount) for r in rows]
    spot = [float(r.estimate.spot_total.amount) if r.estimate.spot_total is not None else 0.0 for r in rows]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.7 * len(rows)))
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], on_demand, height=0.4, label="on-demand")
    ax.barh([i - 0.2 for i in y], spot, height=0.4, label="spot / low priority")
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlabel("estimated cost (USD)")
    ax.set_title(f"{comp.spec.name}: {comp.spec.base_model} ({comp.spec.method})")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
