"""The whole flow through real HTTP against moto's server: upload -> launch -> status -> logs -> retrieve.

moto records the training job (and answers it is Completed) but runs no container, so the test plays
SageMaker: it runs the trainer from the uploaded bundle under the SageMaker contract (SM_CHANNEL_*,
SM_MODEL_DIR, SM_HPS), puts model.tar.gz where the job says, and writes the output to CloudWatch Logs.
"""

from __future__ import annotations

import re

import pytest
from anytune_sagemaker._request import METRIC_DEFINITIONS

from anytune import errors
from anytune.testing.fixtures import with_hyperparameters
from anytune.types import JobState


@pytest.mark.slow
def test_upload_launch_status_logs_retrieve(provider, spec, prepared, container, aws, tmp_path):
    size = sum(p.stat().st_size for p in prepared.files.values())
    first = provider.upload(spec, prepared)
    second = provider.upload(spec, prepared)
    print(f"\nbytes sent: first upload {first.bytes_sent}, second upload {second.bytes_sent} (data {size} bytes)")
    assert first.bytes_sent == size and second.bytes_sent == 0
    assert first.uris["train"] == (f"s3://{provider.options.bucket}/teams/ml/datasets/"
                                   f"{prepared.content_hash}/train.jsonl")

    handle = provider.launch(spec, first, "support-bot-20261121-a1b2c3")
    assert handle.remote_id == "anytune-support-bot-20261121-a1b2c3"
    assert provider.launch(spec, first, "support-bot-20261121-a1b2c3") == handle
    jobs = aws("sagemaker").list_training_jobs(NameContains="support-bot-20261121")["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in jobs] == [handle.remote_id], "a retried launch created a second job"

    # moto reports the job Completed at once, but no container has written the model yet.
    with pytest.raises(errors.NotFound, match="model.tar.gz"):
        provider.retrieve(handle, tmp_path / "too-early")

    output = container(handle.remote_id)

    status = provider.status(handle)
    assert status.state is JobState.SUCCEEDED and status.raw_state == "Completed/Completed"

    chunk = provider.logs(handle)
    assert chunk.lines == tuple(output)
    assert any(line.startswith("anytune trainer: job support-bot on sagemaker") for line in chunk.lines)
    # The local base model travelled as the "model" channel and the trainer loaded it from there.
    assert any(line.startswith("model ") and "/opt/ml/input/data/model: lora" in line for line in output), output
    assert provider.logs(handle, chunk.cursor).lines == ()
    # The metric definitions sent with the job match what the trainer prints.
    for metric in ("train:loss", "eval:loss", "train:step", "train:total_steps"):
        regex = next(m["Regex"] for m in METRIC_DEFINITIONS if m["Name"] == metric)
        assert any(re.search(regex, line) for line in output), metric

    artifact = provider.retrieve(handle, tmp_path / "model")
    names = {f.path for f in artifact.files}
    assert artifact.kind == "adapter" and artifact.path == str(tmp_path / "model")
    assert {"adapter_config.json", "adapter_model.safetensors", "metrics.json"} <= names, names


@pytest.mark.slow
def test_a_job_killed_after_a_checkpoint_resumes_in_a_second_training_job(provider, spec, prepared, container, aws,
                                                                         tmp_path):
    """The trainer dies (SIGKILL) once epoch 1's checkpoint is saved; SageMaker has synced it to the job's
    checkpoint prefix. `resume` starts a second training job on the same prefix, whose trainer continues
    from that checkpoint to a verified model."""
    spec = with_hyperparameters(spec, epochs=2)
    data = provider.upload(spec, prepared)
    first = provider.launch(spec, data, "resumed-20261204-0a1b2c3d")
    died = container(first.remote_id, env={"ANYTUNE_CRASH_AT": "trainer:saved"}, check=False)
    assert not any("resuming from" in line for line in died)
    saved = [o["Key"] for o in aws("s3").list_objects_v2(
        Bucket=provider.options.bucket, Prefix=f"teams/ml/checkpoints/{first.remote_id}/")["Contents"]]
    assert any(k.endswith("/anytune-complete") for k in saved), saved

    second = provider.resume(spec, data, first)
    assert second.remote_id == f"{first.remote_id}-r2"
    output = container(second.remote_id)
    resumed = [line for line in output if line.startswith("resuming from")]
    assert resumed and "checkpoint-" in resumed[0], output[-20:]
    artifact = provider.retrieve(second, tmp_path / "model")
    assert {"adapter_model.safetensors", "metrics.json"} <= {f.path for f in artifact.files}
    assert f"/output/{second.remote_id}/output/model.tar.gz" in artifact.notes[0]
