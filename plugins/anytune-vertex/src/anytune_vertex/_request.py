"""The CustomJob for a spec, as the REST body (camelCase, enum names): a pure function of its inputs,
so ``dry_run`` shows exactly what ``launch`` sends (the SDK sends the same message, enums as integers).

One worker pool (two with compute.nodes > 1: the chief and the workers) runs the trainer bundle (:mod:`anytune.cloud.bundle`) in a PyTorch training container:
the container's shell unpacks the bundle from the Cloud Storage FUSE mount (``/gcs/<bucket>/...``),
installs its requirements.txt and starts ``python3 -m anytune.trainer`` (``anytune.cloud.entry`` when
the base model was a local folder, uploaded with the job). Data paths are arguments (a CustomJob gets no AIP_TRAINING_DATA_URI); with
``baseOutputDirectory`` set, Vertex AI gives the container AIP_MODEL_DIR (``<base>/model/``),
AIP_CHECKPOINT_DIR (``<base>/checkpoints/``) and AIP_TENSORBOARD_LOG_DIR (``<base>/logs/``), where the
trainer writes; a restarted job resumes from the checkpoints there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anytune.cloud.layout import StorageLayout
from anytune.trainer.platform import gcs_fuse

if TYPE_CHECKING:
    from anytune.spec import JobSpec
    from anytune.types import DataRef

SPLIT_ORDER = ("train", "validation", "test")
# The Hugging Face PyTorch training container on Google Cloud (Python 3.11, as anytune needs; Vertex's
# own prebuilt PyTorch executors are Python 3.10).
DEFAULT_IMAGE = ("us-docker.pkg.dev/deeplearning-platform-release/gcr.io/"
                 "huggingface-pytorch-training-cu121.2-3.transformers.4-48.ubuntu2204.py311")
ENTRY_SCRIPT = """set -e
work=$(mktemp -d)
tar -xzf "$ANYTUNE_BUNDLE" -C "$work"
cd "$work"
python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location -r requirements.txt
exec python3 -m {module} "$@"
"""
LABEL_JOB, LABEL_SPEC, LABEL_DATA = "anytune_job", "anytune_spec", "anytune_data"


@dataclass(frozen=True)
class Machine:
    machine_type: str
    accelerator_type: str | None = None  # AcceleratorType name, e.g. NVIDIA_L4
    accelerator_count: int = 0


def gs_uri(bucket: str, key: str) -> str:
    return f"gs://{bucket}/{key}"


def seconds(hours: float) -> str:
    return f"{int(round(hours * 3600))}s"


def base_output_dir(options: Any, bucket: str, job_name: str) -> str:
    return gs_uri(bucket, f"{StorageLayout(options.prefix).output()}/{job_name}/")


def trainer_args(data: DataRef, model_uri: str | None = None) -> list[str]:
    """The trainer's arguments: data as gs:// URIs (the trainer reads them through the FUSE mount), and
    a base model uploaded with the job as its mounted path (for ``anytune.cloud.entry``)."""
    args = ["--base-model", gcs_fuse(model_uri)] if model_uri else []
    args += ["--spec", "spec.json"]
    for split in SPLIT_ORDER:
        if split in data.uris:
            args += [f"--{split}", data.uris[split]]
    return args


def custom_job(spec: JobSpec, data: DataRef, job_id: str, *, options: Any, bucket: str, job_name: str,
               machine: Machine, bundle_uri: str, model_uri: str | None = None,
               checkpoints_of: str | None = None) -> dict[str, Any]:
    """``job_name`` is this attempt's. A resumed job's later attempt (``checkpoints_of``: the first
    attempt's name) is told to keep its checkpoints in the first attempt's AIP_CHECKPOINT_DIR, where it
    resumes; its model and logs go to its own output directory."""
    env = {"ANYTUNE_JOB_ID": job_id, "ANYTUNE_BUNDLE": gcs_fuse(bundle_uri), "PYTHONUNBUFFERED": "1"}
    module = "anytune.cloud.entry" if model_uri else "anytune.trainer"
    machine_spec: dict[str, Any] = {"machineType": machine.machine_type}
    if machine.accelerator_type:
        machine_spec.update(acceleratorType=machine.accelerator_type, acceleratorCount=machine.accelerator_count)
    runtime_h = options.max_runtime_hours or spec.compute.max_hours
    scheduling: dict[str, Any] = {"timeout": seconds(runtime_h)}
    if spec.compute.spot:
        # Spot VMs may be reclaimed: Vertex AI restarts the job, and the trainer resumes from
        # AIP_CHECKPOINT_DIR. (Scheduling.maxWaitDuration applies to FLEX_START only, not to SPOT.)
        scheduling.update(strategy="SPOT", restartJobOnWorkerRestart=True)
    pool: dict[str, Any] = {
        "machineSpec": machine_spec,
        "replicaCount": "1",
        "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": options.boot_disk_gb},
        "containerSpec": {
            "imageUri": options.container_uri or DEFAULT_IMAGE,
            "command": ["sh", "-c", ENTRY_SCRIPT.format(module=module), "anytune"],
            "args": trainer_args(data, model_uri) + (
                ["--checkpoints", base_output_dir(options, bucket, checkpoints_of) + "checkpoints/"]
                if checkpoints_of and checkpoints_of != job_name else []),
            "env": [{"name": k, "value": v} for k, v in env.items()],
        },
    }
    # compute.nodes machines: the chief (pool 0) and nodes - 1 workers (pool 1), the same machine and
    # container; each trainer meets the others through CLUSTER_SPEC (anytune.trainer.platform.rendezvous)
    pools = [pool] if spec.compute.nodes == 1 else [pool, {**pool, "replicaCount": str(spec.compute.nodes - 1)}]
    job_spec: dict[str, Any] = {
        "workerPoolSpecs": pools,
        "scheduling": scheduling,
        "baseOutputDirectory": {"outputUriPrefix": base_output_dir(options, bucket, job_name)},
    }
    if options.service_account:
        job_spec["serviceAccount"] = options.service_account
    if options.network:
        job_spec["network"] = options.network
    labels = {LABEL_JOB: job_name, LABEL_SPEC: spec.spec_hash(), LABEL_DATA: data.content_hash[:16],
              **options.labels}
    body: dict[str, Any] = {"displayName": job_name, "jobSpec": job_spec, "labels": labels}
    if options.kms_key_name:
        body["encryptionSpec"] = {"kmsKeyName": options.kms_key_name}
    return body
