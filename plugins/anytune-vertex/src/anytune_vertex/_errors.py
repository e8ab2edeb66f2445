"""Every Google Cloud error the Vertex provider meets is translated here, and only here.

    with translate("launch"):
        jobs.create_custom_job(...)

A ``google.api_core`` error is mapped by its structured reason first (``google.rpc.ErrorInfo.reason``,
or the legacy ``errors[].reason`` of a JSON error body): :data:`REASONS`. Without a known reason its
class decides: :data:`CLASSES`. Local failures (no Application Default Credentials, no connection, a
checksum that does not match) are mapped by :func:`_local`. Throttling (HTTP 429 that is not a quota
or a stockout) and 503s are retried by the SDK's own ``Retry`` (:func:`is_transient` is its predicate)
before anything reaches this module.
"""

from __future__ import annotations

from typing import Any

from anytune import errors

PROVIDER = "vertex"
# Every exception class of these is mapped (a test walks them); other google.* errors pass through.
SDK_ERROR_MODULES = ("google.api_core.exceptions", "google.auth.exceptions", "google.cloud.storage.exceptions")
ADC_HINT = ("run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
            "service-account key file")

# Compute Engine's stockout codes (the reason of an ErrorInfo, or of a legacy error entry).
STOCKOUT = frozenset({
    "ZONE_RESOURCE_POOL_EXHAUSTED",
    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
    "REGION_RESOURCE_POOL_EXHAUSTED",
    "RESOURCE_POOL_EXHAUSTED",
    "STOCKOUT",
    "GCE_STOCKOUT",
})

# google.api.ErrorReason values (and the stockout codes) -> anytune errors.
REASONS: dict[str, type[errors.ProviderError]] = {
    **dict.fromkeys(STOCKOUT, errors.CapacityUnavailable),
    "RESOURCE_QUOTA_EXCEEDED": errors.QuotaExceeded,
    "RATE_LIMIT_EXCEEDED": errors.RateLimited,
    "ACCESS_TOKEN_EXPIRED": errors.AuthError,
    "CREDENTIALS_MISSING": errors.AuthError,
    "ACCESS_TOKEN_TYPE_UNSUPPORTED": errors.AuthError,
    "ACCOUNT_STATE_INVALID": errors.AuthError,
    "CREDENTIAL_TYPE_UNSUPPORTED": errors.AuthError,
    "JWT_TOKEN_INVALID": errors.AuthError,
    "ACCESS_TOKEN_SCOPE_INSUFFICIENT": errors.PermissionDenied,
    "IAM_PERMISSION_DENIED": errors.PermissionDenied,
    "SERVICE_DISABLED": errors.PermissionDenied,
    "BILLING_DISABLED": errors.PermissionDenied,
    "USER_PROJECT_DENIED": errors.PermissionDenied,
    "CONSUMER_SUSPENDED": errors.PermissionDenied,
    "CONSUMER_INVALID": errors.PermissionDenied,
}

# google.api_core exception class names -> anytune errors, for errors without a known reason.
# Over REST the classes follow the HTTP status (Forbidden, TooManyRequests); over gRPC the
# canonical code (PermissionDenied, ResourceExhausted): both are listed.
CLASSES: dict[str, type[errors.ProviderError]] = {
    "Unauthorized": errors.AuthError,
    "Unauthenticated": errors.AuthError,
    "Forbidden": errors.PermissionDenied,
    "PermissionDenied": errors.PermissionDenied,
    "TooManyRequests": errors.QuotaExceeded,
    "ResourceExhausted": errors.QuotaExceeded,
    "NotFound": errors.NotFound,
    "ServiceUnavailable": errors.ProviderUnavailable,
    "InternalServerError": errors.ProviderUnavailable,
    "BadGateway": errors.ProviderUnavailable,
    "GatewayTimeout": errors.ProviderUnavailable,
    "DeadlineExceeded": errors.ProviderUnavailable,
}

# A failed job's google.rpc.Status code (job.error.code): RESOURCE_EXHAUSTED at run time means the
# machines could not be had (quota is checked when the job is created).
JOB_ERROR_CODES = {8: "RESOURCE_EXHAUSTED (no capacity for the requested machines)"}
JOB_ERROR_CLASSES = {8: errors.CapacityUnavailable}  # what a failed job's code means (8: it may move on)


def reasons_of(exc: Any) -> list[str]:
    """The structured reasons an api_core error carries: ErrorInfo's, then the legacy ``errors[]``'s."""
    found = [exc.reason] if getattr(exc, "reason", None) else []
    for entry in getattr(exc, "errors", None) or ():
        reason = entry.get("reason") if isinstance(entry, dict) else getattr(entry, "reason", None)
        if reason:
            found.append(str(reason))
    return found


def is_transient(exc: BaseException) -> bool:
    """Worth sending the same (idempotent) request again: 500, 502, 503, 504, a dropped connection, or 429
    that is neither a quota nor a stockout."""
    from google.api_core import exceptions as gx

    if isinstance(exc, (gx.InternalServerError, gx.ServiceUnavailable, gx.BadGateway, gx.GatewayTimeout)):
        return True
    if isinstance(exc, ConnectionError) or _is_network(exc):  # reset, refused, timed out
        return True
    status = _media_status(exc)  # a Cloud Storage upload or download answered before api_core saw it
    if status is not None:
        return status in (500, 502, 503, 504) or (status == 429 and not reasons_of(exc))
    if isinstance(exc, gx.TooManyRequests):
        return not any(REASONS.get(r) in (errors.QuotaExceeded, errors.CapacityUnavailable) for r in reasons_of(exc))
    return False


def is_rejected(exc: BaseException) -> bool:
    """Refused before it was processed (429 throttling only), so even a create may be sent again."""
    from google.api_core import exceptions as gx

    return isinstance(exc, gx.TooManyRequests) and is_transient(exc)


def from_api_error(exc: Any, operation: str) -> errors.ProviderError:
    reasons = reasons_of(exc)
    cls = next((REASONS[r] for r in reasons if r in REASONS), None)
    if cls is None:
        cls = next((CLASSES[k.__name__] for k in type(exc).__mro__ if k.__name__ in CLASSES), errors.ProviderError)
    code = getattr(exc, "code", None)
    label = " ".join(str(x) for x in (code, reasons[0] if reasons else "") if x)
    message = getattr(exc, "message", None) or str(exc)
    return cls(f"{label}: {message}" if label else message, provider=PROVIDER, operation=operation)


def _local(exc: Exception, operation: str) -> errors.AnytuneError | None:
    """Failures raised by google-auth, the storage library or requests before or instead of an answer."""
    from google.api_core import exceptions as gx
    from google.auth import exceptions as ax
    from google.cloud.storage import exceptions as sx

    def make(cls, message, **kw):
        return cls(message, provider=PROVIDER, operation=operation, **kw)

    if isinstance(exc, gx.RetryError):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            return translated(cause, operation)
        return make(errors.ProviderUnavailable, f"Google Cloud kept failing until the retry deadline: {exc}")
    if isinstance(exc, ax.DefaultCredentialsError):
        return make(errors.AuthError, f"no Google Cloud credentials found; {ADC_HINT}")
    if isinstance(exc, ax.RefreshError):
        return make(errors.AuthError, f"Google Cloud credentials were refused ({exc}); {ADC_HINT}")
    if isinstance(exc, ax.TransportError):
        return make(errors.ProviderUnavailable, f"cannot reach Google's token service: {exc}")
    if isinstance(exc, sx.DataCorruption):
        return make(errors.ProviderError, f"checksum mismatch in a Cloud Storage transfer: {exc}", retryable=True)
    if isinstance(exc, sx.InvalidResponse):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(status, int):
            return from_api_error(gx.from_http_status(status, str(exc)), operation)
        return make(errors.ProviderError, str(exc))
    if isinstance(exc, gx.GoogleAPICallError):
        return from_api_error(exc, operation)
    if type(exc).__module__ in SDK_ERROR_MODULES:  # e.g. a client-side setting the library refused
        return make(errors.ProviderError, f"{type(exc).__name__}: {exc}")
    return None


def _media_status(exc: BaseException) -> int | None:
    """The HTTP status of google-cloud-storage's media-transfer error (``InvalidResponse``), else None."""
    from google.cloud.storage import exceptions as sx

    if not isinstance(exc, sx.InvalidResponse):
        return None
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _is_network(exc: Exception) -> bool:
    import requests

    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def translated(exc: Exception, operation: str) -> errors.AnytuneError | None:
    """The anytune error for a Google SDK / requests exception, or None when it is not one of theirs."""
    root = type(exc).__module__.split(".")[0]
    if root == "requests" or root == "urllib3":
        if _is_network(exc):
            return errors.ProviderUnavailable(f"cannot reach Google Cloud: {exc}", provider=PROVIDER,
                                              operation=operation)
        return None
    if root != "google":
        return None
    return _local(exc, operation)


def translate(operation: str):
    """Re-raise Google SDK errors from the block as anytune errors (the SDK's error is the ``__cause__``)."""
    return errors.translating(lambda exc: translated(exc, operation))
