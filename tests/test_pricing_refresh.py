"""`anytune pricing refresh` against recorded price-API responses (tests/data/pricing/), served on 127.0.0.1
to the real clients: boto3's `pricing` client (AWS JSON 1.1 over HTTP) and urllib (Azure, Google)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
from typer.testing import CliRunner

from anytune import cli_cost
from anytune.estimation import catalogs as catalogs_mod
from anytune.estimation import load_catalog
from anytune.estimation import pricing as pricing_mod
from anytune.estimation.refresh import refresh

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "pricing"
CATALOGS = {name: ROOT / f"plugins/anytune-{name}/src/anytune_{name}/data/pricing.json"
            for name in ("sagemaker", "vertex", "azureml", "openai")}
TODAY = dt.date(2026, 11, 21)
API_KEY = "test-key-123"


class PriceAPIs(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args):
        pass

    def _send(self, status: int, payload: dict, ctype: str = "application/json") -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # AWS Price List, JSON 1.1 protocol
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"aws": self.headers["X-Amz-Target"], "body": body,
                              "signed": self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256")})
        usage = next(f["Value"] for f in body["Filters"] if f["Field"] == "usagetype")
        path = DATA / f"aws_{usage.replace(':', '_')}.json"
        payload = json.loads(path.read_text()) if path.exists() else {"FormatVersion": "aws_v1", "PriceList": []}
        self._send(200, payload, "application/x-amz-json-1.1")

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.requests.append({"path": url.path, "query": query, "key": self.headers.get("X-Goog-Api-Key")})
        base = f"http://127.0.0.1:{self.server.server_port}"
        if url.path == "/azure":
            page = json.loads((DATA / f"azure_eastus_page{query.get('page', ['1'])[0]}.json").read_text())
            if page["NextPageLink"]:
                page["NextPageLink"] = f"{base}/azure?page=2"
            return self._send(200, page)
        if url.path == "/v1/services/C7E2-9256-1C43/skus":
            if self.headers.get("X-Goog-Api-Key") != API_KEY:
                return self._send(403, {"error": {"code": 403, "message": "API key not valid"}})
            name = "gcp_skus_page2.json" if query.get("pageToken") == ["PAGE2"] else "gcp_skus_page1.json"
            return self._send(200, json.loads((DATA / name).read_text()))
        self._send(404, {})


@pytest.fixture
def server(monkeypatch):
    PriceAPIs.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), PriceAPIs)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setattr(pricing_mod, "today", lambda: TODAY)
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_MAX_ATTEMPTS": "1",
                 "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("ANYTUNE_GCP_API_KEY", raising=False)


def _closed_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_aws_price_list_refresh(server):
    res = refresh("sagemaker", CATALOGS["sagemaker"], regions=["us-east-1"], endpoint=server)
    assert res.problem is None, res.message
    assert set(res.updated) == {("instance", "ml.g5.2xlarge", "us-east-1"), ("instance", "ml.g6.xlarge", "us-east-1")}
    assert "ml.g5.xlarge in us-east-1" in res.missing  # not in the recorded responses: kept
    aws = [r for r in PriceAPIs.requests if "aws" in r]
    assert len(aws) == 9 and all(r["aws"] == "AWSPriceListService.GetProducts" and r["signed"] for r in aws)
    assert {"Type": "TERM_MATCH", "Field": "usagetype", "Value": "USE1-Train:ml.g6.xlarge"} in aws[4]["body"]["Filters"]
    assert res.written == pricing_mod.refreshed_path("sagemaker")
    cat = load_catalog(CATALOGS["sagemaker"], provider="sagemaker")
    g6 = cat.offer(next(i for i in cat.data.instances if i.name == "ml.g6.xlarge"))
    assert g6.hourly == Decimal("1.1") and g6.parts[0].price.as_of == TODAY and g6.parts[0].price.confidence == "H"
    assert "USE1-Train:ml.g6.xlarge" in g6.parts[0].price.source
    g5 = cat.offer(next(i for i in cat.data.instances if i.name == "ml.g5.xlarge"))
    assert g5.hourly == Decimal("1.408") and g5.parts[0].price.as_of == dt.date(2026, 11, 1)


def test_azure_retail_prices_refresh_follows_pages_and_skips_windows(server):
    res = refresh("azureml", CATALOGS["azureml"], regions=["eastus"], endpoint=f"{server}/azure")
    assert res.problem is None, res.message
    a100 = res.updated[("instance", "Standard_NC24ads_A100_v4", "eastus")]
    assert a100.on_demand == Decimal("3.673") and a100.spot == Decimal("0.7346")  # not the Windows 4.41
    v100 = res.updated[("instance", "Standard_NC6s_v3", "eastus")]
    assert v100.on_demand == Decimal("3.06") and v100.spot == Decimal("0.612")  # from page 2
    flt = PriceAPIs.requests[0]["query"]["$filter"][0]
    assert "armRegionName eq 'eastus'" in flt and "armSkuName eq 'Standard_NC40ads_H100_v5'" in flt
    cat = load_catalog(CATALOGS["azureml"], provider="azureml")
    nc6 = next(i for i in cat.data.instances if i.name == "Standard_NC6s_v3")
    assert cat.offer(nc6).parts[0].spot == Decimal("0.612")


def test_gcp_billing_catalog_needs_a_key_and_updates_accelerators(server):
    no_key = refresh("vertex", CATALOGS["vertex"], endpoint=server)
    assert no_key.written is None and "needs an API key" in no_key.message
    assert "kept the snapshot from 2026-11-01 (20 days old)" in no_key.message
    res = refresh("vertex", CATALOGS["vertex"], regions=["us-central1"], endpoint=server, api_key=API_KEY)
    assert res.problem is None, res.message
    t4 = res.updated[("accelerator", "NVIDIA_TESLA_T4", "us-central1")]
    assert t4.on_demand == Decimal("0.4025") and t4.spot == Decimal("0.161")
    assert res.updated[("accelerator", "NVIDIA_L4", "us-central1")].on_demand == Decimal("0.644")  # training, not prediction
    assert res.updated[("accelerator", "NVIDIA_H100_80GB", "us-central1")].on_demand == Decimal("9.797")
    assert "NVIDIA_TESLA_V100 in us-central1" in res.missing
    gets = [r for r in PriceAPIs.requests if r.get("path", "").endswith("/skus")]
    assert all(API_KEY not in json.dumps(r["query"]) for r in gets)  # the key travels in a header, not the URL
    assert len(gets) == 2  # without a key nothing is sent; with it, two pages
    cat = load_catalog(CATALOGS["vertex"], provider="vertex")
    t4_inst = next(i for i in cat.data.instances if i.accelerator == "NVIDIA_TESLA_T4")
    assert cat.offer(t4_inst).parts[1].on_demand == Decimal("0.4025")


def test_offline_refresh_keeps_the_snapshot_and_says_how_old_it_is():
    res = refresh("sagemaker", CATALOGS["sagemaker"], regions=["us-east-1"], endpoint=_closed_port())
    assert res.written is None and not pricing_mod.refreshed_path("sagemaker").exists()
    assert "AWS Price List API unreachable" in res.message
    assert "kept the snapshot from 2026-08-01 (112 days old)" in res.message
    az = refresh("azureml", CATALOGS["azureml"], endpoint=_closed_port() + "/azure")
    assert "unreachable" in az.message and "kept the snapshot" in az.message


def test_catalog_without_a_price_api_says_so():
    res = refresh("openai", CATALOGS["openai"])
    assert "names no price API" in res.message


def test_cli_refresh_reports_each_provider_and_fails_when_none_refreshed(monkeypatch, server):
    monkeypatch.setattr(catalogs_mod, "installed_catalogs", lambda: {"azureml": CATALOGS["azureml"], "local": None})
    app = typer.Typer()
    app.add_typer(cli_cost.pricing_app, name="pricing")
    app.command("compare")(cli_cost.compare_cmd)
    ok = CliRunner().invoke(app, ["pricing", "refresh", "--region", "eastus", "--endpoint", f"{server}/azure"])
    assert ok.exit_code == 0 and "azureml: 2 prices refreshed" in ok.output
    down = CliRunner().invoke(app, ["pricing", "refresh", "--endpoint", _closed_port()])
    assert down.exit_code == 1 and "kept the snapshot" in down.output
