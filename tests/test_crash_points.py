"""Crash safety, shown by killing the real CLI (SIGKILL, through anytune.crashpoints) at each named step of
submit, run and retrieve, and the local runner on its own: a fresh process must reach a terminal state,
with exactly one training run and a verified model wherever training succeeded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from anytune.artifacts import verify_manifest
from anytune.crashpoints import POINTS
from anytune.testing.crash import cli as crash_cli
from anytune.testing.crash import only_job as crash_only_job

pytest.importorskip("anytune_local")
QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"
TRAINS = ("submit:launched", "local:started")  # the provider had started the job when the CLI died


def write_job(tmp_path: Path, examples: int = 120, **hyperparameters) -> Path:
    """The quickstart model on some of its examples, no generation: a few seconds of training."""
    rows = (QUICKSTART / "support_tickets.csv").read_text().splitlines()[:examples + 1]
    (tmp_path / "tickets.csv").write_text("\n".join(rows) + "\n")
    spec = {"name": "crash", "base_model": str(QUICKSTART / "model"), "provider": "local", "method": "full",
            "data": {"train": str(tmp_path / "tickets.csv"), "columns": {"prompt": "question", "completion": "answer"},
                     "format": "chat", "validation": "auto", "test": "none", "split": [0.9, 0.1, 0.0]},
            "hyperparameters": {"epochs": 1, "batch_size": 16, "max_seq_length": 64, "learning_rate": 2e-3,
                                **hyperparameters},
            "evaluation": {"enabled": False}, "output_dir": str(tmp_path / "runs" / "{job_id}")}
    path = tmp_path / "job.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


@pytest.fixture
def job(tmp_path) -> Path:
    return write_job(tmp_path)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """The CLI processes of a test share its ANYTUNE_HOME (anytune.testing.crash runs them in os.environ)."""
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANYTUNE_CONFIG_DIR", str(tmp_path / "config"))


def cli(tmp_path: Path, *args: str, crash: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return crash_cli(*args, crash=crash, timeout=timeout)


def only_job(tmp_path: Path) -> dict:
    return crash_only_job()


def trainer_runs(tmp_path: Path, job_id: str) -> int:
    """How many times a trainer started for the job: each run logs its train split once."""
    log = tmp_path / "home" / "jobs" / job_id / "trainer.log"
    return sum(1 for line in log.read_text().splitlines() if line.startswith("train: ")) if log.exists() else 0


def finish(tmp_path: Path, job_id: str) -> dict:
    follow = cli(tmp_path, "logs", "-f", job_id)
    assert follow.returncode == 0, follow.stderr
    return only_job(tmp_path)


def test_every_crash_point_is_tested():
    tested = {"submit:recorded", "submit:uploaded", *TRAINS, "retrieve:copying",
              "cloud:uploading", "cloud:created",  # these two in the cloud plugins' test_crash.py
              "trainer:saved",  # in the cloud plugins' resume tests (test_end_to_end.py, vertex's test_crash.py)
              "sweep:recorded", "sweep:launched"}  # in test_sweep.py (a killed sweep resumes)
    assert tested == set(POINTS)


@pytest.mark.parametrize("point", ["submit:recorded", "submit:uploaded"])
def test_killed_before_launch_the_job_says_interrupted_and_nothing_runs(tmp_path, job, point):
    died = cli(tmp_path, "submit", str(job), "-y", crash=point)
    assert died.returncode == -signal.SIGKILL, died.stderr
    row = only_job(tmp_path)  # a fresh process: the submitter is gone, so the record is closed
    assert row["state"] == "interrupted"
    status = cli(tmp_path, "status", row["id"])
    assert status.returncode == 1 and "interrupted: the submitting process" in status.stdout
    assert "nothing was started on local" in status.stdout
    assert not (tmp_path / "home" / "jobs" / row["id"]).exists(), "nothing may have been launched"


@pytest.mark.slow
@pytest.mark.parametrize("command, point", [("submit", "submit:launched"), ("submit", "local:started"),
                                            ("run", "submit:launched")])
def test_killed_after_launch_the_job_is_found_and_finishes_once(tmp_path, job, command, point):
    died = cli(tmp_path, command, str(job), "-y", "-q" if command == "run" else "-y", crash=point)
    assert died.returncode == -signal.SIGKILL, died.stderr
    row = only_job(tmp_path)
    assert row["state"] in ("queued", "running", "succeeded"), row
    assert finish(tmp_path, row["id"])["state"] == "succeeded"
    got = cli(tmp_path, "retrieve", row["id"])
    assert got.returncode == 0, got.stderr
    assert verify_manifest(tmp_path / "runs" / row["id"])
    assert trainer_runs(tmp_path, row["id"]) == 1, "exactly one training run"
    assert len(list((tmp_path / "home" / "jobs").iterdir())) == 1, "exactly one job started"


@pytest.mark.slow
def test_a_killed_runner_leaves_the_trainer_training_and_the_job_succeeds(tmp_path, job):
    sub = cli(tmp_path, "submit", str(job), "-y")
    assert sub.returncode == 0, sub.stderr
    job_id = only_job(tmp_path)["id"]
    folder = tmp_path / "home" / "jobs" / job_id
    deadline = time.time() + 60
    while not (folder / "runner.json").exists() and time.time() < deadline:
        time.sleep(0.1)
    os.kill(json.loads((folder / "runner.json").read_text())["runner_pid"], signal.SIGKILL)  # only the runner
    status = cli(tmp_path, "status", job_id)
    assert "vanished" not in status.stdout and "failed" not in status.stdout, status.stdout
    assert finish(tmp_path, job_id)["state"] == "succeeded"
    assert not (folder / "exit.json").exists(), "the runner that writes it was killed"
    assert cli(tmp_path, "retrieve", job_id).returncode == 0
    assert verify_manifest(tmp_path / "runs" / job_id)


@pytest.mark.slow
def test_a_retrieve_killed_half_way_leaves_no_half_model_and_is_redone(tmp_path, job):
    assert cli(tmp_path, "submit", str(job), "-y").returncode == 0
    job_id = only_job(tmp_path)["id"]
    assert finish(tmp_path, job_id)["state"] == "succeeded"
    died = cli(tmp_path, "retrieve", job_id, crash="retrieve:copying")
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert not (tmp_path / "runs" / job_id).exists(), "a torn retrieve must not look like a model"
    again = cli(tmp_path, "retrieve", job_id)
    assert again.returncode == 0, again.stderr
    assert verify_manifest(tmp_path / "runs" / job_id)


@pytest.mark.slow
def test_a_trainer_killed_mid_run_resumes_from_its_checkpoint_as_the_same_job(tmp_path):
    job = write_job(tmp_path, examples=800, epochs=2, eval_steps=5)
    assert cli(tmp_path, "submit", str(job), "-y").returncode == 0
    job_id = only_job(tmp_path)["id"]
    folder = tmp_path / "home" / "jobs" / job_id
    deadline = time.time() + 120  # killed as the second checkpoint appears: likely torn, the first is whole
    while len(list((folder / "checkpoints").glob("checkpoint-*"))) < 2 and time.time() < deadline:
        time.sleep(0.02)
    os.kill(json.loads((folder / "runner.json").read_text())["trainer_pid"], signal.SIGKILL)
    assert finish(tmp_path, job_id)["state"] == "failed"
    assert cli(tmp_path, "resume", job_id).returncode == 0
    assert finish(tmp_path, job_id)["state"] == "succeeded"
    log = (folder / "trainer.log").read_text()
    assert "resuming from" in log and trainer_runs(tmp_path, job_id) == 2
    assert cli(tmp_path, "retrieve", job_id).returncode == 0 and verify_manifest(tmp_path / "runs" / job_id)
    attempts = json.loads(cli(tmp_path, "jobs", "--json").stdout)[0]
    assert attempts["seconds"] > 0
    again = cli(tmp_path, "resume", job_id)
    assert again.returncode == 2 and "succeeded: nothing to resume" in again.stderr


@pytest.mark.slow
def test_an_interrupted_submit_is_resumed_by_launching_it(tmp_path, job):
    assert cli(tmp_path, "submit", str(job), "-y", crash="submit:uploaded").returncode == -signal.SIGKILL
    job_id = only_job(tmp_path)["id"]
    assert only_job(tmp_path)["state"] == "interrupted"
    resumed = cli(tmp_path, "resume", job_id)
    assert resumed.returncode == 0 and "first submit was interrupted" in resumed.stdout, resumed.stderr
    assert finish(tmp_path, job_id)["state"] == "succeeded"
    assert trainer_runs(tmp_path, job_id) == 1


@pytest.mark.slow
@pytest.mark.parametrize("point", ["submit:uploaded", "local:started"])
def test_a_killed_run_goes_on_with_resume_wait_to_a_verified_model(tmp_path, job, point):
    """`anytune run` cut short before the launch, or while training: `anytune resume ID --wait` is the same
    path run takes (launch if nothing started, else follow what runs; then retrieve), with one training."""
    died = cli(tmp_path, "run", str(job), "-y", "-q", crash=point)
    assert died.returncode == -signal.SIGKILL, died.stderr
    job_id = only_job(tmp_path)["id"]
    went_on = cli(tmp_path, "resume", job_id, "--wait", "-q")
    assert went_on.returncode == 0, went_on.stdout + went_on.stderr
    assert "files verified" in went_on.stdout
    assert verify_manifest(tmp_path / "runs" / job_id)
    assert trainer_runs(tmp_path, job_id) == 1, "exactly one training run"
    assert only_job(tmp_path)["state"] == "succeeded"
