"""Every Azure SDK error the Azure ML provider meets is translated here, and only here.

    with translate("launch"):
        ml.jobs.create_or_update(job)

azure-core raises typed exceptions. An HTTP error carries a status and error codes: ARM and Azure ML nest
them (``{"error": {"code": "UserError", "innerError": {"code": "NotFound"}}}``), Blob storage gives one
(``x-ms-error-code``). The most specific code that :data:`CODES` knows wins, then the status
(:data:`STATUSES`). Throttling (429) and transient server errors (500, 502, 503, 504) are retried by
azure-core's RetryPolicy (see :func:`._sdk.retry_kwargs`) before anything reaches this module; what still
arrives is :class:`~anytune.errors.RateLimited` or :class:`~anytune.errors.ProviderUnavailable`.
Messages are never matched: only typed exceptions, codes and statuses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from anytune import errors

PROVIDER = "azureml"
SDK_MODULES = ("azure",)
# Every exception class of these is mapped (a test walks them).
SDK_ERROR_MODULES = ("azure.core.exceptions", "azure.ai.ml.exceptions", "azure.identity")


CODES: dict[str, type[errors.ProviderError]] = {
    # credentials missing, wrong or expired (Blob storage answers these with 403)
    "InvalidAuthenticationToken": errors.AuthError,
    "InvalidAuthenticationTokenAudience": errors.AuthError,
    "InvalidAuthenticationTokenTenant": errors.AuthError,
    "ExpiredAuthenticationToken": errors.AuthError,
    "AuthenticationFailed": errors.AuthError,
    "NoAuthenticationInformation": errors.AuthError,
    "InvalidAuthenticationInfo": errors.AuthError,
    # valid credentials, not allowed
    "AuthorizationFailed": errors.PermissionDenied,
    "LinkedAuthorizationFailed": errors.PermissionDenied,
    "AuthorizationPermissionMismatch": errors.PermissionDenied,  # storage: no "Storage Blob Data" role
    "AuthorizationFailure": errors.PermissionDenied,  # storage: firewall / network rules
    # quotas: e.g. "The specified subscription has a Standard NCADSA100v4 family vCPU quota of 0 ..."
    "QuotaExceeded": errors.QuotaExceeded,
    "JobNodeCountExceedsCoreQuota": errors.QuotaExceeded,
    "ClusterMinNodesExceedCoreQuota": errors.QuotaExceeded,
    "ClusterCoreQuotaReached": errors.QuotaExceeded,
    "InsufficientQuota": errors.QuotaExceeded,
    "SubscriptionQuotaExceeded": errors.QuotaExceeded,
    # no capacity for the VM size here, now
    "AllocationFailed": errors.CapacityUnavailable,
    "ZonalAllocationFailed": errors.CapacityUnavailable,
    "OverconstrainedAllocationRequest": errors.CapacityUnavailable,
    "SkuNotAvailable": errors.CapacityUnavailable,
    "InsufficientCapacity": errors.CapacityUnavailable,
    # still throttled after azure-core's retries
    "TooManyRequests": errors.RateLimited,
    "ServerBusy": errors.RateLimited,
    # missing things
    "NotFound": errors.NotFound,
    "ResourceNotFound": errors.NotFound,
    "ResourceGroupNotFound": errors.NotFound,
    "SubscriptionNotFound": errors.NotFound,
    "ContainerNotFound": errors.NotFound,
    "BlobNotFound": errors.NotFound,
    # a name already taken
    "Conflict": errors.AlreadyExists,
}

STATUSES: dict[int, type[errors.ProviderError]] = {
    401: errors.AuthError,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.AlreadyExists,
    429: errors.RateLimited,
    500: errors.ProviderUnavailable,
    502: errors.ProviderUnavailable,
    503: errors.ProviderUnavailable,
    504: errors.ProviderUnavailable,
}


def _body(exc: Any) -> dict[str, Any]:
    try:
        data = json.loads(exc.response.text())
    except Exception:  # no response, or not JSON (Blob storage answers XML)
        return {}
    return data if isinstance(data, dict) else {}


def codes_in(error: Any) -> list[str]:
    """The codes of an Azure error object (``{"code", "innerError", "details"}``), outermost first."""
    codes: list[str] = []

    def walk(node: Any) -> None:
        if not isinstance(node, Mapping):  # a JSON body, or the SDK's REST models (mappings of REST keys)
            return
        lowered = {str(k).lower(): v for k, v in node.items()}
        if isinstance(lowered.get("code"), str):
            codes.append(lowered["code"])
        walk(lowered.get("innererror"))
        for detail in lowered.get("details") or []:
            walk(detail)

    walk(error)
    return codes


def mapped(codes: list[str]) -> type[errors.ProviderError] | None:
    """The most specific code :data:`CODES` knows."""
    return next((CODES[c] for c in reversed(codes) if c in CODES), None)


def run_failure(details: Any) -> tuple[type[errors.ProviderError] | None, str]:
    """Why a run failed, from its run-history ``RunDetails.error``: the anytune error its codes map to, and
    "codes: message" (None and "" when the run recorded no error)."""
    error = getattr(getattr(details, "error", None), "error", None)
    if error is None:
        return None, ""
    codes = codes_in(error)
    return mapped(codes), ": ".join(x for x in ("/".join(codes), (error.message or "").strip()[:500]) if x)


def error_codes(exc: Any) -> list[str]:
    """The error codes of an HTTP error, outermost first: ``error.code``, then each ``innerError`` and
    ``details`` code, then Blob storage's ``error_code``."""
    codes = codes_in(_body(exc).get("error"))
    storage = getattr(exc, "error_code", None)
    if storage:
        codes.append(str(getattr(storage, "value", storage)))
    return codes


def _message(exc: Any) -> str:
    error = _body(exc).get("error")
    if isinstance(error, dict) and error.get("message"):
        text = str(error["message"])
    else:
        text = str(getattr(exc, "message", None) or exc)
    return text.strip().splitlines()[0][:500] if text.strip() else type(exc).__name__


def from_http_error(exc: Any, operation: str) -> errors.ProviderError:
    """The anytune error for an azure-core ``HttpResponseError`` (and its subclasses)."""
    codes = error_codes(exc)
    status = getattr(exc, "status_code", None)
    cls = mapped(codes) or STATUSES.get(status or 0)
    label = " ".join(str(x) for x in (status, "/".join(codes)) if x)
    return (cls or errors.ProviderError)(f"{label}: {_message(exc)}" if label else _message(exc),
                                         provider=PROVIDER, operation=operation)


def _local(exc: Exception, operation: str) -> errors.AnytuneError | None:
    """Failures raised by the SDKs before or instead of an Azure answer."""
    from azure.core import exceptions as ax

    def make(cls, message):
        return cls(message, provider=PROVIDER, operation=operation)

    if isinstance(exc, ax.ClientAuthenticationError) and getattr(exc, "status_code", None) is None:
        # azure-identity found no usable credential (CredentialUnavailableError is a subclass)
        return make(errors.AuthError, f"no usable Azure credential ({_message(exc)}); run `az login`, or set "
                                      "AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or use a managed identity")
    if isinstance(exc, ax.HttpResponseError):
        return from_http_error(exc, operation)
    if isinstance(exc, (ax.ServiceRequestError, ax.ServiceResponseError)):
        return make(errors.ProviderUnavailable, f"cannot reach Azure: {_message(exc)}")
    if isinstance(exc, ax.AzureError):
        return make(errors.ProviderError, _message(exc))
    from azure.ai.ml import exceptions as mx

    if isinstance(exc, (mx.ValidationException, mx.UserErrorException)):
        return errors.ConfigError(f"Azure ML refused the job definition: {_message(exc)}")
    if isinstance(exc, mx.MlException):
        return make(errors.ProviderError, _message(exc))
    if type(exc).__module__ in SDK_ERROR_MODULES:  # (de)serializing a request or an answer failed
        return make(errors.ProviderError, f"{type(exc).__name__}: {_message(exc)}")
    return None


def translate(operation: str):
    """Re-raise Azure SDK errors from the block as anytune errors (the SDK's error is the ``__cause__``)."""
    return errors.translating(
        lambda exc: _local(exc, operation) if type(exc).__module__.split(".")[0] in SDK_MODULES else None)
