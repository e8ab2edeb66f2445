"""Google Cloud Vertex AI: data and code in Cloud Storage, a CustomJob running ``anytune.trainer`` in a
PyTorch training container, Spot scheduling, logs from Cloud Logging, the model from AIP_MODEL_DIR.

Importing this module imports no Google SDK: they are reached through :mod:`._sdk` when a verb runs, and
every SDK error is translated by :func:`._errors.translate`.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from anytune import errors
from anytune.cloud.names import attempt_name, job_name
from anytune.cloud.provider import CloudOptions, CloudProvider, Staged
from anytune.cloud.retry import PROBE
from anytune.provider import same_named
from anytune.types import CostEstimate, DataRef, JobHandle, JobState, JobStatus, LogChunk, Readiness

from . import _gcs, _logs
from ._errors import JOB_ERROR_CLASSES, JOB_ERROR_CODES, translate
from ._request import LABEL_JOB, Machine, custom_job, gs_uri

PRICING = Path(__file__).parent / "data" / "pricing.json"
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


class VertexOptions(CloudOptions):
    """``provider_options.vertex`` (or a profile). Credentials are Application Default Credentials."""

    project: str | None = Field(None, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
                                description="Default: GOOGLE_CLOUD_PROJECT or the credentials' project.")
    location: str = Field("us-central1", pattern=r"^[a-z]+-[a-z]+[0-9]+$", description="Vertex AI region.")
    staging_bucket: str | None = Field(None, description="Cloud Storage bucket (name or gs://name) for data, code, output.")
    service_account: str | None = Field(None, pattern=r"^[^@\s]+@[a-z0-9.-]+$", description="The job runs as this.")
    kms_key_name: str | None = Field(None, pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$",
                                     description="CMEK for the job and the objects anytune writes.")
    network: str | None = Field(None, pattern=r"^projects/[^/]+/global/networks/[^/]+$", description="VPC peering.")
    machine_type: str | None = Field(None, pattern=r"^[a-z][a-z0-9]*-[a-z0-9-]+$",
                                     description="Default: the cheapest machine of the price catalog that fits.")
    accelerator_type: str | None = Field(None, pattern=r"^NVIDIA_[A-Z0-9_]+$", description="e.g. NVIDIA_L4.")
    accelerator_count: int | None = Field(None, ge=1, le=16)
    boot_disk_gb: int = Field(100, ge=100, le=65536)
    container_uri: str | None = Field(None, description="Default: the Hugging Face PyTorch training container.")
    labels: dict[str, str] = Field(default_factory=dict)
    api_endpoint: str | None = Field(None, description="Default: <location>-aiplatform.googleapis.com.")
    logging_endpoint: str | None = Field(None, description="Default: https://logging.googleapis.com.")

    @field_validator("staging_bucket")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is None:
            return v
        name = v.removeprefix("gs://").strip("/")
        if not re.match(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", name) or "/" in name:
            raise ValueError(f"{v!r} is not a Cloud Storage bucket name")
        return name

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise ValueError(f"label {key}={value!r}: keys and values are lowercase letters, digits, '_' and '-'")
            if key.startswith("anytune_"):
                raise ValueError(f"label {key!r}: keys starting with 'anytune_' are anytune's own")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if (self.accelerator_type or self.accelerator_count) and not self.machine_type:
            raise ValueError("accelerator_type/accelerator_count need machine_type")
        if self.accelerator_count and not self.accelerator_type:
            raise ValueError("accelerator_count needs accelerator_type")
        return self


class VertexProvider(CloudProvider):
    name = "vertex"
    label = "Vertex AI"
    pricing = PRICING
    instance_option = "provider_options.vertex.machine_type/accelerator_type"
    required_settings = {"staging_bucket": "<staging_bucket>"}
    sdk_modules = ("google.cloud.aiplatform_v1", "google.cloud.storage", "google.auth",)
    description = "Google Cloud Vertex AI custom jobs: Cloud Storage data, PyTorch training container, Spot VMs"
    # `terraform output -json` of terraform/<cloud>: each output fills the option of its name.
    terraform_outputs = same_named(required=("project", "location", "staging_bucket"),
                                   optional=("service_account", "kms_key_name", "prefix"))
    Options = VertexOptions
    STATE_MAP = {
        "JOB_STATE_QUEUED": JobState.QUEUED,
        "JOB_STATE_PENDING": JobState.QUEUED,
        "JOB_STATE_PAUSED": JobState.QUEUED,
        "JOB_STATE_RUNNING": JobState.RUNNING,
        "JOB_STATE_UPDATING": JobState.RUNNING,
        "JOB_STATE_SUCCEEDED": JobState.SUCCEEDED,
        "JOB_STATE_FAILED": JobState.FAILED,
        "JOB_STATE_EXPIRED": JobState.FAILED,
        "JOB_STATE_CANCELLING": JobState.STOPPING,
        "JOB_STATE_CANCELLED": JobState.CANCELLED,
    }
    notes = ("data, code and model go to your Cloud Storage bucket; billed for machine and accelerators while the job runs",)
    options: VertexOptions

    @classmethod
    def refresh_prices(cls, catalog, regions, *, endpoint=None, api_key=None):
        from . import _prices

        return _prices.fetch(catalog, regions, endpoint, api_key)

    # --- plumbing ------------------------------------------------------------------------------

    def _google(self, location: str | None = None):
        from ._sdk import Google

        o = self.options
        return Google(project=o.project, location=location or o.location, api_endpoint=o.api_endpoint,
                      logging_endpoint=o.logging_endpoint, policy=self.retry_policy)

    @cached_property
    def google(self):
        return self._google()

    def _google_for(self, handle: JobHandle):
        location = handle.extra.get("location")
        return self.google if not location or location == self.options.location else self._google(location)

    def _bucket_name(self) -> str:
        if not self.options.staging_bucket:
            raise errors.ConfigError("Vertex AI settings missing", [
                "provider_options.vertex.staging_bucket is not set (or put it in a profile: `anytune profile`)"])
        return self.options.staging_bucket

    def _resource(self, google, handle: JobHandle) -> str:
        rid = handle.remote_id
        return rid if rid.startswith("projects/") else f"{google.parent}/customJobs/{rid}"

    def _remote(self, handle: JobHandle, operation: str) -> Any:
        google = self._google_for(handle)
        with translate(operation):
            return google.jobs.get_custom_job(name=self._resource(google, handle), retry=google.retry(),
                                              timeout=google.timeout())

    # --- check / estimate ----------------------------------------------------------------------

    def check(self, spec) -> Readiness:
        problems = [] if self.options.staging_bucket else ["provider_options.vertex.staging_bucket is not set"]
        try:
            self._machine(self.chosen(spec))
        except errors.AnytuneError as exc:
            problems.append(f"no machine: {exc}")
        google = self.google
        details = {"location": google.location}
        try:
            details["identity"] = google.identity()
            details["project"] = google.project
            with translate("check"):
                google.jobs.get_location(request={"name": google.parent}, retry=google.retry(PROBE),
                                         timeout=PROBE.read_timeout_s)
            details["api"] = f"Vertex AI answers at {google.api_endpoint}"
        except errors.NotFound:
            details["api"] = f"location {google.location} not listed by {google.api_endpoint}"
        except errors.AnytuneError as exc:
            return Readiness(ready=False, reason="; ".join([*problems, str(exc)]), details=details)
        if self.options.staging_bucket:
            try:
                _gcs.probe_bucket(google, self.options.staging_bucket, "check")
                details["bucket"] = f"gs://{self.options.staging_bucket} is reachable"
            except errors.AnytuneError as exc:
                problems.append(str(exc))
        if problems:
            return Readiness(ready=False, reason="; ".join(problems), details=details)
        return Readiness(ready=True, reason=f"{details['identity']} in project {details['project']}, "
                                            f"{details['location']}", details=details)

    @cached_property
    def catalog(self):
        from anytune.estimation import load_catalog

        return load_catalog(PRICING, provider=self.name, region=self.options.location)

    def fixed_instance(self) -> str | None:
        """The catalog instance the options fix (machine + accelerator), or a name no instance has."""
        o = self.options
        if not o.machine_type:
            return None
        count = o.accelerator_count or (1 if o.accelerator_type else 0)
        for inst in self.catalog.data.instances:
            if inst.machine == o.machine_type and (inst.accelerator or None) == o.accelerator_type and \
                    (not o.accelerator_type or inst.gpu_count == count):
                return inst.name
        return o.machine_type + (f"+{count}x{o.accelerator_type}" if o.accelerator_type else "")

    def price_region(self) -> str | None:
        return self.options.location

    def price_notes(self) -> list[str]:
        return ["price = machine type + accelerators per hour (Vertex AI custom training)"]

    def _machine(self, plan: CostEstimate) -> Machine:
        """The options' machine, else the plan's catalog instance."""
        o = self.options
        if o.machine_type:
            return Machine(o.machine_type, o.accelerator_type, o.accelerator_count or (1 if o.accelerator_type else 0))
        inst = next(i for i in self.catalog.data.instances if i.name == plan.instance)
        if not inst.machine:
            raise errors.ConfigError(f"price catalog instance {plan.instance!r} names no machine type",
                                     ["set provider_options.vertex.machine_type"])
        return Machine(inst.machine, inst.accelerator, inst.gpu_count if inst.accelerator else 0)

    # --- upload --------------------------------------------------------------------------------

    def local_file(self, path: Path, key: str) -> _gcs.LocalObject:
        return _gcs.LocalObject.of(path, key)

    def object_uri(self, key: str) -> str:
        return gs_uri(self.options.staging_bucket or "", key)

    def store(self, operation: str) -> _gcs.GcsStore:
        return _gcs.GcsStore(self.google, self._bucket_name(), self.options.kms_key_name)

    # --- launch --------------------------------------------------------------------------------

    def _request(self, spec, data: DataRef, job_id: str, plan, *, send: bool, attempt: int = 1) -> dict[str, Any]:
        self._bucket_name()
        return super()._request(spec, data, job_id, plan, send=send, attempt=attempt)

    def _build(self, spec, data: DataRef, job_id: str, plan: CostEstimate, staged: Staged,
               attempt: int = 1) -> dict[str, Any]:
        """The CustomJob body (enum names; the SDK sends their numbers)."""
        return custom_job(spec, data, job_id, options=self.options, bucket=self._bucket_name(),
                          job_name=attempt_name(job_id, attempt), checkpoints_of=job_name(job_id),
                          machine=self._machine(plan), bundle_uri=staged.bundle_uri, model_uri=staged.model_uri)

    @staticmethod
    def _message(body: dict[str, Any]) -> Any:
        """The body as the API's CustomJob message; unknown fields or enum names are a ConfigError."""
        from ._sdk import require

        types = require("google.cloud.aiplatform_v1.types")
        try:
            return types.CustomJob.from_json(json.dumps(body))
        except Exception as exc:  # json_format.ParseError: the body does not fit the API's message
            raise errors.ConfigError(f"invalid Vertex AI CustomJob: {exc}") from None

    def _find(self, job_id: str, attempt: int = 1) -> Any | None:
        """The job a previous launch of this attempt created (found by its label), if any."""
        google = self.google
        with translate("launch"):
            pages = google.jobs.list_custom_jobs(
                request={"parent": google.parent,
                         "filter": f'labels.{LABEL_JOB}="{attempt_name(job_id, attempt)}"'},
                retry=google.retry(), timeout=google.timeout())
            found = list(pages)
        return min(found, key=lambda j: (j.create_time, j.name)) if found else None

    def _job_ref(self, job: Any) -> tuple[str, dict[str, str]]:
        return job.name, {"location": self.google.location, "display_name": job.display_name}

    def _create(self, request: dict[str, Any]) -> Any:
        message, google = self._message(request), self.google
        with translate("launch"):
            return google.jobs.create_custom_job(parent=google.parent, custom_job=message,
                                                 retry=google.retry(create=True), timeout=google.timeout())

    def _checked(self, request: dict[str, Any]) -> dict[str, Any]:
        """Checked against the API's message types."""
        self._message(request)
        return request

    # --- follow --------------------------------------------------------------------------------

    def _status_of(self, job: Any, handle: JobHandle | None = None) -> JobStatus:
        raw = getattr(job.state, "name", f"JOB_STATE_{job.state}")
        state = self.map_state(raw)
        message = ""
        if job.error.code:
            what = JOB_ERROR_CODES.get(job.error.code, f"error code {job.error.code}")
            message = f"{what}: {job.error.message}"
        progress, metrics = None, {}
        if state is JobState.RUNNING and handle is not None:
            progress, metrics = self._progress(self._google_for(handle), job)
        return JobStatus(state=state, raw_state=raw, message=message, progress=progress, metrics=metrics,
                         started_at=job.start_time if "start_time" in job else None,
                         ended_at=job.end_time if "end_time" in job else None)

    def _failure(self, job: Any, handle: JobHandle) -> tuple[type[errors.ProviderError] | None, str]:
        return JOB_ERROR_CLASSES.get(job.error.code), ""  # the message holds job.error already

    @staticmethod
    def _progress(google: Any, job: Any) -> tuple[float | None, dict[str, float]]:
        """From the trainer's status.json next to AIP_MODEL_DIR (``<base>/status.json``)."""
        base = job.job_spec.base_output_directory.output_uri_prefix
        if not base:
            return None, {}
        status = _gcs.read_json(google, base.rstrip("/") + "/status.json", operation="status") or {}
        metrics = {k: float(v) for k in ("step", "total_steps", "epoch", "loss", "eval_loss")
                   if isinstance(v := status.get(k), (int, float))}
        total = metrics.get("total_steps")
        return (min(metrics.get("step", 0) / total, 1.0) if total else None), metrics

    def logs(self, handle: JobHandle, cursor: str = "") -> LogChunk:
        """Lines from Cloud Logging (``resource.type="ml_job"``, this job's id), after ``cursor``."""
        return _logs.read(self._google_for(handle), handle.remote_id.rsplit("/", 1)[-1], cursor)

    def _stop(self, handle: JobHandle) -> None:
        google = self._google_for(handle)
        with translate("cancel"):
            google.jobs.cancel_custom_job(name=self._resource(google, handle), retry=google.retry(),
                                          timeout=google.timeout())

    def _fetch_model(self, handle: JobHandle, job: Any, dest: Path) -> str:
        base = job.job_spec.base_output_directory.output_uri_prefix
        bucket, prefix = _gcs.split_gs(base.rstrip("/") + "/model/")  # AIP_MODEL_DIR
        _gcs.download_prefix(self._google_for(handle), bucket, prefix, dest)
        return f"gs://{bucket}/{prefix}"
