"""The local provider: anytune's trainer on this machine (CPU or its GPUs), as a detached process.

Everything a later process needs to follow a job is on disk under ``anytune.paths.jobs_dir()/<job_id>/``
(see :mod:`anytune_local._process`), so status, logs, cancel and retrieve work after the submitting
process has exited. Nothing here imports torch: the trainer does, in its own process.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from anytune import atomic, paths
from anytune.artifacts import MANIFEST, copy_verified
from anytune.crashpoints import crashpoint
from anytune.errors import ConfigError, DataError, NotFound, ProviderError
from anytune.provider import Capability, Provider, ProviderOptions, require_succeeded
from anytune.trainer import checkpoints
from anytune.types import DataRef, JobHandle, JobState, JobStatus, LogChunk, ModelArtifact, Readiness

from . import _machine, _process

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MIN_FREE_DISK = 2**30
_RUNNING = ("starting", "loading", "evaluating", "training", "saving", "cancelling")


class LocalOptions(ProviderOptions):
    price_per_hour: Decimal = Field(Decimal(0), ge=0, description="What an hour of this machine costs you (on-prem).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = the GPUs when there are any.")
    visible_devices: str | None = Field(None, pattern=r"^\d+(,\d+)*$", description="GPU indices this job may "
                                        "use, e.g. 0 or 0,1 (default: every GPU; `anytune serve` pins one per job).")
    python: str | None = Field(None, description="Interpreter that runs the trainer (default: this one).")
    pass_env: list[str] = Field(default_factory=list, description="More environment variables the trainer gets "
                                "(it gets only what training needs: no cloud credentials).")
    cancel_grace_seconds: float = Field(10.0, ge=0, description="SIGTERM, then SIGKILL after this long.")


class LocalProvider(Provider):
    name = "local"
    fetches_hub_models = False  # it trains here: the base model must be here, or downloadable from here
    description = "this machine (CPU or its NVIDIA GPUs); the trainer runs in a background process"
    # Everything else it can do; how many GPUs this machine has is check()'s to say.
    ignored = {Capability.SPOT: "it trains on this machine, which has no spot price and nothing to interrupt"}
    Options = LocalOptions
    poll_interval = 1.0  # a local status read is a file read
    STATE_MAP = {
        "starting": JobState.QUEUED, "loading": JobState.RUNNING, "evaluating": JobState.RUNNING,
        "training": JobState.RUNNING, "saving": JobState.RUNNING, "cancelling": JobState.STOPPING,
        "succeeded": JobState.SUCCEEDED, "failed": JobState.FAILED, "cancelled": JobState.CANCELLED,
        "lost": JobState.FAILED,  # the process vanished without an exit code (killed, machine rebooted)
    }
    notes = ("data and model stay on this machine",)

    options: LocalOptions

    # --- helpers ---------------------------------------------------------------------------

    @property
    def python(self) -> str:
        return self.options.python or sys.executable

    def _gpus(self) -> list[_machine.Gpu]:
        return [] if self.options.device == "cpu" else _machine.gpus(visible=self.options.visible_devices)

    @staticmethod
    def _job_dir(handle_or_id: JobHandle | str) -> Path:
        if isinstance(handle_or_id, JobHandle):
            if handle_or_id.extra.get("job_dir"):
                return Path(handle_or_id.extra["job_dir"])
            handle_or_id = handle_or_id.job_id
        if not _JOB_ID.match(handle_or_id):
            raise ConfigError(f"job id {handle_or_id!r} is not usable as a folder name")
        return paths.jobs_dir() / handle_or_id

    def _known(self, handle: JobHandle) -> Path:
        job = self._job_dir(handle)
        if not (job / "handle.json").exists():
            raise NotFound(f"no local job {handle.job_id} (looked in {job})", provider=self.name, operation="status")
        return job

    # --- verbs -----------------------------------------------------------------------------

    def check(self, spec) -> Readiness:
        from anytune.trainer.checks import TRAIN_DEPS, check_spec

        gpus = self._gpus()
        details = {"device": f"{len(gpus)}× {gpus[0].name}" if gpus else "cpu", "python": self.python,
                   "memory_available": _machine.gib(_machine.available_memory_bytes())}
        if gpus:
            details["gpu_memory_free"] = ", ".join(f"{g.memory_free_mb / 1024:.1f} GiB" for g in gpus)
        disk = _machine.free_disk_bytes(paths.jobs_dir())
        details["disk_free"] = _machine.gib(disk)
        if self.options.device == "cuda" and not gpus:
            return Readiness(ready=False, reason="device: cuda, but no NVIDIA GPU is visible (nvidia-smi)",
                             details=details)
        deps = TRAIN_DEPS + (("peft",) if spec.method != "full" else ())
        missing = _process.python_missing(self.python, deps)
        if isinstance(missing, str):
            return Readiness(ready=False, reason=missing, details=details)
        if missing:
            return Readiness(ready=False, reason=f"{self.python} cannot import {', '.join(missing)}: "
                             "pip install 'anytune[local]'", details=details)
        problem = check_spec(spec, cuda=bool(gpus))
        if problem:
            return Readiness(ready=False, reason=problem, details=details)
        if disk < MIN_FREE_DISK:
            return Readiness(ready=False, reason=f"only {_machine.gib(disk)} free under {paths.jobs_dir()}",
                             details=details)
        if not Path(spec.base_model).exists():
            details["base_model"] = "not a local folder: loaded from the Hugging Face Hub (or its cache)"
        return Readiness(ready=True, reason=f"trains on {details['device']}", details=details)

    def estimate(self, spec, stats):
        from anytune.estimation import plan_machine

        gpus = self._gpus()
        notes = ("multi-GPU runs use torchrun, one process per visible GPU",) if len(gpus) > 1 else ()
        return plan_machine(spec, stats, self.options.price_per_hour, gpus[0].name if gpus else None, len(gpus),
                            provider=self.name, price_source=f"provider_options.{self.name}.price_per_hour",
                            notes=notes, cpu_memory_bytes=None if gpus else _machine.available_memory_bytes())

    def upload(self, spec, data) -> DataRef:
        uris = {}
        for split, path in data.files.items():
            p = Path(path).absolute()
            if not p.is_file():
                raise DataError(f"prepared {split} split {p} is missing", hint="prepare the data again")
            uris[split] = str(p)
        return DataRef(provider=self.name, content_hash=data.content_hash, uris=uris, bytes_sent=0)

    def _trainer_args(self, job: Path, data: DataRef) -> list[str]:
        args = ["--spec", str(job / "spec.json")]
        for split in ("train", "validation", "test"):
            if split in data.uris:
                args += [f"--{split}", data.uris[split]]
        return args + ["--output", str(job / "output"), "--checkpoints", str(job / "checkpoints"),
                       "--logs", str(job / "tensorboard"), "--status", str(job / "status.json")]

    def dry_run(self, spec, data, job_id, plan=None) -> dict[str, Any]:
        job = self._job_dir(job_id)
        return {"provider": self.name, "job_id": job_id, "job_dir": str(job), "device": self.options.device,
                "command": [self.python, "-m", "anytune.trainer", *self._trainer_args(job, data)]}

    def launch(self, spec, data: DataRef, job_id: str, plan=None) -> JobHandle:
        job = self._job_dir(job_id)
        handle_file = job / "handle.json"
        if handle_file.exists():
            return JobHandle.from_json(handle_file.read_text())
        job.mkdir(parents=True, exist_ok=True)
        if not _take_lock(job / "launch.lock"):  # one launcher per job id, even across processes
            found = self.find(spec, job_id)
            if found is not None:
                return found
            raise ProviderError(f"job {job_id} is being launched by another process", provider=self.name,
                                operation="launch", retryable=True)
        (job / "spec.json").write_text(spec.model_dump_json())
        env = {**trainer_env(os.environ, self.options.pass_env), "ANYTUNE_JOB_ID": job_id, "PYTHONUNBUFFERED": "1"}
        if self.options.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        elif self.options.visible_devices:
            env["CUDA_VISIBLE_DEVICES"] = self.options.visible_devices
        try:
            pid = _process.start(job, self._trainer_args(job, data), python=self.python, env=env,
                                 max_seconds=spec.compute.max_hours * 3600)
        except OSError as exc:
            (job / "launch.lock").unlink(missing_ok=True)
            raise ProviderError(f"cannot start {self.python}: {exc.strerror or exc}", provider=self.name,
                                operation="launch") from exc
        crashpoint("local:started")
        return _record_handle(job, job_id, pid, dt.datetime.now(dt.UTC))

    def resume(self, spec, data: DataRef, handle: JobHandle, plan=None) -> JobHandle:
        """The same job folder, a new trainer process: it resumes from the newest checkpoint in
        ``checkpoints/`` (the trainer checks that they are this spec's). The ended attempt's records move to
        ``attempts/<n>/``; the log goes on in trainer.log."""
        job = self._known(handle)
        state = self.status(handle).state
        if not state.terminal or state is JobState.SUCCEEDED:
            raise ConfigError(f"local job {handle.job_id} is {state.value}: only a failed or cancelled job resumes")
        if not checkpoints.complete(job / "checkpoints"):
            raise ConfigError(f"local job {handle.job_id} left no checkpoint in {job / 'checkpoints'}; "
                              "submit the spec again")
        earlier = list((job / "attempts").glob("*")) if (job / "attempts").is_dir() else []
        attempt = job / "attempts" / str(len(earlier) + 1)
        attempt.mkdir(parents=True)
        for name in ("handle.json", _process.RUNNER, _process.EXIT, _process.CANCELLED, "status.json", "launch.lock"):
            if (job / name).exists():
                os.replace(job / name, attempt / name)
        return self.launch(spec, data, handle.job_id, plan)

    def find(self, spec, job_id: str) -> JobHandle | None:
        """From the job folder: the recorded handle, else what the runner recorded once the trainer started
        (a launcher that died before writing the handle leaves that)."""
        job = self._job_dir(job_id)
        if (job / "handle.json").exists():
            return JobHandle.from_json((job / "handle.json").read_text())
        if not (job / "launch.lock").exists():
            return None
        deadline = time.monotonic() + 5  # a runner that was started writes its record at once
        while (record := _process.runner_record(job)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if record is None:
            return None
        return _record_handle(job, job_id, int(record["runner_pid"]),
                              dt.datetime.fromtimestamp(float(record["started_at"]), dt.UTC))

    def status(self, handle: JobHandle) -> JobStatus:
        job = self._known(handle)
        handle = JobHandle.from_json((job / "handle.json").read_text())
        pid = int(handle.extra["pid"])
        ended = _process.exit_record(job)
        cancelled = (job / _process.CANCELLED).exists()
        progress = atomic.read_json(job / "status.json")
        if ended is not None:
            code = ended["returncode"]
            raw = "succeeded" if code == 0 else "cancelled" if cancelled else "failed"
        elif _process.alive(pid, job) or _process.trainer_alive(job):  # the trainer outlives a killed runner
            raw = "cancelling" if cancelled else progress.get("state", "starting")
            if raw not in _RUNNING:
                raw = "saving"  # the trainer wrote its final state and is exiting
        elif progress.get("state") == "succeeded" and (job / "output" / MANIFEST).exists():
            raw = "succeeded"  # the runner died before it could record the exit; the trainer finished well
        elif progress.get("state") == "failed":
            raw = "failed"
        else:
            raw = "cancelled" if cancelled else "lost"
        state = self.map_state(raw)
        message = ""
        if raw == "training" and progress.get("total_steps"):
            loss = progress.get("loss")
            message = f"step {progress.get('step', 0)}/{progress['total_steps']}" + (
                f" loss {loss:.3f}" if isinstance(loss, (int, float)) else "")
        elif state is JobState.RUNNING:
            message = raw
        if state is JobState.FAILED:
            message = ("stopped: it ran longer than compute.max_hours" if ended and ended.get("timed_out") else
                       progress.get("message") or _last_error(job)) or (
                f"exit code {ended['returncode']}" if ended else "the trainer process vanished without an exit code")
        metrics = {k: float(progress[k]) for k in ("step", "total_steps", "epoch", "loss", "eval_loss", "eval_step")
                   if isinstance(progress.get(k), (int, float))}
        if state is JobState.SUCCEEDED:
            final = atomic.read_json(job / "output" / "metrics.json")
            metrics.update({k: float(final[k]) for k in ("eval_loss_before", "eval_loss_after", "test_loss",
                                                          "tokens_per_second") if isinstance(final.get(k), (int, float))})
        total = metrics.get("total_steps")
        started = dt.datetime.fromisoformat(handle.extra["started_at"])
        ended_at = dt.datetime.fromtimestamp(ended["ended_at"], dt.UTC) if ended else None
        return JobStatus(
            state=state, raw_state=raw, message=message, metrics=metrics,
            progress=1.0 if state is JobState.SUCCEEDED else (metrics.get("step", 0) / total if total else None),
            started_at=started, ended_at=ended_at,
            billable_seconds=((ended_at or dt.datetime.now(dt.UTC)) - started).total_seconds())

    def logs(self, handle: JobHandle, cursor: str = "") -> LogChunk:
        job = self._known(handle)
        if cursor and not cursor.isdigit():
            raise ConfigError(f"bad log cursor {cursor!r} for a local job (a byte offset)")
        lines, nxt = _process.read_log(job, cursor, finished=_process.exit_record(job) is not None)
        return LogChunk(lines=tuple(lines), cursor=nxt)

    def cancel(self, handle: JobHandle) -> None:
        job = self._known(handle)
        pid = int(JobHandle.from_json((job / "handle.json").read_text()).extra["pid"])
        _process.terminate(pid, job, self.options.cancel_grace_seconds)

    def retrieve(self, handle: JobHandle, dest: Path) -> ModelArtifact:
        require_succeeded(self.status(handle), f"local job {handle.job_id}")
        return copy_verified(self._job_dir(handle) / "output", dest)


# What the trainer gets of this process's environment: what Python, PyTorch, CUDA, Hugging Face and the
# system need. Cloud credentials (AWS_*, AZURE_*, GOOGLE_*, OPENAI_*) and serve's keys stay behind.
TRAINER_ENV = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TEMP", "TMP",
    "VIRTUAL_ENV", "CONDA_PREFIX", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHASHSEED", "HTTP_PROXY",
    "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "ANYTUNE_HOME", "ANYTUNE_CONFIG_DIR", "ANYTUNE_CRASH_AT"})
TRAINER_ENV_PREFIXES = ("LC_", "HF_", "HUGGING_FACE_", "TRANSFORMERS_", "TOKENIZERS_", "TORCH", "PYTORCH_", "CUDA",
                        "NVIDIA_", "NCCL_", "OMP_", "MKL_", "OPENBLAS_", "KMP_", "XDG_", "ACCELERATE_", "TRITON_",
                        "BNB_", "ANYTUNE_TRAINER_",
                        "MLFLOW_", "WANDB_")  # tracking: the tracker's settings and credentials


def trainer_env(environ: dict[str, str], extra: list[str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k in TRAINER_ENV or k.startswith(TRAINER_ENV_PREFIXES) or k in extra}


def _record_handle(job: Path, job_id: str, pid: int, started: dt.datetime) -> JobHandle:
    handle = JobHandle(provider=LocalProvider.name, job_id=job_id, remote_id=f"pid-{pid}", extra={
        "job_dir": str(job), "pid": str(pid), "started_at": started.isoformat()})
    atomic.write_text(job / "handle.json", handle.to_json())
    return handle


def _take_lock(lock: Path) -> bool:
    """Create ``lock`` holding this process's pid; a lock left by a process that is gone is taken over."""
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if _lock_held(lock):
                return False
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        return True
    return False


def _lock_held(lock: Path) -> bool:
    """Whether the process that took ``lock`` is alive (an empty lock is being written: held)."""
    try:
        text = lock.read_text().strip()
    except FileNotFoundError:
        return False
    if not text.isdigit():
        return True
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _last_error(job: Path) -> str:
    """The trainer's last "error: ..." line, or the last line of a traceback."""
    lines, _ = _process.read_log(job, "0", finished=True)
    for line in reversed(lines[-200:]):
        if line.startswith("error: ") or (line and not line.startswith(" ") and "Error" in line.split(":")[0]):
            return line.removeprefix("error: ")
    return ""
