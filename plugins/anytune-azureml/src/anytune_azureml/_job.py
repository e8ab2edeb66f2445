"""The Azure ML command job for a spec: built the same way for ``launch`` and ``dry_run``.

The job runs in a curated PyTorch environment (from the ``azureml`` registry) with these bindings:

    inputs.code    uri_file    the trainer bundle (anytune's source, requirements.txt, spec.json), downloaded
    inputs.data    uri_folder  <prefix>/datasets/<content-hash>/ : train.jsonl, validation.jsonl, test.jsonl
    inputs.model   uri_folder  <prefix>/models/<folder-hash>/ : a base model uploaded from a local folder
    outputs.model        <prefix>/output/<job>/model/     the trained model and anytune-manifest.json
    outputs.checkpoints  <prefix>/checkpoints/<job>/      survives Spot / low-priority preemption: the trainer resumes
                                                          (a resumed job's later attempts: the first one's folder)
    outputs.logs         <prefix>/logs/<job>/             TensorBoard events and status.json (step, loss)

Every output is a read-write mount at a fixed datastore path, so status, retrieve and the tests find them
without the run-history service. The command unpacks the bundle and installs its requirements once per
node (under ``flock``: with PyTorch distribution Azure ML starts the command once per GPU), then runs the
trainer from the bundle with paths as arguments (``${{inputs.*}}`` / ``${{outputs.*}}``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from anytune import errors
from anytune.cloud.layout import StorageLayout

if TYPE_CHECKING:
    from anytune.spec import JobSpec
    from anytune.types import DataRef

DEFAULT_ENVIRONMENT = "azureml://registries/azureml/environments/acpt-pytorch-2.8-cuda12.6/labels/latest"
WORKDIR = ".anytune"  # in the job's working directory
SPLIT_ORDER = ("train", "validation", "test")
TAG_JOB_ID, TAG_SPEC_HASH, TAG_DATA_HASH = "anytune.job_id", "anytune.spec_hash", "anytune.data_hash"
_URI = re.compile(r"^azureml://datastores/(?P<store>[A-Za-z0-9_]+)/paths/(?P<path>.+)$")


def datastore_uri(datastore: str, path: str) -> str:
    return f"azureml://datastores/{datastore}/paths/{path}"


def parse_datastore_uri(uri: str) -> tuple[str, str]:
    """``azureml://datastores/<store>/paths/<path>`` -> (store, path)."""
    m = _URI.match(uri or "")
    if not m:
        raise errors.ProviderError(f"not a datastore path: {uri!r}", provider="azureml", operation="retrieve")
    return m["store"], m["path"]


def output_paths(layout: StorageLayout, name: str, checkpoints_of: str | None = None) -> dict[str, str]:
    """Blob paths (folders, ending in '/') of the job's outputs. ``name`` is this attempt's; every attempt
    of a resumed job keeps its checkpoints in the first one's folder (``checkpoints_of``), where it resumes."""
    return {"model": f"{layout.output()}/{name}/model/",
            "checkpoints": f"{layout.checkpoints(checkpoints_of or name)}/", "logs": f"{layout.logs(name)}/"}


def data_files(data: DataRef, datastore: str) -> tuple[str, dict[str, str]]:
    """The one datastore folder holding the splits, and each split's file name in it."""
    folders, names = set(), {}
    for split in SPLIT_ORDER:
        if split in data.uris:
            store, path = parse_datastore_uri(data.uris[split])
            folder, _, names[split] = path.rpartition("/")
            folders.add((store, folder))
    if "train" not in names or len(folders) != 1 or next(iter(folders))[0] != datastore:
        raise errors.ConfigError(f"the data reference does not point at one folder of datastore {datastore!r}",
                                 [f"{k}: {v}" for k, v in data.uris.items()] or ["upload the data first"])
    return datastore_uri(datastore, next(iter(folders))[1] + "/"), names


def command_line(files: dict[str, str], *, base_model: bool) -> str:
    setup = (f"flock {WORKDIR}.lock sh -c '[ -e {WORKDIR}/ready ] || {{ mkdir -p {WORKDIR} && "
             f"tar -xzf \"$0\" -C {WORKDIR} && python -m pip install --no-cache-dir -q -r {WORKDIR}/requirements.txt "
             f"&& touch {WORKDIR}/ready; }}' ${{{{inputs.code}}}}")
    run = "python -m anytune.cloud.entry --base-model ${{inputs.model}}" if base_model else "python -m anytune.trainer"
    args = ["--spec spec.json", *(f"--{split} ${{{{inputs.data}}}}/{name}" for split, name in files.items()),
            "--output ${{outputs.model}}", "--checkpoints ${{outputs.checkpoints}}", "--logs ${{outputs.logs}}",
            "--status ${{outputs.logs}}/status.json"]
    return f"{setup} && cd {WORKDIR} && {run} {' '.join(args)}"


def compute_target(options: Any, *, spot: bool) -> str | None:
    """The cluster the job goes to, or None for serverless compute. Spot on clusters means a cluster
    created with ``tier="low_priority"``: ``low_priority_compute``."""
    if not (options.compute or options.low_priority_compute):
        return None
    cluster = options.low_priority_compute if spot else options.compute
    if not cluster:
        which = "low_priority_compute (a cluster of tier low_priority)" if spot else "compute (a dedicated cluster)"
        raise errors.ConfigError(f"compute.spot is {str(spot).lower()} and jobs go to compute clusters, but no "
                                 "cluster of that kind is named",
                                 [f"set provider_options.azureml.{which}, or unset both to run on serverless compute"])
    return cluster


def experiment_name(spec: JobSpec, option: str | None) -> str:
    return option or re.sub(r"[^A-Za-z0-9_-]", "-", spec.name)


def command_job(spec: JobSpec, data: DataRef, job_id: str, *, options: Any, name: str, instance_type: str | None,
                gpu_count: int, bundle_uri: str, model_uri: str | None, checkpoints_of: str | None = None) -> Any:
    """The ``azure.ai.ml`` Command for this job (serverless when no cluster is named)."""
    from ._sdk import azure_ml, require

    ml, entities = azure_ml(), require("azure.ai.ml.entities")
    Input, Output = ml.Input, ml.Output
    layout, store = StorageLayout(options.prefix), options.datastore
    folder, files = data_files(data, store)
    inputs = {"code": Input(type="uri_file", path=bundle_uri, mode="download"),
              "data": Input(type="uri_folder", path=folder, mode="ro_mount")}
    if model_uri:
        inputs["model"] = Input(type="uri_folder", path=model_uri, mode="download")
    outputs = {key: Output(type="uri_folder", path=datastore_uri(store, path), mode="rw_mount")
               for key, path in output_paths(layout, name, checkpoints_of).items()}
    tags = {TAG_JOB_ID: job_id, TAG_SPEC_HASH: spec.spec_hash(), TAG_DATA_HASH: data.content_hash[:16],
            **options.tags}
    kwargs: dict[str, Any] = {
        "name": name, "display_name": spec.name, "experiment_name": experiment_name(spec, options.experiment),
        "description": f"anytune {spec.method} fine-tuning of "
                       + ("a base model uploaded from a local folder" if model_uri else spec.base_model), "tags": tags,
        "command": command_line(files, base_model=model_uri is not None), "inputs": inputs, "outputs": outputs,
        "environment": options.environment, "environment_variables": {"ANYTUNE_JOB_ID": job_id},
        "timeout": int(round((options.max_runtime_hours or spec.compute.max_hours) * 3600)),
    }
    nodes = spec.compute.nodes
    cluster = compute_target(options, spot=spec.compute.spot)
    if cluster:
        kwargs.update(compute=cluster, instance_count=nodes)
    else:  # serverless compute: the VM size is the job's; Spot is a queue setting
        kwargs.update(instance_type=instance_type, instance_count=nodes)
        if spec.compute.spot:
            kwargs["job_tier"] = "Spot"
    if gpu_count > 1 or nodes > 1:  # one process per GPU on every node; Azure ML starts them and sets
        # MASTER_ADDR, MASTER_PORT, NODE_RANK, RANK, LOCAL_RANK and WORLD_SIZE: each trains in place
        kwargs["distribution"] = {"type": "PyTorch", "process_count_per_instance": max(gpu_count, 1)}
    if options.job_identity == "user":
        kwargs["identity"] = entities.UserIdentityConfiguration()
    elif options.job_identity == "managed":
        kwargs["identity"] = entities.ManagedIdentityConfiguration(client_id=options.managed_identity_client_id)
    return ml.command(**kwargs)
