"""The one boundary where the openai SDK's typed exceptions become anytune's error tree: used by the
openai provider and by every OpenAI-compatible client in core (evaluation of remote models, the judge).

    openai.AuthenticationError (401)                 -> AuthError (the key is never quoted)
    openai.PermissionDeniedError (403)               -> PermissionDenied
        code training_not_available                      said plainly: OpenAI is retiring fine-tuning
    openai.RateLimitError (429)                      -> RateLimited, or QuotaExceeded (code insufficient_quota)
    openai.NotFoundError (404)                       -> NotFound
    openai.BadRequestError / Conflict / Unprocessable -> ProviderError with the server's message
    openai.InternalServerError (5xx)                 -> ProviderUnavailable (retryable)
    openai.APIConnectionError (and timeouts)         -> ProviderUnavailable (retryable)
    any other openai.APIStatusError                  -> ProviderError with the server's message
"""

from __future__ import annotations

import sys

from . import errors
from .errors import (
    AuthError,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
)

PROVIDER = "openai"
SDK_ERROR_MODULES = ("openai",)  # every exception class it defines is mapped (a test walks them)
RETIRED = ("this organisation can no longer create fine-tuning jobs: OpenAI is retiring self-serve "
           "fine-tuning (403 training_not_available); use another provider, e.g. `anytune serve` on your own GPUs")


def _server_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return getattr(exc, "message", "") or str(exc)


def map_error(exc: BaseException, operation: str, provider: str = PROVIDER) -> ProviderError | None:
    """The anytune error for an openai SDK exception, or None when ``exc`` is not one."""
    openai = sys.modules.get("openai")
    if openai is None or type(exc).__module__.split(".")[0] != "openai":
        return None
    where = {"provider": provider, "operation": operation}
    code = getattr(exc, "code", None)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.AuthenticationError):
        # OpenAI's 401 message quotes part of the key: leave it out.
        return AuthError("the API key was rejected (401 invalid or revoked key)", **where)
    if isinstance(exc, openai.PermissionDeniedError):
        if code == "training_not_available":
            return PermissionDenied(RETIRED, **where)
        return PermissionDenied(f"permission denied (403): {_server_message(exc)}", **where)
    if isinstance(exc, openai.RateLimitError):
        if code == "insufficient_quota":
            return QuotaExceeded(f"quota exhausted (429 insufficient_quota): {_server_message(exc)}", **where)
        return RateLimited(f"rate limited (429): {_server_message(exc)}", **where)
    if isinstance(exc, openai.NotFoundError):
        return NotFound(f"not found (404): {_server_message(exc)}", **where)
    if isinstance(exc, openai.InternalServerError):
        return ProviderUnavailable(f"server error ({status}): {_server_message(exc)}", **where)
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return ProviderUnavailable(f"cannot reach the API: {exc}", **where)
    if isinstance(exc, openai.APIStatusError):
        param = getattr(exc, "param", None)
        detail = f" (param {param})" if param else ""
        return ProviderError(f"request refused ({status}): {_server_message(exc)}{detail}", **where)
    return ProviderError(f"{type(exc).__name__}: {exc}", **where)


def translate(operation: str, provider: str = PROVIDER):
    """Re-raise OpenAI SDK errors from the block as anytune errors (the SDK's error is the ``__cause__``)."""
    return errors.translating(lambda exc: map_error(exc, operation, provider))
