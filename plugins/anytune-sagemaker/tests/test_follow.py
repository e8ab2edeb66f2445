"""Following a job: status through the state table (scripted server over HTTP), CloudWatch logs with a
cursor (moto), cancel (botocore's Stubber, because moto's server does not implement StopTrainingJob),
a launch that races another, and retrieval that refuses unsafe or corrupt archives."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile

import pytest
from botocore.stub import Stubber

from anytune import errors
from anytune.artifacts import write_manifest
from anytune.errors import ChecksumMismatch
from anytune.types import DataRef, JobHandle, JobState

ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/anytune-j"
HANDLE = JobHandle(provider="sagemaker", job_id="j", remote_id="anytune-j", extra={"method": "lora"})


def described(status="InProgress", secondary="Training", **more):
    return {"TrainingJobName": "anytune-j", "TrainingJobArn": ARN, "TrainingJobStatus": status,
            "SecondaryStatus": secondary, "ModelArtifacts": {"S3ModelArtifacts": "s3://b/o/anytune-j/output/model.tar.gz"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}, "CreationTime": dt.datetime(2026, 11, 21), **more}


@pytest.mark.parametrize("status, secondary, state", [
    ("InProgress", "Starting", JobState.QUEUED),
    ("InProgress", "LaunchingMLInstances", JobState.QUEUED),
    ("InProgress", "Downloading", JobState.QUEUED),
    ("InProgress", "Training", JobState.RUNNING),
    ("InProgress", "Uploading", JobState.RUNNING),
    ("Completed", "Completed", JobState.SUCCEEDED),
    ("Failed", "Failed", JobState.FAILED),
    ("Stopping", "Stopping", JobState.STOPPING),
    ("Stopped", "Stopped", JobState.CANCELLED),
    ("Stopped", "MaxRuntimeExceeded", JobState.FAILED),
    ("Stopped", "MaxWaitTimeExceeded", JobState.FAILED),
    ("SomethingNew", "Whatever", JobState.UNKNOWN),
])
def test_states_through_the_table(status, secondary, state, scripted, scripted_provider):
    provider = scripted_provider
    scripted.replies = [(200, {**described(status, secondary), "CreationTime": 1.7e9})]
    assert provider.status(HANDLE).state is state


def test_status_carries_message_metrics_progress_and_billable_seconds(scripted, scripted_provider):
    provider = scripted_provider
    scripted.replies = [(200, {**described("Failed", "Failed"), "CreationTime": 1.7e9,
                               "FailureReason": "CapacityError: Unable to provision requested ML compute capacity.",
                               "SecondaryStatusTransitions": [{"Status": "Failed", "StartTime": 1.7e9,
                                                               "StatusMessage": "Training job failed"}],
                               "FinalMetricDataList": [{"MetricName": "train:step", "Value": 30.0, "Timestamp": 1.7e9},
                                                       {"MetricName": "train:total_steps", "Value": 40.0, "Timestamp": 1.7e9},
                                                       {"MetricName": "train:loss", "Value": 1.25, "Timestamp": 1.7e9}],
                               "BillableTimeInSeconds": 1234, "TrainingTimeInSeconds": 3000})]
    status = provider.status(HANDLE)
    assert status.state is JobState.FAILED and status.raw_state == "Failed/Failed"
    assert status.message == "Failed — Training job failed — CapacityError: Unable to provision requested ML compute capacity."
    assert status.metrics["train:loss"] == 1.25 and status.progress == 0.75 and status.billable_seconds == 1234
    assert scripted.requests[0] == ("SageMaker.DescribeTrainingJob", {"TrainingJobName": "anytune-j"})


@pytest.mark.parametrize("status, reason, fallback", [
    ("Failed", "CapacityError: Unable to provision requested ML compute capacity. Please retry using a "
               "different ML instance type.", True),
    ("Failed", "ResourceLimitExceeded: The account-level service limit 'ml.g5.xlarge for training job usage' "
               "is 0 Instances", True),
    ("Failed", "AlgorithmError: ExecuteUserScriptError: exit code 1", False),
    ("Failed", "", False),
    ("Completed", "", False),
])
def test_capacity_and_quota_failures_let_the_job_move_to_the_next_candidate(status, reason, fallback, scripted,
                                                                           scripted_provider):
    scripted.replies = [(200, {**described(status, status), "CreationTime": 1.7e9, "FailureReason": reason})]
    assert scripted_provider.status(HANDLE).fallback is fallback


def test_logs_follow_every_stream_with_a_cursor(provider, cloudwatch):
    handle = HANDLE.model_copy(update={"remote_id": "anytune-logs-1"})
    empty = provider.logs(handle)  # the container has not started: no stream yet
    assert empty.lines == ()
    cloudwatch("anytune-logs-1", {"algo-1-1700000000": ["a1", "a2"], "algo-2-1700000000": ["b1"]})
    cloudwatch("anytune-logs-10", {"algo-1-1700000000": ["another job"]})
    first = provider.logs(handle, empty.cursor)
    assert first.lines == ("[algo-1-1700000000] a1", "[algo-1-1700000000] a2", "[algo-2-1700000000] b1")
    cloudwatch("anytune-logs-1", {"algo-1-1700000000": ["a3"]})
    later = provider.logs(handle, first.cursor)
    assert later.lines == ("[algo-1-1700000000] a3",)
    assert provider.logs(handle, later.cursor).lines == ()
    with pytest.raises(errors.ConfigError, match="log cursor"):
        provider.logs(handle, "not json")


def test_logs_before_the_log_group_exists(scripted, scripted_provider):
    scripted.replies = [scripted.error("ResourceNotFoundException", "The specified log group does not exist.")]
    assert scripted_provider.logs(HANDLE, '{"anytune-j/algo-1": "f/1"}').lines == ()
    assert scripted.requests[0][0] == "Logs_20140328.DescribeLogStreams"


def test_cancel_stops_the_job(provider):
    """moto's server answers StopTrainingJob with HTTP 500 (not implemented), so botocore's Stubber stands
    in for the service; it checks the request against SageMaker's service model."""
    sm = provider.aws.client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("stop_training_job", {}, {"TrainingJobName": "anytune-j"})
        provider.cancel(HANDLE)
        stub.assert_no_pending_responses()


def test_cancel_of_an_ended_job_is_a_no_op_and_other_failures_raise(provider):
    sm = provider.aws.client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_client_error("stop_training_job", "ValidationException",
                              "The request was rejected because the training job is in status Completed.")
        stub.add_response("describe_training_job", described("Completed", "Completed"))
        provider.cancel(HANDLE)
        stub.add_client_error("stop_training_job", "AccessDeniedException", "not allowed")
        with pytest.raises(errors.PermissionDenied):
            provider.cancel(HANDLE)
        stub.assert_no_pending_responses()


def test_a_launch_that_races_another_returns_the_other_job(provider, spec, options):
    """DescribeTrainingJob says no such job, then CreateTrainingJob finds the name taken (ResourceInUse):
    the job the other attempt created is returned. (moto overwrites a job of the same name instead of
    refusing it, so the Stubber answers here; code and model uploads still go to moto.)"""
    data = DataRef(provider="sagemaker", content_hash="ef" * 32,
                   uris={"train": f"s3://{options['bucket']}/teams/ml/datasets/{'ef' * 32}/train.jsonl"})
    sm = provider.aws.client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.")
        stub.add_client_error("create_training_job", "ResourceInUse", "Training job names must be unique")
        stub.add_response("describe_training_job", described("InProgress", "Starting"))
        handle = provider.launch(spec, data, "j")
        stub.assert_no_pending_responses()
    assert handle.remote_id == "anytune-j" and handle.extra["arn"] == ARN


def _job_with_archive(aws, options, name: str, archive: bytes) -> JobHandle:
    output = f"s3://{options['bucket']}/teams/ml/output"
    aws("sagemaker").create_training_job(
        TrainingJobName=name, RoleArn=options["role_arn"], OutputDataConfig={"S3OutputPath": output},
        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
        ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    aws("s3").put_object(Bucket=options["bucket"], Key=f"teams/ml/output/{name}/output/model.tar.gz", Body=archive)
    return JobHandle(provider="sagemaker", job_id=name, remote_id=name, extra={"method": "full"})


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for info, data in entries:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def test_retrieve_refuses_paths_outside_dest(provider, aws, options, tmp_path):
    handle = _job_with_archive(aws, options, "anytune-evil", _tar([(tarfile.TarInfo("../evil.txt"), b"x")]))
    with pytest.raises(errors.ProviderError, match="unsafe entry"):
        provider.retrieve(handle, tmp_path / "out" / "model")
    assert not (tmp_path / "out" / "evil.txt").exists()

    link = tarfile.TarInfo("passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    handle = _job_with_archive(aws, options, "anytune-link", _tar([(link, b"")]))
    with pytest.raises(errors.ProviderError, match="unsafe entry"):
        provider.retrieve(handle, tmp_path / "out2")


def test_retrieve_verifies_the_manifest(provider, aws, options, tmp_path):
    model = tmp_path / "trained"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    write_manifest(model)
    manifest = (model / "anytune-manifest.json").read_bytes()
    good = _tar([(tarfile.TarInfo("model.safetensors"), b"weights"), (tarfile.TarInfo("anytune-manifest.json"), manifest)])
    artifact = provider.retrieve(_job_with_archive(aws, options, "anytune-good", good), tmp_path / "ok")
    assert artifact.kind == "full" and [f.path for f in artifact.files] == ["model.safetensors"]
    assert json.loads(manifest)["files"][0]["sha256"] == artifact.files[0].sha256

    bad = _tar([(tarfile.TarInfo("model.safetensors"), b"tampered"), (tarfile.TarInfo("anytune-manifest.json"), manifest)])
    with pytest.raises(ChecksumMismatch, match="model.safetensors"):
        provider.retrieve(_job_with_archive(aws, options, "anytune-bad", bad), tmp_path / "bad")


def test_retrieve_before_the_end(scripted, scripted_provider):
    provider = scripted_provider
    scripted.replies = [(200, {**described("InProgress", "Training"), "CreationTime": 1.7e9})]
    with pytest.raises(errors.JobNotReady, match="running"):
        provider.retrieve(HANDLE, "unused")
    scripted.replies = [(200, {**described("Failed", "Failed"), "CreationTime": 1.7e9, "FailureReason": "OOM"})]
    with pytest.raises(errors.JobFailed, match="OOM"):
        provider.retrieve(HANDLE, "unused")


def test_a_job_is_followed_in_the_region_it_was_launched_in(provider):
    here = provider._aws_for(HANDLE.model_copy(update={"extra": {"region": "us-east-1"}}))
    there = provider._aws_for(HANDLE.model_copy(update={"extra": {"region": "eu-west-1"}}))
    assert here is provider.aws and there.region == "eu-west-1"
    assert provider._aws_for(HANDLE.model_copy(update={"extra": {"region": "eu-west-1"}})) is there
