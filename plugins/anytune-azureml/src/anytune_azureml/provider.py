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

import json
import logging
import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from anytune import errors
from anytune.cloud.names import attempt_name, job_name
from anytune.cloud.provider import CloudOptions, CloudProvider, Staged
from anytune.cloud.retry import PROBE, RetryPolicy
from anytune.provider import same_named
from anytune.types import CostEstimate, DataRef, JobHandle, JobState, JobStatus, LogChunk, Readiness

from . import _job, _sdk
from ._errors import run_failure, translate
from ._storage import BLOCK_SIZE, BlobStore, LocalBlob

PRICING = Path(__file__).parent / "data" / "pricing.json"
ARTIFACT_STORE = "workspaceartifactstore"  # Azure ML keeps run logs in this datastore's container
WORKSPACE_KEYS = ("subscription_id", "resource_group", "workspace")
log = logging.getLogger("anytune.azureml")
GUID = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"


class AzureMLOptions(CloudOptions):
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
    experiment: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,255}$", description="Default: the spec's name.")
    managed_identity_client_id: str | None = Field(None, pattern=GUID)
    job_identity: Literal["default", "user", "managed"] = Field(
        "default", description="What the job accesses data as: the workspace default, the submitting user, or "
                               "the managed identity managed_identity_client_id (else the compute's).")
    tags: dict[str, str] = Field(default_factory=dict)


class AzureMLProvider(CloudProvider):
    name = "azureml"
    label = "Azure ML"
    pricing = PRICING
    instance_option = "provider_options.azureml.instance_type"
    required_settings = {"subscription_id": "<subscription_id>", "resource_group": "<resource_group>",
                         "workspace": "<workspace>"}
    sdk_modules = ("azure.ai.ml", "azure.storage.blob", "azure.identity",)
    description = "Azure Machine Learning command jobs: blob datastore, curated PyTorch environment, Spot"
    # `terraform output -json` of terraform/<cloud>: each output fills the option of its name.
    terraform_outputs = same_named(required=("subscription_id", "resource_group", "workspace"),
                                   optional=("compute", "storage_account", "container", "prefix"))
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
        self._stores: dict[tuple, BlobStore] = {}  # (workspace, datastore) -> its container
        self._clients: dict[tuple, Any] = {}

    @classmethod
    def refresh_prices(cls, catalog, regions, *, endpoint=None, api_key=None):
        from . import _prices

        return _prices.fetch(catalog, regions, endpoint, api_key)

    # --- plumbing ------------------------------------------------------------------------------

    @cached_property
    def credential(self) -> Any:
        if self._given_credential is not None:
            return self._given_credential
        o = self.options
        return _sdk.default_credential(managed_identity_client_id=o.managed_identity_client_id)

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
        policy = policy or self.retry_policy
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
        service = _sdk.blob_service(url, credential, self.retry_policy, block_size=BLOCK_SIZE)
        self._stores[key] = BlobStore(service, container)
        return self._stores[key]

    def _get(self, ml: Any, name: str, operation: str) -> Any:
        with translate(operation):
            return ml.jobs.get(name)

    def _remote(self, handle: JobHandle, operation: str) -> Any:
        return self._get(self._ml_for(handle), handle.remote_id, operation)

    # --- check / estimate ----------------------------------------------------------------------

    def check(self, spec) -> Readiness:
        details: dict[str, str] = {}
        problems: list[str] = []
        try:
            for module in ("azure.ai.ml", "azure.storage.blob", "azure.identity"):
                _sdk.require(module)
            where = self._workspace()
            cluster = _job.compute_target(self.options, spot=spec.compute.spot)
            instance, _ = self._hardware(spec, self.chosen(spec))
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

    def price_notes(self) -> list[str]:
        return ["Azure ML bills the VM meters per second while the compute runs; no platform fee"]

    def hardware_fixed(self) -> bool:  # a cluster's VM size is the cluster's
        return bool(self.options.instance_type or self.options.compute or self.options.low_priority_compute)

    def _hardware(self, spec, plan: CostEstimate) -> tuple[str | None, int]:
        """(VM size, GPUs): the plan's where it fits, else the fixed instance type, else (on a cluster, whose
        VM size is the cluster's) none."""
        if plan.fits:
            return plan.instance, plan.gpu_count
        return self.options.instance_type, spec.compute.gpu_count

    # --- upload / launch -----------------------------------------------------------------------

    def local_file(self, path: Path, key: str) -> LocalBlob:
        return LocalBlob.of(path, key)

    def object_uri(self, key: str) -> str:
        return _job.datastore_uri(self.options.datastore, key)

    def store(self, operation: str) -> BlobStore:
        return self._store(self.options.datastore, operation)

    def _build(self, spec, data: DataRef, job_id: str, plan: CostEstimate, staged: Staged, attempt: int = 1) -> Any:
        """The command job."""
        instance, gpus = self._hardware(spec, plan)
        return _job.command_job(spec, data, job_id, options=self.options, name=attempt_name(job_id, attempt),
                                checkpoints_of=job_name(job_id), instance_type=instance, gpu_count=gpus,
                                model_uri=staged.model_uri, bundle_uri=staged.bundle_uri)

    def _checked(self, request: Any) -> dict[str, Any]:
        """The PUT ``launch`` would send (method, ARM path, JSON body), made by the SDK and not sent."""
        return _sdk.rest_body(request, **self._workspace())

    def _find(self, job_id: str, attempt: int = 1) -> Any | None:
        try:
            return self._get(self.ml, attempt_name(job_id, attempt), "launch")
        except errors.NotFound:
            return None

    def _create(self, request: Any) -> Any:
        with translate("launch"):
            return self.ml.jobs.create_or_update(request)

    def _job_ref(self, job: Any) -> tuple[str, dict[str, str]]:
        return job.name, self._workspace()

    # --- follow --------------------------------------------------------------------------------

    def _output(self, handle: JobHandle, job: Any, key: str) -> tuple[BlobStore, str]:
        output = (job.outputs or {}).get(key)
        store, path = _job.parse_datastore_uri(getattr(output, "path", "") or "")
        return self._store(store, "retrieve", handle), path

    def _status_of(self, job: Any, handle: JobHandle) -> JobStatus:
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

    def _failure(self, job: Any, handle: JobHandle) -> tuple[type[errors.ProviderError] | None, str]:
        """Azure ML records why a job failed in its run history (``RunDetails.error``, which `ml.jobs.stream`
        prints), not on the job: read it with the SDK's run-history client, as ``stream`` does."""
        runs = getattr(self._ml_for(handle).jobs, "_runs_operations", None)  # SDK-internal; absent: cannot say
        if runs is None:
            return None, ""
        try:
            with translate("status"):
                return run_failure(runs.get_run_details(handle.remote_id))
        except errors.ProviderError as exc:  # the job's state stands; only the reason is unknown
            log.warning("cannot read why Azure ML job %s failed: %s", handle.remote_id, exc)
            return None, ""

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

    def _stop(self, handle: JobHandle) -> None:
        with translate("cancel"):
            self._ml_for(handle).jobs.begin_cancel(handle.remote_id, polling=False)

    def _fetch_model(self, handle: JobHandle, job: Any, dest: Path) -> str:
        store, path = self._output(handle, job, "model")
        store.download_prefix(path, dest)
        return f"{store.url}/{path}"


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
