"""The Provider interface every backend implements. The dispatcher and CLI never branch on a name."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError, JobFailed, JobNotReady
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
    """What a provider can do. A provider lists what it cannot (``Provider.unsupported``, with the reason) and
    what does not apply to it (``Provider.ignored``); it claims the rest, and the contract suite checks claims."""

    # asked for by a spec (see :func:`needs`): the dispatcher passes over a provider that cannot do them
    SPOT = "spot"  # compute.spot: true
    MULTI_GPU = "multi_gpu"  # compute.gpu_count > 1
    MULTI_NODE = "multi_node"  # compute.nodes > 1 (opt-in: see OPT_IN)
    LORA = "lora"  # method: lora
    QLORA = "qlora"  # method: qlora
    FULL = "full"  # method: full
    DPO = "dpo"  # objective: dpo
    INIT_ADAPTER = "init_adapter"  # init_adapter: a LoRA adapter folder on this machine
    # verbs: the contract suite checks them
    LOGS = "logs"  # logs() returns the job's lines
    CANCEL = "cancel"  # cancel() stops a running job
    DOWNLOAD_WEIGHTS = "download_weights"  # retrieve gives weights on disk, not only a remote model id


# Capabilities a provider has only when it says so (``Provider.claims``): a provider written before one of
# these existed must not be taken to train across several machines because it never listed it as unsupported.
OPT_IN: frozenset[Capability] = frozenset({Capability.MULTI_NODE})
OPT_IN_REASON = "this provider trains on one machine (it does not claim multi_node)"


@dataclass(frozen=True)
class Need:
    """A capability a spec asks for, in the spec's own words (``compute.spot: true``)."""

    capability: Capability
    asked: str
    explicit: bool = True  # written in the spec, not a default


def needs(spec: JobSpec) -> list[Need]:
    """The capabilities ``spec`` asks of the provider that runs it."""
    out = [Need(Capability(spec.method), f"method: {spec.method}", explicit="method" in spec.model_fields_set)]
    if spec.objective == "dpo":
        out.append(Need(Capability.DPO, "objective: dpo"))
    if spec.compute.spot:
        out.append(Need(Capability.SPOT, "compute.spot: true"))
    if spec.compute.gpu_count > 1:
        out.append(Need(Capability.MULTI_GPU, f"compute.gpu_count: {spec.compute.gpu_count}"))
    if spec.compute.nodes > 1:
        out.append(Need(Capability.MULTI_NODE, f"compute.nodes: {spec.compute.nodes}"))
    if spec.init_adapter:
        out.append(Need(Capability.INIT_ADAPTER, "init_adapter"))
    return out


class TerraformOutput(NamedTuple):
    """One ``terraform output`` that ``anytune profile import`` turns into one of this provider's options."""

    output: str  # the output's name (the modules under terraform/ name theirs so)
    option: str  # the provider option it fills
    required: bool = False  # a profile configures the provider when it has all the required ones


def same_named(required: tuple[str, ...], optional: tuple[str, ...] = ()) -> tuple[TerraformOutput, ...]:
    """Terraform outputs that each fill the option of their own name (how anytune's modules name them)."""
    return (*(TerraformOutput(n, n, True) for n in required), *(TerraformOutput(n, n) for n in optional))


def require_succeeded(status: JobStatus, what: str) -> None:
    """Raise JobNotReady while the job runs, JobFailed when it ended otherwise: before any retrieve."""
    if status.state is JobState.SUCCEEDED:
        return
    detail = f": {status.message}" if status.message else ""
    if status.state.terminal:
        raise JobFailed(f"{what} ended {status.state.value}{detail}")
    raise JobNotReady(f"{what} is {status.state.value}{detail}; nothing to retrieve yet")


def artifact_kind(method: str | None) -> str:
    """What a trained model is on disk: a LoRA adapter (lora, qlora) or full weights."""
    return "adapter" if method in ("lora", "qlora") else "full"


class ProviderOptions(BaseModel):
    """Base of each provider's own options schema (``provider_options.<name>`` in the spec).
    Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Provider(ABC):
    """A training backend. Subclasses set ``name``, ``unsupported`` (and ``ignored``), ``Options`` and
    ``STATE_MAP`` and implement the verbs. Construction must be cheap: no SDK import, no network."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # What this provider cannot do, each with the reason a user reads when the dispatcher passes it over for a
    # spec that asks for it (SkyPilot's "unsupported features"). It claims every other Capability.
    unsupported: ClassVar[Mapping[Capability, str]] = {}
    # What does not apply to it: a spec that asks for it still runs here, with the reason shown as a warning.
    ignored: ClassVar[Mapping[Capability, str]] = {}
    # The OPT_IN capabilities this provider has (e.g. multi_node); every other one is unsupported here.
    claims: ClassVar[frozenset[Capability]] = frozenset()
    # Derived: every Capability neither unsupported nor ignored (a plugin may still set it, the older way).
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

    # How `anytune profile import` reads this provider's options from `terraform output -json`.
    terraform_outputs: ClassVar[tuple[TerraformOutput, ...]] = ()

    # Settings a real launch needs (option name -> the placeholder a dry run shows in its place).
    required_settings: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "capabilities" in cls.__dict__ and "unsupported" not in cls.__dict__:  # a plugin that lists claims
            cls.unsupported = {c: "not supported by this provider" for c in Capability
                               if c not in cls.capabilities and c not in cls.ignored}
            cls.claims = cls.claims | (OPT_IN & cls.capabilities)
        kept = {c: why for c, why in cls.unsupported.items() if not (c in cls.claims and why == OPT_IN_REASON)}
        cls.unsupported = {**kept, **{c: OPT_IN_REASON for c in OPT_IN - cls.claims
                                      if c not in kept and c not in cls.ignored}}
        cls.capabilities = frozenset(c for c in Capability if c not in cls.unsupported and c not in cls.ignored)

    @classmethod
    def cannot(cls, spec: JobSpec) -> list[str]:
        """Why this provider cannot run ``spec`` as written: one line per capability asked for and not had."""
        return [f"{n.asked}: {cls.unsupported[n.capability]}" for n in needs(spec) if n.capability in cls.unsupported]

    @classmethod
    def ignores(cls, spec: JobSpec) -> list[str]:
        """What ``spec`` asks for that does not apply here (written in the spec, not left at a default)."""
        return [f"{n.asked} does not apply: {cls.ignored[n.capability]}" for n in needs(spec)
                if n.explicit and n.capability in cls.ignored]

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
    def launch(self, spec: JobSpec, data: DataRef, job_id: str, plan: CostEstimate | None = None) -> JobHandle:
        """Start training. Idempotent for one ``job_id``: a retry finds the job it already made. ``plan`` is
        this provider's estimate recorded on the job (the hardware the user accepted); None: choose again."""

    def resume(self, spec: JobSpec, data: DataRef, handle: JobHandle, plan: CostEstimate | None = None) -> JobHandle:
        """Start an ended (failed, cancelled) job again from its last checkpoint, as the same job; returns
        the new attempt's handle. Default: this provider cannot."""
        raise ConfigError(f"the {self.name} provider cannot resume a job from its checkpoints yet; "
                          "submit the spec again")

    def find(self, spec: JobSpec, job_id: str) -> JobHandle | None:
        """The job a launch for ``job_id`` started, found from the id alone (None: nothing was started). A
        submit that died between launch and recording the handle is completed through this (see
        ``anytune.jobs.reconcile``). Default: None, for a provider that cannot look its jobs up; the
        built-in ones all can, and the contract suite checks it."""
        return None

    @abstractmethod
    def status(self, handle: JobHandle) -> JobStatus:
        """The job's state now (mapped through ``STATE_MAP``), with progress and metrics where known."""

    @abstractmethod
    def logs(self, handle: JobHandle, cursor: str = "") -> LogChunk:
        """Log lines after ``cursor`` (empty = from the start)."""

    @abstractmethod
    def cancel(self, handle: JobHandle) -> None:
        """Ask the provider to stop the job; a job that has already ended is no error."""

    @abstractmethod
    def retrieve(self, handle: JobHandle, dest: Path) -> ModelArtifact:
        """Bring the trained model (or its id) into ``dest``, checksums verified."""

    @classmethod
    def refresh_prices(cls, catalog: Any, regions: list[str], *, endpoint: str | None = None,
                       api_key: str | None = None) -> tuple[dict, list[str]]:
        """For ``anytune pricing refresh``: current prices of ``catalog``'s entries in ``regions`` from the
        vendor's price API, as ({(kind, name, region): Price}, [entries not found]). Raises
        :class:`anytune.estimation.refresh.Offline` when the API cannot be read. Default: there is none."""
        from .estimation.refresh import Offline

        raise Offline(f"the {cls.name} provider reads no price API")

    def dry_run(self, spec: JobSpec, data: DataRef, job_id: str, plan: CostEstimate | None = None) -> dict[str, Any]:
        """The request ``launch`` would send, for ``--dry-run``. Providers override."""
        return {"provider": self.name, "job_id": job_id, "data": data.uris}

    def chat_engine(self, model_id: str, label: str | None = None):
        """An inference engine (:mod:`anytune.inference`) for a model this provider hosts, such as a remote
        artifact's model id, so ``anytune eval``/``chat`` work on it. Providers whose models come home as
        files need not override this: their files are evaluated locally."""
        raise ConfigError(f"the {self.name} provider cannot generate with its hosted model {model_id!r}")
