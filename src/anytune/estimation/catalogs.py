"""Find installed providers' price catalogs and print them (`anytune pricing show`).

Convention: a provider plugin ships its catalog as ``<top-level package>/data/pricing.json``; the
package is the one its registration's ``module:Class`` target lives in. Found without importing the
provider class (only the package's ``__init__``).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from .. import registry
from .pricing import Catalog, load_catalog, staleness_note, sunset_note


def catalog_path(target: str) -> Path | None:
    package = target.partition(":")[0].split(".")[0]
    try:
        path = Path(str(importlib.resources.files(package) / "data" / "pricing.json"))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


def installed_catalogs() -> dict[str, Path | None]:
    reg = registry.get_registry()
    return {name: catalog_path(reg.providers[name].target) for name in reg.names()}


def _money(value) -> str:
    return "—" if value is None else f"{value:,.4f}".rstrip("0").rstrip(".")


def catalog_table(provider: str, path: Path, region: str | None):
    """A rich table of one catalog in one region, and the notes to print under it (sources numbered)."""
    from rich import box
    from rich.table import Table

    cat: Catalog = load_catalog(path, provider=provider, region=region)
    d = cat.data
    unit = "$/1M tokens" if d.unit == "1M tokens" else "$/hour"
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, title=f"{provider} — {cat.region} ({d.currency})")
    for name, kw in (("entry", {"no_wrap": True}), ("GPUs /\ncontext", {"min_width": 12}),
                     (f"on-demand\n{unit}", {"justify": "right", "min_width": 9, "no_wrap": True}),
                     ("spot", {"justify": "right", "no_wrap": True}), ("as of", {"no_wrap": True}),
                     ("conf.", {"no_wrap": True}), ("src", {"no_wrap": True})):
        t.add_column(name, **kw)
    sources: dict[str, int] = {}

    def ref(*srcs: str) -> str:
        return ",".join(str(sources.setdefault(x, len(sources) + 1)) for x in dict.fromkeys(srcs))

    assumed = False
    for inst in d.instances:
        offer = cat.offer(inst)
        gpus = f"{inst.gpu_count}× {inst.gpu} {inst.gpu_memory_gb:g}GB"
        if isinstance(offer, str):
            t.add_row(inst.name, gpus, f"[dim]{offer}[/]", "", "", "", "")
            continue
        listed = [p.spot * p.quantity for p in offer.parts if p.spot is not None]
        if len(listed) == len(offer.parts):
            spot_text = _money(sum(listed))
        elif d.spot is not None:
            spot_text, assumed = f"~{_money(offer.hourly * d.spot.fraction)}", True
        else:
            spot_text = "—"
        oldest = min(p.price.as_of for p in offer.parts)
        conf = "".join(sorted({p.price.confidence for p in offer.parts}))
        derived = any(p.price.derived or p.regional for p in offer.parts)
        t.add_row(inst.name, gpus, _money(offer.hourly), spot_text, oldest.isoformat(),
                  conf + ("*" if derived else ""), ref(*(p.price.source for p in offer.parts)))
    for model in d.models:
        found = cat._price(model.prices)
        if found is None:
            t.add_row(model.name, "", f"[dim]not priced in {cat.region}[/]", "", "", "", "")
            continue
        price = found[0]
        t.add_row(model.name, f"{model.context:,} tokens", _money(price.on_demand), "—", price.as_of.isoformat(),
                  price.confidence, ref(price.source))
    notes = [f"catalog: {' + '.join(cat.sources)}"]
    notes += [f"[{i}] {src}" for src, i in sources.items()]
    if any(i.machine or i.accelerator for i in d.instances):
        notes.append("priced as machine type + GPU count × accelerator")
    if assumed and d.spot is not None:
        notes.append(f"~ spot = {d.spot.fraction} × on-demand, an assumption: {d.spot.assumption}")
    if any(p.derived for p in cat.all_prices()) or cat.region in d.regions:
        notes.append("* derived or region-scaled price: an assumption (see the catalog's 'derived' fields)")
    stale = staleness_note(provider, cat.oldest)
    if stale:
        notes.append(stale)
    notes += [sunset_note(s) for s in d.sunsets]
    return t, notes
