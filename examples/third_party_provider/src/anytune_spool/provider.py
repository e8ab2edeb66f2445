"""A provider that hands jobs to a spool folder drained by a worker of your own."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

from anytune import (
    Capability,
    CostEstimate,
    CostLine,
    DataRef,
    JobHandle,
    JobState,
    JobStatus,
    LogChunk,
    ModelArtifact,
    Money,
    NotFound,
    Provider,
    ProviderOptions,
    Readiness,
)
from anytune.artifacts import verify_manifest
from anytune.provider import require_succeeded


class SpoolOptions(ProviderOptions):
    dir: Path = Path("spool")
    price_per_hour: Decimal = Decimal("0")
    hours_per_million_tokens: float = 1.0


class SpoolProvider(Provider):
    name = "spool"
    description = "hands jobs to a spool folder drained by your own worker (example plugin)"
    # What it cannot do, with the reason the dispatcher shows; it claims every other Capability.
    unsupported = {Capability.INIT_ADAPTER: "the spool carries the data and the spec, not an adapter folder"}
    ignored = {Capability.SPOT: "your own worker has no spot price"}
    Options = SpoolOptions
    STATE_MAP = {"queued": JobState.QUEUED, "running": JobState.RUNNING, "succeeded": JobState.SUCCEEDED,
                 "failed": JobState.FAILED, "cancelled": JobState.CANCELLED}
    poll_interval = 1.0

    def check(self, spec):
        d = self.options.dir
        if d.exists() and not d.is_dir():
            return Readiness(ready=False, reason=f"{d} is not a folder")
        return Readiness(ready=True, reason=f"spool folder {d.resolve()}")

    def estimate(self, spec, stats):
        hours = stats.train.tokens * spec.hyperparameters.epochs / 1e6 * self.options.hours_per_million_tokens
        line = CostLine(item="worker time", quantity=Decimal(f"{hours:.4f}"), unit="hour",
                        unit_price=Money(amount=self.options.price_per_hour), source="provider_options.spool")
        return CostEstimate(provider=self.name, instance="your worker", hours=hours, lines=(line,))

    def upload(self, spec, data):
        target = self.options.dir / "datasets" / data.content_hash
        sent = 0
        if not (target / "DONE").exists():
            target.mkdir(parents=True, exist_ok=True)
            for split, path in data.files.items():
                shutil.copyfile(path, target / f"{split}.jsonl")
                sent += path.stat().st_size
            (target / "DONE").write_text("")
        uris = {split: str(target / f"{split}.jsonl") for split in data.files}
        return DataRef(provider=self.name, content_hash=data.content_hash, uris=uris, bytes_sent=sent)

    def launch(self, spec, data, job_id, plan=None):
        job = self.options.dir / job_id
        if not (job / "job.json").exists():
            job.mkdir(parents=True, exist_ok=True)
            (job / "job.json").write_text(json.dumps({"spec": spec.model_dump(mode="json"), "data": data.uris}))
            (job / "status").write_text("queued")
        return self.find(spec, job_id)

    def find(self, spec, job_id):
        """The spooled job for ``job_id``, if a launch wrote it (a submit that died is completed through this)."""
        if not (self.options.dir / job_id / "job.json").exists():
            return None
        return JobHandle(provider=self.name, job_id=job_id, remote_id=job_id, extra={"dir": str(self.options.dir)})

    def _job(self, handle) -> Path:
        job = Path(handle.extra.get("dir", self.options.dir)) / handle.remote_id
        if not (job / "status").exists():
            raise NotFound(f"no spooled job {handle.remote_id}", provider=self.name, operation="status")
        return job

    def status(self, handle):
        raw = (self._job(handle) / "status").read_text().strip()
        return JobStatus(state=self.map_state(raw), raw_state=raw)

    def logs(self, handle, cursor=""):
        log = self._job(handle) / "log.txt"
        lines = log.read_text().splitlines() if log.exists() else []
        start = int(cursor or 0)
        return LogChunk(lines=tuple(lines[start:]), cursor=str(len(lines)))

    def cancel(self, handle):
        if not self.status(handle).state.terminal:  # an ended job stays as it ended
            (self._job(handle) / "status").write_text("cancelled")

    def retrieve(self, handle, dest):
        require_succeeded(self.status(handle), f"spool job {handle.job_id}")
        src = self._job(handle) / "model"
        shutil.copytree(src, dest, dirs_exist_ok=True)
        files = verify_manifest(Path(dest))
        return ModelArtifact(kind="adapter", path=str(dest), files=files)
