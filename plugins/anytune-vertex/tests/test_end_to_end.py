"""The whole flow over HTTP: the real Cloud Storage, Vertex AI and google-auth clients against
gcp-storage-emulator and the Vertex AI stand-in. upload -> launch -> status/logs while the container
(the test, see conftest.play_container) runs the bundled trainer under the Vertex contract and writes the
model where AIP_MODEL_DIR points -> retrieve, verified against the trainer's manifest."""

from __future__ import annotations

import hashlib
import time

import pytest

from anytune.artifacts import ChecksumMismatch
from anytune.types import JobState

JOB_ID = "support-bot-20261121-a1b2c3"
NAME = "anytune-support-bot-20261121-a1b2c3"


@pytest.mark.slow
def test_upload_launch_follow_retrieve(provider, spec, prepared, container, vertex, gcs, bucket, tmp_path):
    vertex.hold = False
    size = sum(p.stat().st_size for p in prepared.files.values())
    first = provider.upload(spec, prepared)
    second = provider.upload(spec, prepared)
    print(f"\nbytes sent: first upload {first.bytes_sent}, second upload {second.bytes_sent} (data {size} bytes)")
    assert first.bytes_sent == size and second.bytes_sent == 0 and second.uris == first.uris
    key = f"teams/ml/datasets/{prepared.content_hash}/train.jsonl"
    assert first.uris["train"] == f"gs://{bucket}/{key}"
    blob = gcs.bucket(bucket).get_blob(key)
    assert blob.metadata["anytune-sha256"] == hashlib.sha256(prepared.files["train"].read_bytes()).hexdigest()

    handle = provider.launch(spec, first, JOB_ID)
    assert provider.launch(spec, first, JOB_ID) == handle and len(vertex.calls(r"^POST .*/customJobs$")) == 1

    lines, cursor, seen = [], "", []
    deadline = time.monotonic() + 300
    while not (status := provider.status(handle)).state.terminal and time.monotonic() < deadline:
        seen.append(status.state)
        chunk = provider.logs(handle, cursor)
        lines += chunk.lines
        cursor = chunk.cursor
        time.sleep(0.2)
    lines += provider.logs(handle, cursor).lines
    assert status.state is JobState.SUCCEEDED, f"{status.raw_state}: {status.message}\n" + "\n".join(lines[-30:])
    assert vertex.states[handle.remote_id] == ["JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    assert JobState.RUNNING in seen
    assert lines == [e["textPayload"] for e in vertex.log_entries[handle.remote_id.rsplit("/", 1)[-1]]], \
        "logs -f must return every line once, in order"
    assert any(line.startswith("anytune trainer: job support-bot on vertex") for line in lines)
    assert lines[-1] == "Job completed successfully."

    # The trainer wrote into the job's baseOutputDirectory: the model (AIP_MODEL_DIR), TensorBoard
    # events (AIP_TENSORBOARD_LOG_DIR) and status.json next to the model.
    written = {b.name.removeprefix(f"teams/ml/output/{NAME}/") for b in gcs.list_blobs(bucket, prefix=f"teams/ml/output/{NAME}/")}
    assert {"model/anytune-manifest.json", "model/adapter_model.safetensors", "status.json"} <= written, written
    assert any(name.startswith("logs/") for name in written), written
    # The container ran the bundle's own anytune (its bytecode is there), not the test's.
    assert list((tmp_path / "container-0" / "tmp").glob("tmp.*/anytune/trainer/__pycache__/loop.*.pyc"))

    artifact = provider.retrieve(handle, tmp_path / "model")
    names = {f.path for f in artifact.files}
    assert artifact.kind == "adapter" and artifact.path == str(tmp_path / "model")
    assert {"adapter_config.json", "adapter_model.safetensors", "metrics.json"} <= names, names
    assert artifact.notes == (f"from gs://{bucket}/teams/ml/output/{NAME}/model/",)

    # A file changed in the bucket after training no longer matches the trainer's manifest.
    gcs.bucket(bucket).blob(f"teams/ml/output/{NAME}/model/adapter_config.json").upload_from_string(b"{}")
    with pytest.raises(ChecksumMismatch, match="adapter_config.json"):
        provider.retrieve(handle, tmp_path / "tampered")
