"""End to end: the official openai client fine-tunes a tiny model through ``anytune serve`` (a real
subprocess on 127.0.0.1), and the server is restarted in the middle: nothing is lost."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time

import httpx
import openai
import pytest
from openai.types import Model
from openai.types.fine_tuning import FineTuningJob
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from anytune.serve.testing import TEST_KEY, ServeProcess, wait_job
from anytune.testing.tiny_model import build_tiny_model, write_tiny_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


def wait(client, job_id: str, timeout: float = 240):
    return wait_job(client, job_id, timeout)


def test_upload_create_events_succeeded_model_retrieve_across_a_restart(tmp_path, tiny):
    data = write_tiny_data(tmp_path / "data", train=24, validation=8, test=0)
    server = ServeProcess(tmp_path / "serve", models={"tiny": tiny}, args=("--poll-seconds", "0.3"))
    with server:
        client = openai.OpenAI(base_url=server.url, api_key=TEST_KEY, max_retries=0)
        train = client.files.create(file=open(data["train"], "rb"), purpose="fine-tune")
        valid = client.files.create(file=open(data["validation"], "rb"), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model="tiny", training_file=train.id, validation_file=valid.id, suffix="e2e", seed=3,
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 4}}})
        print(f"created {job.id}: {job.status}")
    print("server stopped; starting it again on the same state")

    with server:
        client = openai.OpenAI(base_url=server.url, api_key=TEST_KEY, max_retries=0)
        assert client.fine_tuning.jobs.retrieve(job.id).training_file == train.id  # still there
        done = wait(client, job.id)
        events = list(reversed(list(client.fine_tuning.jobs.list_events(job.id, limit=100))))
        for e in events:
            print(f"  [{e.level}] {e.type}: {e.message[:110]}")
        assert done.status == "succeeded", (done.error, server.log.read_text()[-3000:])
        assert done.fine_tuned_model.startswith("ft:tiny:anytune:e2e:")
        assert done.hyperparameters.n_epochs == 1 and done.hyperparameters.batch_size == 4
        assert done.trained_tokens and done.trained_tokens > 0
        messages = [e.message for e in events]
        assert messages[:2] == [f"Validating training file: {train.id} and validation file: {valid.id}",
                                "Files validated, moving job to queued state"]
        assert messages[-2:] == [f"New fine-tuned model created: {done.fine_tuned_model}",
                                 "The job has successfully completed"]
        assert any(m.startswith("step 6/6") for m in messages)  # 24 examples / batch 4, the trainer's own lines

        raw = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TEST_KEY}"})
        FineTuningJob.model_validate(raw.get(f"/fine_tuning/jobs/{job.id}").json())  # strict, unlike the SDK's parse
        for c in raw.get(f"/fine_tuning/jobs/{job.id}/checkpoints").json()["data"]:
            FineTuningJobCheckpoint.model_validate(c)
        for m in raw.get("/models").json()["data"]:
            Model.model_validate(m)
        checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
        assert [c.step_number for c in checkpoints] == [6] and checkpoints[0].metrics.train_loss > 0
        results = client.files.content(done.result_files[0]).text
        rows = list(csv.DictReader(io.StringIO(results)))
        assert rows and rows[-1]["step"] == "6" and float(rows[-1]["train_loss"]) > 0
        assert done.fine_tuned_model in [m.id for m in client.models.list()]
        adapter = server.home / "serve" / "models" / job.id
        assert (adapter / "adapter_config.json").is_file() and (adapter / "anytune-manifest.json").is_file()
        print(f"succeeded: {done.fine_tuned_model}, {done.trained_tokens} trained tokens, result {results.splitlines()[0]}")


def test_one_training_at_a_time_and_cancel_while_training(tmp_path, tiny):
    data = write_tiny_data(tmp_path / "data", train=40, validation=0, test=0)
    with ServeProcess(tmp_path / "serve", models={"tiny": tiny}, args=("--poll-seconds", "0.3")) as server:
        client = openai.OpenAI(base_url=server.url, api_key=TEST_KEY, max_retries=0)
        f = client.files.create(file=open(data["train"], "rb"), purpose="fine-tune")
        hp = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 20, "batch_size": 1}}}
        first = client.fine_tuning.jobs.create(model="tiny", training_file=f.id, method=hp)
        second = client.fine_tuning.jobs.create(model="tiny", training_file=f.id, method=hp)
        try:
            deadline = time.monotonic() + 120
            while not any(e.message.startswith("step ") for e in client.fine_tuning.jobs.list_events(first.id, limit=50)):
                assert time.monotonic() < deadline, server.log.read_text()[-3000:]
                time.sleep(0.3)
            assert client.fine_tuning.jobs.retrieve(first.id).status == "running"
            assert client.fine_tuning.jobs.retrieve(second.id).status == "queued"  # one slot: it waits its turn

            client.fine_tuning.jobs.cancel(first.id)
            assert wait(client, first.id, timeout=60).status == "cancelled"
            messages = [e.message for e in client.fine_tuning.jobs.list_events(first.id, limit=100)]
            assert messages[0] == "Fine-tuning job cancelled" and "Cancellation requested" in messages
            assert client.fine_tuning.jobs.retrieve(first.id).fine_tuned_model is None

            deadline = time.monotonic() + 60  # the queue moves on
            while client.fine_tuning.jobs.retrieve(second.id).status == "queued":
                assert time.monotonic() < deadline
                time.sleep(0.3)
            assert client.fine_tuning.jobs.cancel(second.id).status in ("running", "cancelled")
            assert wait(client, second.id, timeout=60).status == "cancelled"
        finally:  # a failed assertion must not leave trainings running (they outlive the server by design)
            for job in (first, second):
                if client.fine_tuning.jobs.retrieve(job.id).status in ("queued", "running"):
                    client.fine_tuning.jobs.cancel(job.id)
                    wait(client, job.id, timeout=60)


@pytest.mark.parametrize("point", ["submit:recorded", "submit:launched"])
def test_a_server_killed_while_submitting_trains_the_job_once_after_a_restart(tmp_path, tiny, monkeypatch, point):
    """SIGKILL inside the server's submit (anytune.crashpoints): before anything was started, or after the
    local trainer started but before its handle was recorded. The restarted server reconciles the job it
    was submitting: it completes the submit on the same anytune job, or follows the training that runs."""
    data = write_tiny_data(tmp_path / "data", train=24, validation=8, test=0)
    server = ServeProcess(tmp_path / "serve", models={"tiny": tiny}, args=("--poll-seconds", "0.3"))
    monkeypatch.setenv("ANYTUNE_CRASH_AT", point)
    server.start()
    client = openai.OpenAI(base_url=server.url, api_key=TEST_KEY, max_retries=0)
    train = client.files.create(file=open(data["train"], "rb"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="tiny", training_file=train.id, suffix="crash", method={
        "type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 4}}})
    assert server.proc.wait(timeout=120) == -9, server.log.read_text()[-2000:]  # killed at the point
    server.stop()
    monkeypatch.delenv("ANYTUNE_CRASH_AT")
    with server:
        client = openai.OpenAI(base_url=server.url, api_key=TEST_KEY, max_retries=0)
        done = wait(client, job.id)
        assert done.status == "succeeded", (done.error, server.log.read_text()[-3000:])
        messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert any(m.startswith("Server restarted;") for m in messages), messages
    env = {**os.environ, "ANYTUNE_HOME": str(server.home), "ANYTUNE_CONFIG_DIR": str(server.home / "config")}
    rows = json.loads(subprocess.run([sys.executable, "-m", "anytune.cli", "jobs", "--json"],
                                     capture_output=True, text=True, env=env, check=True).stdout)
    assert [r["state"] for r in rows] == ["succeeded"], rows  # one anytune job, not a second submit
    log = server.home / "jobs" / rows[0]["id"] / "trainer.log"
    assert sum(line.startswith("train: ") for line in log.read_text().splitlines()) == 1, "trained once"
