"""One error tree for anytune and every provider.

    AnytuneError
    ├── ConfigError (ValueError)        bad spec / settings; lists every problem with its location
    ├── PluginError                     load failure, duplicate name, unknown provider (with the install hint)
    ├── ProviderError                   .provider .operation .retryable; __cause__ is the SDK's error
    │   ├── AuthError · PermissionDenied · QuotaExceeded · CapacityUnavailable
    │   └── RateLimited · ProviderUnavailable · NotFound · AlreadyExists
    ├── DataError (ValueError)          file, line, field, what to do
    ├── ChecksumMismatch                a file differs from its manifest (a damaged or partial transfer)
    ├── JobFailed · JobNotReady
    └── BudgetExceeded

Providers translate their SDK's typed exceptions into this tree at one boundary each
(``raise QuotaExceeded(...) from exc``); core code never inspects SDK errors or messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


class AnytuneError(Exception):
    """Base of every error anytune raises on purpose."""

    exit_code = 1


class ConfigError(AnytuneError, ValueError):
    """A job spec, profile or provider option is invalid. ``problems`` lists each one with its location."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None, source: str | None = None):
        self.problems = list(problems or [])
        self.source = source
        text = message
        if self.problems:
            text += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


class PluginError(AnytuneError):
    """A plugin failed to load, two plugins claim one name, or a provider name is unknown."""

    exit_code = 2


class DataError(AnytuneError, ValueError):
    """The training data is unusable. Carries where (file, line, field) and what to do."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None, hint: str | None = None):
        self.file, self.line, self.field, self.hint = file, line, field, hint
        where = ":".join(str(x) for x in (file, line) if x is not None)
        text = f"{where}: {message}" if where else message
        if field:
            text += f" (field {field})"
        if hint:
            text += f" — {hint}"
        super().__init__(text)


class ProviderError(AnytuneError):
    """A provider operation failed. ``retryable`` tells the dispatcher whether trying again may help;
    ``fallback`` whether another provider may succeed where this one cannot."""

    retryable = False
    fallback = False

    def __init__(self, message: str, *, provider: str = "", operation: str = "",
                 retryable: bool | None = None):
        self.provider, self.operation = provider, operation
        if retryable is not None:
            self.retryable = retryable
        prefix = "/".join(x for x in (provider, operation) if x)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class AuthError(ProviderError):
    """No or invalid credentials."""
    fallback = True


class PermissionDenied(ProviderError):
    """Credentials are valid but not allowed to do this."""
    fallback = True


class QuotaExceeded(ProviderError):
    """The account's quota for this resource is exhausted (or zero)."""
    fallback = True


class CapacityUnavailable(ProviderError):
    """The cloud has no capacity for the requested hardware right now."""
    fallback = True


class RateLimited(ProviderError):
    """Too many requests; worth retrying after a pause."""
    retryable = True


class ProviderUnavailable(ProviderError):
    """The service is unreachable or not usable from here (SDK missing, endpoint down)."""
    retryable = True
    fallback = True


class NotFound(ProviderError):
    """The job, file or model does not exist at the provider."""


class AlreadyExists(ProviderError):
    """A create refused a name that is taken: a retried launch raced the first one (look the job up)."""


class ChecksumMismatch(AnytuneError):
    """A file does not match the SHA-256 its manifest records."""


class JobFailed(AnytuneError):
    """The training job ended in a failed or cancelled state."""


class JobNotReady(AnytuneError):
    """The job has not finished, so there is nothing to retrieve yet."""


class BudgetExceeded(AnytuneError):
    """The estimate (or the running cost) passes the spec's budget."""


class SweepOverBudget(BudgetExceeded):
    """A sweep's estimated total passes the budget: refused before anything is written (bad input, exit 2)."""

    exit_code = 2


class MissingDependency(AnytuneError):
    """An optional package a command needs is not installed; the message names the extra to install."""

    exit_code = 2


@contextmanager
def translating(mapper: Callable[[Exception], AnytuneError | None]) -> Iterator[None]:
    """Re-raise what the block raises as ``mapper(exc)`` (the original is the ``__cause__``). anytune's own
    errors pass through, and so does anything ``mapper`` does not know (it returns None): each provider's
    ``translate()`` is this with its SDK's mapping."""
    try:
        yield
    except AnytuneError:
        raise
    except Exception as exc:
        mapped = mapper(exc)
        if mapped is None:
            raise
        raise mapped from exc
