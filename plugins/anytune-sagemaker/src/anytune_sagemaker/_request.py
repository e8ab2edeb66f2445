"""The CreateTrainingJob request for a spec: a pure function of its inputs, so ``dry_run`` shows exactly
what ``launch`` sends.

The job runs the Hugging Face PyTorch training image. Its training toolkit downloads the trainer bundle
(``sagemaker_submit_directory``), installs its requirements.txt and runs ``anytune_entry.py``, which starts
``python -m anytune.trainer``. Data arrives as channels (SM_CHANNEL_TRAIN, ...), the model is written to
SM_MODEL_DIR and packed by SageMaker into ``<S3OutputPath>/<job>/output/model.tar.gz``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from anytune.cloud.layout import StorageLayout
from anytune.trainer.platform import SAGEMAKER_CHECKPOINTS, SAGEMAKER_TENSORBOARD

if TYPE_CHECKING:
    from anytune.spec import JobSpec
    from anytune.types import DataRef

ENTRY_SCRIPT = "anytune_entry.py"
SPEC_FILE = "spec.json"
SPLIT_ORDER = ("train", "validation", "test")
MODEL_CHANNEL = "model"  # a base model uploaded from a local folder; anytune_entry.py points the spec at it
MAX_SECONDS = 28 * 24 * 3600  # SageMaker's ceiling for MaxRuntimeInSeconds
# The trainer prints "step 3/40 epoch 0.15 loss 1.2345 lr 5.00e-05" and "... eval loss 1.2345";
# SageMaker turns these into metrics (DescribeTrainingJob.FinalMetricDataList, CloudWatch).
METRIC_DEFINITIONS = (
    {"Name": "train:loss", "Regex": r"epoch [0-9.]+ loss ([0-9.]+)"},
    {"Name": "eval:loss", "Regex": r"eval loss ([0-9.]+)"},
    {"Name": "train:step", "Regex": r"step ([0-9]+)/[0-9]+ epoch"},
    {"Name": "train:total_steps", "Regex": r"step [0-9]+/([0-9]+) epoch"},
)
TAG_JOB_ID, TAG_SPEC_HASH, TAG_DATA_HASH = "anytune:job-id", "anytune:spec-hash", "anytune:data-hash"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def hyperparameters(spec: JobSpec, *, bundle_uri: str, region: str, job_name: str) -> dict[str, str]:
    """The spec's hyperparameters (visible in the console; the trainer applies SM_HPS over the spec, so
    tuning jobs can change them) plus the toolkit's own. Values are JSON, as the SageMaker SDK writes them."""
    hps = {k: json.dumps(v) for k, v in spec.hyperparameters.model_dump(mode="json").items() if v is not None}
    hps.update({
        "spec": json.dumps(SPEC_FILE),
        "sagemaker_program": json.dumps(ENTRY_SCRIPT),
        "sagemaker_submit_directory": json.dumps(bundle_uri),
        "sagemaker_region": json.dumps(region),
        "sagemaker_job_name": json.dumps(job_name),
        "sagemaker_container_log_level": "20",
    })
    return hps


def _channel(name: str, uri: str, content_type: str | None) -> dict[str, Any]:
    channel: dict[str, Any] = {"ChannelName": name, "InputMode": "File",
                               "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                                               "S3DataDistributionType": "FullyReplicated"}}}
    if content_type:
        channel["ContentType"] = content_type
    return channel


def training_job_request(spec: JobSpec, data: DataRef, job_id: str, *, options: Any, job_name: str,
                         region: str, image_uri: str, instance_type: str, bundle_uri: str,
                         model_uri: str | None = None, checkpoints_of: str | None = None) -> dict[str, Any]:
    """``job_name`` is this attempt's; ``checkpoints_of`` the first attempt's (default: the same), whose
    checkpoint prefix every attempt shares, so that a resumed job (a new training job) continues there."""
    layout = StorageLayout(options.prefix)
    bucket = options.bucket
    runtime = min(int(round((options.max_runtime_hours or spec.compute.max_hours) * 3600)), MAX_SECONDS)
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": runtime}
    channels = [_channel(split, data.uris[split], "application/jsonlines") for split in SPLIT_ORDER if split in data.uris]
    if model_uri:
        channels.append(_channel(MODEL_CHANNEL, model_uri, None))
    output: dict[str, str] = {"S3OutputPath": s3_uri(bucket, layout.output())}
    if options.kms_key_arn:
        # Training volumes of GPU instances are local NVMe, encrypted by the hardware; SageMaker refuses a
        # VolumeKmsKeyId for them, so the key applies to S3 (data, code, output, checkpoints).
        output["KmsKeyId"] = options.kms_key_arn
    tags = {TAG_JOB_ID: job_id, TAG_SPEC_HASH: spec.spec_hash(), TAG_DATA_HASH: data.content_hash[:16],
            **options.tags}
    request: dict[str, Any] = {
        "TrainingJobName": job_name,
        "RoleArn": options.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": [dict(m) for m in METRIC_DEFINITIONS],
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "HyperParameters": hyperparameters(spec, bundle_uri=bundle_uri, region=region, job_name=job_name),
        "InputDataConfig": channels,
        "OutputDataConfig": output,
        # compute.nodes instances: the toolkit starts the entry on each; the trainer meets the others through
        # SM_HOSTS and SM_CURRENT_HOST (anytune.trainer.platform.rendezvous) and restarts under torchrun
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": spec.compute.nodes,
                           "VolumeSizeInGB": options.volume_size_gb},
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": spec.compute.spot,
        "Environment": {"ANYTUNE_JOB_ID": job_id},
        "TensorBoardOutputConfig": {"S3OutputPath": s3_uri(bucket, layout.logs(job_name)),
                                    "LocalPath": SAGEMAKER_TENSORBOARD},
        # SageMaker syncs /opt/ml/checkpoints with this prefix (down at the start, up as files appear): spot
        # restarts and `anytune resume` continue from there.
        "CheckpointConfig": {"S3Uri": s3_uri(bucket, layout.checkpoints(checkpoints_of or job_name)),
                             "LocalPath": SAGEMAKER_CHECKPOINTS},
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    if spec.compute.spot:
        # Spot capacity may be reclaimed; SageMaker restarts the job, which resumes from its checkpoints.
        # Waiting for capacity counts against MaxWaitTimeInSeconds.
        wait = options.max_wait_hours * 3600 if options.max_wait_hours else 2 * runtime
        stopping["MaxWaitTimeInSeconds"] = min(max(int(round(wait)), runtime), MAX_SECONDS)
    if options.subnets:
        request["VpcConfig"] = {"Subnets": list(options.subnets), "SecurityGroupIds": list(options.security_groups)}
    return request
