"""tracking: a real `mlflow server` (SQLite backend) on 127.0.0.1 that a local job logs to over HTTP, and
Weights & Biases in offline mode; credentials from the environment reach the tracker, never anytune's files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from anytune.errors import ConfigError
from anytune.spec import load_spec

pytest.importorskip("anytune_local")
SECRET = "tok-3f9a1c0d5e"  # a stand-in credential: it may travel to the tracker, nowhere else


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anytune.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200", **(env or {})})


def write_job(path: Path, model, data: dict, tracking: dict) -> Path:
    job = {"name": "tracked", "base_model": str(model),
           "data": {"train": str(data["train"]), "validation": str(data["validation"]), "test": "none"},
           "method": "full", "hyperparameters": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3},
           "evaluation": {"enabled": False}, "provider": "local", "tracking": tracking,
           "output_dir": str(path.parent / "runs" / "{job_id}")}
    path.write_text(yaml.safe_dump(job, sort_keys=False))
    return path


def files_text(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.stat().st_size < 5e6)


def wandb_records(path: Path):
    """The records of a W&B run file (what `wandb sync` uploads): LevelDB's log format (32 KiB blocks of
    crc32, length, type chunks) after a 7-byte W&B header, each record a wandb_internal Record protobuf."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data, pos, block, chunks = path.read_bytes(), 7, 32768, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if left < 7 or (length == 0 and kind == 0):  # the padding at a block's end
            pos += left
            continue
        chunks += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL, LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            chunks = b""
            yield record


def items(update) -> dict:
    return {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in update}


def test_a_tracking_uri_with_credentials_is_rejected_without_echoing_them(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("name: t\nbase_model: m\ndata: {train: t.jsonl}\ntracking:\n  mlflow:\n"
                    f"    tracking_uri: https://me:{SECRET}@mlflow.example.com\n")
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    text = str(err.value) + " ".join(getattr(err.value, "hints", []) or [])
    assert "job.yaml:6: tracking.mlflow.tracking_uri" in text and "MLFLOW_TRACKING_PASSWORD" in text, text
    assert SECRET not in text


@pytest.fixture
def mlflow_server(tmp_path):
    pytest.importorskip("mlflow.server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--default-artifact-root", str(tmp_path / "mlartifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.time() + 90
    while True:
        try:
            if urllib.request.urlopen(f"{url}/health", timeout=2).status == 200:
                break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail("mlflow server did not start")
            time.sleep(0.5)
    yield url
    os.killpg(server.pid, 9)
    server.wait()


@pytest.mark.slow
def test_a_local_job_logs_parameters_curves_and_held_out_loss_to_an_mlflow_server(
        mlflow_server, tiny_model, tiny_data, tmp_path, anytune_home):
    from mlflow.tracking import MlflowClient

    job = write_job(tmp_path / "job.yaml", tiny_model, tiny_data,
                    {"mlflow": {"tracking_uri": mlflow_server, "experiment": "tiny-experiments"}})
    r = cli("run", str(job), "--yes", env={"MLFLOW_TRACKING_TOKEN": SECRET})
    assert r.returncode == 0, r.stderr
    client = MlflowClient(mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny-experiments").experiment_id])
    job_id = run.data.tags["anytune.job_id"]
    assert run.info.run_name == job_id and run.info.status == "FINISHED"
    assert (anytune_home / "jobs" / job_id).is_dir()  # the run is named by the job it belongs to
    assert run.data.params["learning_rate"] == "0.001" and run.data.params["method"] == "full"
    losses = client.get_metric_history(run.info.run_id, "loss")  # transformers' MLflowCallback, every log
    assert len(losses) >= 2 and len({m.step for m in losses}) == len(losses)
    metrics = json.loads((tmp_path / "runs" / job_id / "metrics.json").read_text())
    assert run.data.metrics["eval_loss_after"] == pytest.approx(metrics["eval_loss_after"])
    assert run.data.metrics["eval_loss_before"] == pytest.approx(metrics["eval_loss_before"])
    assert metrics["tracking"]["mlflow_run_id"] == run.info.run_id
    assert SECRET not in r.stdout + r.stderr + files_text(anytune_home) + files_text(tmp_path / "runs")


@pytest.mark.slow
def test_an_unreachable_tracker_is_reported_and_the_training_goes_on(tiny_model, tiny_data, tmp_path, anytune_home):
    pytest.importorskip("mlflow")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    job = write_job(tmp_path / "job.yaml", tiny_model, tiny_data, {"mlflow": {"tracking_uri": f"http://127.0.0.1:{port}"}})
    r = cli("run", str(job), "--yes", env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert r.returncode == 0, r.stderr
    assert "tracking: mlflow unavailable, training goes on without it" in r.stdout + r.stderr
    (model,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    assert "tracking" not in json.loads((model / "metrics.json").read_text())


@pytest.mark.slow
def test_wandb_offline_writes_the_run_under_the_jobs_logs(tiny_model, tiny_data, tmp_path, anytune_home):
    pytest.importorskip("wandb")
    job = write_job(tmp_path / "job.yaml", tiny_model, tiny_data, {"wandb": {"project": "tiny", "mode": "offline"}})
    r = cli("run", str(job), "--yes", env={"WANDB_API_KEY": SECRET})
    assert r.returncode == 0, r.stderr
    (model,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    tracking = json.loads((model / "metrics.json").read_text())["tracking"]
    run_dir = Path(tracking["wandb_dir"])
    assert run_dir.is_relative_to(anytune_home / "jobs" / model.name) and run_dir.name.startswith("offline-run-")
    assert list(run_dir.glob(f"run-{tracking['wandb_run_id']}.wandb"))  # what `wandb sync` uploads
    records = list(wandb_records(next(run_dir.glob("run-*.wandb"))))
    history = [items(r.history.item) for r in records if r.WhichOneof("record_type") == "history"]
    assert sum("train/loss" in h for h in history) >= 2  # transformers' WandbCallback logged the curve
    summary = {k: v for r in records if r.WhichOneof("record_type") == "summary" for k, v in items(r.summary.update).items()}
    metrics = json.loads((model / "metrics.json").read_text())
    assert summary["eval_loss_after"] == pytest.approx(metrics["eval_loss_after"])
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.run_id == tracking["wandb_run_id"] and run.display_name == model.name
    assert items(run.config.update)["learning_rate"] == 0.001
    assert SECRET not in r.stdout + r.stderr + files_text(tmp_path / "runs")
