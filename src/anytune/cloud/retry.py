"""One retry and timeout policy; each provider hands it to its SDK's own retry machinery
(botocore ``Config(retries=...)``, google-api-core ``Retry``, azure-core ``RetryPolicy``) instead of
writing a retry loop. Throttling and transient server errors are retried there; what still fails
reaches the provider's error translation.
"""

from __future__ import annotations

from dataclasses import dataclass


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
