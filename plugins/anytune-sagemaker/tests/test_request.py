"""The CreateTrainingJob request: what dry_run shows is what launch sends (read back from moto), spot,
encryption, VPC, tags, the image for the region, and the bundle the container runs."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from anytune_sagemaker.container_entry import entry_args, trainer_args
from anytune_sagemaker.provider import SageMakerProvider

from anytune.errors import ConfigError
from anytune.types import DataRef

HASH = "ab" * 32
HF_IMAGE = ("763104351884.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-training:"
            "2.9.0-transformers5.3.0-gpu-py312-cu130-ubuntu22.04")


@pytest.fixture
def data(options):
    base = f"s3://{options['bucket']}/teams/ml/datasets/{HASH}"
    return DataRef(provider="sagemaker", content_hash=HASH,
                   uris={"train": f"{base}/train.jsonl", "validation": f"{base}/validation.jsonl"})


def test_dry_run_is_what_launch_sends_and_sends_nothing(provider, spec, data, options, aws):
    request = provider.dry_run(spec, data, "dry-run-20261121-d4e5f6")
    assert aws("s3").list_objects_v2(Bucket=options["bucket"])["KeyCount"] == 0, "dry run uploaded something"
    assert not aws("sagemaker").list_training_jobs(NameContains="dry-run-20261121")["TrainingJobSummaries"]

    name = "anytune-dry-run-20261121-d4e5f6"
    assert request["TrainingJobName"] == name
    assert request["RoleArn"] == options["role_arn"]
    assert request["AlgorithmSpecification"]["TrainingImage"] == HF_IMAGE.format(region="us-east-1")
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train", "validation", "model"]
    assert request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == data.uris["train"]
    assert request["OutputDataConfig"] == {"S3OutputPath": f"s3://{options['bucket']}/teams/ml/output"}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 24 * 3600}
    assert request["EnableManagedSpotTraining"] is False
    assert request["CheckpointConfig"] == {"S3Uri": f"s3://{options['bucket']}/teams/ml/checkpoints/{name}",
                                           "LocalPath": "/opt/ml/checkpoints"}, "on-demand jobs resume too"
    hps = {k: json.loads(v) for k, v in request["HyperParameters"].items()}
    assert hps["epochs"] == 1 and hps["learning_rate"] == 0.03 and hps["lora"]["r"] == 8
    assert hps["sagemaker_program"] == "anytune_entry.py" and hps["spec"] == "spec.json"
    assert hps["sagemaker_submit_directory"].startswith(f"s3://{options['bucket']}/teams/ml/code/")
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags == {"anytune:job-id": "dry-run-20261121-d4e5f6", "anytune:spec-hash": spec.spec_hash(),
                    "anytune:data-hash": HASH[:16]}

    provider.launch(spec, data, "dry-run-20261121-d4e5f6")
    job = aws("sagemaker").describe_training_job(TrainingJobName=name)
    for key in ("RoleArn", "HyperParameters", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
                "StoppingCondition", "EnableManagedSpotTraining", "CheckpointConfig"):
        assert job[key] == request[key], key
    assert job["AlgorithmSpecification"]["TrainingImage"] == request["AlgorithmSpecification"]["TrainingImage"]


def test_dry_run_places_the_data_where_upload_puts_it(provider, spec, options):
    """``anytune submit --dry-run`` uploads nothing, so the data reference it passes holds placeholders."""
    placeholder = DataRef(provider="sagemaker", content_hash=HASH,
                          uris={"train": f"<sagemaker storage>/datasets/{HASH}/train.jsonl"})
    request = provider.dry_run(spec, placeholder, "placeholder-1")
    uri = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert uri == f"s3://{options['bucket']}/teams/ml/datasets/{HASH}/train.jsonl"


def test_spot_request(provider, spec_with, data, options, aws):
    spot = spec_with(spot=True, max_hours=4)
    request = provider.dry_run(spot, data, "spot-1")
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 4 * 3600, "MaxWaitTimeInSeconds": 8 * 3600}
    assert request["CheckpointConfig"] == {"S3Uri": f"s3://{options['bucket']}/teams/ml/checkpoints/anytune-spot-1",
                                           "LocalPath": "/opt/ml/checkpoints"}
    provider.launch(spot, data, "spot-1")
    job = aws("sagemaker").describe_training_job(TrainingJobName="anytune-spot-1")
    assert job["EnableManagedSpotTraining"] is True and job["CheckpointConfig"] == request["CheckpointConfig"]

    waits = SageMakerProvider({**options, "max_wait_hours": 6}).dry_run(spot, data, "spot-1")["StoppingCondition"]
    assert waits == {"MaxRuntimeInSeconds": 4 * 3600, "MaxWaitTimeInSeconds": 6 * 3600}
    short = SageMakerProvider({**options, "max_wait_hours": 1}).dry_run(spot, data, "spot-1")["StoppingCondition"]
    assert short["MaxWaitTimeInSeconds"] == short["MaxRuntimeInSeconds"], "SageMaker needs wait >= runtime"


def test_several_nodes_ask_for_that_many_instances(provider, spec_with, data, aws):
    nodes = spec_with(gpu="H100", gpu_count=8, nodes=2)
    request = provider.dry_run(nodes, data, "nodes-1")
    assert request["ResourceConfig"]["InstanceCount"] == 2
    assert request["ResourceConfig"]["InstanceType"] == "ml.p5.48xlarge"
    provider.launch(nodes, data, "nodes-1")
    job = aws("sagemaker").describe_training_job(TrainingJobName="anytune-nodes-1")
    assert job["ResourceConfig"]["InstanceCount"] == 2
    assert provider.dry_run(spec_with(), data, "one")["ResourceConfig"]["InstanceCount"] == 1


def test_options_reach_the_request(spec, data, options):
    request = SageMakerProvider({
        **options, "region": "eu-west-1", "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/k1",
        "subnets": ["subnet-1"], "security_groups": ["sg-1"], "tags": {"team": "ml"}, "instance_type": "ml.g5.2xlarge",
        "volume_size_gb": 200, "max_runtime_hours": 2,
    }).dry_run(spec, data, "opts")
    assert request["AlgorithmSpecification"]["TrainingImage"] == HF_IMAGE.format(region="eu-west-1")
    assert request["OutputDataConfig"]["KmsKeyId"] == "arn:aws:kms:eu-west-1:123456789012:key/k1"
    assert request["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    assert {"Key": "team", "Value": "ml"} in request["Tags"]
    assert request["ResourceConfig"] == {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 200}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    custom = SageMakerProvider({**options, "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1"})
    assert custom.dry_run(spec, data, "img")["AlgorithmSpecification"]["TrainingImage"].endswith("/mine:1")


@pytest.mark.parametrize("bad, where", [
    ({"subnets": ["subnet-1"]}, "security_groups"),
    ({"tags": {"aws:owner": "x"}}, "aws:"),
    ({"role_arn": "my-role"}, "role_arn"),
    ({"bucket": "Not_A_Bucket"}, "bucket"),
    ({"prefix": "../up"}, "prefix"),
])
def test_bad_options_are_config_errors(bad, where):
    with pytest.raises(ConfigError, match="sagemaker") as info:
        SageMakerProvider(bad)
    assert where in str(info.value)


def test_launch_needs_role_and_bucket(spec, data):
    with pytest.raises(ConfigError) as info:
        SageMakerProvider({"region": "us-east-1"}).dry_run(spec, data, "x")
    assert "role_arn" in str(info.value) and "bucket" in str(info.value)


def test_bundle_runs_the_trainer_with_the_spec(provider, spec, data, aws):
    handle = provider.launch(spec, data, "bundle")
    hps = aws("sagemaker").describe_training_job(TrainingJobName=handle.remote_id)["HyperParameters"]
    bucket, _, key = json.loads(hps["sagemaker_submit_directory"]).removeprefix("s3://").partition("/")
    raw = aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = set(tar.getnames())
        requirements = tar.extractfile("requirements.txt").read().decode().split()
        bundled = json.loads(tar.extractfile("spec.json").read())
    assert {"anytune_entry.py", "spec.json", "requirements.txt", "anytune/trainer/__main__.py"} <= names
    assert not any(n.startswith("anytune/testing/") or "__pycache__" in n for n in names)
    assert not any(r.split("[")[0].split("=")[0].split(">")[0] == "torch" for r in requirements), requirements
    assert any(r.startswith("peft") for r in requirements) and any(r.startswith("transformers") for r in requirements)
    assert bundled["hyperparameters"] == spec.model_dump(mode="json")["hyperparameters"]
    assert bundled["provider_options"] == {}


def test_entry_script_drops_the_toolkits_hyperparameter_arguments():
    hps = {"epochs": 1, "spec": "spec.json", "lora": {"r": 8}}
    argv = ["--epochs", "1", "--lora", '{"r": 8}', "--spec", "spec.json", "--checkpoints", "/tmp/c"]
    assert trainer_args(argv, hps) == ["--checkpoints", "/tmp/c"]
    env = {"SM_HPS": json.dumps(hps)}
    assert entry_args(argv, env) == ["--checkpoints", "/tmp/c"]  # the trainer takes the spec from SM_HPS
    env["SM_CHANNEL_MODEL"] = "/opt/ml/input/data/model"
    assert entry_args(argv, env) == ["--base-model", "/opt/ml/input/data/model", "--spec", "spec.json",
                                     "--checkpoints", "/tmp/c"]


def test_resume_starts_a_second_training_job_on_the_first_ones_checkpoints(provider, spec, data, options, aws):
    """`anytune resume`: a training job cannot be restarted, so the next attempt is a new one, ``-r2``, that
    syncs the same checkpoint prefix; a retried resume finds it, and ``find`` answers the newest attempt."""
    first = provider.launch(spec, data, "again-20261204-1e2f3a4b")
    second = provider.resume(spec, data, first)
    assert (first.remote_id, second.remote_id) == ("anytune-again-20261204-1e2f3a4b",
                                                   "anytune-again-20261204-1e2f3a4b-r2")
    assert second.extra["attempt"] == "2" and "attempt" not in first.extra
    assert provider.resume(spec, data, first) == second, "a retried resume finds the attempt it made"
    assert provider.find(spec, first.job_id) == second
    jobs = [aws("sagemaker").describe_training_job(TrainingJobName=h.remote_id) for h in (first, second)]
    assert jobs[0]["CheckpointConfig"] == jobs[1]["CheckpointConfig"] == {
        "S3Uri": f"s3://{options['bucket']}/teams/ml/checkpoints/anytune-again-20261204-1e2f3a4b",
        "LocalPath": "/opt/ml/checkpoints"}
    assert jobs[1]["TensorBoardOutputConfig"]["S3OutputPath"].endswith("/logs/anytune-again-20261204-1e2f3a4b-r2")
    third = provider.resume(spec, data, second)
    assert third.remote_id.endswith("-r3") and provider.find(spec, first.job_id) == third
    names = [j["TrainingJobName"] for j in aws("sagemaker").list_training_jobs(
        NameContains="again-20261204")["TrainingJobSummaries"]]
    assert sorted(names) == sorted(h.remote_id for h in (first, second, third))
