"""Azure Machine Learning: data, code and outputs in the workspace's blob datastore, a command job running
``anytune.trainer`` in a curated PyTorch environment on serverless compute or a cluster, Spot
(``job_tier``) or low-priority clusters, logs and the model read back from the datastore.

Importing this module imports no Azure SDK: azure-ai-ml, azure-storage-blob and azure-identity are reached
through :mod:`._sdk` when a verb runs, and every SDK error is translated by :func:`._errors.translate`.

Control plane (MLClient, ARM): create_or_update, get, begin_cancel, datastores.get, workspaces.get,
compute.get. Data plane (azure-storage-blob, :mod:`._storage`): uploads, the outputs, status.json, and the
job's logs, which Azure ML keeps in the workspace's artifact store at
``ExperimentRun/dcid.<job>/user_logs/``: the SDK's own default artifact location
(``JobOperations._get_named_output_uri``: workspaceartifactstore, ``ExperimentRun/dcid.{job_name}/``) and
log pattern (``JobLogPattern``: ``user_logs/std_log*.txt``) in azure-ai-ml 1.x; not seen on a live workspace.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from anytune import errors
from anytune.artifacts import verify_manifest
from anytune.cloud.bundle import BUNDLE_NAME, build_bundle
from anytune.cloud.instances import estimate_instances, seq_length_stats
from anytune.cloud.layout import StorageLayout
from anytune.cloud.model import folder_hash, local_model_dir, model_files
from anytune.cloud.names import job_name
from anytune.cloud.retry import PROBE, RetryPolicy
from anytune.provider import Capability, Provider, ProviderOptions
from anytune.types import (
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

from . import _job, _sdk
from ._errors import AlreadyExists, translate
from ._storage import BLOCK_SIZE, BlobStore, LocalBlob

PRICING = Path(__file__).parent / "data" / "pricing.json"
ARTIFACT_STORE = "workspaceartifactstore"  # Azure ML keeps run logs in this datastore's container
WORKSPACE_KEYS = ("subscription_id", "resource_group", "workspace")
GUID = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"


class AzureMLOptions(ProviderOptions):
    """``provider_options.azureml`` (or a profile). Credentials come from DefaultAzureCredential; a storage
    account key, where one is used (Azurite), from ``AZURE_STORAGE_KEY``, never from the options."""

    subscription_id: str | None = Field(None, pattern=GUID, description="Default: AZURE_SUBSCRIPTION_ID.")
    # the length as max_length: a bounded repeat of Unicode \w costs pydantic-core's regex ~35 ms to compile
    resource_group: str | None = Field(None, pattern=r"^[-\w._()]+$", max_length=90)
    workspace: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$")
    region: str | None = Field(None, pattern=r"^[a-z0-9]+$", description="The workspace's region, for prices.")
    compute: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9-]{1,31}$",
                                description="A compute cluster; default: serverless compute.")
    low_priority_compute: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9-]{1,31}$",
                                             description="A cluster of tier low_priority, for compute.spot.")
    instance_type: str | None = Field(None, pattern=r"^Standard_[A-Za-z0-9_]+$",
                                      description="VM size; default: the cheapest of the price catalog that fits.")
    environment: str = Field(_job.DEFAULT_ENVIRONMENT, min_length=1)
    datastore: str = Field("workspaceblobstore", pattern=r"^[A-Za-z0-9_]+$")
    storage_account: str | None = Field(None, pattern=r"^[a-z0-9]{3,24}$",
                                        description="The datastore's account; default: read from the datastore.")
    container: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    artifact_container: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
                                           description="Where Azure ML keeps job logs; default: read from the "
                                                       "workspaceartifactstore datastore.")
    blob_endpoint: str | None = Field(None, pattern=r"^https?://\S+$",
                                      description="The storage account's URL when not https://<account>.blob.<suffix>.")
    prefix: str = Field("anytune", description="Path prefix in the datastore for data, code, outputs.")
    experiment: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,255}$", description="Default: the spec's name.")
    managed_identity_client_id: str | None = Field(None, pattern=GUID)
    job_identity: Literal["default", "user", "managed"] = Field(
        "default", description="What the job accesses data as: the workspace default, the submitting user, or "
                               "the managed identity managed_identity_client_id (else the compute's).")
    max_runtime_hours: float | None = Field(None, gt=0, le=24 * 30, description="Default: compute.max_hours.")
    tags: dict[str, str] = Field(default_factory=dict)
    max_attempts: int = Field(8, ge=1, le=20, description="Tries per request (azure-core's RetryPolicy).")

    @model_validator(mode="after")
    def _consistent(self):
        object.__setattr__(self, "prefix", StorageLayout(self.prefix).prefix)  # validates it
        return self


class AzureMLProvider(Provider):
    name = "azureml"
    required_settings = {"subscription_id": "<subscription_id>", "resource_group": "<resource_group>",
                         "workspace": "<workspace>"}
    sdk_modules = ("azure.ai.ml", "azure.storage.blob", "azure.identity",)
    description = "Azure Machine Learning command jobs: blob datastore, curated PyTorch environment, Spot"
    capabilities = frozenset({Capability.SPOT, Capability.LOGS, Capability.MULTI_GPU, Capability.CANCEL,
                              Capability.DOWNLOAD_WEIGHTS, Capability.LORA, Capability.QLORA, Capability.FULL})
    Options = AzureMLOptions
    STATE_MAP = {
        "NotStarted": JobState.QUEUED,
        "Starting": JobState.QUEUED,
        "Provisioning": JobState.QUEUED,
        "Preparing": JobState.QUEUED,
        "Queued": JobState.QUEUED,
        "Paused": JobState.QUEUED,
        "Running": JobState.RUNNING,
        "Finalizing": JobState.RUNNING,
        "CancelRequested": JobState.STOPPING,
        "Completed": JobState.SUCCEEDED,
        "Failed": JobState.FAILED,
        "Canceled": JobState.CANCELLED,
        "NotResponding": JobState.UNKNOWN,
    }
    notes = ("data, code and model go to your workspace's blob datastore; billed per second of VM time",)
    options: AzureMLOptions

    def __init__(self, options=None, *, credential: Any = None):
        """``credential``: an azure-core TokenCredential; default DefaultAzureCredential."""
        super().__init__(options)
        self._given_credential = credential
        self._planned: dict[str, tuple[str, int]] = {}  # spec hash -> (instance, GPUs) chosen by estimate()
        self._stores: dict[tuple, BlobStore] = {}  # (workspace, datastore) -> its container
        self._clients: dict[tuple, Any] = {}

    # --- plumbing ------------------------------------------------------------------------------

    @cached_property
    def credential(self) -> Any:
        if self._given_credential is not None:
            return self._given_credential
        o = self.options
        return _sdk.default_credential(managed_identity_client_id=o.managed_identity_client_id)

    @property
    def layout(self) -> StorageLayout:
        return StorageLayout(self.options.prefix)

    def missing_settings(self) -> list[str]:
        found = self._workspace_settings()
        return [k for k in self.required_settings if not found[k]]

    def _workspace_settings(self) -> dict[str, str]:
        o = self.options
        return {"subscription_id": o.subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID", ""),
                "resource_group": o.resource_group or "", "workspace": o.workspace or ""}

    def _workspace(self) -> dict[str, str]:
        where = self._workspace_settings()
        missing = [k for k, v in where.items() if not v]
        if missing:
            raise errors.ConfigError("Azure ML workspace settings missing", [
                f"provider_options.azureml.{k} is not set (or put it in a profile: `anytune profile`)"
                + (" or AZURE_SUBSCRIPTION_ID" if k == "subscription_id" else "") for k in missing])
        return where

    def _ml_at(self, where: dict[str, str], policy: RetryPolicy | None = None) -> Any:
        policy = policy or RetryPolicy(attempts=self.options.max_attempts)
        key = (tuple(sorted(where.items())), policy)
        if key not in self._clients:
            self._clients[key] = _sdk.ml_client(self.credential, **where, policy=policy)
        return self._clients[key]

    @property
    def ml(self) -> Any:
        return self._ml_at(self._workspace())

    def _where(self, handle: JobHandle | None) -> dict[str, str]:
        """The workspace of a job (a handle outlives a profile change), else the options' workspace."""
        where = {k: handle.extra[k] for k in WORKSPACE_KEYS if handle.extra.get(k)} if handle else {}
        return where if len(where) == len(WORKSPACE_KEYS) else self._workspace()

    def _ml_for(self, handle: JobHandle) -> Any:
        return self._ml_at(self._where(handle))

    def _store(self, datastore: str, operation: str, handle: JobHandle | None = None, *,
               probe: bool = False) -> BlobStore:
        """The blob container behind a datastore of the job's workspace: from the options where they name
        it, else from Azure ML (looked up once)."""
        where = self._where(handle)
        key = (tuple(sorted(where.items())), datastore)
        if key in self._stores:
            return self._stores[key]
        o = self.options
        named = {o.datastore: o.container, ARTIFACT_STORE: o.artifact_container}.get(datastore)
        if o.storage_account and named:
            account, container, suffix = o.storage_account, named, "core.windows.net"
        else:
            with translate(operation):
                ds = self._ml_at(where, PROBE if probe else None).datastores.get(datastore)
            account, container, suffix = ds.account_name, ds.container_name, ds.endpoint or "core.windows.net"
        url = o.blob_endpoint or f"https://{account}.blob.{suffix}"
        secret = os.environ.get("AZURE_STORAGE_KEY")
        if url.startswith("http://") and not secret:
            raise errors.ConfigError(f"{url} is plain http, where Azure storage accepts only an account key",
                                     ["set AZURE_STORAGE_KEY (e.g. Azurite's well-known key)"])
        credential = {"account_name": account, "account_key": secret} if secret else self.credential
        service = _sdk.blob_service(url, credential, RetryPolicy(attempts=o.max_attempts), block_size=BLOCK_SIZE)
        self._stores[key] = BlobStore(service, container)
        return self._stores[key]

    def _get(self, ml: Any, name: str, operation: str) -> Any:
        with translate(operation):
            return ml.jobs.get(name)

    # --- check / estimate ----------------------------------------------------------------------

    def check(self, spec) -> Readiness:
        details: dict[str, str] = {}
        problems: list[str] = []
        try:
            for module in ("azure.ai.ml", "azure.storage.blob", "azure.identity"):
                _sdk.require(module)
            where = self._workspace()
            cluster = _job.compute_target(self.options, spot=spec.compute.spot)
            instance, gpus = self._plan(spec)
        except errors.AnytuneError as exc:
            return Readiness(ready=False, reason=str(exc), details=details)
        details["compute"] = f"cluster {cluster}" if cluster else f"serverless {instance}" + (
            " (Spot)" if spec.compute.spot else "")
        if os.environ.get(_sdk.MFE_OVERRIDE):
            details["endpoint"] = os.environ[_sdk.MFE_OVERRIDE]
        try:
            ml = self._ml_at(where, PROBE)
            with translate("check"):
                ws = ml.workspaces.get(where["workspace"])
            details["workspace"] = f"{ws.name} in {ws.location}"
            store = self._store(self.options.datastore, "check", probe=True)
            details["storage"] = store.url
            if cluster:
                with translate("check"):
                    target = ml.compute.get(cluster)
                tier = getattr(target, "tier", None) or "dedicated"
                details["cluster"] = f"{cluster}: {getattr(target, 'size', '?')}, {tier}"
                if spec.compute.spot and tier.lower().replace("_", "") != "lowpriority":
                    problems.append(f"compute.spot asks for low priority, but cluster {cluster} is {tier}")
        except errors.AnytuneError as exc:
            problems.append(str(exc))
        if problems:
            return Readiness(ready=False, reason="; ".join(problems), details=details)
        return Readiness(ready=True, reason=details.get("workspace", ""), details=details)

    def estimate(self, spec, stats: DataStats) -> CostEstimate:
        notes = ["Azure ML bills the VM meters per second while the compute runs; no platform fee"]
        est = estimate_instances(spec, stats, PRICING, provider=self.name, region=self.options.region,
                                 instance_type=self.options.instance_type,
                                 option="provider_options.azureml.instance_type", notes=notes)
        if est.fits:
            self._planned[spec.spec_hash()] = (est.instance, est.gpu_count)
        return est

    def _plan(self, spec) -> tuple[str | None, int]:
        """(VM size, GPUs) for the job: the option, else what estimate() chose for this spec, else the
        cheapest the model fits in at max_seq_length. On a cluster the VM size is the cluster's."""
        if spec.spec_hash() in self._planned:
            return self._planned[spec.spec_hash()]
        clustered = self.options.compute or self.options.low_priority_compute
        if clustered and not self.options.instance_type:
            return None, spec.compute.gpu_count
        est = self.estimate(spec, seq_length_stats(spec))
        if est.fits:
            return est.instance, est.gpu_count
        if self.options.instance_type:  # the user's choice stands, even where the catalog cannot tell
            return self.options.instance_type, spec.compute.gpu_count
        raise errors.ConfigError("no Azure ML VM size in the price catalog fits this job",
                                 list(est.rejected[:5]) or ["set provider_options.azureml.instance_type"])

    # --- upload / launch -----------------------------------------------------------------------

    def upload(self, spec, data) -> DataRef:
        store = self._store(self.options.datastore, "upload")
        store.require_container("upload")
        blobs = [LocalBlob.of(Path(path), self.layout.dataset(data.content_hash, split))
                 for split, path in sorted(data.files.items())]
        sent = store.put_missing(blobs, description=f"uploading {spec.name} data", content_type="application/jsonl")
        return DataRef(provider=self.name, content_hash=data.content_hash, uris=self._data_uris(data.content_hash,
                                                                                               data.files), bytes_sent=sent)

    def _data_uris(self, content_hash: str, splits) -> dict[str, str]:
        ds = self.options.datastore
        return {split: _job.datastore_uri(ds, self.layout.dataset(content_hash, split)) for split in splits}

    def _job(self, spec, data: DataRef, job_id: str, *, send: bool) -> Any:
        """The command job; with ``send`` the trainer bundle and a local base model are uploaded first
        (each keyed by its hash, so only once)."""
        instance, gpus = self._plan(spec)
        ds = self.options.datastore
        with tempfile.TemporaryDirectory(prefix="anytune-azureml-") as tmp:
            bundle = build_bundle(spec, Path(tmp))
            blobs = [LocalBlob.of(bundle.path, self.layout.code(bundle.sha256, BUNDLE_NAME))]
            model_uri = None
            folder = local_model_dir(spec)
            if folder is not None:
                files = [(rel, LocalBlob.of(path, "")) for rel, path in model_files(folder)]
                digest = folder_hash((rel, b.sha256, b.size) for rel, b in files)
                blobs += [dataclasses.replace(b, name=self.layout.model(digest, rel)) for rel, b in files]
                model_uri = _job.datastore_uri(ds, self.layout.model(digest))
            if send:
                store = self._store(ds, "launch")
                store.require_container("launch")
                store.put_missing(blobs, operation="launch",
                                  description=f"uploading {spec.name} trainer" + (" and model" if model_uri else ""))
        return _job.command_job(spec, data, job_id, options=self.options, name=job_name(job_id),
                                instance_type=instance, gpu_count=gpus, model_uri=model_uri,
                                bundle_uri=_job.datastore_uri(ds, blobs[0].name))

    def _handle(self, job_id: str, job: Any, method: str) -> JobHandle:
        return JobHandle(provider=self.name, job_id=job_id, remote_id=job.name,
                         extra={**self._workspace(), "method": method})

    def launch(self, spec, data: DataRef, job_id: str) -> JobHandle:
        name = job_name(job_id)
        try:
            return self._handle(job_id, self._get(self.ml, name, "launch"), spec.method)  # a retried launch
        except errors.NotFound:
            pass
        job = self._job(spec, data, job_id, send=True)
        try:
            with translate("launch"):
                self.ml.jobs.create_or_update(job)
        except AlreadyExists:  # another attempt created it between our look-up and now
            pass
        return self._handle(job_id, self._get(self.ml, name, "launch"), spec.method)

    def dry_run(self, spec, data: DataRef, job_id: str) -> dict[str, Any]:
        """The PUT ``launch`` would send (method, ARM path, JSON body), made by the SDK and not sent. The data
        is where ``upload`` puts it for this content hash (the reference given may be a placeholder)."""
        data = data.model_copy(update={"uris": self._data_uris(data.content_hash, data.uris)})
        return _sdk.rest_body(self._job(spec, data, job_id, send=False), **self._workspace())

    # --- follow --------------------------------------------------------------------------------

    def _output(self, handle: JobHandle, job: Any, key: str) -> tuple[BlobStore, str]:
        output = (job.outputs or {}).get(key)
        store, path = _job.parse_datastore_uri(getattr(output, "path", "") or "")
        return self._store(store, "retrieve", handle), path

    def status(self, handle: JobHandle) -> JobStatus:
        job = self._get(self._ml_for(handle), handle.remote_id, "status")
        raw = _raw_status(job)
        state = self.map_state(raw)
        progress, metrics, message = None, {}, raw
        if state in (JobState.RUNNING, JobState.FAILED):
            trainer = self._trainer_status(handle, job)
            step, total = trainer.get("step"), trainer.get("total_steps")
            if isinstance(step, int) and isinstance(total, int) and total:
                progress = min(step / total, 1.0)
            metrics = {k: float(trainer[k]) for k in ("step", "total_steps", "epoch", "loss", "eval_loss")
                       if isinstance(trainer.get(k), int | float)}
            message = " — ".join(x for x in (raw, trainer.get("state"), trainer.get("message")) if x)
        created = getattr(getattr(job, "creation_context", None), "created_at", None)
        return JobStatus(state=state, raw_state=raw, message=message, progress=progress, metrics=metrics,
                         started_at=created)

    def _trainer_status(self, handle: JobHandle, job: Any) -> dict[str, Any]:
        """The trainer's status.json from the logs output; {} before it exists."""
        try:
            store, path = self._output(handle, job, "logs")
            text = store.read_text(path.rstrip("/") + "/status.json", "status")
            data = json.loads(text) if text else {}
        except (errors.ProviderError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def logs(self, handle: JobHandle, cursor: str = "") -> LogChunk:
        """Complete lines of the job's user logs (``std_log.txt``, one per process with distribution) after
        ``cursor``, which is JSON: blob name -> bytes read."""
        offsets = _cursor(cursor)
        store = self._store(ARTIFACT_STORE, "logs", handle)
        blobs = store.list(f"ExperimentRun/dcid.{handle.remote_id}/user_logs/", "logs")
        lines: list[str] = []
        for blob in blobs:
            short = blob.name.rsplit("/", 1)[-1]
            data = store.read_from(blob.name, offsets.get(blob.name, 0), "logs") or b""
            complete = data[: data.rfind(b"\n") + 1]
            offsets[blob.name] = offsets.get(blob.name, 0) + len(complete)
            prefix = f"[{short.removesuffix('.txt')}] " if len(blobs) > 1 else ""
            lines += [prefix + line for line in complete.decode("utf-8", errors="replace").splitlines()]
        return LogChunk(lines=tuple(lines), cursor=json.dumps(offsets, sort_keys=True))

    def cancel(self, handle: JobHandle) -> None:
        ml = self._ml_for(handle)
        try:
            with translate("cancel"):
                ml.jobs.begin_cancel(handle.remote_id, polling=False)
        except errors.ProviderError as exc:
            # Azure ML refuses to cancel a job that has ended: nothing left to stop.
            if not isinstance(exc, errors.NotFound) and self.status(handle).state.terminal:
                return
            raise

    def retrieve(self, handle: JobHandle, dest: Path) -> ModelArtifact:
        job = self._get(self._ml_for(handle), handle.remote_id, "retrieve")
        raw = _raw_status(job)
        state = self.map_state(raw)
        if state is not JobState.SUCCEEDED:
            if state.terminal:
                raise errors.JobFailed(f"Azure ML job {handle.remote_id} ended {state.value} ({raw})")
            raise errors.JobNotReady(f"Azure ML job {handle.remote_id} is {state.value} ({raw})")
        store, path = self._output(handle, job, "model")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        store.download_prefix(path, dest)
        files = verify_manifest(dest)
        kind = "adapter" if handle.extra.get("method") in ("lora", "qlora") else "full"
        return ModelArtifact(kind=kind, path=str(dest), files=files, notes=(f"from {store.url}/{path}",))


def _raw_status(job: Any) -> str:
    """The job's status as Azure ML spells it ("Running"); the SDK gives an enum or a string."""
    return str(getattr(job.status, "value", job.status) or "")


def _cursor(cursor: str) -> dict[str, int]:
    try:
        offsets = json.loads(cursor) if cursor else {}
    except ValueError:
        offsets = None
    if not isinstance(offsets, dict) or not all(isinstance(v, int) and v >= 0 for v in offsets.values()):
        raise errors.ConfigError(f"not an Azure ML log cursor: {cursor[:80]!r}")
    return offsets
