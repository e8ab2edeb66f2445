"""Amazon SageMaker: data and code in S3, a training job running ``anytune.trainer`` in the Hugging Face
PyTorch container, managed spot with checkpoints, logs from CloudWatch, the model from ``model.tar.gz``.

Importing this module imports no AWS SDK: boto3 and the SageMaker SDK are reached through :mod:`._sdk`
when a verb runs, and every SDK error is translated by :func:`._errors.translate`.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from anytune import errors
from anytune.cloud.names import attempt_name, job_name
from anytune.cloud.provider import CloudOptions, CloudProvider, Staged
from anytune.provider import same_named
from anytune.types import CostEstimate, DataRef, JobHandle, JobState, JobStatus, LogChunk, Readiness

from . import _check, _s3
from ._errors import PROVIDER, failure_class, translate
from ._request import ENTRY_SCRIPT, s3_uri, training_job_request

PRICING = Path(__file__).parent / "data" / "pricing.json"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


class SageMakerOptions(CloudOptions):
    """``provider_options.sagemaker`` (or a profile). Credentials come from the standard AWS chain."""

    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="Default: the AWS chain's region.")
    profile: str | None = Field(None, description="AWS named profile (SSO works), else the default chain.")
    role_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$",
                                 description="Execution role the training job runs as.")
    bucket: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    kms_key_arn: str | None = Field(None, min_length=1, description="KMS key for S3 objects and job output.")
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    instance_type: str | None = Field(None, pattern=r"^ml\.[a-z0-9-]+\.[a-z0-9]+$",
                                      description="Default: the cheapest instance of the price catalog that fits.")
    volume_size_gb: int = Field(100, ge=1, le=16384)
    max_runtime_hours: float | None = Field(None, gt=0, le=672, description="Default: compute.max_hours.")  # 28 days
    max_wait_hours: float | None = Field(None, gt=0, le=672, description="Spot: waiting + running; default 2× runtime.")
    image_uri: str | None = Field(None, description="Default: the Hugging Face PyTorch training image for the region.")
    transformers_version: str = "5.3.0"
    pytorch_version: str = "2.9.0"
    tags: dict[str, str] = Field(default_factory=dict)
    endpoint_url: str | None = Field(None, description="One endpoint for every AWS service (tests, moto, LocalStack).")

    @model_validator(mode="after")
    def _consistent(self):
        if bool(self.subnets) != bool(self.security_groups):
            raise ValueError("give subnets and security_groups together (a VPC needs both)")
        if any(k.lower().startswith("aws:") for k in self.tags):
            raise ValueError("tag keys may not start with 'aws:'")
        return self


class SageMakerProvider(CloudProvider):
    name = "sagemaker"
    label = "SageMaker"
    pricing = PRICING
    instance_option = "provider_options.sagemaker.instance_type"
    # The region placeholder is a real region: boto3 builds endpoints from it.
    required_settings = {"bucket": "<bucket>", "role_arn": "arn:aws:iam::<account>:role/<role_arn>",
                         "region": "us-east-1"}
    sdk_modules = ("boto3", "sagemaker.core",)
    description = "Amazon SageMaker training jobs: S3 data, Hugging Face PyTorch container, managed spot"
    # `terraform output -json` of terraform/<cloud>: each output fills the option of its name.
    terraform_outputs = same_named(required=("bucket", "role_arn", "region"),
                                   optional=("kms_key_arn", "prefix"))
    Options = SageMakerOptions
    STATE_MAP = {
        "InProgress": JobState.RUNNING,
        "Completed": JobState.SUCCEEDED,
        "Failed": JobState.FAILED,
        "Stopping": JobState.STOPPING,
        "Stopped": JobState.CANCELLED,
    }
    # (status, secondary status) pairs that say more than the status alone.
    SECONDARY_STATE_MAP: ClassVar[dict[tuple[str, str], JobState]] = {
        ("InProgress", "Starting"): JobState.QUEUED,
        ("InProgress", "Pending"): JobState.QUEUED,
        ("InProgress", "LaunchingMLInstances"): JobState.QUEUED,
        ("InProgress", "PreparingTrainingStack"): JobState.QUEUED,
        ("InProgress", "Downloading"): JobState.QUEUED,
        ("InProgress", "DownloadingTrainingImage"): JobState.QUEUED,
        ("Stopped", "MaxRuntimeExceeded"): JobState.FAILED,
        ("Stopped", "MaxWaitTimeExceeded"): JobState.FAILED,
    }
    notes = ("data, code and model go to your S3 bucket; billed per second of BillableTimeInSeconds",)
    options: SageMakerOptions

    def __init__(self, options=None):
        super().__init__(options)
        self._elsewhere: dict[str, Any] = {}  # region -> AWS handles, for jobs launched in another region

    @classmethod
    def refresh_prices(cls, catalog, regions, *, endpoint=None, api_key=None):
        from . import _prices

        return _prices.fetch(catalog, regions, endpoint, api_key)

    # --- plumbing ------------------------------------------------------------------------------

    def _connect(self, region: str | None):
        from ._sdk import AWS

        o = self.options
        return AWS(region=region, profile=o.profile, endpoint_url=o.endpoint_url, policy=self.retry_policy)

    @cached_property
    def aws(self):
        return self._connect(self.options.region)

    def _aws_for(self, handle: JobHandle):
        """The clients for the region the job was launched in (recorded in its handle)."""
        region = handle.extra.get("region")
        if not region or region == (self.options.region or self.aws.session.region_name):
            return self.aws
        if region not in self._elsewhere:
            self._elsewhere[region] = self._connect(region)
        return self._elsewhere[region]

    def missing_settings(self) -> list[str]:
        missing = [n for n in ("bucket", "role_arn") if not getattr(self.options, n)]
        try:
            _ = self.aws.region  # the option, AWS_REGION, or the AWS profile's region
        except errors.AnytuneError:
            missing.append("region")
        return missing

    def _require(self, *names: str) -> None:
        missing = [n for n in names if not getattr(self.options, n)]
        if missing:
            raise errors.ConfigError("SageMaker settings missing", [
                f"provider_options.sagemaker.{n} is not set (or put it in a profile: `anytune profile`)"
                for n in missing])

    def _remote(self, handle: JobHandle, operation: str) -> dict[str, Any]:
        sm = self._aws_for(handle).client("sagemaker")
        with translate(operation, describing=True):
            return sm.describe_training_job(TrainingJobName=handle.remote_id)

    # --- check / estimate ----------------------------------------------------------------------

    def check(self, spec) -> Readiness:
        problems = [f"provider_options.sagemaker.{n} is not set" for n in ("role_arn", "bucket")
                    if not getattr(self.options, n)]
        try:
            instance = self._instance_type(self.chosen(spec))
        except errors.AnytuneError as exc:
            instance, problems = None, [*problems, f"no instance type: {exc}"]
        return _check.readiness(self.aws, self.options, instance_type=instance, spot=spec.compute.spot,
                                problems=problems)

    def price_region(self) -> str | None:
        return self.options.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

    def price_notes(self) -> list[str]:
        notes = ["SageMaker bills BillableTimeInSeconds; with spot that is less than the training time"]
        if self.price_region() is None:
            notes.append("no region set (provider_options.sagemaker.region or AWS_REGION): priced for the "
                         "catalog's default region")
        return notes

    def _instance_type(self, plan: CostEstimate) -> str:
        return self.options.instance_type or plan.instance

    # --- upload --------------------------------------------------------------------------------

    def local_file(self, path: Path, key: str) -> _s3.LocalObject:
        return _s3.LocalObject.of(path, key)

    def object_uri(self, key: str) -> str:
        return s3_uri(self.options.bucket, key)

    def store(self, operation: str) -> _s3.S3Store:
        self._require("bucket")
        sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.options.kms_key_arn} \
            if self.options.kms_key_arn else {}
        return _s3.S3Store(self.aws.client("s3"), self.options.bucket, sse)

    # --- launch --------------------------------------------------------------------------------

    def bundle_files(self) -> dict[str, str]:
        return {ENTRY_SCRIPT: resources.files(__package__).joinpath("container_entry.py").read_text(encoding="utf-8")}

    def _request(self, spec, data: DataRef, job_id: str, plan, *, send: bool, attempt: int = 1) -> dict[str, Any]:
        self._require("bucket", "role_arn")
        return super()._request(spec, data, job_id, plan, send=send, attempt=attempt)

    def _build(self, spec, data: DataRef, job_id: str, plan: CostEstimate, staged: Staged,
               attempt: int = 1) -> dict[str, Any]:
        """The CreateTrainingJob request."""
        region, instance = self.aws.region, self._instance_type(plan)
        image = self.options.image_uri or self._image(region, instance)
        return training_job_request(spec, data, job_id, options=self.options, job_name=attempt_name(job_id, attempt),
                                    checkpoints_of=job_name(job_id), region=region, image_uri=image,
                                    instance_type=instance, bundle_uri=staged.bundle_uri, model_uri=staged.model_uri)

    def _image(self, region: str, instance: str) -> str:
        from ._sdk import huggingface_training_image

        return huggingface_training_image(region=region, instance_type=instance,
                                          transformers_version=self.options.transformers_version,
                                          pytorch_version=self.options.pytorch_version)

    def _checked(self, request: dict[str, Any]) -> dict[str, Any]:
        """Checked against the service model by botocore, without sending anything."""
        from ._sdk import require

        model = self.aws.client("sagemaker").meta.service_model.operation_model("CreateTrainingJob")
        with translate("dry_run"):
            require("botocore.validate").validate_parameters(request, model.input_shape)
        return request

    def _find(self, job_id: str, attempt: int = 1) -> dict[str, Any] | None:
        probe = JobHandle(provider=self.name, job_id=job_id, remote_id=attempt_name(job_id, attempt))
        try:
            return self._remote(probe, "launch")
        except errors.NotFound:
            return None

    def _create(self, request: dict[str, Any]) -> None:
        with translate("launch"):
            self.aws.client("sagemaker").create_training_job(**request)

    def _job_ref(self, job: dict[str, Any]) -> tuple[str, dict[str, str]]:
        return job["TrainingJobName"], {"region": self.aws.region, "arn": job["TrainingJobArn"]}

    # --- follow --------------------------------------------------------------------------------

    def _status_of(self, job: dict[str, Any], handle: JobHandle | None = None) -> JobStatus:
        raw, secondary = job["TrainingJobStatus"], job.get("SecondaryStatus", "")
        state = self.SECONDARY_STATE_MAP.get((raw, secondary)) or self.map_state(raw)
        current = next((t for t in reversed(job.get("SecondaryStatusTransitions") or []) if t.get("Status") == secondary), {})
        message = " — ".join(x for x in (secondary, current.get("StatusMessage"), job.get("FailureReason")) if x)
        metrics = {m["MetricName"]: float(m["Value"]) for m in job.get("FinalMetricDataList", [])}
        step, total = metrics.get("train:step"), metrics.get("train:total_steps")
        return JobStatus(state=state, raw_state=raw if not secondary else f"{raw}/{secondary}", message=message,
                         progress=min(step / total, 1.0) if step is not None and total else None, metrics=metrics,
                         billable_seconds=job.get("BillableTimeInSeconds"),
                         started_at=job.get("TrainingStartTime"), ended_at=job.get("TrainingEndTime"))

    def _failure(self, job: dict[str, Any], handle: JobHandle) -> tuple[type[errors.ProviderError] | None, str]:
        return failure_class(job.get("FailureReason") or ""), ""  # the message holds FailureReason already

    def logs(self, handle: JobHandle, cursor: str = "") -> LogChunk:
        """Lines from the job's CloudWatch streams (``<job>/algo-1-...``). The cursor is JSON: stream -> next
        token. Before the container starts there is no stream yet: no lines, same cursor."""
        tokens = _cursor(cursor)
        logs = self._aws_for(handle).client("logs")
        try:
            with translate("logs", describing=True):
                pages = logs.get_paginator("describe_log_streams").paginate(
                    logGroupName=LOG_GROUP, logStreamNamePrefix=f"{handle.remote_id}/")
                streams = sorted(s["logStreamName"] for page in pages for s in page.get("logStreams", []))
        except errors.NotFound:
            return LogChunk(lines=(), cursor=cursor)
        lines: list[str] = []
        for stream in streams:
            prefix = f"[{stream.split('/', 1)[1]}] " if len(streams) > 1 else ""
            token = tokens.get(stream)
            for _ in range(100):  # pages per call; the rest comes with the next cursor
                with translate("logs"):
                    page = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True,
                                               **({"nextToken": token} if token else {}))
                lines += [prefix + e["message"].rstrip("\n") for e in page.get("events", [])]
                if page["nextForwardToken"] == token:
                    break
                token = page["nextForwardToken"]
            tokens[stream] = token
        return LogChunk(lines=tuple(lines), cursor=json.dumps(tokens, sort_keys=True))

    def _stop(self, handle: JobHandle) -> None:
        with translate("cancel"):
            self._aws_for(handle).client("sagemaker").stop_training_job(TrainingJobName=handle.remote_id)

    def _fetch_model(self, handle: JobHandle, job: dict[str, Any], dest: Path) -> str:
        uri = job["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        with tempfile.TemporaryDirectory(prefix=".anytune-", dir=dest.parent) as tmp:
            archive = Path(tmp) / "model.tar.gz"
            _s3.download(self._aws_for(handle).client("s3"), bucket, key, archive)
            unpack(archive, dest)
        return uri


def _cursor(cursor: str) -> dict[str, str]:
    try:
        tokens = json.loads(cursor) if cursor else {}
    except ValueError:
        tokens = None
    if not isinstance(tokens, dict) or not all(isinstance(v, str) for v in tokens.values()):
        raise errors.ConfigError(f"not a SageMaker log cursor: {cursor[:80]!r}")
    return tokens


def unpack(archive: Path, dest: Path) -> None:
    """Unpack ``model.tar.gz`` into ``dest``. Python's "data" filter refuses absolute paths, ``..``, links
    that leave ``dest`` and device files, so nothing is written outside ``dest``."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as exc:
        raise errors.ProviderError(f"refused to unpack {archive.name}: unsafe entry ({exc})",
                                   provider=PROVIDER, operation="retrieve") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise errors.ProviderError(f"cannot unpack {archive.name}: {exc}", provider=PROVIDER,
                                   operation="retrieve") from exc
