"""``anytune pricing refresh`` for Vertex AI: the Cloud Billing Catalog API (an API key; accelerators only), read into the catalog's prices
(see :mod:`anytune.estimation.refresh`)."""

from __future__ import annotations

import os
import re
import urllib.parse
from decimal import Decimal

from anytune.estimation.pricing import CatalogFile, Price
from anytune.estimation.refresh import Key, Offline, get_json, price

GCP_URL = "https://cloudbilling.googleapis.com"


def fetch(cat: CatalogFile, regions: list[str], endpoint: str | None, api_key: str | None = None
          ) -> tuple[dict[Key, Price], list[str]]:
    key = api_key or os.environ.get("ANYTUNE_GCP_API_KEY")
    if not key:
        raise Offline("the Cloud Billing Catalog API needs an API key (--gcp-api-key or $ANYTUNE_GCP_API_KEY)")
    src = cat.refresh
    base = (endpoint or GCP_URL).rstrip("/")
    skus: list[dict] = []
    token = ""
    while True:
        query = urllib.parse.urlencode({"currencyCode": "USD", "pageSize": 5000, **({"pageToken": token} if token else {})})
        page = get_json(f"{base}/v1/{src.service}/skus?{query}", {"X-Goog-Api-Key": key})
        skus += page.get("skus", [])
        token = page.get("nextPageToken") or ""
        if not token:
            break
    found: dict[Key, Price] = {}
    missing: list[str] = []
    for region in regions:
        for name, pattern in src.sku_patterns.items():
            rx = re.compile(pattern, re.I)
            hits = [s for s in skus if rx.search(s.get("description", "")) and region in s.get("serviceRegions", [])]
            by_usage = {s.get("category", {}).get("usageType"): unit_price(s) for s in hits}
            if by_usage.get("OnDemand") is None:
                missing.append(f"{name} in {region}")
                continue
            source = f"Cloud Billing Catalog API ({src.service}, /{pattern}/, {region})"
            found[("accelerator", name, region)] = price(by_usage["OnDemand"], source, by_usage.get("Preemptible"))
    return found, missing


def unit_price(sku: dict) -> Decimal | None:
    for info in sku.get("pricingInfo", []):
        rates = info.get("pricingExpression", {}).get("tieredRates", [])
        if rates:
            money = rates[-1].get("unitPrice", {})
            return (Decimal(str(money.get("units", "0"))) + Decimal(money.get("nanos", 0)) / Decimal(10**9)).normalize()
    return None
