"""``anytune pricing refresh`` for Azure ML: the Azure Retail Prices REST API (no authentication), read into the catalog's prices
(see :mod:`anytune.estimation.refresh`)."""

from __future__ import annotations

import urllib.parse
from decimal import Decimal

from anytune.estimation.pricing import CatalogFile, Price
from anytune.estimation.refresh import Key, get_json, price

AZURE_URL = "https://prices.azure.com/api/retail/prices"


def fetch(cat: CatalogFile, regions: list[str], endpoint: str | None, api_key: str | None = None) -> tuple[dict[Key, Price], list[str]]:
    base = endpoint or AZURE_URL
    found: dict[Key, Price] = {}
    missing: list[str] = []
    skus = " or ".join(f"armSkuName eq '{i.name}'" for i in cat.instances)
    for region in regions:
        flt = (f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and priceType eq 'Consumption' "
               f"and ({skus})")
        url: str | None = f"{base}?{urllib.parse.urlencode({'$filter': flt})}"
        items: list[dict] = []
        while url:
            page = get_json(url)
            items += page.get("Items", [])
            url = page.get("NextPageLink")
        for inst in cat.instances:
            rows = [r for r in items if r.get("armSkuName") == inst.name and "Windows" not in r.get("productName", "")
                    and r.get("unitOfMeasure") == "1 Hour"]
            normal = [r for r in rows if not r.get("skuName", "").endswith((" Spot", " Low Priority"))]
            cheap = ([r for r in rows if r.get("skuName", "").endswith(" Low Priority")]
                     or [r for r in rows if r.get("skuName", "").endswith(" Spot")])
            if not normal:
                missing.append(f"{inst.name} in {region}")
                continue
            spot = Decimal(str(cheap[0]["retailPrice"])) if cheap else None
            source = f"{AZURE_URL} (armSkuName {inst.name}, {region})"
            found[("instance", inst.name, region)] = price(Decimal(str(normal[0]["retailPrice"])), source, spot)
    return found, missing
