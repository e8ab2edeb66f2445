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
    """A rich table of one catalog in one region, and the notes to print under it."""
    from rich.table import Table

    cat: Catalog = load_catalog(path, provider=provider, region=region)
    d = cat.data
    unit = "$ / 1M tokens" if d.unit == "1M tokens" else "$ / hour"
    t = Table("entry", "GPUs", f"on-demand {unit}", "spot", "as of", "conf.", "source",
              title=f"{provider} — {cat.region} ({d.currency})")
    for inst in d.instances:
        offer = cat.offer(inst)
        gpus = f"{inst.gpu_count}× {inst.gpu} {inst.gpu_memory_gb:g} GB"
        if isinstance(offer, str):
            t.add_row(inst.name, gpus, f"[dim]{offer}[/]", "", "", "", "")
            continue
        spot = sum((p.spot * p.quantity for p in offer.parts if p.spot is not None), 0) or None
        if spot is None and d.spot is not None:
            spot_text = f"~{_money(offer.hourly * d.spot.fraction)} (assumed)"
        else:
            spot_text = _money(spot)
        oldest = min(p.price.as_of for p in offer.parts)
        conf = "".join(sorted({p.price.confidence for p in offer.parts}))
        derived = any(p.price.derived or p.regional for p in offer.parts)
        sources = "; ".join(dict.fromkeys(p.price.source for p in offer.parts))
        t.add_row(inst.name, gpus, _money(offer.hourly), spot_text, oldest.isoformat(),
                  conf + ("*" if derived else ""), sources)
    for model in d.models:
        found = cat._price(model.prices)
        if found is None:
            t.add_row(model.name, "", f"[dim]not priced in {cat.region}[/]", "", "", "", "")
            continue
        price = found[0]
        t.add_row(f"{model.name} (context {model.context:,})", "", _money(price.on_demand), "—",
                  price.as_of.isoformat(), price.confidence, price.source)
    notes = [f"catalog: {' + '.join(cat.sources)}"]
    if any(i.machine or i.accelerator for i in d.instances):
        notes.append("priced as machine type + GPU count × accelerator")
    if d.spot is not None:
        notes.append(f"spot where not listed = {d.spot.fraction} × on-demand: {d.spot.assumption}")
    if any(p.derived for p in cat.all_prices()) or cat.region in d.regions:
        notes.append("* derived or region-scaled prices: assumptions, see the catalog's 'derived' fields")
    stale = staleness_note(provider, cat.oldest)
    if stale:
        notes.append(stale)
    notes += [sunset_note(s) for s in d.sunsets]
    return t, notes
