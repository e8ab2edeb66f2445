"""Cloud faults, for real: the provider talks to the Azure ML control plane (https) and to Azurite through
anytune.testing.faults.FaultProxy, which fails one request in five (500, 503, 429, connection reset,
"applied, then 500"). azure-core's RetryPolicy must carry every verb through, with one remote job and
the data intact."""

from __future__ import annotations

import hashlib

import pytest
from azml_arm import FakeCredential

from anytune.testing.faults import KINDS, FaultProxy, wait_until_ended
from anytune.types import JobState

# Azure Storage throttles with 503 ServerBusy, never 429 (its retry policy does not retry a 429).
STORAGE_KINDS = tuple(k for k in KINDS if k != "throttle")


@pytest.mark.slow  # the container plays a real (tiny) training run
def test_the_lifecycle_survives_one_request_in_five_faulted(options, spec, prepared, container, arm, blobs,
                                                             azurite, certificate, monkeypatch, tmp_path):
    from anytune_azureml.provider import AzureMLProvider

    with FaultProxy(arm.url, rate=0.25, seed=3, certificate=certificate, spare=("/discovery",)) as control, \
            FaultProxy(azurite.endpoint, rate=0.2, seed=8, kinds=STORAGE_KINDS) as storage:
        monkeypatch.setenv("AZUREML_DEV_URL_MFE", control.url)
        account = azurite.endpoint.rsplit("/", 1)[1]  # Azurite's URLs carry the account as the first path part
        provider = AzureMLProvider({**options, "blob_endpoint": f"{storage.url}/{account}", "max_attempts": 10},
                                   credential=FakeCredential())
        data = provider.upload(spec, prepared)
        handle = provider.launch(spec, data, "faulty-1")
        assert provider.launch(spec, data, "faulty-1").remote_id == handle.remote_id
        code, output = container(handle.remote_id)
        assert code == 0, "\n".join(output[-40:])
        status = wait_until_ended(provider, handle, timeout=60)
        assert status.state is JobState.SUCCEEDED, status
        assert provider.logs(handle).lines
        artifact = provider.retrieve(handle, tmp_path / "model")  # every file checked against the manifest
    assert artifact.files
    assert [p for p, _ in arm.puts() if p.endswith(f"/jobs/{handle.remote_id}")], "the job was created"
    assert list(arm.jobs) == [handle.remote_id], "exactly one remote job"
    store = blobs["workspaceblobstore"]
    for split, path in prepared.files.items():  # what reached Blob storage is what was prepared
        key = data.uris[split].split("/paths/", 1)[1]
        sent = store.download_blob(key).readall()
        assert hashlib.sha256(sent).digest() == hashlib.sha256(path.read_bytes()).digest(), split
    for name, proxy in (("azureml", control), ("blob", storage)):
        print(f"{name}: {proxy.requests} requests, {proxy.faulted} faulted {dict(proxy.faults)}")
    assert control.faulted + storage.faulted >= 10 and set(control.faults) | set(storage.faults) >= set(STORAGE_KINDS)
