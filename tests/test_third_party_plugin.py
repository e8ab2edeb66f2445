"""A separately installed package adds a provider through the entry point, and nothing else:
it is listed by `anytune providers` and a job is dispatched to it, in fresh processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "third_party_provider"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(EXAMPLE)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (target / "anytune_spool" / "provider.py").exists()
    return target


def run(installed, home, *args, code=None):
    env = {**os.environ, "PYTHONPATH": str(installed), "ANYTUNE_HOME": str(home)}
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "anytune.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_listed_and_dispatched(installed, tmp_path, tiny_model, tiny_data):
    proc = run(installed, tmp_path / "home", "providers")
    assert proc.returncode == 0, proc.stderr
    assert "spool" in proc.stdout and "anytune-spool" in proc.stdout

    spool = tmp_path / "spool"
    job = tmp_path / "job.yaml"
    job.write_text(json.dumps({
        "name": "plug", "base_model": str(tiny_model), "data": {"train": str(tiny_data["train"])},
        "provider": ["nonexistent", "spool"], "provider_options": {"spool": {"dir": str(spool)}},
        "output_dir": str(tmp_path / "out"),
    }))
    proc = run(installed, tmp_path / "home", "submit", str(job))
    assert proc.returncode == 0, proc.stderr
    assert "skipped nonexistent" in proc.stderr and "provider: spool" in proc.stderr
    job_id = proc.stdout.split("submitted ")[1].split()[0]

    # the worker of the spool picks the job up and finishes it (a separate program, in the real world)
    sys.path.insert(0, str(EXAMPLE / "tests"))
    from worker import drain

    drain(spool, job_id)
    proc = run(installed, tmp_path / "home", "retrieve", job_id)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "adapter.json").exists()
    assert "1 files verified" in proc.stdout
