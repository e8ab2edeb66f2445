"""Following a job without training a model: states through the table, a job that fails for lack of
capacity, progress from the trainer's status.json, logs from Cloud Logging (paged, with a cursor),
cancel, and retrieve refusing what is not there. Runners here stand in for the trainer."""

from __future__ import annotations

import json
import threading
import time

import pytest

from anytune import errors
from anytune.types import DataRef, JobState


@pytest.fixture
def data(bucket):
    return DataRef(provider="vertex", content_hash="ef" * 32, uris={"train": f"gs://{bucket}/d/train.jsonl"})


def wait_for(provider, handle, *states: JobState, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while (status := provider.status(handle)).state not in states:
        assert time.monotonic() < deadline, f"still {status.state} ({status.raw_state})"
        time.sleep(0.05)
    return status


def test_the_state_table_covers_vertex_states(provider):
    from google.cloud.aiplatform_v1.types import JobState as VertexState

    unmapped = {s.name for s in VertexState} - set(provider.STATE_MAP)
    assert unmapped == {"JOB_STATE_UNSPECIFIED", "JOB_STATE_PARTIALLY_SUCCEEDED"}, "batch-prediction-only states"
    assert provider.map_state("JOB_STATE_CANCELLING") is JobState.STOPPING


def test_queued_job_cannot_be_retrieved_and_cancels(provider, spec, data, vertex, tmp_path):
    handle = provider.launch(spec, data, "held")
    status = provider.status(handle)
    assert status.state is JobState.QUEUED and status.raw_state == "JOB_STATE_QUEUED" and status.started_at is None
    with pytest.raises(errors.JobNotReady):
        provider.retrieve(handle, tmp_path / "nothing")
    provider.cancel(handle)
    assert provider.status(handle).state in (JobState.STOPPING, JobState.CANCELLED)
    status = wait_for(provider, handle, JobState.CANCELLED)
    assert status.ended_at is not None
    assert vertex.states[handle.remote_id] == ["JOB_STATE_QUEUED", "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"]
    provider.cancel(handle)  # cancelling an ended job is not an error
    assert len(vertex.calls(r"^POST .*:cancel$")) == 2


def test_a_job_without_capacity_fails_and_says_why(provider, spec, data, vertex, tmp_path):
    vertex.hold = False
    vertex.fail_with = {"code": 8, "message": "The zone 'us-central1-a' does not have enough resources available "
                                              "to fulfill the request. '(resource type:compute)'."}
    handle = provider.launch(spec, data, "stockout")
    status = wait_for(provider, handle, JobState.FAILED)
    assert status.raw_state == "JOB_STATE_FAILED"
    assert status.message.startswith("RESOURCE_EXHAUSTED (no capacity") and "us-central1-a" in status.message
    assert status.fallback  # the dispatcher moves the job to the next candidate (anytune.jobs._fall_back)
    with pytest.raises(errors.JobFailed, match="RESOURCE_EXHAUSTED"):
        provider.retrieve(handle, tmp_path / "nothing")
    assert provider.logs(handle).lines[-1].startswith("Job failed: The zone")


def test_progress_comes_from_the_trainers_status_json(provider, spec, data, vertex, gcs):
    """While the job runs, the trainer keeps <AIP_MODEL_DIR>/../status.json fresh (through the mount)."""
    go = threading.Event()

    def trainer(job, cancelled, log):
        base = job.job_spec.base_output_directory.output_uri_prefix.removeprefix("gs://")
        bucket, _, prefix = base.partition("/")
        gcs.bucket(bucket).blob(prefix + "status.json").upload_from_string(json.dumps(
            {"state": "training", "step": 3, "total_steps": 12, "epoch": 0.25, "loss": 2.5, "eval_loss": None}))
        go.wait(30)
        return 0

    vertex.hold, vertex.runner = False, trainer
    handle = provider.launch(spec, data, "progress")
    deadline = time.monotonic() + 30
    while (status := provider.status(handle)).progress is None:
        assert time.monotonic() < deadline and status.state in (JobState.QUEUED, JobState.RUNNING), status
        time.sleep(0.05)
    assert status.state is JobState.RUNNING and status.started_at is not None
    assert status.progress == 0.25 and status.metrics == {"step": 3, "total_steps": 12, "epoch": 0.25, "loss": 2.5}
    go.set()
    done = wait_for(provider, handle, JobState.SUCCEEDED)
    assert done.progress is None and done.ended_at >= done.started_at


def test_logs_are_paged_and_a_cursor_returns_only_new_lines(provider, spec, data, vertex):
    vertex.hold, vertex.log_page = False, 7
    vertex.runner = lambda job, cancelled, log: [log(f"line {i}\n") for i in range(40)] and 0
    handle = provider.launch(spec, data, "logs")
    wait_for(provider, handle, JobState.SUCCEEDED)
    chunk = provider.logs(handle)
    assert chunk.lines == (*(f"line {i}" for i in range(40)), "Job completed successfully.")
    assert provider.logs(handle, chunk.cursor).lines == ()
    vertex.log(handle.remote_id, "a late line")
    later = provider.logs(handle, chunk.cursor)
    assert later.lines == ("a late line",) and provider.logs(handle, later.cursor).lines == ()
    [request] = vertex.calls(r"^POST /v2/entries:list$")[:1]
    numeric = handle.remote_id.rsplit("/", 1)[-1]
    assert request[2]["filter"] == f'resource.type="ml_job" AND resource.labels.job_id="{numeric}"'
    assert request[2]["resourceNames"] == ["projects/anytune-test"]
    with pytest.raises(errors.ConfigError, match="log cursor"):
        provider.logs(handle, "not-a-cursor")


def test_a_failing_trainer_fails_the_job(provider, spec, data, vertex):
    vertex.hold = False
    vertex.runner = lambda job, cancelled, log: log("error: no training data") or 2
    handle = provider.launch(spec, data, "rc2")
    status = wait_for(provider, handle, JobState.FAILED)
    assert "non-zero status of 2" in status.message
    assert provider.logs(handle).lines == ("error: no training data",)
