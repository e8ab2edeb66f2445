"""The command job the provider sends, as ``dry_run`` shows it: the PUT the real MLClient builds (stopped
before it is sent), checked against the SDK's REST models by the same validator the control-plane server
uses. Serverless vs clusters, Spot vs low-priority, PyTorch distribution, identities."""

from __future__ import annotations

import re

import pytest
from azml_arm import validate

from anytune import errors
from anytune.types import DataRef

HASH = "ab" * 32
JOB_ID = "support-bot-20261121-a1b2c3"
DATA = DataRef(provider="azureml", content_hash=HASH, uris={
    s: f"azureml://datastores/workspaceblobstore/paths/teams/ml/datasets/{HASH}/{s}.jsonl"
    for s in ("train", "validation", "test")})


def body(provider, spec) -> dict:
    from azure.ai.ml._restclient.arm_ml_service.models import JobBase

    request = provider.dry_run(spec, DATA, JOB_ID)
    assert request["method"] == "PUT"
    assert request["path"].endswith("/workspaces/ws-anytune/jobs/anytune-support-bot-20261121-a1b2c3")
    assert validate(JobBase, request["body"]) == []
    return request["body"]["properties"]


def test_serverless_job_body(provider, spec, arm):
    job = body(provider, spec)
    assert arm.requests == [], "a dry run sends nothing"
    assert job["jobType"] == "Command" and "computeId" not in job
    assert job["resources"]["instanceType"] == "Standard_NC4as_T4_v3"  # cheapest that fits the tiny model
    assert "queueSettings" not in job and "distribution" not in job
    assert job["environmentId"] == "azureml://registries/azureml/environments/acpt-pytorch-2.8-cuda12.6/labels/latest"
    assert job["inputs"]["data"] == {"uri": f"azureml://datastores/workspaceblobstore/paths/teams/ml/datasets/{HASH}/",
                                     "mode": "ReadOnlyMount", "jobInputType": "uri_folder"}
    code = job["inputs"]["code"]
    assert re.fullmatch(r"azureml://datastores/workspaceblobstore/paths/teams/ml/code/[0-9a-f]{64}/sourcedir\.tar\.gz",
                        code["uri"]) and code["jobInputType"] == "uri_file"
    # The tiny model is a local folder: it travels as an input, keyed by its hash.
    assert re.fullmatch(r"azureml://datastores/workspaceblobstore/paths/teams/ml/models/[0-9a-f]{64}/",
                        job["inputs"]["model"]["uri"])
    name = "anytune-support-bot-20261121-a1b2c3"
    assert {k: (v["uri"], v["mode"]) for k, v in job["outputs"].items()} == {
        "model": (f"azureml://datastores/workspaceblobstore/paths/teams/ml/output/{name}/model/", "ReadWriteMount"),
        "checkpoints": (f"azureml://datastores/workspaceblobstore/paths/teams/ml/checkpoints/{name}/", "ReadWriteMount"),
        "logs": (f"azureml://datastores/workspaceblobstore/paths/teams/ml/logs/{name}/", "ReadWriteMount")}
    command = job["command"]
    assert "python -m anytune.cloud.entry --base-model ${{inputs.model}} --spec spec.json" in command
    for arg in ("--train ${{inputs.data}}/train.jsonl", "--validation ${{inputs.data}}/validation.jsonl",
                "--test ${{inputs.data}}/test.jsonl", "--output ${{outputs.model}}",
                "--checkpoints ${{outputs.checkpoints}}", "--status ${{outputs.logs}}/status.json"):
        assert arg in command
    assert job["environmentVariables"] == {"ANYTUNE_JOB_ID": JOB_ID}
    assert job["tags"]["anytune.job_id"] == JOB_ID and job["tags"]["anytune.spec_hash"] == spec.spec_hash()
    assert job["limits"] == {"timeout": "P1D", "jobLimitsType": "Command"}  # compute.max_hours: 24


def test_hub_model_is_not_an_input(make_provider, spec):
    job = body(make_provider(), spec.model_copy(update={"base_model": "Qwen/Qwen2.5-0.5B-Instruct"}))
    assert "model" not in job["inputs"]
    assert "&& cd .anytune && python -m anytune.trainer --spec spec.json" in job["command"]


def test_spot_on_serverless_is_the_spot_tier(provider, spec_with):
    job = body(provider, spec_with(spot=True))
    assert job["queueSettings"] == {"jobTier": "Spot"}
    assert "computeId" not in job


def test_clusters_dedicated_and_low_priority(make_provider, spec_with):
    provider = make_provider(compute="gpu-a100", low_priority_compute="gpu-a100-lowpri")
    dedicated, spot = body(provider, spec_with()), body(provider, spec_with(spot=True))
    assert dedicated["computeId"].endswith("/workspaces/ws-anytune/computes/gpu-a100")
    assert spot["computeId"].endswith("/workspaces/ws-anytune/computes/gpu-a100-lowpri")
    for job in (dedicated, spot):
        assert "queueSettings" not in job and "instanceType" not in job.get("resources", {})


def test_spot_needs_a_low_priority_cluster_when_jobs_go_to_clusters(make_provider, spec_with):
    with pytest.raises(errors.ConfigError, match="low_priority_compute"):
        make_provider(compute="gpu-a100").dry_run(spec_with(spot=True), DATA, JOB_ID)


def test_multi_gpu_uses_pytorch_distribution(provider, spec_with):
    job = body(provider, spec_with(gpu_count=2))
    assert job["resources"]["instanceType"] == "Standard_NC48ads_A100_v4"  # the catalog's only 2-GPU VM
    assert job["distribution"] == {"distributionType": "PyTorch", "processCountPerInstance": 2}


def test_several_nodes_ask_for_instance_count_with_a_process_per_gpu_on_each(provider, make_provider, spec_with):
    job = body(provider, spec_with(gpu_count=8, nodes=2))
    assert job["resources"]["instanceCount"] == 2
    assert job["resources"]["instanceType"] in ("Standard_ND96asr_v4", "Standard_ND96isr_H100_v5")
    assert job["distribution"] == {"distributionType": "PyTorch", "processCountPerInstance": 8}
    # CPU-less or one-GPU nodes still get one process each, on every node
    one = body(provider, spec_with(nodes=3))
    assert one["resources"]["instanceCount"] == 3
    assert one["distribution"] == {"distributionType": "PyTorch", "processCountPerInstance": 1}
    cluster = body(make_provider(compute="gpu-a100"), spec_with(nodes=2))
    assert cluster["resources"]["instanceCount"] == 2 and cluster["computeId"].endswith("/gpu-a100")


@pytest.mark.parametrize(("settings", "identity"), [
    ({"job_identity": "user"}, {"identityType": "UserIdentity"}),
    ({"job_identity": "managed", "managed_identity_client_id": "11111111-2222-3333-4444-555555555555"},
     {"identityType": "Managed", "clientId": "11111111-2222-3333-4444-555555555555"}),
])
def test_job_identity(make_provider, spec, settings, identity):
    assert body(make_provider(**settings), spec)["identity"] == identity


def test_fixed_instance_type_and_experiment(make_provider, spec):
    job = body(make_provider(instance_type="Standard_NC40ads_H100_v5", experiment="tuning", tags={"team": "ml"}), spec)
    assert job["resources"]["instanceType"] == "Standard_NC40ads_H100_v5"
    assert job["experimentName"] == "tuning" and job["tags"]["team"] == "ml"


def test_dry_run_needs_the_workspace(make_provider, spec):
    with pytest.raises(errors.ConfigError, match="provider_options.azureml.workspace"):
        make_provider(workspace=None).dry_run(spec, DATA, JOB_ID)


def test_the_validator_finds_bad_bodies():
    from azure.ai.ml._restclient.arm_ml_service.models import JobBase

    good = {"properties": {"jobType": "Command", "command": "python x.py", "environmentId": "azureml:env:1",
                           "queueSettings": {"jobTier": "Spot"},
                           "outputs": {"model": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}}}}
    assert validate(JobBase, good) == []
    bad = {"properties": {"jobType": "Command", "environmentId": "azureml:env:1", "status": "Running",
                          "queueSettings": {"jobTier": "Cheap"}, "comand": "typo",
                          "outputs": {"model": {"jobOutputType": "uri_folder", "mode": "Mounted"}}}}
    assert sorted(validate(JobBase, bad)) == sorted([
        "body.properties.comand: not a field of CommandJob",
        "body.properties.status: read-only, must not be sent",
        "body.properties.command: required by CommandJob",
        "body.properties.queueSettings.jobTier: 'Cheap' is not one of ['Basic', 'Null', 'Premium', 'Spot', 'Standard']",
        "body.properties.outputs.model.mode: 'Mounted' is not one of ['Direct', 'ReadWriteMount', 'Upload']",
    ])
    assert validate(JobBase, {"properties": {"jobType": "Batch"}})[0].startswith("body.properties.jobType: unknown kind")


def test_dry_run_puts_data_where_upload_would(provider, spec):
    """``anytune submit --dry-run`` passes a placeholder reference (nothing was uploaded): the body names the
    datastore folder upload would use for that content hash."""
    placeholder = DataRef(provider="azureml", content_hash=HASH,
                          uris={s: f"<azureml storage>/datasets/{HASH}/{s}.jsonl" for s in ("train", "validation")})
    job = provider.dry_run(spec, placeholder, JOB_ID)["body"]["properties"]
    assert job["inputs"]["data"]["uri"] == f"azureml://datastores/workspaceblobstore/paths/teams/ml/datasets/{HASH}/"
    assert "--validation ${{inputs.data}}/validation.jsonl" in job["command"] and "--test" not in job["command"]


def test_a_vm_size_outside_the_catalog_is_the_users_call(make_provider, spec, prepared):
    provider = make_provider(instance_type="Standard_ND40rs_v2")
    est = provider.estimate(spec, prepared.stats)
    assert not est.fits and est.rejected == ("Standard_ND40rs_v2: not in the azureml price catalog (pricing.json)",)
    assert body(provider, spec)["resources"]["instanceType"] == "Standard_ND40rs_v2"
