"""The CustomJob request: what dry_run shows is what launch sends (as the stand-in received it over
HTTP, parsed with the API's message types), Spot scheduling, options, the trainer bundle, and a
retried launch finding its job by label. Jobs are held QUEUED here: no trainer runs."""

from __future__ import annotations

import io
import json
import tarfile
from urllib.parse import unquote

import pytest
from anytune_vertex.provider import VertexProvider

from anytune import jobs
from anytune.cloud.instances import seq_length_stats
from anytune.errors import ConfigError
from anytune.types import DataRef

HASH = "ab" * 32
JOB_ID = "support-bot-20261121-a1b2c3"
NAME = "anytune-support-bot-20261121-a1b2c3"


@pytest.fixture
def data(bucket):
    base = f"gs://{bucket}/teams/ml/datasets/{HASH}"
    return DataRef(provider="vertex", content_hash=HASH,
                   uris={"train": f"{base}/train.jsonl", "validation": f"{base}/validation.jsonl"})


def received(vertex) -> list[dict]:
    return [body for _, _, body in vertex.calls(r"^POST .*/customJobs$")]


def message(body: dict):
    from google.cloud.aiplatform_v1.types import CustomJob

    return CustomJob.from_json(json.dumps(body))


def test_dry_run_is_what_launch_sends_and_sends_nothing(provider, spec, data, vertex, gcs, bucket):
    body = provider.dry_run(spec, data, JOB_ID)
    assert list(gcs.list_blobs(bucket)) == [], "a dry run uploaded something"
    assert not vertex.calls("customJobs"), "a dry run called Vertex AI"

    assert body["displayName"] == NAME
    assert body["labels"] == {"anytune_job": NAME, "anytune_spec": spec.spec_hash(), "anytune_data": HASH[:16]}
    pool = body["jobSpec"]["workerPoolSpecs"][0]
    chosen = next(i for i in provider.catalog.data.instances if i.name == provider.chosen(spec).instance)
    assert pool["machineSpec"] == {"machineType": chosen.machine, "acceleratorType": chosen.accelerator,
                                   "acceleratorCount": chosen.gpu_count}
    assert pool["replicaCount"] == "1" and pool["diskSpec"] == {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 100}
    container = pool["containerSpec"]
    assert container["imageUri"].endswith("huggingface-pytorch-training-cu121.2-3.transformers.4-48.ubuntu2204.py311")
    assert container["command"][:2] == ["sh", "-c"] and "exec python3 -m anytune.cloud.entry" in container["command"][2]
    model_arg = container["args"][1]
    assert container["args"] == ["--base-model", model_arg, "--spec", "spec.json", "--train", data.uris["train"],
                                 "--validation", data.uris["validation"]]
    assert model_arg.startswith(f"/gcs/{bucket}/teams/ml/models/"), "the local base model is read from the mount"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["ANYTUNE_JOB_ID"] == JOB_ID
    assert env["ANYTUNE_BUNDLE"].startswith(f"/gcs/{bucket}/teams/ml/code/") and env["ANYTUNE_BUNDLE"].endswith(".tar.gz")
    assert body["jobSpec"]["baseOutputDirectory"] == {"outputUriPrefix": f"gs://{bucket}/teams/ml/output/{NAME}/"}
    assert body["jobSpec"]["scheduling"] == {"timeout": "86400s"}
    assert "encryptionSpec" not in body and "serviceAccount" not in body["jobSpec"]

    handle = provider.launch(spec, data, JOB_ID)
    [(method, path, _)] = vertex.calls(r"^POST .*/customJobs$")
    assert path.startswith("/v1/projects/anytune-test/locations/us-central1/customJobs") and "enum-encoding=int" in unquote(path)
    [sent] = received(vertex)
    assert sent["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["acceleratorType"] == \
        message(body).job_spec.worker_pool_specs[0].machine_spec.accelerator_type.value, "enums travel as numbers"
    assert message(sent) == message(body), "launch sent something other than the dry run showed"
    assert handle.remote_id.startswith("projects/anytune-test/locations/us-central1/customJobs/")
    # launch uploaded what the job reads: the bundle and the model (data is upload()'s job)
    gcs_bucket = gcs.bucket(bucket)
    assert gcs_bucket.get_blob(env["ANYTUNE_BUNDLE"].removeprefix(f"/gcs/{bucket}/")) is not None
    model_prefix = model_arg.removeprefix(f"/gcs/{bucket}/").rstrip("/") + "/"
    assert {"config.json", "model.safetensors"} <= {b.name[len(model_prefix):] for b in gcs.list_blobs(bucket, prefix=model_prefix)}


def test_a_retried_launch_finds_its_job_by_label(provider, options, spec, data, vertex):
    first = provider.launch(spec, data, JOB_ID)
    again = provider.launch(spec, data, JOB_ID)
    elsewhere = VertexProvider(options).launch(spec, data, JOB_ID)  # another process, same job id
    assert again == first and elsewhere.remote_id == first.remote_id
    assert len(received(vertex)) == 1, "a retried launch created a second job"
    lists = vertex.calls(r"^GET .*/customJobs$")
    assert len(lists) == 3 and all(f'labels.anytune_job="{NAME}"' in unquote(path) for _, path, _ in lists)
    other = provider.launch(spec, data, JOB_ID + "-2")
    assert other.remote_id != first.remote_id and len(received(vertex)) == 2


def test_spot_request(provider, options, spec_with, data, vertex):
    spot = spec_with(spot=True, max_hours=4)
    body = provider.dry_run(spot, data, "spot-1")
    # maxWaitDuration is documented for FLEX_START (Dynamic Workload Scheduler) only: not sent with SPOT
    assert body["jobSpec"]["scheduling"] == {"timeout": "14400s", "strategy": "SPOT", "restartJobOnWorkerRestart": True}
    provider.launch(spot, data, "spot-1")
    scheduling = received(vertex)[0]["jobSpec"]["scheduling"]
    assert scheduling["strategy"] == 4 and "maxWaitDuration" not in scheduling  # Scheduling.Strategy.SPOT


def test_several_nodes_are_a_chief_pool_and_a_worker_pool_of_the_same_machine(provider, spec_with, data, vertex):
    two = spec_with(gpu="A100-40GB", gpu_count=8, nodes=3)
    body = provider.dry_run(two, data, "nodes-1")
    chief, workers = body["jobSpec"]["workerPoolSpecs"]
    assert chief["replicaCount"] == "1" and workers["replicaCount"] == "2"
    assert chief["machineSpec"] == workers["machineSpec"] == {
        "machineType": "a2-highgpu-8g", "acceleratorType": "NVIDIA_TESLA_A100", "acceleratorCount": 8}
    assert chief["containerSpec"] == workers["containerSpec"]
    provider.launch(two, data, "nodes-1")
    sent = received(vertex)[0]["jobSpec"]["workerPoolSpecs"]
    assert [p["replicaCount"] for p in sent] == ["1", "2"]  # what the SDK put on the wire
    assert len(provider.dry_run(spec_with(), data, "one")["jobSpec"]["workerPoolSpecs"]) == 1


def test_options_reach_the_request(spec, data, options, vertex):
    chosen = VertexProvider({
        **options, "service_account": "trainer@anytune-test.iam.gserviceaccount.com",
        "network": "projects/123/global/networks/training", "labels": {"team": "ml"},
        "kms_key_name": "projects/anytune-test/locations/us-central1/keyRings/r/cryptoKeys/k",
        "machine_type": "a2-highgpu-1g", "accelerator_type": "NVIDIA_TESLA_A100", "container_uri": "us-docker.pkg.dev/p/r/mine:1",
        "boot_disk_gb": 200, "max_runtime_hours": 2,
    })
    body = chosen.dry_run(spec, data, "opts")
    job_spec = body["jobSpec"]
    assert job_spec["serviceAccount"] == "trainer@anytune-test.iam.gserviceaccount.com"
    assert job_spec["network"] == "projects/123/global/networks/training"
    assert body["encryptionSpec"] == {"kmsKeyName": "projects/anytune-test/locations/us-central1/keyRings/r/cryptoKeys/k"}
    assert body["labels"]["team"] == "ml"
    pool = job_spec["workerPoolSpecs"][0]
    assert pool["machineSpec"] == {"machineType": "a2-highgpu-1g", "acceleratorType": "NVIDIA_TESLA_A100",
                                   "acceleratorCount": 1}
    assert pool["containerSpec"]["imageUri"] == "us-docker.pkg.dev/p/r/mine:1"
    assert pool["diskSpec"]["bootDiskSizeGb"] == 200 and job_spec["scheduling"] == {"timeout": "7200s"}
    chosen.launch(spec, data, "opts")
    assert message(received(vertex)[0]) == message(body)
    est = chosen.estimate(spec, seq_length_stats(spec))
    assert est.instance == "a2-highgpu-1g+1xA100" and est.fits


@pytest.mark.parametrize("bad, where", [
    ({"accelerator_type": "NVIDIA_L4"}, "machine_type"),
    ({"machine_type": "g2-standard-8", "accelerator_count": 2}, "accelerator_type"),
    ({"staging_bucket": "gs://Not_A_Bucket"}, "staging_bucket"),
    ({"labels": {"Team": "ml"}}, "labels"),
    ({"labels": {"anytune_job": "x"}}, "anytune_"),
    ({"prefix": "../up"}, "prefix"),
    ({"kms_key_name": "my-key"}, "kms_key_name"),
])
def test_bad_options_are_config_errors(bad, where):
    with pytest.raises(ConfigError, match="vertex") as info:
        VertexProvider(bad)
    assert where in str(info.value)


def test_an_unknown_accelerator_is_refused_before_anything_is_sent(options, spec, data, vertex):
    provider = VertexProvider({**options, "machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_GTX_1080"})
    with pytest.raises(ConfigError, match="NVIDIA_GTX_1080"):
        provider.dry_run(spec, data, "x")
    with pytest.raises(ConfigError, match="NVIDIA_GTX_1080"):
        provider.launch(spec, data, "x")
    assert not received(vertex)


def test_launch_needs_a_bucket(spec, data):
    with pytest.raises(ConfigError, match="staging_bucket"):
        VertexProvider({"project": "anytune-test"}).dry_run(spec, data, "x")


def test_the_bundle_runs_the_trainer_with_the_spec(provider, spec, data, gcs, bucket):
    body = provider.dry_run(spec, data, "bundle")
    provider.launch(spec, data, "bundle")
    env = {e["name"]: e["value"] for e in body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["env"]}
    raw = gcs.bucket(bucket).blob(env["ANYTUNE_BUNDLE"].removeprefix(f"/gcs/{bucket}/")).download_as_bytes()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = set(tar.getnames())
        requirements = tar.extractfile("requirements.txt").read().decode().split()
        bundled = json.loads(tar.extractfile("spec.json").read())
    assert {"spec.json", "requirements.txt", "anytune/cloud/entry.py", "anytune/trainer/__main__.py"} <= names
    assert not any(n.startswith("anytune/testing/") or "__pycache__" in n for n in names)
    assert any(r.startswith("peft") for r in requirements) and not any(r.startswith("torch") for r in requirements)
    assert bundled["hyperparameters"] == spec.model_dump(mode="json")["hyperparameters"]
    assert bundled["provider_options"] == {}


def test_dry_run_through_the_dispatcher(spec, options, prepared, vertex, gcs, bucket, monkeypatch):
    """What `anytune run --dry-run` does: check, estimate, then the provider's request body, with the data
    where upload would put it (nothing is uploaded)."""
    monkeypatch.setattr(jobs, "prepare_data", lambda spec, progress=False: prepared)
    job = spec.model_copy(update={"provider_options": {"vertex": options}})
    sub = jobs.submit(job, dry_run=True)
    body = sub.dry_run
    assert sub.plan.viable[0].name == "vertex" and sub.record is None
    args = body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
    assert args[args.index("--train") + 1] == f"gs://{bucket}/teams/ml/datasets/{prepared.content_hash}/train.jsonl"
    assert list(gcs.list_blobs(bucket)) == [] and not received(vertex)
