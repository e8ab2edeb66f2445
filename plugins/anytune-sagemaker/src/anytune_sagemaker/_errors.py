"""Every boto3/botocore error the SageMaker provider meets is translated here, and only here.

    with translate("launch"):
        sagemaker.create_training_job(**request)

AWS error codes map to anytune's error tree through :data:`CODES`; local SDK failures (no credentials,
no connection) through :func:`_local`. Throttling is retried by botocore's adaptive retry mode before
anything reaches this module; what still arrives is reported as :class:`~anytune.errors.RateLimited`.
"""

from __future__ import annotations

from anytune import errors

PROVIDER = "sagemaker"
SDK_ERROR_MODULES = ("botocore.exceptions", "boto3.exceptions", "s3transfer.exceptions")  # all mapped: tests


CODES: dict[str, type[errors.ProviderError]] = {
    # credentials missing, wrong or expired
    "ExpiredToken": errors.AuthError,
    "ExpiredTokenException": errors.AuthError,
    "InvalidClientTokenId": errors.AuthError,
    "UnrecognizedClientException": errors.AuthError,
    "InvalidAccessKeyId": errors.AuthError,
    "SignatureDoesNotMatch": errors.AuthError,
    "IncompleteSignature": errors.AuthError,
    "MissingAuthenticationToken": errors.AuthError,
    # valid credentials, not allowed
    "AccessDenied": errors.PermissionDenied,
    "AccessDeniedException": errors.PermissionDenied,
    "403": errors.PermissionDenied,  # S3 HEAD requests carry no error body, only the status
    # quotas and capacity
    "ResourceLimitExceeded": errors.QuotaExceeded,
    "ServiceQuotaExceededException": errors.QuotaExceeded,
    "LimitExceededException": errors.QuotaExceeded,
    "CapacityError": errors.CapacityUnavailable,
    "InsufficientCapacity": errors.CapacityUnavailable,
    "InsufficientCapacityError": errors.CapacityUnavailable,
    "InsufficientInstanceCapacity": errors.CapacityUnavailable,
    # still throttled after botocore's retries
    "ThrottlingException": errors.RateLimited,
    "Throttling": errors.RateLimited,
    "TooManyRequestsException": errors.RateLimited,
    "RequestLimitExceeded": errors.RateLimited,
    "SlowDown": errors.RateLimited,
    # missing things
    "ResourceNotFound": errors.NotFound,
    "ResourceNotFoundException": errors.NotFound,
    "NoSuchBucket": errors.NotFound,
    "NoSuchKey": errors.NotFound,
    "NoSuchEntity": errors.NotFound,
    "NotFound": errors.NotFound,
    "404": errors.NotFound,
    # the service is having trouble
    "InternalFailure": errors.ProviderUnavailable,
    "InternalError": errors.ProviderUnavailable,
    "InternalServerError": errors.ProviderUnavailable,
    "ServiceUnavailable": errors.ProviderUnavailable,
    "500": errors.ProviderUnavailable,
    "503": errors.ProviderUnavailable,
    # a name already taken
    "ResourceInUse": errors.AlreadyExists,
}


def failure_class(reason: str) -> type[errors.ProviderError] | None:
    """The anytune error a failed job's FailureReason ("CapacityError: Unable to provision requested ML
    compute capacity. ...") names by its code, if any."""
    return CODES.get(reason.split(":", 1)[0].strip())


def from_client_error(exc, operation: str, *, describing: bool = False) -> errors.ProviderError:
    """The anytune error for a botocore ``ClientError``. ``describing``: the call looked up one named
    thing, and SageMaker's Describe* calls answer ValidationException ("Requested resource not found")
    when it does not exist; our names are valid, so there that code means NotFound."""
    err = exc.response.get("Error", {})
    code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    message = err.get("Message") or str(exc)
    cls = CODES.get(code)
    if cls is None and describing and code == "ValidationException":
        cls = errors.NotFound
    return (cls or errors.ProviderError)(f"{code}: {message}", provider=PROVIDER, operation=operation)


def _local(exc: Exception, operation: str) -> errors.AnytuneError | None:
    """Failures raised by botocore/boto3 before or instead of an AWS answer."""
    from botocore import exceptions as bx

    def make(cls, message):
        return cls(message, provider=PROVIDER, operation=operation)

    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError,
                        bx.TokenRetrievalError, bx.SSOError, bx.UnauthorizedSSOTokenError)):
        return make(errors.AuthError, f"no usable AWS credentials ({exc}); run `aws configure` or `aws sso login`, "
                                      "or set AWS_PROFILE")
    if isinstance(exc, bx.NoRegionError):
        return errors.ConfigError("no AWS region is set", ["set provider_options.sagemaker.region or AWS_REGION"])
    if isinstance(exc, bx.ProfileNotFound):
        return errors.ConfigError(f"AWS profile not found: {exc}", ["check provider_options.sagemaker.profile"])
    if isinstance(exc, bx.ParamValidationError):
        return errors.ConfigError(f"invalid SageMaker request: {exc}")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError,
                        bx.ConnectionClosedError)):
        return make(errors.ProviderUnavailable, f"cannot reach AWS: {exc}")
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, bx.ClientError):  # boto3 and s3transfer wrap a failed transfer's ClientError
        return from_client_error(cause, operation)
    # Any other botocore, boto3 or s3transfer error (a bad transfer setting, retries used up, ...).
    return make(errors.ProviderError, f"{type(exc).__name__}: {exc}")


def _mapped(exc: Exception, operation: str, describing: bool) -> errors.AnytuneError | None:
    if type(exc).__module__.split(".")[0] not in {m.split(".")[0] for m in SDK_ERROR_MODULES}:
        return None
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return from_client_error(exc, operation, describing=describing)
    return _local(exc, operation)


def translate(operation: str, *, describing: bool = False):
    """Re-raise SDK errors from the block as anytune errors (the SDK's error is the ``__cause__``)."""
    return errors.translating(lambda exc: _mapped(exc, operation, describing))
