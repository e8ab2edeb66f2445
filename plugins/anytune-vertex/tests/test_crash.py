"""The real CLI killed (SIGKILL) during a Cloud Storage upload and right after the create of the CustomJob,
against gcp-storage-emulator and the Vertex AI stand-in: fresh processes find or launch the job, with
exactly one remote job, and can stop it."""

from __future__ import annotations

import json

import pytest
from anytune_vertex._request import LABEL_JOB

from anytune.cloud.names import job_name
from anytune.testing.crash import cli, kill_and_recover, write_spec


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
