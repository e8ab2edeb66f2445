"""The quickstart, end to end, on a real local Ray cluster through the CLI: `anytune run` submits one Ray
job, Ray Train runs anytune's trainer on 2 CPU workers (gloo; DDP, and DeepSpeed ZeRO-3 in the process group
Ray Train set up), and the model comes back verified."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

QUICKSTART = Path(__file__).resolve().parents[3] / "examples" / "quickstart"


def _anytune(*args: str, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anytune.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "deepspeed_zero3"])
def test_the_quickstart_trains_on_two_ray_train_workers_and_comes_back_verified(strategy, ray_cluster, storage,
                                                                                tmp_path):
    if strategy == "deepspeed_zero3":
        pytest.importorskip("deepspeed", reason="pip install 'anytune[deepspeed]'")
    job = yaml.safe_load((QUICKSTART / "job.yaml").read_text())
    job.update(base_model=str(QUICKSTART / "model"), provider="ray", output_dir=str(tmp_path / "runs" / "{job_id}"),
               provider_options={"ray": {"address": ray_cluster, "storage_path": str(storage), "workers": 2,
                                         "use_gpu": False}})
    job["data"]["train"] = str(QUICKSTART / "support_tickets.csv")
    job["hyperparameters"]["epochs"] = 1
    job["compute"] = {**job.get("compute", {}), "strategy": strategy}
    job["evaluation"] = {"max_examples": 20, "max_new_tokens": 32}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    env = {**os.environ, "ANYTUNE_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}

    run = _anytune("run", str(tmp_path / "job.yaml"), env=env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    jobs = json.loads(_anytune("jobs", "--json", env=env).stdout)
    (record,) = jobs
    assert record["provider"] == "ray" and record["state"] == "succeeded"
    job_id = record["id"]

    # one Ray job, found from the job id alone, and its workers were two processes of one DDP run
    from anytune_ray.provider import RayProvider

    provider = RayProvider({"address": ray_cluster, "storage_path": str(storage)})
    assert provider.find(None, job_id).remote_id == f"anytune-{job_id}"
    out = storage / "jobs" / job_id / "output"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["distributed"] == {"world_size": 2, "strategy": strategy}
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"] - 0.5  # it learned
    logs = _anytune("logs", job_id, env=env).stdout
    assert "2 Ray Train worker(s), CPU each" in logs and "RayTrainWorker" in logs
    workers = [line for line in logs.splitlines() if "RayTrainWorker" in line]
    assert logs.count("eval loss:") == 1 and not any("\x1b[" in line for line in workers), \
        [line for line in workers if "\x1b[" in line][:5]  # once each, plain
    # whole lines (no "[repeated Nx across cluster]"), and Python's warnings in the trainer's warnings file,
    # not in the job's log through the Ray worker's own root handler (torch's C++ warnings still print)
    noise = [line for line in workers if "repeated" in line or re.search(r"\.py:\d+: \w*Warning:", line)]
    assert not noise, noise

    # the model retrieved to the spec's output_dir, checked against its manifest
    model = tmp_path / "runs" / job_id
    manifest = json.loads((model / "anytune-manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} >= {"model.safetensors", "config.json", "tokenizer.json"}
