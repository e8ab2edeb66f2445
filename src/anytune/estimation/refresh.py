"""``anytune pricing refresh``: read current prices from the vendors' public price APIs.

Which API a catalog refreshes from is catalog data (its ``refresh`` section), not a provider name:
- ``aws-price-list``: the AWS Price List API through boto3's ``pricing`` client (imported here only);
- ``azure-retail-prices``: the Azure Retail Prices REST API (no authentication);
- ``gcp-cloud-billing``: the Cloud Billing Catalog API (needs an API key; accelerators only).
The result is written to ``<ANYTUNE_HOME>/pricing/<provider>.json`` (the shipped snapshot is never
modified); :func:`~anytune.estimation.pricing.load_catalog` uses it while it is the newer. When an API cannot
be reached, nothing is written and the result says how old the snapshot in use is.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from . import pricing
from .pricing import CatalogFile, Price

AZURE_URL = "https://prices.azure.com/api/retail/prices"
GCP_URL = "https://cloudbilling.googleapis.com"
AWS_SOURCE = "AWS Price List API (pricing.get_products, {service}, {usage})"
TIMEOUT_S = 20

# AWS usage-type prefixes by region (the Price List's "usagetype" attribute starts with them).
AWS_PREFIX = {"us-east-1": "USE1", "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2", "eu-west-1": "EU",
              "eu-west-2": "EUW2", "eu-west-3": "EUW3", "eu-central-1": "EUC1", "eu-north-1": "EUN1",
              "ap-northeast-1": "APN1", "ap-northeast-2": "APN2", "ap-southeast-1": "APS1", "ap-southeast-2": "APS2",
              "ap-south-1": "APS3", "ca-central-1": "CAN1", "sa-east-1": "SAE1"}

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


def _price(amount: Decimal, source: str, spot: Decimal | None = None) -> Price:
    return Price(on_demand=amount, spot=spot, source=source, as_of=pricing.today(), confidence="H")


# --- AWS -------------------------------------------------------------------------------------


def _aws(cat: CatalogFile, regions: list[str], endpoint: str | None) -> tuple[dict[Key, Price], list[str]]:
    try:
        import boto3
        import botocore.exceptions as bx
    except ImportError:
        raise Offline("reading the AWS Price List API needs boto3 (pip install 'anytune[sagemaker]')") from None

    src = cat.refresh
    client = boto3.client("pricing", region_name="us-east-1", endpoint_url=endpoint)
    found: dict[Key, Price] = {}
    missing: list[str] = []
    for region in regions:
        prefix = AWS_PREFIX.get(region)
        if prefix is None:
            missing.append(f"{region} (unknown AWS usage-type prefix)")
            continue
        for inst in cat.instances:
            usage = src.usage_type.format(prefix=prefix, instance=inst.name)
            filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
                       {"Type": "TERM_MATCH", "Field": "usagetype", "Value": usage}]
            try:
                pages = client.get_paginator("get_products").paginate(ServiceCode=src.service, Filters=filters)
                products = [json.loads(p) for page in pages for p in page.get("PriceList", [])]
            except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
                raise Offline(f"AWS Price List API unreachable ({type(exc).__name__})") from None
            except bx.NoCredentialsError:
                raise Offline("AWS Price List API needs AWS credentials (any account)") from None
            except bx.ClientError as exc:
                raise Offline(f"AWS Price List API refused: {exc.response['Error'].get('Code', 'error')}") from None
            amount = _aws_on_demand(products, usage)
            if amount is None:
                missing.append(f"{inst.name} in {region}")
            else:
                source = AWS_SOURCE.format(service=src.service, usage=usage)
                found[("instance", inst.name, region)] = _price(amount, source)
    return found, missing


def _aws_on_demand(products: list[dict], usage: str) -> Decimal | None:
    for product in products:
        if product.get("product", {}).get("attributes", {}).get("usagetype") != usage:
            continue
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dim in term.get("priceDimensions", {}).values():
                usd = dim.get("pricePerUnit", {}).get("USD")
                if usd is not None and dim.get("unit", "").lower().startswith("hr"):
                    return Decimal(usd).normalize()
    return None


# --- Azure -----------------------------------------------------------------------------------


def _get_json(url: str, headers: dict[str, str] | None = None) -> dict:
    req = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise Offline(f"{urllib.parse.urlsplit(url).netloc} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Offline(f"{urllib.parse.urlsplit(url).netloc} unreachable ({reason})") from None


def _azure(cat: CatalogFile, regions: list[str], endpoint: str | None) -> tuple[dict[Key, Price], list[str]]:
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
            page = _get_json(url)
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
            found[("instance", inst.name, region)] = _price(Decimal(str(normal[0]["retailPrice"])), source, spot)
    return found, missing


# --- Google Cloud ----------------------------------------------------------------------------


def _gcp(cat: CatalogFile, regions: list[str], endpoint: str | None, api_key: str | None
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
        page = _get_json(f"{base}/v1/{src.service}/skus?{query}", {"X-Goog-Api-Key": key})
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
            by_usage = {s.get("category", {}).get("usageType"): _gcp_unit_price(s) for s in hits}
            if by_usage.get("OnDemand") is None:
                missing.append(f"{name} in {region}")
                continue
            source = f"Cloud Billing Catalog API ({src.service}, /{pattern}/, {region})"
            found[("accelerator", name, region)] = _price(by_usage["OnDemand"], source, by_usage.get("Preemptible"))
    return found, missing


def _gcp_unit_price(sku: dict) -> Decimal | None:
    for info in sku.get("pricingInfo", []):
        rates = info.get("pricingExpression", {}).get("tieredRates", [])
        if rates:
            money = rates[-1].get("unitPrice", {})
            return (Decimal(str(money.get("units", "0"))) + Decimal(money.get("nanos", 0)) / Decimal(10**9)).normalize()
    return None


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
        if src.api == "aws-price-list":
            found, missing = _aws(cat.data, wanted, endpoint)
        elif src.api == "azure-retail-prices":
            found, missing = _azure(cat.data, wanted, endpoint)
        else:
            found, missing = _gcp(cat.data, wanted, endpoint, api_key)
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
