"""The real CLI killed (SIGKILL) during a SageMaker upload and right after the create of the training job,
against moto's server: fresh processes finish the job with exactly one remote training job."""

from __future__ import annotations

import pytest

from anytune.testing.crash import cli, kill_and_recover, write_spec


@pytest.mark.slow  # a few CLI processes, each importing boto3
@pytest.mark.parametrize("point", ["cloud:uploading", "cloud:created"])
def test_a_submit_killed_at_each_cloud_step_ends_with_one_training_job(point, spec, options, aws, tmp_path):
    job = kill_and_recover(write_spec(tmp_path, spec, options), point)
    names = [j["TrainingJobName"] for j in aws("sagemaker").list_training_jobs()["TrainingJobSummaries"]
             if job["id"] in j["TrainingJobName"]]
    assert names == [f"anytune-{job['id']}"], names
    status = cli("status", job["id"])  # moto reports the job Completed at once
    assert status.returncode == 0 and "succeeded" in status.stdout, status.stdout + status.stderr
    if point == "cloud:created":
        assert "recovered" in job["message"], job
