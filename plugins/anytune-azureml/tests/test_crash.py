"""The real CLI killed (SIGKILL) during a Blob storage upload and right after the create of the command
job, against Azurite and the Azure ML stand-in: fresh processes find or launch the job, with exactly one
remote job, and can stop it. The CLI authenticates as a managed identity would (DefaultAzureCredential
reading IDENTITY_ENDPOINT), from the stand-in's identity endpoint."""

from __future__ import annotations

import json

import pytest
from azml_arm import IDENTITY_PATH, IDENTITY_SECRET

from anytune.testing.crash import cli, kill_and_recover, write_spec


@pytest.mark.slow  # a few CLI processes, each importing the Azure SDKs
@pytest.mark.parametrize("point", ["cloud:uploading", "cloud:created"])
def test_a_submit_killed_at_each_cloud_step_ends_with_one_command_job(point, spec, options, arm, monkeypatch,
                                                                       tmp_path):
    monkeypatch.setenv("IDENTITY_ENDPOINT", arm.url + IDENTITY_PATH)
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_SECRET)
    job = kill_and_recover(write_spec(tmp_path, spec, options), point)
    remote = [name for name in arm.jobs if job["id"] in name]
    assert len(remote) == 1, list(arm.jobs)
    assert cli("cancel", job["id"]).returncode == 0
    rows = json.loads(cli("jobs", "--json").stdout)
    assert rows[0]["state"] in ("stopping", "cancelled"), rows
    if point == "cloud:created":
        assert "recovered" in job["message"], job
    assert any(path == IDENTITY_PATH for _, path, _ in arm.requests), "the CLI's token came from the identity"
