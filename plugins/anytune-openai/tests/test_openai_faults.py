"""Faults, for real, on the OpenAI path: the provider talks to ``anytune serve`` (the OpenAI-compatible
endpoint) through anytune.testing.faults.FaultProxy, which fails one request in five (500, 503, 429,
connection reset, "applied, then 500"). The openai SDK's own retries (max_retries) carry every verb but
the create of a job, which the SDK would repeat without an idempotency key: that one is sent once in
effect (anytune.cloud.retry.create_once), looked up by the job id in metadata after a lost answer."""

from __future__ import annotations

import hashlib

import openai
import pytest
from anytune_openai.provider import OpenAIProvider

from anytune.data import prepare
from anytune.testing.faults import KINDS, FaultProxy, wait_until_ended
from anytune.types import JobState


def jobs_for(serve, job_id: str) -> list:
    client = openai.OpenAI(base_url=serve.url, api_key=serve.key)  # not through the proxy
    return [j for j in client.fine_tuning.jobs.list(limit=100).data if (j.metadata or {}).get("anytune_job_id") == job_id]


@pytest.mark.slow  # anytune serve trains the job (a few seconds)
def test_the_lifecycle_survives_one_request_in_five_faulted(serve_spec, serve, serve_options, tmp_path):
    prepared = prepare(serve_spec, tmp_path / "data")
    with FaultProxy(serve.url.removesuffix("/v1"), rate=0.2, seed=11) as proxy:
        provider = OpenAIProvider({**serve_options, "base_url": proxy.url + "/v1", "max_retries": 8})
        data = provider.upload(serve_spec, prepared)
        handle = provider.launch(serve_spec, data, "faulty-openai-1")
        assert provider.launch(serve_spec, data, "faulty-openai-1").remote_id == handle.remote_id
        status = wait_until_ended(provider, handle, timeout=180)
        assert status.state is JobState.SUCCEEDED, status
        assert provider.logs(handle).lines
        artifact = provider.retrieve(handle, tmp_path / "model")
    print(f"\nopenai: {proxy.requests} requests, {proxy.faulted} faulted {dict(proxy.faults)}")
    assert artifact.remote_model_id and artifact.files
    assert [j.id for j in jobs_for(serve, "faulty-openai-1")] == [handle.remote_id], "one remote job"
    client = openai.OpenAI(base_url=serve.url, api_key=serve.key)
    converted = {hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in (tmp_path / "home" / "openai" / "files" / prepared.content_hash).rglob("*.jsonl")}
    for split, file_id in data.uris.items():  # what reached the endpoint is what was converted
        assert hashlib.sha256(client.files.content(file_id).read()).hexdigest() in converted, split
    assert proxy.faulted >= 5 and set(proxy.faults) <= set(KINDS)


def test_a_create_applied_but_answered_500_makes_one_job(serve_spec, serve, serve_options, tmp_path):
    """The SDK would send the create again after the 500 (it sends no Idempotency-Key): a second, paid
    job. The provider looks the job up by its metadata first and finds the one the first create made."""
    prepared = prepare(serve_spec, tmp_path / "data")
    with FaultProxy(serve.url.removesuffix("/v1"), rate=1.0, kinds=("applied",),
                    only=r"^POST /v1/fine_tuning/jobs$") as proxy:
        provider = OpenAIProvider({**serve_options, "base_url": proxy.url + "/v1", "max_retries": 3})
        handle = provider.launch(serve_spec, provider.upload(serve_spec, prepared), "applied-openai-1")
    assert proxy.faults["applied"] == 1
    assert [j.id for j in jobs_for(serve, "applied-openai-1")] == [handle.remote_id]
    provider.cancel(handle)
