"""Cloud faults, for real: the provider talks to moto through anytune.testing.faults.FaultProxy, which fails
one request in five (500, 503, 429, connection reset, "applied, then 500"). botocore's own retry mode
(adaptive, max_attempts) must carry every verb through, with one remote job and the data intact."""

from __future__ import annotations

import hashlib

import pytest
from anytune_sagemaker.provider import SageMakerProvider

from anytune.testing.faults import KINDS, FaultProxy, wait_until_ended
from anytune.types import JobState


def client(service: str):
    import boto3

    return boto3.client(service, region_name="us-east-1")  # AWS_ENDPOINT_URL: moto itself, not the proxy


@pytest.mark.slow  # the container plays a real (tiny) training run
def test_the_lifecycle_survives_one_request_in_five_faulted(options, spec, prepared, container, moto_server, tmp_path):
    with FaultProxy(moto_server, rate=0.2, seed=11) as proxy:
        provider = SageMakerProvider({**options, "endpoint_url": proxy.url, "max_attempts": 10})
        data = provider.upload(spec, prepared)
        handle = provider.launch(spec, data, "faulty-1")
        assert provider.launch(spec, data, "faulty-1").remote_id == handle.remote_id
        container(handle.remote_id)
        status = wait_until_ended(provider, handle, timeout=60)
        assert status.state is JobState.SUCCEEDED, status
        assert provider.logs(handle).lines
        artifact = provider.retrieve(handle, tmp_path / "model")  # every file checked against the manifest
    assert artifact.files
    named = [j for j in client("sagemaker").list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
             if j["TrainingJobName"] == handle.remote_id]
    assert len(named) == 1, "exactly one remote job"
    s3 = client("s3")
    for split, path in prepared.files.items():  # what reached S3 is byte for byte what was prepared
        bucket, key = data.uris[split].removeprefix("s3://").split("/", 1)
        sent = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(sent).digest() == hashlib.sha256(path.read_bytes()).digest(), split
    print(f"sagemaker: {proxy.requests} requests, {proxy.faulted} faulted {dict(proxy.faults)}")
    assert proxy.faulted >= 10 and set(proxy.faults) == set(KINDS), proxy.faults


def test_a_permanent_403_is_not_retried_and_moves_to_the_next_provider(options, spec, prepared, moto_server):
    """Retrying cannot fix an access denied: each refused request goes out once, and the error is one the
    dispatcher falls back on (benchmarks/fallback_latency.py times it: well under 10 s)."""
    from anytune import errors

    with FaultProxy(moto_server, rate=1.0, kinds=("denied",), only=r"^PUT ") as proxy:
        denied = SageMakerProvider({**options, "endpoint_url": proxy.url, "max_attempts": 8})
        with pytest.raises(errors.PermissionDenied, match="AccessDenied") as raised:
            denied.upload(spec, prepared)
    assert raised.value.fallback and not raised.value.retryable
    puts = [path for method, path, fault in proxy.log if method == "PUT"]
    assert puts and all(fault == "denied" for method, _, fault in proxy.log if method == "PUT")
    assert len(puts) == len(set(puts)), f"a denied request was sent again: {puts}"
