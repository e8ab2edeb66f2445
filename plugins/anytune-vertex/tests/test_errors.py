"""Error translation, in one place (_errors.translate). Each error is answered over HTTP by the stand-in
in Google's JSON error format, parsed by the SDK, and must come out as its anytune error; throttling and
503s are retried by google-api-core's Retry before anything is raised, and a create only when it was
refused unprocessed."""

from __future__ import annotations

import pytest
from anytune_vertex._errors import CLASSES, REASONS, translate
from anytune_vertex.provider import VertexProvider
from anytune_vertex_stand_in import free_port, google_error

from anytune import errors
from anytune.types import DataRef, JobHandle, JobState

GHOST = JobHandle(provider="vertex", job_id="j", remote_id="projects/anytune-test/locations/us-central1/customJobs/1")
GET = r"^GET .*/customJobs/1$"
CREATE = r"^POST .*/customJobs$"


def test_the_errors_the_issue_names_are_mapped():
    assert REASONS["ZONE_RESOURCE_POOL_EXHAUSTED"] is errors.CapacityUnavailable
    assert REASONS["RESOURCE_QUOTA_EXCEEDED"] is errors.QuotaExceeded
    assert REASONS["RATE_LIMIT_EXCEEDED"] is errors.RateLimited
    assert CLASSES["PermissionDenied"] is CLASSES["Forbidden"] is errors.PermissionDenied
    assert CLASSES["Unauthenticated"] is CLASSES["Unauthorized"] is errors.AuthError
    assert CLASSES["ResourceExhausted"] is CLASSES["TooManyRequests"] is errors.QuotaExceeded
    assert all(cls.fallback for cls in (errors.AuthError, errors.PermissionDenied, errors.QuotaExceeded,
                                         errors.CapacityUnavailable)), "the dispatcher falls back on these"


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_reason_over_http(reason, provider, vertex):
    vertex.script(GET, [google_error(400, "FAILED_PRECONDITION", "what Google said", reason)])
    with pytest.raises(errors.ProviderError) as info:
        provider.status(GHOST)
    assert type(info.value) is REASONS[reason], info.value
    assert reason in str(info.value) and "what Google said" in str(info.value)
    assert info.value.provider == "vertex" and info.value.__cause__ is not None


@pytest.mark.parametrize("status, code, expected", [
    (401, "UNAUTHENTICATED", errors.AuthError),
    (403, "PERMISSION_DENIED", errors.PermissionDenied),
    (404, "NOT_FOUND", errors.NotFound),
    (500, "INTERNAL", errors.ProviderUnavailable),
    (400, "INVALID_ARGUMENT", errors.ProviderError),
])
def test_status_codes_without_a_reason(status, code, expected, provider, vertex):
    # On 401 google-auth's transport refreshes the credentials and tries again (twice); a 500 to a read is
    # sent again by the Retry, up to max_attempts (2 here).
    sends = {401: 3, 500: 2}.get(status, 1)
    vertex.script(GET, [google_error(status, code, "what Google said")] * sends)
    with pytest.raises(errors.ProviderError) as info:
        provider.status(GHOST)
    assert type(info.value) is expected and str(status) in str(info.value)
    assert len(vertex.calls(GET)) == sends, "retried only when transient, and at most max_attempts times"


def test_a_stockout_in_the_legacy_errors_list(provider, vertex):
    body = {"error": {"code": 503, "message": "no machines", "status": "UNAVAILABLE",
                      "errors": [{"reason": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": "no machines", "domain": "compute"}]}}
    vertex.script(GET, [(503, body)] * 3)
    with pytest.raises(errors.CapacityUnavailable, match="ZONE_RESOURCE_POOL_EXHAUSTED"):
        provider.status(GHOST)


def test_throttling_and_503_are_retried_by_the_sdk(options, vertex):
    provider = VertexProvider({**options, "max_attempts": 3})
    vertex.script(GET, [google_error(429, "RESOURCE_EXHAUSTED", "slow down", "RATE_LIMIT_EXCEEDED"),
                        google_error(503, "UNAVAILABLE", "try again")])
    with pytest.raises(errors.NotFound):  # the third try reaches the stand-in, which has no job 1
        provider.status(GHOST)
    assert len(vertex.calls(GET)) == 3

    vertex.script(GET, [google_error(429, "RESOURCE_EXHAUSTED", "slow down", "RATE_LIMIT_EXCEEDED")] * 3)
    with pytest.raises(errors.RateLimited) as info:
        provider.status(GHOST)
    assert info.value.retryable and len(vertex.calls(GET)) == 6, "three more tries, then RateLimited"


def test_a_quota_is_not_retried(provider, vertex):
    vertex.script(GET, [google_error(429, "RESOURCE_EXHAUSTED", "custom_model_training_nvidia_l4_gpus",
                                     "RESOURCE_QUOTA_EXCEEDED")])
    with pytest.raises(errors.QuotaExceeded, match="nvidia_l4"):
        provider.status(GHOST)
    assert len(vertex.calls(GET)) == 1


@pytest.fixture
def data(bucket):
    return DataRef(provider="vertex", content_hash="cd" * 32, uris={"train": f"gs://{bucket}/d/train.jsonl"})


def test_create_is_resent_only_when_refused_unprocessed_or_looked_up_first(provider, spec, data, vertex):
    """A 503 may come after the job was made: the SDK does not resend it; launch looks the job up by label
    and sends the create again only when none is there (CloudProvider._start). A 429 (throttled) was
    not processed: the SDK resends it at once."""
    vertex.script(CREATE, [google_error(503, "UNAVAILABLE", "backend error")])
    handle = provider.launch(spec, data, "j503")
    assert len(vertex.calls(CREATE)) == 2 and provider.status(handle).state is JobState.QUEUED
    assert len([c for c in vertex.calls(r"^GET .*/customJobs$")]) >= 2, "looked up before each create"

    vertex.script(CREATE, [google_error(503, "UNAVAILABLE", "backend error")] * 2)  # max_attempts is 2 here
    with pytest.raises(errors.ProviderUnavailable) as info:
        provider.launch(spec, data, "j503-twice")
    assert info.value.retryable  # the dispatcher's retry goes on from here

    vertex.script(CREATE, [google_error(429, "RESOURCE_EXHAUSTED", "slow down", "RATE_LIMIT_EXCEEDED")])
    provider.launch(spec, data, "j429")
    assert len(vertex.calls(CREATE)) == 6


@pytest.mark.parametrize("reason, expected", [("RESOURCE_QUOTA_EXCEEDED", errors.QuotaExceeded),
                                              ("ZONE_RESOURCE_POOL_EXHAUSTED", errors.CapacityUnavailable),
                                              (None, errors.QuotaExceeded)])
def test_create_refused_for_quota_or_capacity(reason, expected, provider, spec, data, vertex):
    vertex.script(CREATE, [google_error(429, "RESOURCE_EXHAUSTED", "The following quota metrics exceed quota "
                                        "limits: aiplatform.googleapis.com/custom_model_training_nvidia_l4_gpus",
                                        reason)] * 2)
    with pytest.raises(expected) as info:
        provider.launch(spec, data, "jq")
    assert info.value.fallback, "another provider may have what this one lacks"


def test_refused_credentials_are_an_auth_error_and_check_says_so(provider, spec, prepared, vertex):
    """Cloud Storage trades the key for an OAuth token at the token endpoint: refused there."""
    # Every token request in this test is refused: the splits upload in parallel threads that each refresh a
    # token, so a short script could be used up before check() asks (the stand-in is new for each test).
    vertex.script(r"^POST /token$", [(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})] * 50)
    with pytest.raises(errors.AuthError, match="invalid_grant"):
        provider.upload(spec, prepared)
    ready = provider.check(spec)
    assert not ready.ready and "credentials were refused" in ready.reason


def test_a_key_google_does_not_know_is_an_auth_error(provider, vertex):
    """The Vertex AI client sends a JWT the service account signed itself: refused with 401."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    vertex.service_accounts = {k: rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
                               for k in vertex.service_accounts}
    with pytest.raises(errors.AuthError, match="401"):
        provider.status(GHOST)


def test_no_credentials_is_an_auth_error_and_check_says_so(options, spec, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    provider = VertexProvider({k: v for k, v in options.items() if k != "staging_bucket"})
    with pytest.raises(errors.AuthError, match="gcloud auth application-default login"):
        provider.status(GHOST)
    ready = provider.check(spec)
    assert not ready.ready and "no Google Cloud credentials" in ready.reason and "staging_bucket" in ready.reason


def test_check_reports_identity_project_and_bucket(options, spec, vertex, bucket):
    provider = VertexProvider({k: v for k, v in options.items() if k != "project"})  # the project from the key file
    ready = provider.check(spec)
    assert ready.ready, ready.reason
    assert ready.details["identity"].startswith("trainer@anytune-test.iam.gserviceaccount.com")
    assert ready.details["project"] == "anytune-test" and ready.details["bucket"] == f"gs://{bucket} is reachable"
    assert vertex.calls(r"^GET /ui/projects/anytune-test/locations/us-central1$"), "the location was asked for"
    assert "trainer@anytune-test.iam.gserviceaccount.com" in vertex.token_subjects


def test_a_missing_bucket_is_named(options, spec, prepared):
    provider = VertexProvider({**options, "staging_bucket": "no-such-bucket-here"})
    with pytest.raises(errors.NotFound, match="gs://no-such-bucket-here does not exist"):
        provider.upload(spec, prepared)
    ready = provider.check(spec)
    assert not ready.ready and "no-such-bucket-here" in ready.reason


def test_unreachable_endpoint_is_provider_unavailable(options):
    provider = VertexProvider({**options, "api_endpoint": f"http://127.0.0.1:{free_port()}", "max_attempts": 1})
    with pytest.raises(errors.ProviderUnavailable, match="cannot reach Google Cloud"):
        provider.status(GHOST)


def test_other_exceptions_pass_through():
    with pytest.raises(KeyError), translate("x"):
        raise KeyError("a bug is not a Google error")


def test_every_google_api_core_auth_and_storage_exception_is_mapped():
    """Each exception class those libraries define comes out as an anytune error (a new one in an SDK
    upgrade that nobody mapped fails here, instead of reaching a user as a traceback)."""
    from anytune_vertex._errors import SDK_ERROR_MODULES

    from anytune.testing.sdk_errors import exception_classes, unmapped

    assert len(exception_classes(SDK_ERROR_MODULES)) > 50
    assert unmapped(translate, SDK_ERROR_MODULES) == []
