"""Cloud faults, for real: the provider talks to the Vertex AI stand-in (control plane and Cloud Logging)
and to gcp-storage-emulator through anytune.testing.faults.FaultProxy, which fails one request in five
(500, 503, 429, connection reset, "applied, then 500"). google-api-core's and the storage library's own
retries must carry every verb through, with one remote job and the data intact."""

from __future__ import annotations

import hashlib

import pytest
from anytune_vertex._request import LABEL_JOB
from anytune_vertex.provider import VertexProvider

from anytune.cloud.names import job_name
from anytune.testing.faults import KINDS, FaultProxy, wait_until_ended
from anytune.types import JobState


@pytest.mark.slow  # the container plays a real (tiny) training run
def test_the_lifecycle_survives_one_request_in_five_faulted(options, spec, prepared, container, vertex, gcs,
                                                             gcs_emulator, monkeypatch, tmp_path):
    vertex.hold = False
    with FaultProxy(vertex.url, rate=0.2, seed=5, spare=("/token",)) as api, \
            FaultProxy(gcs_emulator, rate=0.2, seed=6) as storage:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage.url)  # the provider's storage client, made first
        provider = VertexProvider({**options, "api_endpoint": api.url, "logging_endpoint": api.url,
                                   "max_attempts": 10})
        data = provider.upload(spec, prepared)
        handle = provider.launch(spec, data, "faulty-1")
        assert provider.launch(spec, data, "faulty-1").remote_id == handle.remote_id
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)  # the container's own clients: not faulted
        status = wait_until_ended(provider, handle, timeout=120)
        assert status.state is JobState.SUCCEEDED, status
        assert provider.logs(handle).lines
        artifact = provider.retrieve(handle, tmp_path / "model")  # every file checked against the manifest
    assert artifact.files
    assert len([j for j in vertex.jobs.values() if j.labels.get(LABEL_JOB) == job_name("faulty-1")]) == 1
    for split, path in prepared.files.items():  # what reached Cloud Storage is what was prepared
        bucket, key = data.uris[split].removeprefix("gs://").split("/", 1)
        sent = gcs.bucket(bucket).blob(key).download_as_bytes()
        assert hashlib.sha256(sent).digest() == hashlib.sha256(path.read_bytes()).digest(), split
    for name, proxy in (("vertex", api), ("storage", storage)):
        print(f"{name}: {proxy.requests} requests, {proxy.faulted} faulted {dict(proxy.faults)}")
    assert api.faulted + storage.faulted >= 10 and set(api.faults) | set(storage.faults) == set(KINDS)


def test_a_create_applied_but_answered_500_makes_one_job(options, spec, prepared, vertex):
    """Vertex AI has no request id: a create whose answer was lost is looked up by its labels before it is
    sent again (CloudProvider._start), so the job exists once."""
    with FaultProxy(vertex.url, rate=1.0, kinds=("applied",), only=r"^POST [^?]*/customJobs(\?|$)") as api:
        provider = VertexProvider({**options, "api_endpoint": api.url, "logging_endpoint": api.url})
        handle = provider.launch(spec, provider.upload(spec, prepared), "applied-1")
    assert api.faults["applied"] == 1
    named = [j for j in vertex.jobs.values() if j.labels.get(LABEL_JOB) == job_name("applied-1")]
    assert len(named) == 1 and named[0].name == handle.remote_id
