"""Killing the real CLI at a named step (anytune.crashpoints) against a provider's stand-in, then letting
fresh processes find what the dead one left: shared by the cloud plugins' crash tests.

    spec_file = write_spec(tmp_path, spec, options)       # the stand-in's options in the spec
    job = kill_and_recover(spec_file, "cloud:created")      # killed there; then fresh processes finish it
    cli("cancel", job["id"])                                # the real CLI, in the test's environment

The environment (ANYTUNE_HOME, the stand-ins' endpoints and fake credentials) is the test's own, as its
fixtures set it: the CLI runs with ``os.environ``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..spec import JobSpec


def write_spec(tmp_path: Path, spec: JobSpec, options: dict[str, Any]) -> Path:
    """``spec`` with ``options`` for its provider, as a file the CLI reads."""
    spec = spec.model_copy(update={"provider_options": {spec.provider: options},
                                   "output_dir": str(tmp_path / "runs" / "{job_id}")})
    path = tmp_path / "job.json"  # JSON is YAML
    path.write_text(spec.model_dump_json(exclude_defaults=True))
    return path


def cli(*args: str, crash: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "ANYTUNE_RETRY_WAIT": "0"}
    env.pop("ANYTUNE_CRASH_AT", None)
    if crash:
        env["ANYTUNE_CRASH_AT"] = crash
    return subprocess.run([sys.executable, "-m", "anytune.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def killed(result: subprocess.CompletedProcess) -> bool:
    return result.returncode == -signal.SIGKILL


def only_job() -> dict[str, Any]:
    """The one job in the store, as a fresh ``anytune jobs --json`` (which reconciles) shows it."""
    result = cli("jobs", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 1, rows
    return rows[0]


def kill_and_recover(spec_file: Path, point: str) -> dict[str, Any]:
    """Submit, killed at ``point``; then what fresh processes make of it: a submit interrupted before the
    provider started anything is resumed (``anytune resume``), one the provider did start is found from
    the job id. Returns the job as ``anytune jobs --json`` shows it after that."""
    died = cli("submit", spec_file, "-y", crash=point)
    assert killed(died), (died.returncode, died.stdout, died.stderr)
    job = only_job()
    if job["state"] == "interrupted":
        resumed = cli("resume", job["id"])
        assert resumed.returncode == 0, resumed.stderr
        job = only_job()
    assert job["state"] not in ("uploading", "launching", "interrupted"), job
    return job
