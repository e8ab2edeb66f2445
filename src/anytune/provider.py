"""The Provider interface every backend implements. The dispatcher and CLI never branch on a name."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError
from .types import (
    CostEstimate,
    DataRef,
    DataStats,
    JobHandle,
    JobState,
    JobStatus,
    LogChunk,
    ModelArtifact,
    Readiness,
)

if TYPE_CHECKING:
    from .data import PreparedData
    from .spec import JobSpec


class Capability(enum.StrEnum):
    SPOT = "spot"
    LOGS = "logs"
    MULTI_GPU = "multi_gpu"
    CANCEL = "cancel"
    DOWNLOAD_WEIGHTS = "download_weights"  # retrieve gives weights on disk, not only a remote model id
    LORA = "lora"
    QLORA = "qlora"
    FULL = "full"
    INIT_ADAPTER = "init_adapter"  # can start from a LoRA adapter folder on this machine (spec.init_adapter)


class ProviderOptions(BaseModel):
    """Base of each provider's own options schema (``provider_options.<name>`` in the spec).
    Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Provider(ABC):
    """A training backend. Subclasses set ``name``, ``capabilities``, ``Options`` and ``STATE_MAP``
    and implement the verbs. Construction must be cheap: no SDK import, no network."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    Options: ClassVar[type[ProviderOptions]] = ProviderOptions
    STATE_MAP: ClassVar[Mapping[str, JobState]] = {}
    # Notes shown next to this provider in comparisons, e.g. "data leaves your network".
    notes: ClassVar[tuple[str, ...]] = ()
    # The fewest training examples the provider accepts (the data pipeline checks it before any upload).
    min_examples: ClassVar[int] = 1
    # Seconds between status polls when following a job.
    poll_interval: ClassVar[float] = 5.0
    # The vendor SDK's modules, which come with the extra ``anytune[<name>]``; without them the provider still
    # lists and estimates (pure computation), and is skipped at dispatch with the install command.
    sdk_modules: ClassVar[tuple[str, ...]] = ()
    # Whether the machine that trains fetches a Hugging Face id itself (a cloud container with internet) or
    # needs it on this machine already (in the local Hub cache, or downloadable from here): checked at dispatch.
    fetches_hub_models: ClassVar[bool] = True

    # Settings a real launch needs (option name -> the placeholder a dry run shows in its place).
    required_settings: ClassVar[dict[str, str]] = {}

    def missing_settings(self) -> list[str]:
        """The required settings this provider's options lack (names of ``required_settings``)."""
        return [n for n in self.required_settings if not getattr(self.options, n, None)]

    def with_placeholders(self) -> tuple[Provider, list[str]]:
        """For a dry run: this provider with each missing required setting replaced by its clearly marked
        placeholder, and ``provider_options.<name>.<setting> = <placeholder>`` for each one replaced."""
        missing = self.missing_settings()
        if not missing:
            return self, []
        options = self.options.model_copy(update={n: self.required_settings[n] for n in missing})
        return type(self)(options), [f"provider_options.{self.name}.{n} = {self.required_settings[n]}" for n in missing]

    @classmethod
    def missing_sdk(cls) -> str | None:
        """Why this provider cannot talk to its cloud from this install (a missing SDK), or None. Looks the
        modules up without importing them."""
        import importlib.util

        for module in cls.sdk_modules:
            try:
                found = importlib.util.find_spec(module) is not None
            except ImportError:  # a parent package is missing (e.g. namespace ``google`` without ``google.cloud``)
                found = False
            if not found:
                return f"the {module} package is not installed: pip install 'anytune[{cls.name}]'"
        return None

    def __init__(self, options: Mapping[str, Any] | ProviderOptions | None = None):
        self.options = self.parse_options(options)

    @classmethod
    def parse_options(cls, options: Mapping[str, Any] | ProviderOptions | None) -> ProviderOptions:
        if isinstance(options, cls.Options):
            return options
        try:
            return cls.Options.model_validate(dict(options or {}))
        except ValidationError as exc:
            problems = [
                f"provider_options.{cls.name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors()
            ]
            raise ConfigError(f"invalid options for provider {cls.name!r}", problems) from None

    @classmethod
    def map_state(cls, raw: str) -> JobState:
        return cls.STATE_MAP.get(raw, JobState.UNKNOWN)

    # --- the verbs -------------------------------------------------------------------------

    @abstractmethod
    def check(self, spec: JobSpec) -> Readiness:
        """Ready to run this spec, or why not. Never raises for an expected problem; fast."""

    @abstractmethod
    def estimate(self, spec: JobSpec, stats: DataStats) -> CostEstimate:
        """Hardware, hours and cost for this spec. Pure computation: no SDK import, no network."""

    @abstractmethod
    def upload(self, spec: JobSpec, data: PreparedData) -> DataRef:
        """Put the prepared splits where the provider's job can read them, keyed by content hash;
        an unchanged dataset is not sent again (``DataRef.bytes_sent == 0``)."""

    @abstractmethod
    def launch(self, spec: JobSpec, data: DataRef, job_id: str) -> JobHandle:
        """Start training. Idempotent for one ``job_id``: a retry finds the job it already made."""

    @abstractmethod
    def status(self, handle: JobHandle) -> JobStatus: ...

    @abstractmethod
    def logs(self, handle: JobHandle, cursor: str = "") -> LogChunk:
        """Log lines after ``cursor`` (empty = from the start)."""

    @abstractmethod
    def cancel(self, handle: JobHandle) -> None: ...

    @abstractmethod
    def retrieve(self, handle: JobHandle, dest: Path) -> ModelArtifact:
        """Bring the trained model (or its id) into ``dest``, checksums verified."""

    def dry_run(self, spec: JobSpec, data: DataRef, job_id: str) -> dict[str, Any]:
        """The request ``launch`` would send, for ``--dry-run``. Providers override."""
        return {"provider": self.name, "job_id": job_id, "data": data.uris}

    def chat_engine(self, model_id: str, label: str | None = None):
        """An inference engine (:mod:`anytune.inference`) for a model this provider hosts, such as a remote
        artifact's model id, so ``anytune eval``/``chat`` work on it. Providers whose models come home as
        files need not override this: their files are evaluated locally."""
        from .errors import ConfigError

        raise ConfigError(f"the {self.name} provider cannot generate with its hosted model {model_id!r}")
