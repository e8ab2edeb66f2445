"""``anytune pricing refresh`` for SageMaker: the AWS Price List API through boto3's ``pricing`` client, read into the catalog's prices
(see :mod:`anytune.estimation.refresh`)."""

from __future__ import annotations

import json
from decimal import Decimal

from anytune.estimation.pricing import CatalogFile, Price
from anytune.estimation.refresh import Key, Offline, price

AWS_SOURCE = "AWS Price List API (pricing.get_products, {service}, {usage})"

# AWS usage-type prefixes by region (the Price List's "usagetype" attribute starts with them).
AWS_PREFIX = {"us-east-1": "USE1", "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2", "eu-west-1": "EU",
              "eu-west-2": "EUW2", "eu-west-3": "EUW3", "eu-central-1": "EUC1", "eu-north-1": "EUN1",
              "ap-northeast-1": "APN1", "ap-northeast-2": "APN2", "ap-southeast-1": "APS1", "ap-southeast-2": "APS2",
              "ap-south-1": "APS3", "ca-central-1": "CAN1", "sa-east-1": "SAE1"}


def fetch(cat: CatalogFile, regions: list[str], endpoint: str | None, api_key: str | None = None) -> tuple[dict[Key, Price], list[str]]:
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
                found[("instance", inst.name, region)] = price(amount, source)
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
