"""Estimating from the Vertex price catalog (machine + accelerators, Spot as a labelled assumption), and
the lazy-import rule: listing providers, building the provider, estimating and a failing check import no
Google SDK (anytune.testing.imports.run_blocking makes them unimportable)."""

from __future__ import annotations

import pytest
from anytune_vertex.provider import VertexProvider

from anytune.spec import JobSpec
from anytune.testing.imports import HEAVY, run_blocking
from anytune.types import DataStats, SplitStats

GOOGLE = (*HEAVY, "google.auth", "google.api_core", "google.cloud", "google_crc32c", "requests")
STATS = DataStats(splits={"train": SplitStats(examples=1000, tokens=500_000, max_tokens=900)})


def job(base_model: str = "Qwen/Qwen2.5-0.5B", **compute) -> JobSpec:
    return JobSpec(name="x", base_model=base_model, data={"train": "t.jsonl"}, provider="vertex",
                   compute=compute)


def test_estimate_prices_machine_and_accelerator_with_sources():
    est = VertexProvider().estimate(job(spot=True), STATS)
    assert est.fits and est.instance == "g2-standard-8+1xL4" and est.hours > 0
    assert [line.item for line in est.lines] == ["g2-standard-8 (machine)", "NVIDIA_L4 (accelerator)"]
    assert all(line.source.startswith("https://cloud.google.com/") and line.as_of for line in est.lines)
    assert est.spot_total is not None and est.spot_total.amount < est.total.amount
    assert any("spot = 0.4 × on-demand" in a for a in est.assumptions)


def test_a_region_changes_the_price():
    us = VertexProvider({"location": "us-central1"}).estimate(job(), STATS)
    eu = VertexProvider({"location": "europe-west4"}).estimate(job(), STATS)
    assert eu.instance == us.instance and eu.total.amount > us.total.amount


# a 0.5B model fits a T4 with gradient checkpointing; a 7B LoRA (15 GB of bf16 weights) does not
@pytest.mark.parametrize("model, options, instance, rejected", [
    ("Qwen/Qwen2.5-0.5B", {"machine_type": "a2-highgpu-1g", "accelerator_type": "NVIDIA_TESLA_A100"},
     "a2-highgpu-1g+1xA100", None),
    ("Qwen/Qwen2.5-0.5B", {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4"},
     "n1-standard-8+1xT4", None),
    ("Qwen/Qwen2.5-7B", {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4"}, "",
     "n1-standard-8+1xT4 (1× T4 16 GB): needs"),
    ("Qwen/Qwen2.5-0.5B", {"machine_type": "n2-standard-8"}, "",
     "n2-standard-8: not in the vertex price catalog (pricing.json)"),
])
def test_a_fixed_machine_is_priced_and_checked(model, options, instance, rejected):
    est = VertexProvider(options).estimate(job(model), STATS)
    assert est.instance == instance and est.fits is (rejected is None)
    assert rejected is None or (len(est.rejected) == 1 and est.rejected[0].startswith(rejected)), est.rejected


def test_no_google_sdk_is_imported_to_list_build_estimate_or_check(tiny_model):
    code = f"""
import sys
from anytune.registry import create, get_registry
from anytune.spec import JobSpec
from anytune.types import DataStats, SplitStats
assert "vertex" in get_registry().names(), get_registry().names()
provider = create("vertex", {{"staging_bucket": "my-bucket", "project": "anytune-test"}})
spec = JobSpec(name="x", base_model={str(tiny_model)!r}, data={{"train": "t.jsonl"}}, provider="vertex")
est = provider.estimate(spec, DataStats(splits={{"train": SplitStats(examples=10, tokens=1000, max_tokens=100)}}))
assert est.fits, est.rejected
ready = provider.check(spec)
assert not ready.ready and "pip install 'anytune[vertex]'" in ready.reason, ready.reason
# google.cloud itself is the empty namespace package a .pth file of google-cloud-aiplatform makes at start-up
loaded = sorted(m for m in sys.modules if m.startswith(("google.", "torch", "transformers", "requests"))
                and m != "google.cloud")
assert not loaded, loaded
print("ok", est.instance)
"""
    done = run_blocking(code, blocked=GOOGLE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
