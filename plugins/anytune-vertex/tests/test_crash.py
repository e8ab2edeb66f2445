"""The real CLI killed (SIGKILL) during a Cloud Storage upload and right after the create of the CustomJob,
against gcp-storage-emulator and the Vertex AI stand-in: fresh processes find or launch the job, with
exactly one remote job, and can stop it."""

from __future__ import annotations

import json
import time

import pytest
from anytune_vertex._request import LABEL_JOB

from anytune.artifacts import verify_manifest
from anytune.cloud.names import job_name
from anytune.testing.crash import cli, kill_and_recover, only_job, write_spec
from anytune.testing.fixtures import with_hyperparameters


@pytest.mark.slow  # a few CLI processes, each importing the Google SDKs
@pytest.mark.parametrize("point", ["cloud:uploading", "cloud:created"])
def test_a_submit_killed_at_each_cloud_step_ends_with_one_custom_job(point, spec, options, vertex, tmp_path):
    job = kill_and_recover(write_spec(tmp_path, spec, options), point)
    remote = [j for j in vertex.jobs.values() if j.labels.get(LABEL_JOB) == job_name(job["id"])]
    assert len(remote) == 1, remote
    assert cli("cancel", job["id"]).returncode == 0
    rows = json.loads(cli("jobs", "--json").stdout)
    assert rows[0]["state"] in ("stopping", "cancelled"), rows
    if point == "cloud:created":
        assert "recovered" in job["message"], job


@pytest.mark.slow  # two trainings in the container, and CLI processes
def test_a_trainer_killed_after_a_checkpoint_is_resumed_by_the_cli_in_a_second_custom_job(spec, options, container,
                                                                                          tmp_path):
    """The container's trainer dies (SIGKILL) once epoch 1's checkpoint is in AIP_CHECKPOINT_DIR: the job
    fails. `anytune resume ID --wait` starts a second CustomJob (a failed one cannot be restarted) that
    continues from that checkpoint, follows it and retrieves a verified model; the record keeps both attempts."""
    container.hold = False
    container.container_env["ANYTUNE_CRASH_AT"] = "trainer:saved"
    spec_file = write_spec(tmp_path, with_hyperparameters(spec, epochs=2), options)
    assert cli("submit", spec_file, "-y").returncode == 0
    job_id = only_job()["id"]
    deadline = time.monotonic() + 240
    while (row := only_job())["state"] not in ("failed", "succeeded", "cancelled") and time.monotonic() < deadline:
        cli("status", job_id)  # status asks Vertex AI (its exit status says the job's); jobs lists the store
        time.sleep(1)
    assert row["state"] == "failed", row
    container.container_env.clear()

    went_on = cli("resume", job_id, "--wait", "-q")
    assert went_on.returncode == 0, went_on.stdout + went_on.stderr
    assert "files verified" in went_on.stdout and verify_manifest(tmp_path / "runs" / job_id)
    first = job_name(job_id)
    jobs = sorted(container.jobs.values(), key=lambda j: j.create_time)
    assert [j.labels[LABEL_JOB] for j in jobs] == [first, f"{first}-r2"]
    assert [container.states[j.name][-1] for j in jobs] == ["JOB_STATE_FAILED", "JOB_STATE_SUCCEEDED"]
    args = list(jobs[1].job_spec.worker_pool_specs[0].container_spec.args)
    assert args[args.index("--checkpoints") + 1].endswith(f"/output/{first}/checkpoints/")
    logs = cli("logs", job_id)
    assert any(line.startswith("resuming from") and "checkpoint-" in line for line in logs.stdout.splitlines()), \
        logs.stdout[-2000:]
    row = only_job()
    assert row["state"] == "succeeded" and row["attempts"] == 2 and row["seconds"] > 0, row
