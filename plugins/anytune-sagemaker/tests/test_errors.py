"""Error translation, in one place (_errors.translate). Each AWS error code is answered over HTTP by a
scripted server, parsed by botocore, and must come out as its anytune error; throttling is retried by
botocore's adaptive mode before anything is raised."""

from __future__ import annotations

import pytest
from anytune_sagemaker._errors import CODES, translate
from anytune_sagemaker.provider import SageMakerProvider

from anytune import errors
from anytune.types import JobHandle, JobState

GHOST = JobHandle(provider="sagemaker", job_id="j", remote_id="anytune-j")


def job(status: str = "InProgress", secondary: str = "Training", **more) -> tuple[int, dict]:
    return 200, {"TrainingJobName": "anytune-j", "TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/anytune-j",
                 "TrainingJobStatus": status, "SecondaryStatus": secondary, **more}


def test_the_codes_the_issue_names_are_mapped():
    expected = {
        "AccessDenied": errors.PermissionDenied, "AccessDeniedException": errors.PermissionDenied,
        "ExpiredToken": errors.AuthError, "ExpiredTokenException": errors.AuthError,
        "UnrecognizedClientException": errors.AuthError, "InvalidClientTokenId": errors.AuthError,
        "ResourceLimitExceeded": errors.QuotaExceeded, "CapacityError": errors.CapacityUnavailable,
        "InsufficientCapacity": errors.CapacityUnavailable, "ThrottlingException": errors.RateLimited,
        "ResourceNotFound": errors.NotFound, "NoSuchBucket": errors.NotFound,
    }
    assert {code: CODES.get(code) for code in expected} == expected
    assert all(cls.fallback for cls in (errors.AuthError, errors.PermissionDenied, errors.QuotaExceeded,
                                         errors.CapacityUnavailable)), "the dispatcher falls back on these"


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_mapped_code_over_http(code, scripted, scripted_provider):
    provider = scripted_provider
    status = int(code) if code.isdigit() else 400
    scripted.replies = [(status, None) if code.isdigit() else scripted.error(code, "what AWS said")]
    with pytest.raises(errors.ProviderError) as info:
        provider.cancel(GHOST) if CODES[code] is not errors.NotFound else provider.status(GHOST)
    assert type(info.value) is CODES[code], info.value
    assert info.value.provider == "sagemaker" and code in str(info.value)
    assert info.value.__cause__ is not None, "the SDK's error is kept as the cause"


def test_unmapped_codes_are_provider_errors(scripted, scripted_provider):
    provider = scripted_provider
    scripted.replies = [scripted.error("SomethingNew", "a new failure")]
    with pytest.raises(errors.ProviderError, match="SomethingNew: a new failure") as info:
        provider.status(GHOST)
    assert type(info.value) is errors.ProviderError and not info.value.retryable


def test_validation_means_not_found_only_when_describing(scripted, scripted_provider):
    provider = scripted_provider
    scripted.replies = [scripted.error("ValidationException", "Requested resource not found.")]
    with pytest.raises(errors.NotFound):
        provider.status(GHOST)
    with pytest.raises(errors.ProviderError) as info, translate("launch"):
        provider.aws.client("sagemaker").create_training_job(
            TrainingJobName="x", RoleArn="arn:aws:iam::123456789012:role/r", OutputDataConfig={"S3OutputPath": "s3://b/o"})
    assert type(info.value) is errors.ProviderError


def test_throttling_is_retried_by_botocore(scripted):
    provider = SageMakerProvider({"region": "us-east-1", "endpoint_url": scripted.url, "max_attempts": 2})
    scripted.replies = [scripted.error("ThrottlingException"), job()]
    assert provider.status(GHOST).state is JobState.RUNNING
    assert len(scripted.requests) == 2, "one throttled request, retried once"

    scripted.requests.clear()
    scripted.replies = [scripted.error("ThrottlingException")]
    with pytest.raises(errors.RateLimited) as info:
        provider.status(GHOST)
    assert info.value.retryable and len(scripted.requests) == 2, "still throttled after max_attempts"


def test_unreachable_endpoint_is_provider_unavailable():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = SageMakerProvider({"region": "us-east-1", "endpoint_url": f"http://127.0.0.1:{port}", "max_attempts": 1})
    with pytest.raises(errors.ProviderUnavailable, match="cannot reach AWS"):
        provider.status(GHOST)


def test_no_credentials_is_an_auth_error_and_check_says_so(monkeypatch, spec):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    provider = SageMakerProvider({"region": "us-east-1", "max_attempts": 1})
    with pytest.raises(errors.AuthError, match="no usable AWS credentials"):
        provider.status(GHOST)
    ready = provider.check(spec)
    assert not ready.ready and "no usable AWS credentials" in ready.reason
    assert "role_arn is not set" in ready.reason and "bucket is not set" in ready.reason


def test_unknown_profile_is_a_config_error(spec):
    provider = SageMakerProvider({"region": "us-east-1", "profile": "nobody-has-this-profile"})
    with pytest.raises(errors.ConfigError, match="profile"):
        provider.status(GHOST)
    assert not provider.check(spec).ready


def test_other_exceptions_pass_through():
    with pytest.raises(KeyError), translate("x"):
        raise KeyError("a bug is not an AWS error")


def test_every_botocore_boto3_and_s3transfer_exception_is_mapped():
    """Each exception class the three libraries define comes out as an anytune error (a new one in an SDK
    upgrade that nobody mapped fails here, instead of reaching a user as a traceback)."""
    from anytune_sagemaker._errors import SDK_ERROR_MODULES
    from botocore.exceptions import ClientError

    from anytune.testing.sdk_errors import exception_classes, instance, unmapped

    def make(cls):
        exc = instance(cls)
        if isinstance(exc, ClientError):  # botocore always gives one its parsed response
            exc.response = {"Error": {"Code": "SomeNewCode", "Message": "m"}}
        return exc

    assert len(exception_classes(SDK_ERROR_MODULES)) > 100
    assert unmapped(translate, SDK_ERROR_MODULES, make) == []
