"""The local provider end to end: a job launched by one process is followed, logged, retrieved and
cancelled by another; check/estimate stay light."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from anytune_local.provider import LocalProvider

from anytune.artifacts import sha256_file
from anytune.errors import ConfigError, JobFailed, NotFound
from anytune.testing.imports import run_blocking
from anytune.types import DataStats, JobHandle, JobState, SplitStats

LAUNCH_AND_EXIT = """
import sys
from anytune.data.pipeline import PreparedData
from anytune.spec import JobSpec
from anytune_local.provider import LocalProvider
spec = JobSpec.model_validate_json(open(sys.argv[1]).read())
p = LocalProvider()
ref = p.upload(spec, PreparedData(**__import__("pickle").load(open(sys.argv[2], "rb"))))
print(p.launch(spec, ref, sys.argv[3]).to_json())
"""


def _launch_in_another_process(tmp_path, spec, prepared, job_id) -> JobHandle:
    import dataclasses
    import pickle

    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    with open(tmp_path / "prepared.pkl", "wb") as f:
        pickle.dump({f.name: getattr(prepared, f.name) for f in dataclasses.fields(prepared)}, f)
    proc = subprocess.run([sys.executable, "-c", LAUNCH_AND_EXIT, str(tmp_path / "spec.json"),
                           str(tmp_path / "prepared.pkl"), job_id], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return JobHandle.from_json(proc.stdout.strip().splitlines()[-1])


def _wait(provider, handle, until, timeout=120.0):
    deadline = time.monotonic() + timeout
    while True:
        status = provider.status(handle)
        if until(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def _group_gone(pgid: int, timeout: float = 10.0) -> bool:
    """True once no process of the group exists. The runner was orphaned when its launcher exited, so
    init reaps it; some inits take a second or two, during which it is a zombie."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_job_launched_by_an_exited_process_is_followed_to_the_end(tmp_path, make_job):
    spec, prepared = make_job()
    handle = _launch_in_another_process(tmp_path, spec, prepared, "job-a")  # that process has exited now
    provider = LocalProvider()  # a fresh instance, knowing only the handle
    assert provider.launch(spec, provider.upload(spec, prepared), "job-a") == handle  # idempotent

    lines, cursor, seen_running = [], "", False
    while True:
        status = provider.status(handle)
        seen_running |= status.state is JobState.RUNNING
        chunk = provider.logs(handle, cursor)
        lines += chunk.lines
        cursor = chunk.cursor
        if status.state.terminal:
            break
        time.sleep(0.2)
    lines += provider.logs(handle, cursor).lines
    assert status.state is JobState.SUCCEEDED, (status, lines[-20:])
    assert seen_running and status.progress == 1.0 and status.ended_at >= status.started_at
    assert status.metrics["eval_loss_after"] < status.metrics["eval_loss_before"]
    assert any(line.startswith("eval loss:") for line in lines), lines[-10:]
    assert lines == list(provider.logs(handle).lines)  # read in pieces: no line lost or repeated

    # A handle with no extra (only the job id) works too: everything is on disk under jobs_dir.
    bare = JobHandle(provider="local", job_id="job-a", remote_id=handle.remote_id)
    artifact = LocalProvider().retrieve(bare, tmp_path / "model")
    assert artifact.kind == "full"
    names = {f.path for f in artifact.files}
    assert {"model.safetensors", "tokenizer.json", "metrics.json"} <= names
    for f in artifact.files:
        assert sha256_file(tmp_path / "model" / f.path) == f.sha256


@pytest.mark.slow
def test_cancel_stops_the_whole_process_group(tmp_path, make_job):
    spec, prepared = make_job(epochs=100, sizes={"train": 512, "validation": 16, "test": 0})
    provider = LocalProvider({"cancel_grace_seconds": 20})
    handle = _launch_in_another_process(tmp_path, spec, prepared, "job-c")
    status = _wait(provider, handle, lambda s: s.raw_state == "training" or s.state.terminal)
    assert status.raw_state == "training", status
    assert status.metrics["total_steps"] == 6400
    pid = int(handle.extra["pid"])

    LocalProvider().cancel(handle)
    status = provider.status(handle)
    assert status.state is JobState.CANCELLED, status
    assert _group_gone(pid), "processes of the cancelled job are left"
    job = tmp_path / "home" / "jobs" / "job-c"
    assert json.loads((job / "exit.json").read_text())["returncode"] == 143  # the trainer stopped cleanly
    assert json.loads((job / "status.json").read_text())["state"] == "cancelled"
    with pytest.raises(JobFailed, match="cancelled"):
        provider.retrieve(handle, tmp_path / "nothing")
    provider.cancel(handle)  # cancelling an ended job is a no-op


@pytest.mark.slow
def test_a_failing_trainer_is_failed_with_its_error(tmp_path, make_job):
    spec, prepared = make_job()
    spec = spec.model_copy(update={"base_model": str(tmp_path / "no-such-model")})
    provider = LocalProvider()
    handle = provider.launch(spec, provider.upload(spec, prepared), "job-f")
    status = _wait(provider, handle, lambda s: s.state.terminal)
    assert status.state is JobState.FAILED, status
    assert "no-such-model" in status.message


def test_compute_max_hours_stops_the_trainer(make_job):
    spec, prepared = make_job()
    spec = spec.model_copy(update={"compute": spec.compute.model_copy(update={"max_hours": 0.0003})})  # ~1 s
    provider = LocalProvider()
    handle = provider.launch(spec, provider.upload(spec, prepared), "job-t")
    status = _wait(provider, handle, lambda s: s.state.terminal, timeout=60)
    assert status.state is JobState.FAILED and "compute.max_hours" in status.message, status
    assert any("longer than" in line for line in provider.logs(handle).lines)


def test_killed_runner_is_lost_not_running(tmp_path, make_job):
    """A job whose process vanished without an exit code (SIGKILL, reboot) is failed, not running forever."""
    spec, prepared = make_job()
    provider = LocalProvider({"python": sys.executable})
    handle = provider.launch(spec, provider.upload(spec, prepared), "job-k")
    os.killpg(int(handle.extra["pid"]), signal.SIGKILL)
    status = _wait(provider, handle, lambda s: s.state.terminal, timeout=10)
    assert status.state is JobState.FAILED and status.raw_state == "lost"
    assert "vanished" in status.message


def test_check_and_estimate(make_job):
    spec, _ = make_job()
    ready = LocalProvider().check(spec)
    assert ready.ready, ready
    assert ready.details["device"] == "cpu" and "disk_free" in ready.details
    assert "CUDA GPU" in LocalProvider().check(spec.model_copy(update={"method": "qlora"})).reason
    liger = spec.model_copy(update={"hyperparameters": spec.hyperparameters.model_copy(update={"liger": True})})
    assert "Set liger: false" in LocalProvider().check(liger).reason
    assert "no NVIDIA GPU" in LocalProvider({"device": "cuda"}).check(spec).reason
    assert "cannot run" in LocalProvider({"python": "/no/such/python"}).check(spec).reason

    stats = DataStats(splits={"train": SplitStats(examples=20_000, tokens=4_000_000)})
    free = LocalProvider().estimate(spec, stats)
    assert free.provider == "local" and free.total.amount == 0 and free.hours > 0
    paid = LocalProvider({"price_per_hour": "2.50"}).estimate(spec, stats)
    assert paid.hours == free.hours and paid.total.amount == paid.lines[0].quantity * Decimal("2.50") > 0


def test_options_and_unknown_jobs():
    with pytest.raises(ConfigError, match="device"):
        LocalProvider({"device": "tpu"})
    with pytest.raises(NotFound):
        LocalProvider().status(JobHandle(provider="local", job_id="never-launched", remote_id="pid-1"))
    with pytest.raises(ConfigError, match="folder name"):
        LocalProvider().status(JobHandle(provider="local", job_id="../escape", remote_id="x"))


def test_registry_and_check_do_not_import_torch(make_job, tmp_path):
    spec, _ = make_job()
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    code = f"""
import sys
from anytune import registry
provider = registry.create("local")
from anytune.spec import JobSpec
result = provider.check(JobSpec.model_validate_json(open({str(tmp_path / "spec.json")!r}).read()))
print(result.ready, result.reason)
"""
    proc = run_blocking(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("False") and "torch" in proc.stdout  # blocked = not importable, said plainly
    light = subprocess.run([sys.executable, "-c", code + "print(sorted({'torch', 'transformers'} & set(sys.modules)))"],
                           capture_output=True, text=True, timeout=60)
    assert light.returncode == 0, light.stderr
    assert light.stdout.startswith("True") and light.stdout.strip().endswith("[]")


def test_visible_devices_pins_a_job_to_its_gpus(tmp_path, monkeypatch, make_job):
    """`anytune serve --gpus N` runs one job per GPU through this option: the plan sees only those GPUs
    and the trainer process gets them as CUDA_VISIBLE_DEVICES."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, NVIDIA L4, 23034, 22000'\necho '1, NVIDIA A100-SXM4-80GB, 81920, 80000'\n")
    seen = tmp_path / "env.txt"
    python = bin_dir / "python"  # stands in for the interpreter: records what the runner and trainer were given
    python.write_text(f"#!/bin/sh\necho \"$CUDA_VISIBLE_DEVICES\" >> {seen}\n")
    for f in (smi, python):
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    spec, prepared = make_job()

    assert [g.name for g in LocalProvider()._gpus()] == ["NVIDIA L4", "NVIDIA A100-SXM4-80GB"]
    pinned = LocalProvider({"visible_devices": "1", "python": str(python)})
    assert [g.name for g in pinned._gpus()] == ["NVIDIA A100-SXM4-80GB"]
    est = pinned.estimate(spec, prepared.stats)
    assert (est.gpu_count, est.gpu) == (1, "A100-80GB"), est
    pinned.launch(spec, pinned.upload(spec, prepared), "job-pinned")
    deadline = time.time() + 10
    while not seen.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert seen.read_text().split() == ["1"]
    with pytest.raises(ConfigError, match="visible_devices"):
        LocalProvider({"visible_devices": "0;rm -rf /"})


def test_the_trainer_gets_no_cloud_credentials(tmp_path, monkeypatch, make_job):
    seen = tmp_path / "env.txt"
    python = tmp_path / "python"  # stands in for the interpreter: dumps the environment it was given
    python.write_text(f"#!/bin/sh\nenv >> {seen}\n")
    python.chmod(0o755)
    canaries = {"AWS_SECRET_ACCESS_KEY": "canary-aws", "AZURE_CLIENT_SECRET": "canary-azure",
                "GOOGLE_APPLICATION_CREDENTIALS": "/canary/gcp.json", "OPENAI_API_KEY": "sk-canary",
                "ANYTUNE_SERVE_API_KEYS": "canary-serve-key"}
    for k, v in {**canaries, "HF_TOKEN": "hf_needed", "MY_SETTING": "mine"}.items():
        monkeypatch.setenv(k, v)
    spec, prepared = make_job()
    provider = LocalProvider({"python": str(python), "pass_env": ["MY_SETTING"]})
    provider.launch(spec, provider.upload(spec, prepared), "job-env")
    deadline = time.time() + 10
    while not seen.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    env = seen.read_text()
    assert not [v for v in canaries.values() if v in env], "a cloud credential reached the trainer"
    assert "HF_TOKEN=hf_needed" in env and "MY_SETTING=mine" in env and "PATH=" in env
