"""anytune: fine-tune LLMs on any cloud or your own GPU from one provider-neutral job spec.

The public facade. Light to import: no torch, transformers or cloud SDK is loaded here.

    import anytune
    spec = anytune.load_spec("job.yaml")
    job = anytune.submit(spec)          # returns at once
    job.wait(); job.retrieve()
"""

from importlib.metadata import PackageNotFoundError, version

from .api import Job, compare, estimate, run, submit
from .errors import (
    AnytuneError,
    AuthError,
    BudgetExceeded,
    CapacityUnavailable,
    ConfigError,
    DataError,
    JobFailed,
    JobNotReady,
    NotFound,
    PermissionDenied,
    PluginError,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
)
from .hookspecs import hookimpl
from .provider import Capability, Provider, ProviderOptions
from .spec import JobSpec, load_spec
from .types import (
    CostEstimate,
    CostLine,
    DataRef,
    DataStats,
    JobHandle,
    JobState,
    JobStatus,
    LogChunk,
    ModelArtifact,
    Money,
    Readiness,
)

try:
    __version__ = version("anytune")  # one place: pyproject.toml
except PackageNotFoundError:  # run from a source tree or a trainer bundle, neither of which carries metadata
    __version__ = "0+unknown"

__all__ = [
    "AnytuneError", "AuthError", "BudgetExceeded", "Capability", "CapacityUnavailable", "ConfigError",
    "CostEstimate", "CostLine", "DataError", "DataRef", "DataStats", "Job", "JobFailed", "JobHandle",
    "JobNotReady", "JobSpec", "JobState", "JobStatus", "LogChunk", "ModelArtifact", "Money", "NotFound",
    "PermissionDenied", "PluginError", "Provider", "ProviderError", "ProviderOptions", "ProviderUnavailable",
    "QuotaExceeded", "RateLimited", "Readiness", "compare", "estimate", "hookimpl", "load_spec", "run", "submit",
]
