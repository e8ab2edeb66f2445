"""The Ray provider: anytune's trainer on your own Ray cluster, N workers with Ray Train.

A job is one Ray job (the Ray Jobs API, ``JobSubmissionClient``) whose submission id is
``anytune-<job id>``: status, logs, cancel and a retried launch find it from the job id alone. Its entrypoint
(:mod:`anytune_ray.entry`) runs a Ray Train ``TorchTrainer`` whose workers each run ``anytune.trainer``.

Storage: the prepared data, the spec and every output live under ``storage_path`` (default: this machine's
``<ANYTUNE_HOME>/ray``), a folder the cluster's nodes and this machine both see at the same path: a
cluster on this machine, or a shared filesystem (NFS, a mounted bucket). Layout::

    <storage>/datasets/<content hash>/{train,validation,test}.jsonl   content-addressed: sent once
    <storage>/jobs/<job id>/spec.json, status.json, output/, checkpoints/, tensorboard/

anytune's own source and this plugin travel with each job (``runtime_env.py_modules``), so the cluster
trains with the code that planned the job; the trainer's dependencies (torch, transformers, peft) must be
on the cluster's nodes already, or listed in ``provider_options.ray.pip``.
"""

from __future__ import annotations

import datetime as dt
import shlex
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field

from anytune import atomic, paths
from anytune.artifacts import copy_verified
from anytune.errors import ConfigError, DataError, NotFound, ProviderError, ProviderUnavailable
from anytune.provider import Capability, Provider, ProviderOptions, require_succeeded
from anytune.types import DataRef, JobHandle, JobState, JobStatus, LogChunk, ModelArtifact, Readiness

SPLITS = ("train", "validation", "test")


class RayOptions(ProviderOptions):
    address: str | None = Field(None, pattern=r"^https?://[^\s/]+(/.*)?$", description="The Ray cluster's "
                                "dashboard (Jobs API) address, e.g. http://ray-head:8265.")
    workers: int | None = Field(None, ge=1, le=1024, description="Ray Train workers, one trainer process each "
                                "(default: compute.nodes × compute.gpu_count).")
    use_gpu: bool | None = Field(None, description="A GPU per worker (NCCL); false: CPU workers (gloo). "
                                 "Default: GPUs when the cluster has any.")
    gpu: str | None = Field(None, description="The cluster's GPU type (e.g. A100-80GB), for estimates (default: "
                            "compute.gpu; neither: CPU workers).")
    price_per_gpu_hour: Decimal = Field(Decimal(0), ge=0, description="What a GPU-hour (a CPU worker-hour without "
                                        "GPUs) of the cluster costs you; 0 = already paid for.")
    storage_path: str | None = Field(None, description="A folder the cluster's nodes and this machine share, "
                                     "at the same path (default: <ANYTUNE_HOME>/ray, for a cluster on this machine).")
    pip: list[str] = Field(default_factory=list, description="Packages the job installs on the cluster "
                           "(runtime_env pip), e.g. ['anytune[train]']; default: the nodes have them.")


class RayProvider(Provider):
    name = "ray"
    description = "your own Ray cluster (Ray Jobs API, Ray Train workers)"
    sdk_modules = ("ray",)
    claims = frozenset({Capability.MULTI_NODE})  # Ray places the workers on the cluster's nodes
    unsupported = {
        Capability.INIT_ADAPTER: "the Ray job receives the spec and the data under storage_path, not an adapter "
                                 "folder of this machine; continue training on the local provider",
    }
    ignored = {Capability.SPOT: "the cluster is yours: no spot price, and Ray does not reclaim it"}
    Options = RayOptions
    required_settings = {"address": "http://<ray-head>:8265"}
    poll_interval = 2.0
    STATE_MAP = {"PENDING": JobState.QUEUED, "RUNNING": JobState.RUNNING, "STOPPED": JobState.CANCELLED,
                 "SUCCEEDED": JobState.SUCCEEDED, "FAILED": JobState.FAILED}
    notes = ("trains on your Ray cluster; data and model stay on its storage_path",)

    options: RayOptions

    # --- helpers ---------------------------------------------------------------------------

    @property
    def storage(self) -> Path:
        return Path(self.options.storage_path) if self.options.storage_path else paths.home() / "ray"

    def _job_dir(self, job_id: str) -> Path:
        if not job_id or "/" in job_id or job_id.startswith("."):
            raise ConfigError(f"job id {job_id!r} is not usable as a folder name")
        return self.storage / "jobs" / job_id

    @staticmethod
    def submission_id(job_id: str) -> str:
        return f"anytune-{job_id}"

    def _client(self, operation: str):
        from ray.job_submission import JobSubmissionClient

        if not self.options.address:
            raise ConfigError("the Ray provider needs the cluster's address: provider_options.ray.address "
                              "(its dashboard, e.g. http://ray-head:8265)")
        try:
            return JobSubmissionClient(self.options.address)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ProviderUnavailable(f"no Ray cluster answers at {self.options.address}: {exc}",
                                      provider=self.name, operation=operation) from None

    def _workers(self, spec) -> int:
        return self.options.workers or spec.compute.nodes * spec.compute.gpu_count

    def _use_gpu(self) -> str:
        return "auto" if self.options.use_gpu is None else ("yes" if self.options.use_gpu else "no")

    # --- verbs -----------------------------------------------------------------------------

    def check(self, spec) -> Readiness:
        details = {"address": self.options.address, "storage_path": str(self.storage)}
        try:
            client = self._client("check")
            details["ray"] = client.get_version()
        except ImportError:
            return Readiness(ready=False, reason="the Ray provider needs ray: pip install 'anytune[ray]'",
                             details=details)
        except (ProviderUnavailable, ConfigError) as exc:
            return Readiness(ready=False, reason=str(exc), details=details)
        return Readiness(ready=True, reason=f"Ray cluster at {self.options.address}", details=details)

    def estimate(self, spec, stats):
        from anytune.estimation import plan_machine

        workers = self._workers(spec)
        gpu = self.options.gpu or spec.compute.gpu  # what the cluster has, else what the spec asks of it
        price = self.options.price_per_gpu_hour * workers
        return plan_machine(spec, stats, price, gpu, workers, provider=self.name, machine="the Ray cluster",
                            price_source=f"provider_options.{self.name}.price_per_gpu_hour × {workers} workers",
                            notes=(f"{workers} Ray Train worker(s)",))

    def upload(self, spec, data) -> DataRef:
        """The prepared splits into ``<storage>/datasets/<content hash>/`` (filled under a temporary name,
        then renamed: a folder that exists is complete, and is not sent again)."""
        folder = self.storage / "datasets" / data.content_hash
        sent = 0
        if not folder.is_dir():
            with atomic.directory(folder) as tmp:
                for split, path in data.files.items():
                    src = Path(path)
                    if not src.is_file():
                        raise DataError(f"prepared {split} split {src} is missing", hint="prepare the data again")
                    shutil.copy2(src, tmp / f"{split}.jsonl")
                    sent += src.stat().st_size
        uris = {split: str(folder / f"{split}.jsonl") for split in SPLITS if (folder / f"{split}.jsonl").is_file()}
        return DataRef(provider=self.name, content_hash=data.content_hash, uris=uris, bytes_sent=sent)

    def _request(self, spec, data: DataRef, job_id: str) -> dict[str, Any]:
        import anytune
        import anytune_ray

        job = self._job_dir(job_id)
        argv = ["--spec", str(job / "spec.json")]
        for split in SPLITS:
            if split in data.uris:
                argv += [f"--{split}", data.uris[split]]
        argv += ["--output", str(job / "output"), "--checkpoints", str(job / "checkpoints"),
                 "--tensorboard-dir", str(job / "tensorboard"), "--status", str(job / "status.json")]
        entry = ["python", "-m", "anytune_ray.entry", "--workers", str(self._workers(spec)),
                 "--use-gpu", self._use_gpu(), "--name", self.submission_id(job_id), "--"]
        runtime_env: dict[str, Any] = {
            "py_modules": [str(Path(anytune.__file__).parent), str(Path(anytune_ray.__file__).parent)],
            # the trainer's own lines, once and plain: Ray Train's print patch would log each print a second
            # time, and the driver would colour every worker's prefix
            "env_vars": {"ANYTUNE_JOB_ID": job_id, "PYTHONUNBUFFERED": "1", "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
                         "RAY_COLOR_PREFIX": "0"},
        }
        if self.options.pip:
            runtime_env["pip"] = list(self.options.pip)
        return {"submission_id": self.submission_id(job_id), "entrypoint": shlex.join(entry + argv),
                "runtime_env": runtime_env, "metadata": {"anytune_job_id": job_id, "spec_hash": spec.spec_hash()},
                "entrypoint_num_cpus": 0}

    def dry_run(self, spec, data, job_id, plan=None) -> dict[str, Any]:
        return {"address": self.options.address, **self._request(spec, data, job_id)}

    def launch(self, spec, data: DataRef, job_id: str, plan=None) -> JobHandle:
        found = self.find(spec, job_id)
        if found is not None:
            return found
        job = self._job_dir(job_id)
        job.mkdir(parents=True, exist_ok=True)
        atomic.write_text(job / "spec.json", spec.model_dump_json())
        request = self._request(spec, data, job_id)
        client = self._client("launch")
        try:
            client.submit_job(**request)
        except RuntimeError as exc:
            if "already exists" not in str(exc):
                raise ProviderError(f"Ray refused the job: {exc}", provider=self.name, operation="launch") from None
        return self._handle(job_id)

    def _handle(self, job_id: str) -> JobHandle:
        return JobHandle(provider=self.name, job_id=job_id, remote_id=self.submission_id(job_id),
                         extra={"address": self.options.address, "job_dir": str(self._job_dir(job_id))})

    def find(self, spec, job_id: str) -> JobHandle | None:
        try:
            self._info(job_id, "find")
        except NotFound:
            return None
        return self._handle(job_id)

    def _info(self, job_id: str, operation: str):
        client = self._client(operation)
        try:
            return client.get_job_info(self.submission_id(job_id))
        except RuntimeError as exc:
            if "does not exist" in str(exc) or "404" in str(exc):
                raise NotFound(f"no Ray job {self.submission_id(job_id)} at {self.options.address}",
                               provider=self.name, operation=operation) from None
            raise ProviderError(f"Ray Jobs API: {exc}", provider=self.name, operation=operation) from None

    def status(self, handle: JobHandle) -> JobStatus:
        info = self._info(handle.job_id, "status")
        raw = str(getattr(info.status, "value", info.status))
        state = self.map_state(raw)
        progress = atomic.read_json(self._job_dir(handle.job_id) / "status.json")
        metrics = {k: float(progress[k]) for k in ("step", "total_steps", "epoch", "loss", "eval_loss")
                   if isinstance(progress.get(k), (int, float))}
        message = info.message or ""
        if state is JobState.RUNNING and metrics.get("total_steps"):
            message = f"step {metrics.get('step', 0):.0f}/{metrics['total_steps']:.0f}" + (
                f" loss {metrics['loss']:.3f}" if "loss" in metrics else "")
        if state is JobState.FAILED and progress.get("message"):
            message = str(progress["message"])
        started = _time(info.start_time)
        ended = _time(info.end_time)
        total = metrics.get("total_steps")
        return JobStatus(state=state, raw_state=raw, message=message, metrics=metrics, started_at=started,
                         ended_at=ended, progress=1.0 if state is JobState.SUCCEEDED else (
                             metrics.get("step", 0) / total if total else None),
                         billable_seconds=((ended or dt.datetime.now(dt.UTC)) - started).total_seconds()
                         if started else None)

    def logs(self, handle: JobHandle, cursor: str = "") -> LogChunk:
        if cursor and not cursor.isdigit():
            raise ConfigError(f"bad log cursor {cursor!r} for a Ray job (a character offset)")
        self._info(handle.job_id, "logs")
        text = self._client("logs").get_job_logs(self.submission_id(handle.job_id))
        start = int(cursor or 0)
        new = text[start:]
        complete = new[:new.rfind("\n") + 1]  # whole lines only; the rest comes with the next call
        return LogChunk(lines=tuple(complete.splitlines()), cursor=str(start + len(complete)))

    def cancel(self, handle: JobHandle) -> None:
        info = self._info(handle.job_id, "cancel")
        if self.map_state(str(getattr(info.status, "value", info.status))).terminal:
            return
        self._client("cancel").stop_job(self.submission_id(handle.job_id))

    def retrieve(self, handle: JobHandle, dest: Path) -> ModelArtifact:
        require_succeeded(self.status(handle), f"Ray job {handle.remote_id}")
        return copy_verified(self._job_dir(handle.job_id) / "output", dest)


def _time(ms: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC) if ms else None
