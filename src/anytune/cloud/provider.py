"""The base of the providers that run ``anytune.trainer`` from the trainer bundle in a cloud container
(SageMaker, Vertex AI, Azure ML). What they do alike lives here once; each keeps only its vendor's calls.

Here: the options every one has, pricing and the choice of instance (from the plan the user accepted),
content-addressed upload of data, bundle and a local base model, launch that finds the job a retry made,
dry run, resume, cancel of a job that already ended, the fallback of a job that failed for capacity or
quota, the retrieve-before-done guard, and the adapter-or-full kind.

Attempts: ``launch`` starts attempt 1, remote name ``job_name(job_id)``; each ``resume`` (``anytune resume``)
starts the next, ``attempt_name(job_id, n)``, as a new remote job (an ended job cannot be restarted on any
of the three clouds). Every attempt reads and writes its checkpoints at the first attempt's checkpoint
location, so the trainer of attempt n resumes from the newest checkpoint any earlier one saved (the
trainer's own run record there checks that they are this job's). Outputs and logs are per attempt.

A subclass gives, besides ``name``, ``Options``, ``STATE_MAP`` and ``check``/``logs``:

    label, pricing, instance_option          "SageMaker", its price catalog, the option naming the hardware
    fixed_instance() / price_region()        how its options narrow the catalog
    local_file(path, key) / object_uri(key)  a file with the digests its store reports; where a key lives
    store(operation)                         the connected store: require(operation), put_missing(...)
    _build(spec, data, job_id, plan, staged, attempt)   the vendor's request (a dict or an SDK object)
    _checked(request)                        that request checked against the API's schema, as a dry run shows it
    _find(job_id, attempt) / _create(request)   the job a launch made for this attempt (or None); send the request
    _job_ref(job)                            (remote id, handle extras) of a job as the SDK returns it
    _remote(handle, op) / _status_of(job, handle)   one job from the SDK; its JobStatus
    _failure(job, handle)                    (the anytune error a failed job's code maps to, extra words); optional
    _stop(handle)                            ask the cloud to stop the job
    _fetch_model(handle, job, dest) -> str   download the trained model into dest; where it came from

No cloud SDK is imported here.
"""

from __future__ import annotations

import dataclasses
import tempfile
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import Field, model_validator

from .. import errors
from ..artifacts import verify_manifest
from ..provider import Capability, Provider, ProviderOptions, artifact_kind, require_succeeded
from ..types import CostEstimate, DataRef, DataStats, JobHandle, JobState, JobStatus, ModelArtifact
from .bundle import BUNDLE_NAME, build_bundle
from .instances import estimate_instances, seq_length_stats
from .layout import StorageLayout
from .model import folder_hash, local_model_dir, model_files
from .retry import RetryPolicy, create_once

if TYPE_CHECKING:
    from ..data import PreparedData
    from ..spec import JobSpec


class CloudOptions(ProviderOptions):
    """Options every cloud provider has."""

    prefix: str = Field("anytune", description="Path prefix in the bucket/datastore for data, code, outputs.")
    max_runtime_hours: float | None = Field(None, gt=0, le=24 * 30, description="Default: compute.max_hours.")
    max_attempts: int = Field(8, ge=1, le=20, description="Tries per request, given to the SDK's own retries.")

    @model_validator(mode="after")
    def _clean_prefix(self):
        object.__setattr__(self, "prefix", StorageLayout(self.prefix).prefix)  # validates it
        return self


class StoredFile(Protocol):
    """A local file to put at ``key``, with the digests its store reports (each store its own kind)."""

    path: Path
    key: str
    size: int
    sha256: str


class ObjectStore(Protocol):
    def require(self, operation: str) -> None:
        """Fail clearly, before anything is sent, when the bucket/container is missing or closed to us."""

    def put_missing(self, files: list[Any], *, description: str, operation: str,
                    content_type: str = "application/octet-stream") -> int:
        """Upload what the store does not already hold with the same digest; return the bytes sent."""


@dataclasses.dataclass(frozen=True)
class Staged:
    """Where the job's code and (for a local base model folder) its base model are in the store."""

    bundle_uri: str
    model_uri: str | None


MAX_ATTEMPTS = 100  # attempts of one job that ``find`` looks for

# Every cloud container receives only the bundle and the uploaded data: nothing else on this machine.
CLOUD_UNSUPPORTED: Mapping[Capability, str] = {
    Capability.INIT_ADAPTER: "the cloud job receives the data and a base model, not an adapter folder on this "
                             "machine; continue training on the local provider",
}


class CloudProvider(Provider):
    label: ClassVar[str] = ""  # the service's name in messages: "SageMaker"
    pricing: ClassVar[Path]  # the price catalog shipped with the plugin
    instance_option: ClassVar[str] = ""  # the option(s) that fix the hardware, for messages
    unsupported = CLOUD_UNSUPPORTED
    claims = frozenset({Capability.MULTI_NODE})  # each cloud's request asks for compute.nodes machines
    options: CloudOptions

    @property
    def layout(self) -> StorageLayout:
        return StorageLayout(self.options.prefix)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.options.max_attempts)

    # --- pricing and the instance --------------------------------------------------------------

    def fixed_instance(self) -> str | None:
        """The catalog instance the options fix, or None to choose the cheapest that fits."""
        return getattr(self.options, "instance_type", None)

    def hardware_fixed(self) -> bool:
        """Whether the options name the hardware, so that it stands even where the catalog cannot price it."""
        return self.fixed_instance() is not None

    def price_region(self) -> str | None:
        return getattr(self.options, "region", None)

    def price_notes(self) -> list[str]:
        return []

    def estimate(self, spec: JobSpec, stats: DataStats) -> CostEstimate:
        return estimate_instances(spec, stats, self.pricing, provider=self.name, region=self.price_region(),
                                  instance_type=self.fixed_instance(), option=self.instance_option,
                                  notes=self.price_notes())

    def chosen(self, spec: JobSpec, plan: CostEstimate | None = None) -> CostEstimate:
        """The priced instance the job runs on: ``plan`` (the estimate recorded on the job, which the user
        accepted), else the cheapest the model fits in at max_seq_length (memory depends on the sequence
        length; the data's size only changes the time). Where the options fix the hardware it stands even
        when the catalog cannot price it (the estimate returned then does not fit)."""
        if plan is not None and plan.provider == self.name and plan.fits:
            return plan
        est = self.estimate(spec, seq_length_stats(spec))
        if not est.fits and not self.hardware_fixed():
            raise errors.ConfigError(f"no {self.label} instance in the price catalog fits this job",
                                     list(est.rejected[:5]) or [f"set {self.instance_option}"])
        return est

    # --- upload --------------------------------------------------------------------------------

    @abstractmethod
    def local_file(self, path: Path, key: str) -> StoredFile: ...

    @abstractmethod
    def object_uri(self, key: str) -> str: ...

    @abstractmethod
    def store(self, operation: str) -> ObjectStore: ...

    def data_uris(self, content_hash: str, splits) -> dict[str, str]:
        return {split: self.object_uri(self.layout.dataset(content_hash, split)) for split in splits}

    def upload(self, spec: JobSpec, data: PreparedData) -> DataRef:
        store = self.store("upload")
        store.require("upload")
        files = [self.local_file(Path(path), self.layout.dataset(data.content_hash, split))
                 for split, path in sorted(data.files.items())]
        sent = store.put_missing(files, description=f"uploading {spec.name} data", operation="upload",
                                 content_type="application/jsonl")
        return DataRef(provider=self.name, content_hash=data.content_hash,
                       uris=self.data_uris(data.content_hash, data.files), bytes_sent=sent)

    def bundle_files(self) -> dict[str, str]:
        """Files the platform needs in the trainer bundle besides anytune (e.g. an entry script)."""
        return {}

    def stage(self, spec: JobSpec, workdir: Path, *, send: bool) -> Staged:
        """The trainer bundle and a local base model folder, keyed by their hashes (so each goes once);
        with ``send`` they are uploaded."""
        bundle = build_bundle(spec, workdir, extra_files=self.bundle_files())
        files = [self.local_file(bundle.path, self.layout.code(bundle.sha256, BUNDLE_NAME))]
        model_uri = None
        folder = local_model_dir(spec)
        if folder is not None:
            found = [(rel, self.local_file(path, "")) for rel, path in model_files(folder)]
            digest = folder_hash((rel, f.sha256, f.size) for rel, f in found)
            files += [dataclasses.replace(f, key=self.layout.model(digest, rel)) for rel, f in found]
            model_uri = self.object_uri(self.layout.model(digest))
        if send:
            store = self.store("launch")
            store.require("launch")
            store.put_missing(files, operation="launch",
                              description=f"uploading {spec.name} trainer" + (" and model" if model_uri else ""))
        return Staged(self.object_uri(files[0].key), model_uri)

    # --- launch --------------------------------------------------------------------------------

    @abstractmethod
    def _build(self, spec: JobSpec, data: DataRef, job_id: str, plan: CostEstimate, staged: Staged,
               attempt: int = 1) -> Any:
        """The request for ``attempt``: named ``attempt_name(job_id, attempt)``, its checkpoints at the
        first attempt's location."""

    def _checked(self, request: Any) -> dict[str, Any]:
        """The request as a dry run shows it, checked against the API's schema (no network)."""
        return request

    @abstractmethod
    def _find(self, job_id: str, attempt: int = 1) -> Any | None:
        """The remote job of this attempt of ``job_id`` (as the SDK returns it), or None."""

    @abstractmethod
    def _create(self, request: Any) -> Any | None:
        """Send the request; the job as the SDK returns it, or None where the answer holds no job."""

    @abstractmethod
    def _job_ref(self, job: Any) -> tuple[str, dict[str, str]]: ...

    def _request(self, spec: JobSpec, data: DataRef, job_id: str, plan: CostEstimate | None, *, send: bool,
                 attempt: int = 1) -> Any:
        chosen = self.chosen(spec, plan)
        with tempfile.TemporaryDirectory(prefix=f"anytune-{self.name}-") as tmp:
            staged = self.stage(spec, Path(tmp), send=send)
        return self._build(spec, data, job_id, chosen, staged, attempt)

    def _handle(self, job_id: str, job: Any, method: str, attempt: int = 1) -> JobHandle:
        remote_id, extra = self._job_ref(job)
        extra = {**extra, "method": method, **({"attempt": str(attempt)} if attempt > 1 else {})}
        return JobHandle(provider=self.name, job_id=job_id, remote_id=remote_id, extra=extra)

    def launch(self, spec: JobSpec, data: DataRef, job_id: str, plan: CostEstimate | None = None) -> JobHandle:
        return self._start(spec, data, job_id, plan, attempt=1)

    def resume(self, spec: JobSpec, data: DataRef, handle: JobHandle, plan: CostEstimate | None = None) -> JobHandle:
        """The next attempt of an ended job, a new remote job that resumes from the checkpoints every earlier
        attempt saved (none saved: it trains from the start). A retry finds the attempt it already made."""
        state = self.status(handle).state
        if not state.terminal:
            raise errors.ConfigError(f"{self.label} job {handle.remote_id} is {state.value}: only an ended job resumes",
                                     [f"wait for it to end, or `anytune cancel {handle.job_id}` first"])
        return self._start(spec, data, handle.job_id, plan, attempt=int(handle.extra.get("attempt", 1)) + 1)

    def _start(self, spec: JobSpec, data: DataRef, job_id: str, plan: CostEstimate | None, attempt: int) -> JobHandle:
        job = self._find(job_id, attempt)  # a retried launch finds the job the first try made
        if job is None:
            request = self._request(spec, data, job_id, plan, send=True, attempt=attempt)
            job = create_once(lambda: self._create(request), lambda: self._find(job_id, attempt), self.retry_policy,
                              what=f"the {self.label} job for {job_id}", provider=self.name)
        return self._handle(job_id, job, spec.method, attempt)

    def find(self, spec: JobSpec, job_id: str) -> JobHandle | None:
        """The newest attempt's job, from the deterministic names and labels of the job id."""
        found = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            job = self._find(job_id, attempt)
            if job is None:
                break
            found = (job, attempt)
        return None if found is None else self._handle(job_id, found[0], spec.method, found[1])

    def dry_run(self, spec: JobSpec, data: DataRef, job_id: str, plan: CostEstimate | None = None) -> dict[str, Any]:
        """The request ``launch`` would send, checked against the API's schema, without sending anything.
        The data's URIs are where ``upload`` puts that content (the reference given may be a placeholder)."""
        data = data.model_copy(update={"uris": self.data_uris(data.content_hash, data.uris)})
        return self._checked(self._request(spec, data, job_id, plan, send=False))

    # --- follow, cancel, retrieve --------------------------------------------------------------

    @abstractmethod
    def _remote(self, handle: JobHandle, operation: str) -> Any: ...

    @abstractmethod
    def _status_of(self, job: Any, handle: JobHandle) -> JobStatus: ...

    @abstractmethod
    def _stop(self, handle: JobHandle) -> None: ...

    @abstractmethod
    def _fetch_model(self, handle: JobHandle, job: Any, dest: Path) -> str: ...

    def _failure(self, job: Any, handle: JobHandle) -> tuple[type[errors.ProviderError] | None, str]:
        """What a failed job died of: the anytune error the platform's code for it maps to (None when it
        does not say), and the platform's words when ``_status_of`` did not already give them."""
        return None, ""

    def status(self, handle: JobHandle) -> JobStatus:
        """The job's status. A job that failed for want of capacity or quota (which the next candidate may
        have) is marked ``fallback``: the dispatcher moves it on, as it would a launch that failed so."""
        job = self._remote(handle, "status")
        status = self._status_of(job, handle)
        if status.state is JobState.FAILED:
            failure, words = self._failure(job, handle)
            moves = failure is not None and issubclass(failure, (errors.CapacityUnavailable, errors.QuotaExceeded))
            status = status.model_copy(update={"fallback": moves,
                                               "message": " — ".join(x for x in (status.message, words) if x)})
        return status

    def cancel(self, handle: JobHandle) -> None:
        try:
            self._stop(handle)
        except errors.ProviderError as exc:
            # Clouds refuse, as a plain bad request, to stop a job that has ended: then nothing is left to
            # stop. Every other refusal (credentials, permission, no such job, an outage) is the user's to see.
            if type(exc) is errors.ProviderError and self.status(handle).state.terminal:
                return
            raise

    def retrieve(self, handle: JobHandle, dest: Path) -> ModelArtifact:
        job = self._remote(handle, "retrieve")
        status = self._status_of(job, handle)
        require_succeeded(status, f"{self.label} job {handle.remote_id}")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        source = self._fetch_model(handle, job, dest)
        files = verify_manifest(dest)
        notes = [f"from {source}"]
        if status.billable_seconds is not None:
            notes.append(f"billable seconds: {status.billable_seconds:g}")
        return ModelArtifact(kind=artifact_kind(handle.extra.get("method")), path=str(dest), files=files,
                             notes=tuple(notes))
