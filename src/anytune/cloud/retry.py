"""One retry and timeout policy; each provider hands it to its SDK's own retry machinery
(botocore ``Config(retries=...)``, google-api-core ``Retry``, azure-core ``RetryPolicy``, openai
``max_retries``) instead of writing a retry loop. Throttling and transient server errors are retried
there; what still fails reaches the provider's error translation.

The one exception is the create of a remote job (:func:`create_once`): no SDK may repeat it blindly, since
a create whose answer was lost may have been applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .. import errors
from ..crashpoints import crashpoint

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # total tries of one request, the first included
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    initial_backoff_s: float = 1.0  # for SDKs whose backoff is configurable (botocore's adaptive mode is not)
    max_backoff_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")


DEFAULT = RetryPolicy()
PROBE = RetryPolicy(attempts=1, connect_timeout_s=5.0, read_timeout_s=10.0)  # optional look-ups in check()


def create_once(create: Callable[[], T | None], find: Callable[[], T | None], policy: RetryPolicy, *,
                what: str, provider: str) -> T:
    """Send a create, once in effect. ``create`` sends it (its SDK told not to repeat it; it returns the
    job, or None where the answer holds none); ``find`` looks the job up by the name or label the create
    gave it. A lost or transiently failed answer is followed by a look-up, and the create is sent again
    only when no job is there; a create refused as already done is the job another attempt made."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

    def attempt() -> T:
        try:
            job = create()
        except errors.AlreadyExists:
            job = None
        except errors.ProviderError as exc:
            if not exc.retryable:
                raise
            job = find()  # applied, and only the answer was lost?
            if job is None:
                raise
            return job
        crashpoint("cloud:created")
        job = job if job is not None else find()
        if job is None:
            raise errors.ProviderError(f"{what} was created but cannot be found", provider=provider,
                                       operation="launch", retryable=True)
        return job

    retrying = Retrying(retry=retry_if_exception(lambda e: isinstance(e, errors.ProviderError) and e.retryable),
                        stop=stop_after_attempt(policy.attempts), reraise=True,
                        wait=wait_exponential(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s))
    return retrying(attempt)
