"""A detached trainer process, followed from any later process through files in its job folder.

    <jobs_dir>/<job_id>/
        launch.lock      taken by the one process that launches this job
        runner.json      {"runner_pid", "trainer_pid", "started_at"}, written by _runner once the trainer started
        handle.json      the JobHandle (written once the process started; makes launch idempotent)
        spec.json        the job spec the trainer reads
        trainer.log      the trainer's stdout and stderr
        status.json      progress, kept fresh by the trainer
        exit.json        {"returncode": N, "ended_at": T, "timed_out": B}, written by _runner when the trainer ends
        cancelled        present once a cancel was asked for
        output/  checkpoints/  tensorboard/
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import _runner

EXIT = "exit.json"
RUNNER = "runner.json"
LOG = "trainer.log"
CANCELLED = "cancelled"


def start(job: Path, trainer_args: list[str], *, python: str, env: dict[str, str], max_seconds: float) -> int:
    """Start ``python -m anytune.trainer ARGS`` under the runner, in its own session; returns its pid."""
    command = [python, _runner.__file__, str(job / EXIT), str(max_seconds), "--",
               python, "-m", "anytune.trainer", *trainer_args]
    with open(job / LOG, "ab") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env, close_fds=True)
    return proc.pid


def _record(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def exit_record(job: Path) -> dict[str, Any] | None:
    return _record(job / EXIT)


def runner_record(job: Path) -> dict[str, Any] | None:
    return _record(job / RUNNER)


def trainer_alive(job: Path) -> bool:
    """Is the job's trainer process still there? It outlives a runner that was killed on its own."""
    record = runner_record(job)
    return bool(record) and isinstance(record.get("trainer_pid"), int) and alive(record["trainer_pid"], job)


def alive(pid: int, job: Path) -> bool:
    """Is ``pid`` still one of this job's processes (its runner or its trainer, whose command lines name the
    job folder)? Reaps it first when it is our own child (same process)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child: started by another process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():  # Linux: a zombie is dead; a recycled pid belongs to someone else
        try:
            if proc.joinpath("stat").read_text().rpartition(")")[2].split()[0] == "Z":
                return False
            cmdline = proc.joinpath("cmdline").read_bytes()
        except (OSError, IndexError):
            return False
        # Empty while the process is still inside execve (right after Popen returns): it is ours.
        return not cmdline or f"{job}/".encode() in cmdline
    return True


def terminate(pid: int, job: Path, grace: float) -> None:
    """SIGTERM to the job's process group; SIGKILL if it is still there after ``grace`` seconds."""
    (job / CANCELLED).touch()
    running = lambda: alive(pid, job) or trainer_alive(job)  # noqa: E731
    if exit_record(job) is not None or not running():
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not running():  # the runner exits right after recording the trainer's exit code
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while running() and time.monotonic() < deadline + 5:
        time.sleep(0.05)


def read_log(job: Path, cursor: str, *, finished: bool, limit: int = 1 << 20) -> tuple[list[str], str]:
    """Complete lines after byte offset ``cursor`` (a partial last line waits unless the job ended)."""
    offset = int(cursor or 0)
    try:
        with open(job / LOG, "rb") as f:
            f.seek(offset)
            data = f.read(limit)
    except FileNotFoundError:
        return [], str(offset)
    if not finished and len(data) < limit:
        data = data[: data.rfind(b"\n") + 1]
    return data.decode("utf-8", "replace").splitlines(), str(offset + len(data))


def python_missing(python: str, modules: tuple[str, ...]) -> list[str] | str:
    """Modules another interpreter cannot import (found without importing them), or why it cannot run."""
    code = ("import importlib.util as u, json, sys\n"
            "print(json.dumps([n for n in sys.argv[1:] if u.find_spec(n) is None]))")
    if python == sys.executable:
        from anytune.trainer.checks import missing_modules

        return missing_modules(modules)
    try:
        out = subprocess.run([python, "-c", code, *modules], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return f"cannot run {python}: {exc.strerror or exc}"
    if out.returncode != 0:
        return f"{python} failed: {out.stderr.strip()[-300:]}"
    return json.loads(out.stdout)
