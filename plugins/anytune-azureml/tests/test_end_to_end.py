"""The whole flow over HTTP: the provider's azure-storage-blob adapter against Azurite (http, account key),
the real MLClient against the local control plane (azml_arm.py, https with a test certificate), and the
trainer run under the Azure ML contract (paths as arguments) by the test playing the container.

    upload (Azurite) -> launch (PUT job) -> status (GET job, + status.json) -> container runs the command
    -> status Completed -> logs (user_logs/std_log.txt) -> retrieve (outputs/model, manifest verified)

Left untested here: the SDK's run-history data plane (``jobs.stream``, ``jobs.download``: it refuses bearer
tokens over plain http, and needs the workspace's discovery service), which the provider does not use: it
reads the same logs and outputs from the datastore; that Azure ML really writes the user logs to
``ExperimentRun/dcid.<job>/user_logs/`` of the artifact store (the test writes them there); the curated
environment's own packages (pip runs dry and offline here); blobfuse's rw_mount (the test uploads the
output folders after the run).
"""

from __future__ import annotations

import pytest
from azml_container import bundled_anytune

from anytune import errors
from anytune.testing.fixtures import with_hyperparameters
from anytune.types import JobState


@pytest.mark.slow
def test_upload_launch_status_logs_retrieve(provider, spec, prepared, container, arm, blobs, tmp_path):
    size = sum(p.stat().st_size for p in prepared.files.values())
    first = provider.upload(spec, prepared)
    second = provider.upload(spec, prepared)
    print(f"\nbytes sent: first upload {first.bytes_sent}, second upload {second.bytes_sent} (data {size} bytes)")
    assert first.bytes_sent == size and second.bytes_sent == 0
    assert first.uris["train"] == (f"azureml://datastores/workspaceblobstore/paths/teams/ml/datasets/"
                                   f"{prepared.content_hash}/train.jsonl")

    planned = provider.dry_run(spec, first, "support-bot-20261121-a1b2c3")
    handle = provider.launch(spec, first, "support-bot-20261121-a1b2c3")
    assert handle.remote_id == "anytune-support-bot-20261121-a1b2c3"
    assert provider.launch(spec, first, "support-bot-20261121-a1b2c3") == handle
    assert [p for p, _ in arm.puts() if "/jobs/" in p] == [
        f"/subscriptions/{handle.extra['subscription_id']}/resourceGroups/rg-anytune/providers/"
        f"Microsoft.MachineLearningServices/workspaces/ws-anytune/jobs/{handle.remote_id}"], "a second job was created"
    assert [j.name for j in provider.ml.jobs.list()] == [handle.remote_id]
    assert arm.job_body(handle.remote_id) == planned["body"], "dry_run shows what launch sends"

    # The server moves a job one step per GET (NotStarted -> Queued -> Running); launch made two.
    running = provider.status(handle)
    assert running.state is JobState.RUNNING and running.raw_state == "Running"
    assert running.progress is None and running.metrics == {}  # no status.json yet
    with pytest.raises(errors.JobNotReady):
        provider.retrieve(handle, tmp_path / "too-early")

    root = tmp_path / "container-0"
    code, output = container(handle.remote_id)
    assert code == 0, "\n".join(output[-40:])
    assert bundled_anytune(root).startswith(str(root / "wd" / ".anytune")), "the job ran another anytune"

    status = provider.status(handle)
    assert status.state is JobState.SUCCEEDED and status.raw_state == "Completed"

    chunk = provider.logs(handle)
    assert chunk.lines == tuple(output)
    assert any(line.startswith("anytune trainer: job support-bot on local") for line in chunk.lines)
    assert provider.logs(handle, chunk.cursor).lines == ()

    artifact = provider.retrieve(handle, tmp_path / "model")
    names = {f.path for f in artifact.files}
    assert artifact.kind == "adapter" and artifact.path == str(tmp_path / "model")
    assert {"adapter_config.json", "adapter_model.safetensors", "metrics.json"} <= names, names
    # The trainer's status.json went to the logs output, next to the TensorBoard events.
    logs = [b.name for b in blobs["workspaceblobstore"].list_blobs(name_starts_with=f"teams/ml/logs/{handle.remote_id}/")]
    assert f"teams/ml/logs/{handle.remote_id}/status.json" in logs
    assert any("tfevents" in name for name in logs), logs


@pytest.mark.slow
def test_a_job_killed_after_a_checkpoint_resumes_in_a_second_command_job(provider, spec, prepared, container, arm,
                                                                        tmp_path):
    """The trainer dies (SIGKILL) once epoch 1's checkpoint is in the checkpoints output: the job fails.
    `resume` submits a second command job, ``-r2``, whose checkpoints output is the first one's folder;
    its trainer continues from that checkpoint to a verified model in its own output."""
    spec = with_hyperparameters(spec, epochs=2)
    data = provider.upload(spec, prepared)
    first = provider.launch(spec, data, "resumed-20261204-0a1b2c3d")
    code, died = container(first.remote_id, extra_env={"ANYTUNE_CRASH_AT": "trainer:saved"})
    assert code != 0 and not any("resuming from" in line for line in died)
    states = [provider.status(first).state for _ in range(5)]  # the server moves a job one step per GET
    assert states[-1] is JobState.FAILED, states

    second = provider.resume(spec, data, first)
    assert second.remote_id == f"{first.remote_id}-r2" and provider.find(spec, first.job_id) == second
    outputs = arm.job_body(second.remote_id)["properties"]["outputs"]
    assert outputs["checkpoints"]["uri"].endswith(f"/paths/teams/ml/checkpoints/{first.remote_id}/")
    assert outputs["model"]["uri"].endswith(f"/paths/teams/ml/output/{second.remote_id}/model/")
    code, output = container(second.remote_id)
    assert code == 0, "\n".join(output[-40:])
    assert any(line.startswith("resuming from") and "checkpoint-" in line for line in output), output[-20:]
    assert [provider.status(second).state for _ in range(5)][-1] is JobState.SUCCEEDED
    artifact = provider.retrieve(second, tmp_path / "model")
    assert {"adapter_model.safetensors", "metrics.json"} <= {f.path for f in artifact.files}
