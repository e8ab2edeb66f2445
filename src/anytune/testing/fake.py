"""An in-memory provider for core tests: it goes through the same registry and verbs as a real one.

Jobs live in a process-wide dict and advance one state per ``status`` call. Options let a test make
it unready, over budget or fail at launch, to exercise the dispatcher's fallback; :func:`more_providers`
registers more of them under other names.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Literal

from .. import errors
from ..artifacts import describe_files
from ..hookspecs import hookimpl
from ..provider import Capability, Provider, ProviderOptions, require_succeeded
from ..types import (
    CostEstimate,
    CostLine,
    DataRef,
    JobHandle,
    JobState,
    JobStatus,
    LogChunk,
    ModelArtifact,
    Money,
    Readiness,
)

_JOBS: dict[str, dict] = {}
_STORE: dict[str, set[str]] = {}  # provider instance name -> uploaded content hashes

_ERRORS = {
    "quota": errors.QuotaExceeded,
    "capacity": errors.CapacityUnavailable,
    "auth": errors.AuthError,
    "rate": errors.RateLimited,
    "bad": errors.ProviderError,
}


class FakeOptions(ProviderOptions):
    price_per_hour: Decimal = Decimal("2")
    hours: float = 1.0
    unready: str | None = None  # a reason: check() says not ready
    launch_error: Literal["quota", "capacity", "auth", "rate", "bad"] | None = None
    launch_error_times: int = 1_000_000  # fail this many launches, then succeed
    # "capacity": fails before training for lack of capacity (JobStatus.fallback), as a cloud job can
    end_state: Literal["succeeded", "failed", "cancelled", "capacity"] = "succeeded"
    steps: int = 3  # status calls before the job ends


class FakeProvider(Provider):
    name = "fake"
    description = "in-memory provider for tests"
    unsupported = {Capability.INIT_ADAPTER: "the fake provider keeps no files of this machine"}
    Options = FakeOptions
    STATE_MAP = {"Q": JobState.QUEUED, "R": JobState.RUNNING, "S": JobState.SUCCEEDED,
                 "F": JobState.FAILED, "C": JobState.CANCELLED}
    launches = 0

    def check(self, spec):
        if self.options.unready:
            return Readiness(ready=False, reason=self.options.unready)
        return Readiness(ready=True, reason="in memory")

    def estimate(self, spec, stats):
        line = CostLine(item="fake GPU hours", quantity=Decimal(str(self.options.hours)), unit="hour",
                        unit_price=Money(amount=self.options.price_per_hour), source="test")
        return CostEstimate(provider=self.name, instance="fake.gpu", gpu="FAKE", gpu_count=1,
                            hours=self.options.hours, lines=(line,), spot_total=line.total * "0.3")

    def upload(self, spec, data):
        seen = _STORE.setdefault(self.name, set())
        sent = 0 if data.content_hash in seen else sum(p.stat().st_size for p in data.files.values())
        seen.add(data.content_hash)
        return DataRef(provider=self.name, content_hash=data.content_hash,
                       uris={k: str(v) for k, v in data.files.items()}, bytes_sent=sent)

    def launch(self, spec, data, job_id, plan=None):
        remote = f"{self.name}-{job_id}"
        if remote in _JOBS:
            return _JOBS[remote]["handle"]
        type(self).launches += 1
        if self.options.launch_error and type(self).launches <= self.options.launch_error_times:
            raise _ERRORS[self.options.launch_error]("simulated failure", provider=self.name, operation="launch")
        handle = JobHandle(provider=self.name, job_id=job_id, remote_id=remote)
        _JOBS[remote] = {"handle": handle, "calls": 0, "raw": "Q", "logs": [f"job {job_id} queued"],
                         "data": dict(data.uris), "cancelled": False, "lr": spec.hyperparameters.learning_rate}
        return handle

    def find(self, spec, job_id):
        job = _JOBS.get(f"{self.name}-{job_id}")
        return job["handle"] if job else None

    def status(self, handle):
        job = self._job(handle)
        capacity = self.options.end_state == "capacity"
        if self.map_state(job["raw"]).terminal:
            return JobStatus(state=self.map_state(job["raw"]), raw_state=job["raw"], fallback=capacity)
        job["calls"] += 1
        if job["cancelled"]:
            job["raw"] = "C"
        elif capacity:
            job["raw"] = "F"
            job["logs"].append("CapacityError: no capacity for fake.gpu")
            return JobStatus(state=JobState.FAILED, raw_state="F", message="CapacityError: no capacity for fake.gpu",
                             fallback=True)
        elif job["calls"] >= self.options.steps:
            job["raw"] = {"succeeded": "S", "failed": "F", "cancelled": "C"}[self.options.end_state]
        else:
            job["raw"] = "R"
        job["logs"].append(f"step {job['calls']}: {job['raw']}")
        return JobStatus(state=self.map_state(job["raw"]), raw_state=job["raw"],
                         progress=min(1.0, job["calls"] / self.options.steps),
                         metrics={"eval_loss": _loss(job["lr"], job["calls"]), "eval_step": job["calls"]})

    def logs(self, handle, cursor=""):
        lines = self._job(handle)["logs"]
        start = int(cursor or 0)
        return LogChunk(lines=tuple(lines[start:]), cursor=str(len(lines)))

    def cancel(self, handle):
        self._job(handle)["cancelled"] = True

    def retrieve(self, handle, dest):
        job = self._job(handle)
        require_succeeded(JobStatus(state=self.map_state(job["raw"])), f"fake job {handle.job_id}")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "adapter.txt").write_text(json.dumps({"trained_on": job["data"]}))
        evals = [{"step": n, "eval_loss": _loss(job["lr"], n)} for n in range(1, job["calls"] + 1)]
        (dest / "metrics.json").write_text(json.dumps({"eval_loss_after": evals[-1]["eval_loss"], "eval": evals}))
        train = job["data"].get("train")
        if train and Path(train).exists():
            shutil.copy(train, dest / "seen_train.jsonl")
        return ModelArtifact(kind="adapter", path=str(dest), files=describe_files(dest))

    def _job(self, handle):
        try:
            return _JOBS[handle.remote_id]
        except KeyError:
            raise errors.NotFound(f"no job {handle.remote_id}", provider=self.name) from None


def _loss(lr: float, step: int) -> float:
    """A made-up held-out loss that falls with the steps, lowest for a learning rate of 1e-3."""
    import math

    return round(1 + abs(math.log10(lr) + 3) + 2 / step, 6)


def more_providers(*names: str):
    """A plugin registering more in-memory providers, one FakeProvider subclass per name, for tests of the
    choice and fallback between providers: ``registry.load(extra_plugins=(fake, more_providers("a", "b")))``."""
    for name in names:
        globals().setdefault(f"Fake_{name}", type(f"Fake_{name}", (FakeProvider,), {"name": name}))

    class Plugin:
        @staticmethod
        @hookimpl
        def anytune_register_providers(register):
            for name in names:
                register(name, f"{__name__}:Fake_{name}")

    return Plugin


def reset() -> None:
    _JOBS.clear()
    _STORE.clear()
    FakeProvider.launches = 0


@hookimpl
def anytune_register_providers(register):
    register("fake", "anytune.testing.fake:FakeProvider")


__all__ = ["FakeProvider", "reset"]
