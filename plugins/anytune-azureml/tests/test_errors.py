"""Error translation, through the real SDKs: the control-plane server answers with ARM error bodies (and
Azurite with its own), MLClient / azure-storage-blob raise their typed exceptions, and the provider's one
translate() turns them into anytune's error tree. Throttling and 5xx are retried by azure-core first."""

from __future__ import annotations

import socket

import pytest
from anytune_azureml._errors import CODES, STATUSES

from anytune import errors
from anytune.types import JobHandle

JOB = r"/jobs/anytune-ghost$"


def ghost(provider) -> JobHandle:
    return JobHandle(provider="azureml", job_id="ghost", remote_id="anytune-ghost")


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_mapped_code_through_the_sdk(provider, arm, code):
    arm.fail("GET", JOB, 400, "UserError", f"scripted {code}", inner=code)
    with pytest.raises(CODES[code]) as info:
        provider.status(ghost(provider))
    assert code in str(info.value) and info.value.operation == "status" and info.value.provider == "azureml"


@pytest.mark.parametrize("status", sorted(s for s in STATUSES if s not in (429, 500, 502, 503, 504)))
def test_statuses_without_a_known_code(provider, arm, status):
    arm.fail("GET", JOB, status, "SomethingNew", "scripted")
    with pytest.raises(STATUSES[status]):
        provider.status(ghost(provider))


def test_vcpu_quota_of_zero_is_quota_exceeded_and_falls_back(provider, spec, prepared, arm):
    data = provider.upload(spec, prepared)
    arm.fail("PUT", r"/jobs/", 400, "UserError", "The specified subscription has a Standard NCASv3_T4 family vCPU "
             "quota of 0 and is less than the requested job node count of 1 which maps to 4 vCPUs.",
             inner="JobNodeCountExceedsCoreQuota")
    with pytest.raises(errors.QuotaExceeded, match="vCPU quota of 0") as info:
        provider.launch(spec, data, "quota-test")
    assert info.value.fallback and not info.value.retryable
    assert info.value.__cause__ is not None  # the SDK's error stays attached


def test_capacity_is_capacity_unavailable(provider, arm):
    arm.fail("GET", JOB, 400, "UserError", "no capacity", inner="ZonalAllocationFailed")
    with pytest.raises(errors.CapacityUnavailable):
        provider.status(ghost(provider))


def test_throttling_is_retried_by_the_sdk(provider, arm):
    arm.fail("GET", JOB, 429, "TooManyRequests", "slow down", headers={"Retry-After": "0"})
    with pytest.raises(errors.NotFound):  # the retry reached the server, which does not know the job
        provider.status(ghost(provider))
    assert len([r for r in arm.requests if r[1].endswith("/jobs/anytune-ghost")]) == 2


def test_throttling_that_persists_is_rate_limited(provider, arm):
    arm.fail("GET", JOB, 429, "TooManyRequests", "slow down", headers={"Retry-After": "0"}, times=2)
    with pytest.raises(errors.RateLimited) as info:
        provider.status(ghost(provider))
    assert info.value.retryable


def test_server_errors_that_persist_are_unavailable(provider, arm):
    arm.fail("GET", JOB, 503, "ServiceUnavailable", "down", headers={"Retry-After": "0"}, times=2)
    with pytest.raises(errors.ProviderUnavailable):
        provider.status(ghost(provider))


def test_a_bad_token_is_an_auth_error(make_provider, arm):
    class Wrong:
        def get_token(self, *scopes, **kwargs):
            import time

            from azure.core.credentials import AccessToken

            return AccessToken("not-a-token-of-this-server", int(time.time()) + 3600)

    provider = make_provider()
    provider._given_credential = Wrong()
    with pytest.raises(errors.AuthError, match="401"):
        provider.status(ghost(provider))


def test_no_credential_at_all_is_an_auth_error_with_what_to_do(make_provider):
    from azure.identity import CredentialUnavailableError

    class Nothing:
        def get_token(self, *scopes, **kwargs):
            raise CredentialUnavailableError("EnvironmentCredential: environment variables are not set")

    provider = make_provider()
    provider._given_credential = Nothing()
    with pytest.raises(errors.AuthError, match="az login"):
        provider.status(ghost(provider))


def test_an_unreachable_endpoint_is_unavailable(make_provider, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("AZUREML_DEV_URL_MFE", f"https://127.0.0.1:{port}")
    with pytest.raises(errors.ProviderUnavailable, match="cannot reach Azure"):
        make_provider(max_attempts=1).status(ghost(None))


def test_a_wrong_storage_key_is_refused(provider, spec, prepared, monkeypatch):
    """Azurite answers a bad signature with 403 AuthorizationFailure (PermissionDenied here); Azure itself
    answers AuthenticationFailed, which maps to AuthError (test_every_mapped_code_through_the_sdk)."""
    monkeypatch.setenv("AZURE_STORAGE_KEY", "d3Jvbmcta2V5LW5vdC1henVyaXRlcw==")
    with pytest.raises(errors.PermissionDenied, match="403 AuthorizationFailure"):
        provider.upload(spec, prepared)


def test_a_missing_container_is_not_found_with_where(make_provider, spec, prepared):
    provider = make_provider(storage_account="devstoreaccount1", container="no-such-container")
    with pytest.raises(errors.NotFound, match="no-such-container"):
        provider.upload(spec, prepared)


def test_http_without_a_key_is_a_config_error(provider, spec, prepared, monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_KEY")
    with pytest.raises(errors.ConfigError, match="AZURE_STORAGE_KEY"):
        provider.upload(spec, prepared)


def test_a_launch_racing_another_finds_its_job(provider, spec, prepared, arm):
    """The first look-up finds nothing, another attempt creates the job, our PUT is refused as a
    conflict (409, what the server answers for a taken name): the launch returns the job that exists."""
    data = provider.upload(spec, prepared)
    name = "anytune-race"
    arm.jobs[name] = {"body": {"properties": {"jobType": "Command", "command": "true", "environmentId": "e",
                                              "outputs": {}}},
                      "status": "Running", "created": "2026-11-21T00:00:00+00:00"}
    original = provider._get
    calls = []

    def first_misses(ml, job, operation):
        calls.append(job)
        if len(calls) == 1:
            raise errors.NotFound("not yet", provider="azureml", operation=operation)
        return original(ml, job, operation)

    provider._get = first_misses
    handle = provider.launch(spec, data, "race")
    assert handle.remote_id == name and len(calls) == 2
    assert [p for p, _ in arm.puts()] and arm.jobs[name]["status"] == "Running", "the existing job was kept"


def test_every_azure_core_ml_and_identity_exception_is_mapped():
    """Each exception class those libraries define comes out as an anytune error (a new one in an SDK
    upgrade that nobody mapped fails here, instead of reaching a user as a traceback)."""
    from anytune_azureml._errors import SDK_ERROR_MODULES, translate
    from azure.core.exceptions import ODataV4Error

    from anytune.testing.sdk_errors import exception_classes, instance, unmapped

    def make(cls):  # an OData error is built from its response (None: no body)
        return cls(None, message="boom") if issubclass(cls, ODataV4Error) else instance(cls)

    assert len(exception_classes(SDK_ERROR_MODULES)) > 40
    assert unmapped(translate, SDK_ERROR_MODULES, make) == []
