"""Amazon SageMaker: data and code in S3, a training job running ``anytune.trainer`` in the Hugging Face
PyTorch container, managed spot with checkpoints, logs from CloudWatch, the model from ``model.tar.gz``.

Importing this module imports no AWS SDK: boto3 and the SageMaker SDK are reached through :mod:`._sdk`
when a verb runs, and every SDK error is translated by :func:`._errors.translate`.
"""

from __future__ import annotations

import dataclasses
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
from anytune.artifacts import verify_manifest
from anytune.cloud.bundle import BUNDLE_NAME, build_bundle
from anytune.cloud.instances import estimate_instances, seq_length_stats
from anytune.cloud.layout import StorageLayout
from anytune.cloud.model import folder_hash, local_model_dir, model_files
from anytune.cloud.names import job_name
from anytune.cloud.retry import RetryPolicy
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

from . import _check, _s3
from ._errors import PROVIDER, AlreadyExists, failure_allows_fallback, translate
from ._request import ENTRY_SCRIPT, s3_uri, training_job_request

PRICING = Path(__file__).parent / "data" / "pricing.json"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


class SageMakerOptions(ProviderOptions):
    """``provider_options.sagemaker`` (or a profile). Credentials come from the standard AWS chain."""

    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="Default: the AWS chain's region.")
    profile: str | None = Field(None, description="AWS named profile (SSO works), else the default chain.")
    role_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$",
                                 description="Execution role the training job runs as.")
    bucket: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    prefix: str = Field("anytune", description="Key prefix in the bucket for data, code, output and checkpoints.")
    kms_key_arn: str | None = Field(None, min_length=1, description="KMS key for S3 objects and job output.")
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    instance_type: str | None = Field(None, pattern=r"^ml\.[a-z0-9-]+\.[a-z0-9]+$",
                                      description="Default: the cheapest instance of the price catalog that fits.")
    volume_size_gb: int = Field(100, ge=1, le=16384)
    max_runtime_hours: float | None = Field(None, gt=0, le=672, description="Default: compute.max_hours.")
    max_wait_hours: float | None = Field(None, gt=0, le=672, description="Spot: waiting + running; default 2× runtime.")
    image_uri: str | None = Field(None, description="Default: the Hugging Face PyTorch training image for the region.")
    transformers_version: str = "5.3.0"
    pytorch_version: str = "2.9.0"
    tags: dict[str, str] = Field(default_factory=dict)
    endpoint_url: str | None = Field(None, description="One endpoint for every AWS service (tests, moto, LocalStack).")
    max_attempts: int = Field(8, ge=1, le=20, description="Tries per request; botocore's adaptive retries.")

    @model_validator(mode="after")
    def _consistent(self):
        if bool(self.subnets) != bool(self.security_groups):
            raise ValueError("give subnets and security_groups together (a VPC needs both)")
        if any(k.lower().startswith("aws:") for k in self.tags):
            raise ValueError("tag keys may not start with 'aws:'")
        layout = StorageLayout(self.prefix)  # validates the prefix
        object.__setattr__(self, "prefix", layout.prefix)
        return self


class SageMakerProvider(Provider):
    name = "sagemaker"
    # The region placeholder is a real region: boto3 builds endpoints from it.
    required_settings = {"bucket": "<bucket>", "role_arn": "arn:aws:iam::<account>:role/<role_arn>",
                         "region": "us-east-1"}
    sdk_modules = ("boto3", "sagemaker.core",)
    description = "Amazon SageMaker training jobs: S3 data, Hugging Face PyTorch container, managed spot"
    capabilities = frozenset({Capability.SPOT, Capability.LOGS, Capability.MULTI_GPU, Capability.CANCEL,
                              Capability.DOWNLOAD_WEIGHTS, Capability.LORA, Capability.QLORA, Capability.FULL})
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
        self._planned: dict[str, str] = {}  # spec hash -> instance type chosen by estimate()
        self._elsewhere: dict[str, Any] = {}  # region -> AWS handles, for jobs launched in another region

    # --- plumbing ------------------------------------------------------------------------------

    def _connect(self, region: str | None):
        from ._sdk import AWS

        o = self.options
        return AWS(region=region, profile=o.profile, endpoint_url=o.endpoint_url,
                   policy=RetryPolicy(attempts=o.max_attempts))

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

    @property
    def layout(self) -> StorageLayout:
        return StorageLayout(self.options.prefix)

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

    def _describe(self, handle: JobHandle, operation: str) -> dict[str, Any]:
        sm = self._aws_for(handle).client("sagemaker")
        with translate(operation, describing=True):
            return sm.describe_training_job(TrainingJobName=handle.remote_id)

    # --- check / estimate ----------------------------------------------------------------------

    def check(self, spec) -> Readiness:
        problems = [f"provider_options.sagemaker.{n} is not set" for n in ("role_arn", "bucket")
                    if not getattr(self.options, n)]
        try:
            instance = self._instance_type(spec)
        except errors.AnytuneError as exc:
            instance, problems = None, [*problems, f"no instance type: {exc}"]
        return _check.readiness(self.aws, self.options, instance_type=instance, spot=spec.compute.spot,
                                problems=problems)

    def estimate(self, spec, stats: DataStats) -> CostEstimate:
        region = self.options.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        notes = ["SageMaker bills BillableTimeInSeconds; with spot that is less than the training time"]
        if region is None:
            notes.append("no region set (provider_options.sagemaker.region or AWS_REGION): priced for the "
                         "catalog's default region")
        est = estimate_instances(spec, stats, PRICING, provider=self.name, region=region,
                                 instance_type=self.options.instance_type,
                                 option="provider_options.sagemaker.instance_type", notes=notes)
        if est.fits:
            self._planned[spec.spec_hash()] = est.instance
        return est

    def _instance_type(self, spec) -> str:
        """The option, else what estimate() chose for this spec, else the cheapest instance the model fits
        in at max_seq_length (the data's size only matters for time, not for the choice of memory)."""
        if self.options.instance_type:
            return self.options.instance_type
        if spec.spec_hash() in self._planned:
            return self._planned[spec.spec_hash()]
        est = self.estimate(spec, seq_length_stats(spec))
        if not est.fits:
            raise errors.ConfigError("no SageMaker instance in the price catalog fits this job",
                                     list(est.rejected[:5]) or ["set provider_options.sagemaker.instance_type"])
        return est.instance

    # --- upload --------------------------------------------------------------------------------

    def _sse(self) -> dict[str, str]:
        if self.options.kms_key_arn:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.options.kms_key_arn}
        return {}

    def upload(self, spec, data) -> DataRef:
        self._require("bucket")
        bucket, s3 = self.options.bucket, self.aws.client("s3")
        _s3.require_bucket(s3, bucket, "upload")
        objects = [_s3.LocalObject.of(Path(path), self.layout.dataset(data.content_hash, split))
                   for split, path in sorted(data.files.items())]
        sent = _s3.put_missing(s3, bucket, objects, description=f"uploading {spec.name} data",
                               extra_args={"ContentType": "application/jsonl", **self._sse()})
        return DataRef(provider=self.name, content_hash=data.content_hash,
                       uris=self._data_uris(data.content_hash, data.files), bytes_sent=sent)

    def _data_uris(self, content_hash: str, splits) -> dict[str, str]:
        return {split: s3_uri(self.options.bucket, self.layout.dataset(content_hash, split)) for split in splits}

    # --- launch --------------------------------------------------------------------------------

    def _request(self, spec, data: DataRef, job_id: str, *, send: bool) -> dict[str, Any]:
        """The CreateTrainingJob request; with ``send`` the code bundle and a local base model are uploaded
        (each keyed by its hash, so only once)."""
        self._require("bucket", "role_arn")
        bucket, name, region = self.options.bucket, job_name(job_id), self.aws.region
        instance = self._instance_type(spec)
        image = self.options.image_uri or self._image(region, instance)
        entry = resources.files(__package__).joinpath("container_entry.py").read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory(prefix="anytune-sagemaker-") as tmp:
            bundle = build_bundle(spec, Path(tmp), extra_files={ENTRY_SCRIPT: entry})
            objects = [_s3.LocalObject.of(bundle.path, self.layout.code(bundle.sha256, BUNDLE_NAME))]
            model_uri = None
            folder = local_model_dir(spec)
            if folder is not None:
                files = [(rel, _s3.LocalObject.of(path, "")) for rel, path in model_files(folder)]
                digest = folder_hash((rel, o.sha256, o.size) for rel, o in files)
                objects += [dataclasses.replace(o, key=self.layout.model(digest, rel)) for rel, o in files]
                model_uri = s3_uri(bucket, self.layout.model(digest))
            if send:
                s3 = self.aws.client("s3")
                _s3.require_bucket(s3, bucket, "launch")
                _s3.put_missing(s3, bucket, objects, extra_args=self._sse(), operation="launch",
                                description=f"uploading {spec.name} trainer" + (" and model" if model_uri else ""))
        return training_job_request(spec, data, job_id, options=self.options, job_name=name, region=region,
                                    image_uri=image, instance_type=instance, bundle_uri=s3_uri(bucket, objects[0].key),
                                    model_uri=model_uri)

    def _image(self, region: str, instance: str) -> str:
        from ._sdk import huggingface_training_image

        return huggingface_training_image(region=region, instance_type=instance,
                                          transformers_version=self.options.transformers_version,
                                          pytorch_version=self.options.pytorch_version)

    def _handle(self, job_id: str, job: dict[str, Any], method: str) -> JobHandle:
        return JobHandle(provider=self.name, job_id=job_id, remote_id=job["TrainingJobName"],
                         extra={"region": self.aws.region, "arn": job["TrainingJobArn"], "method": method})

    def launch(self, spec, data: DataRef, job_id: str) -> JobHandle:
        probe = JobHandle(provider=self.name, job_id=job_id, remote_id=job_name(job_id))
        try:
            return self._handle(job_id, self._describe(probe, "launch"), spec.method)  # a retried launch
        except errors.NotFound:
            pass
        request = self._request(spec, data, job_id, send=True)
        try:
            with translate("launch"):
                self.aws.client("sagemaker").create_training_job(**request)
        except AlreadyExists:  # another attempt created it between our look-up and now
            pass
        return self._handle(job_id, self._describe(probe, "launch"), spec.method)

    def dry_run(self, spec, data: DataRef, job_id: str) -> dict[str, Any]:
        """The exact CreateTrainingJob request ``launch`` would send, checked against the service model
        by botocore, without sending anything. The data's URIs are where ``upload`` puts that content."""
        from ._sdk import require

        self._require("bucket", "role_arn")
        data = data.model_copy(update={"uris": self._data_uris(data.content_hash, data.uris)})
        request = self._request(spec, data, job_id, send=False)
        model = self.aws.client("sagemaker").meta.service_model.operation_model("CreateTrainingJob")
        with translate("dry_run"):
            require("botocore.validate").validate_parameters(request, model.input_shape)
        return request

    # --- follow --------------------------------------------------------------------------------

    def status(self, handle: JobHandle) -> JobStatus:
        return self._status_of(self._describe(handle, "status"))

    def _status_of(self, job: dict[str, Any]) -> JobStatus:
        raw, secondary = job["TrainingJobStatus"], job.get("SecondaryStatus", "")
        state = self.SECONDARY_STATE_MAP.get((raw, secondary)) or self.map_state(raw)
        current = next((t for t in reversed(job.get("SecondaryStatusTransitions") or []) if t.get("Status") == secondary), {})
        message = " — ".join(x for x in (secondary, current.get("StatusMessage"), job.get("FailureReason")) if x)
        metrics = {m["MetricName"]: float(m["Value"]) for m in job.get("FinalMetricDataList", [])}
        step, total = metrics.get("train:step"), metrics.get("train:total_steps")
        return JobStatus(state=state, raw_state=raw if not secondary else f"{raw}/{secondary}", message=message,
                         progress=min(step / total, 1.0) if step is not None and total else None, metrics=metrics,
                         billable_seconds=job.get("BillableTimeInSeconds"),
                         started_at=job.get("TrainingStartTime"), ended_at=job.get("TrainingEndTime"),
                         fallback=raw == "Failed" and failure_allows_fallback(job.get("FailureReason") or ""))

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

    def cancel(self, handle: JobHandle) -> None:
        try:
            with translate("cancel"):
                self._aws_for(handle).client("sagemaker").stop_training_job(TrainingJobName=handle.remote_id)
        except errors.ProviderError as exc:
            # SageMaker refuses to stop a job that has ended (ValidationException): nothing left to stop.
            if type(exc) is errors.ProviderError and self.status(handle).state.terminal:
                return
            raise

    # --- retrieve ------------------------------------------------------------------------------

    def retrieve(self, handle: JobHandle, dest: Path) -> ModelArtifact:
        job = self._describe(handle, "retrieve")
        status = self._status_of(job)
        if status.state is not JobState.SUCCEEDED:
            if status.state.terminal:
                raise errors.JobFailed(f"SageMaker job {handle.remote_id} ended {status.state.value}: {status.message}")
            raise errors.JobNotReady(f"SageMaker job {handle.remote_id} is {status.state.value}: {status.message}")
        uri = job["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".anytune-", dir=dest.parent) as tmp:
            archive = Path(tmp) / "model.tar.gz"
            _s3.download(self._aws_for(handle).client("s3"), bucket, key, archive)
            unpack(archive, dest)
        files = verify_manifest(dest)
        notes = [f"from {uri}"]
        if status.billable_seconds is not None:
            notes.append(f"billable seconds: {status.billable_seconds:g}")
        kind = "adapter" if handle.extra.get("method") in ("lora", "qlora") else "full"
        return ModelArtifact(kind=kind, path=str(dest), files=files, notes=tuple(notes))


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
