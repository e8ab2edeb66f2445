"""check(): identity and region from STS, the role and bucket looked up, the instance quota when Service
Quotas answers. It never raises; what is missing is said before anything is uploaded."""

from __future__ import annotations

from anytune_sagemaker._check import find_quota, quota_name
from anytune_sagemaker.provider import SageMakerProvider


def test_ready_against_moto(provider, spec):
    ready = provider.check(spec)
    assert ready.ready, ready.reason
    assert ready.details["identity"].startswith("arn:aws:sts::123456789012:") and ready.details["region"] == "us-east-1"
    assert ready.details["role"].endswith("exists") and "reachable" in ready.details["bucket"]
    # moto's server does not implement Service Quotas: check says so instead of failing.
    assert ready.details["quota"].startswith("not checked")


def test_missing_role_is_reported(options, spec):
    ready = SageMakerProvider({**options, "role_arn": "arn:aws:iam::123456789012:role/nobody"}).check(spec)
    assert not ready.ready and "execution role arn:aws:iam::123456789012:role/nobody does not exist" in ready.reason


def test_unset_settings_are_reported(spec):
    ready = SageMakerProvider({"region": "us-east-1"}).check(spec)
    assert not ready.ready
    assert "provider_options.sagemaker.role_arn is not set" in ready.reason
    assert "provider_options.sagemaker.bucket is not set" in ready.reason


def test_quota_lookup_over_http(scripted):
    """Service Quotas, answered by the scripted server: a zero quota makes the account not ready."""
    import boto3

    quotas = boto3.client("service-quotas", region_name="us-east-1", endpoint_url=scripted.url)
    name = quota_name("ml.g5.2xlarge", spot=True)
    scripted.replies = [(200, {"Quotas": [{"QuotaName": "other", "Value": 4.0}], "NextToken": "p2"}),
                        (200, {"Quotas": [{"QuotaName": name, "Value": 0.0}]})]
    assert find_quota(quotas, name) == 0.0
    assert [r[1].get("NextToken") for r in scripted.requests] == [None, "p2"]
    assert name == "ml.g5.2xlarge for spot training job usage"


def test_zero_quota_makes_check_fail(scripted, options, spec, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SERVICE_QUOTAS", scripted.url)
    name = quota_name("ml.g5.2xlarge", spot=False)
    scripted.replies = [(200, {"Quotas": [{"QuotaName": name, "Value": 0.0}]})]
    ready = SageMakerProvider({**options, "instance_type": "ml.g5.2xlarge"}).check(spec)
    assert not ready.ready and f"quota '{name}' is 0" in ready.reason
