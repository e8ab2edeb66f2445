"""Following a job: status with the trainer's progress (status.json in the logs output), logs from the
artifact store with a cursor, cancel, retrieve refusing failed jobs and damaged models, and handles of
jobs launched in another workspace. The container's side is written straight to Azurite here."""

from __future__ import annotations

import json

import pytest

from anytune import errors
from anytune.artifacts import write_manifest
from anytune.errors import ChecksumMismatch
from anytune.types import JobHandle, JobState

LOGS = "ExperimentRun/dcid.{name}/user_logs/"


@pytest.fixture
def running(provider, spec, prepared):
    """A launched job (the server has moved it to Running)."""
    handle = provider.launch(spec, provider.upload(spec, prepared), "follow-1")
    states = [provider.status(handle).state for _ in range(2)]  # the stand-in moves on one state per GET
    assert states[-1] is JobState.RUNNING, states
    return handle


def test_progress_comes_from_the_trainers_status_file(provider, running, blobs, arm):
    status = {"state": "training", "step": 3, "total_steps": 12, "epoch": 0.25, "loss": 1.5, "eval_loss": None}
    blobs["workspaceblobstore"].upload_blob(f"teams/ml/logs/{running.remote_id}/status.json", json.dumps(status))
    now = provider.status(running)
    assert now.state is JobState.RUNNING and now.progress == 0.25
    assert now.metrics == {"step": 3.0, "total_steps": 12.0, "epoch": 0.25, "loss": 1.5}
    assert now.message == "Running — training"
    provider.status(running)
    assert [p for _, p, _ in arm.requests if "/datastores/" in p] == [
        "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-anytune/providers/"
        "Microsoft.MachineLearningServices/workspaces/ws-anytune/datastores/workspaceblobstore"], "looked up once"


def test_a_failed_job_says_why_and_cannot_be_retrieved(provider, running, blobs, arm, tmp_path):
    blobs["workspaceblobstore"].upload_blob(f"teams/ml/logs/{running.remote_id}/status.json",
                                           json.dumps({"state": "failed", "message": "CUDA out of memory"}))
    arm.complete(running.remote_id, "Failed")
    status = provider.status(running)
    assert status.state is JobState.FAILED and "CUDA out of memory" in status.message
    with pytest.raises(errors.JobFailed, match="failed"):
        provider.retrieve(running, tmp_path / "model")


@pytest.mark.parametrize("error, moves", [
    (("UserError", "The specified subscription has a Standard NCADSA100v4 family vCPU quota of 0.", "QuotaExceeded"),
     True),
    (("ServiceError", "Allocation failed: no capacity for Standard_NC24ads_A100_v4 in eastus.", "AllocationFailed"),
     True),
    (("UserError", "Execution failed: the training script exited with code 1.", "ExecutionFailed"), False),
])
def test_a_job_failed_for_quota_or_capacity_moves_to_the_next_candidate(provider, running, arm, error, moves):
    """Azure ML says why a job failed in its run history only: the SDK's run-history client reads it (the
    workspace's discovery document, then GET .../runs/{name}/details) and its codes decide the fallback."""
    arm.complete(running.remote_id, "Failed", error=error)
    status = provider.status(running)
    assert status.state is JobState.FAILED and status.fallback is moves
    assert f"{error[0]}/{error[2]}: {error[1]}" in status.message
    assert any(p.startswith("/history/v1.0/") and p.endswith(f"/runs/{running.remote_id}/details")
               for _, p, _ in arm.requests)


def test_an_unreadable_run_history_leaves_the_failure_without_a_fallback(provider, running, arm):
    arm.complete(running.remote_id, "Failed", error=("UserError", "quota", "QuotaExceeded"))
    arm.fail("GET", r"/runs/.*/details$", 403, "AuthorizationFailed", "no read on run history")
    status = provider.status(running)
    assert status.state is JobState.FAILED and not status.fallback


def test_logs_follow_with_a_cursor_and_hold_back_partial_lines(provider, running, blobs):
    store, name = blobs["workspaceartifactstore"], LOGS.format(name=running.remote_id) + "std_log.txt"
    assert provider.logs(running).lines == ()  # no log yet
    store.upload_blob(name, b"loading\nstep 1/4 loss 2.0\nstep 2/4 lo")
    first = provider.logs(running)
    assert first.lines == ("loading", "step 1/4 loss 2.0")
    store.upload_blob(name, b"loading\nstep 1/4 loss 2.0\nstep 2/4 loss 1.5\ndone\n", overwrite=True)
    second = provider.logs(running, first.cursor)
    assert second.lines == ("step 2/4 loss 1.5", "done")
    assert provider.logs(running, second.cursor).lines == ()


def test_logs_of_several_processes_are_labelled(provider, running, blobs):
    store = blobs["workspaceartifactstore"]
    for rank in (0, 1):
        store.upload_blob(LOGS.format(name=running.remote_id) + f"std_log_process_{rank}.txt", f"rank {rank}\n".encode())
    assert provider.logs(running).lines == ("[std_log_process_0] rank 0", "[std_log_process_1] rank 1")


def test_a_cursor_from_elsewhere_is_refused(provider, running):
    with pytest.raises(errors.ConfigError, match="log cursor"):
        provider.logs(running, '{"x": -1}')


def test_cancel_moves_to_cancelled_and_is_a_no_op_once_ended(provider, running, arm):
    provider.cancel(running)
    assert provider.status(running).state is JobState.CANCELLED
    provider.cancel(running)  # ended: nothing to stop, no error
    assert [m for m, p, _ in arm.requests if p.endswith("/cancel")] == ["POST", "POST"]
    with pytest.raises(errors.NotFound):
        provider.cancel(JobHandle(provider="azureml", job_id="ghost", remote_id="anytune-ghost"))


def test_retrieve_refuses_a_damaged_model(provider, running, blobs, arm, tmp_path):
    model = tmp_path / "made"
    model.mkdir()
    (model / "adapter_model.safetensors").write_bytes(b"weights")
    write_manifest(model)
    (model / "adapter_model.safetensors").write_bytes(b"weightz")  # changed after the manifest was written
    for path in model.iterdir():
        blobs["workspaceblobstore"].upload_blob(f"teams/ml/output/{running.remote_id}/model/{path.name}",
                                               path.read_bytes())
    arm.complete(running.remote_id)
    provider.status(running)  # Running -> Completed
    with pytest.raises(ChecksumMismatch, match="adapter_model.safetensors"):
        provider.retrieve(running, tmp_path / "retrieved")


def test_a_handle_follows_the_workspace_it_was_launched_in(provider, running, arm):
    elsewhere = running.model_copy(update={"extra": {**running.extra, "workspace": "ws-other"}})
    with pytest.raises(errors.NotFound):
        provider.status(elsewhere)
    assert arm.requests[-1][1].endswith(f"/workspaces/ws-other/jobs/{running.remote_id}")
