"""The Python API: the same verbs as the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .spec import JobSpec, load_spec

if TYPE_CHECKING:
    from .store import JobRecord, JobStore
    from .types import CostEstimate, JobStatus, ModelArtifact

# The lifecycle modules (jobs, dispatch, store) load on first use: `import anytune` stays light.


def _spec(spec: JobSpec | str | Path) -> JobSpec:
    return spec if isinstance(spec, JobSpec) else load_spec(spec)


class Job:
    """A submitted job, by id; works from any process."""

    def __init__(self, job_id: str, store: JobStore | None = None):
        from .store import JobStore

        self.store = store or JobStore()
        self.id = self.store.get(job_id).id

    @property
    def record(self) -> JobRecord:
        return self.store.get(self.id)

    def status(self) -> JobStatus | None:
        from . import jobs

        return jobs.refresh(self.id, self.store)[1]

    def logs(self) -> list[str]:
        from . import jobs

        rec = self.record
        return list(jobs.provider_for(rec).logs(rec.handle).lines)

    def wait(self, on_log=None, interval: float | None = None) -> JobRecord:
        from . import jobs

        return jobs.follow(self.id, store=self.store, on_log=on_log, interval=interval)

    def cancel(self) -> JobRecord:
        from . import jobs

        return jobs.cancel(self.id, self.store)

    def retrieve(self, dest: str | Path | None = None) -> ModelArtifact:
        from . import jobs

        return jobs.retrieve(self.id, Path(dest) if dest else None, self.store)

    def __repr__(self) -> str:
        rec = self.record
        return f"Job({self.id!r}, provider={rec.provider!r}, state={rec.state!r})"


def submit(spec: JobSpec | str | Path, *, provider: str | None = None, profile: str | None = None) -> Job:
    """Validate, prepare the data, choose a provider, upload and launch; returns the Job at once."""
    from . import jobs

    sub = jobs.submit(_spec(spec), provider=provider, profile=profile)
    return Job(sub.record.id)


def run(spec: JobSpec | str | Path, *, provider: str | None = None, profile: str | None = None,
        output: str | Path | None = None) -> ModelArtifact:
    """Submit, wait for the end, retrieve. Raises JobFailed when the job does not succeed."""
    job = submit(spec, provider=provider, profile=profile)
    job.wait()
    return job.retrieve(output)


def estimate(spec: JobSpec | str | Path, *, provider: str | None = None, profile: str | None = None) -> CostEstimate:
    """The estimate of the provider the dispatcher would choose."""
    from . import jobs

    return jobs.plan(_spec(spec), provider=provider, profile=profile).viable[0].estimate


def compare(spec: JobSpec | str | Path, **kwargs: Any):
    """Estimates for every installed provider, cheapest first (see anytune.comparison)."""
    from .comparison import compare as _compare

    return _compare(_spec(spec), **kwargs)
