"""The job lifecycle, owned by core: submit (prepare -> plan -> upload -> launch), refresh, follow, cancel,
retrieve. Every step is recorded in the job store, so any later process can pick the job up."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import atomic, dispatch
from .crashpoints import crashpoint
from .errors import AnytuneError, ConfigError, JobFailed, JobNotReady
from .profiles import load_profile
from .spec import JobSpec
from .store import BEFORE_LAUNCH, INTERRUPTED, LAUNCHING, UPLOADING, JobRecord, JobStore
from .types import JobState, JobStatus, ModelArtifact

if TYPE_CHECKING:
    from .data import PreparedData
    from .provider import Provider


def prepare_data(spec: JobSpec, progress: bool = False) -> PreparedData:
    from .data import prepare

    return prepare(spec, progress=progress)


def plan(spec: JobSpec, *, provider: str | None = None, profile: str | None = None) -> dispatch.Plan:
    """The provider choice ``submit`` would make for ``spec`` (data prepared, every candidate estimated and
    checked), without writing or sending anything."""
    spec = dispatch.provider_choice(spec, provider)
    return dispatch.plan(spec, prepare_data(spec).stats, load_profile(profile))


@dataclass
class Submission:
    record: JobRecord | None
    plan: dispatch.Plan
    prepared: PreparedData
    dry_run: dict[str, Any] | None = None
    missing_settings: list[str] = field(default_factory=list)  # shown as placeholders in the dry run


def submit(spec: JobSpec, *, provider: str | None = None, profile: str | None = None, dry_run: bool = False,
           store: JobStore | None = None, progress: bool = False,
           on_plan: Callable[[dispatch.Plan], None] | None = None,
           trial: tuple[str, dict[str, Any]] | None = None) -> Submission:
    """Validate and prepare the data, choose a provider, upload and launch. Returns at once after launch.
    ``trial``: (sweep id, {"index", "params"}) of the sweep trial this job is, recorded with it from the start.

    Everything that can fail on bad input (spec, data, provider name, budget) fails before anything is
    written to the job store or sent anywhere."""
    store = store or JobStore()
    if spec.sweep is not None:
        raise ConfigError("this spec has a sweep: block: run its trials with `anytune sweep`, or remove the "
                          "block to train it once")
    spec = dispatch.provider_choice(spec, provider)
    prof = load_profile(profile)
    prepared = prepare_data(spec, progress=progress)
    plan = dispatch.plan(spec, prepared.stats, prof, check=not dry_run)
    if on_plan:
        on_plan(plan)
    job_id = JobStore.new_id(spec.name)
    if dry_run:
        first = plan.viable[0]
        ref = _dry_ref(first.provider, prepared)
        provider, missing = first.provider.with_placeholders()
        return Submission(None, plan, prepared, provider.dry_run(spec, ref, job_id, plan=first.estimate),
                          missing_settings=missing)

    first = plan.viable[0]
    rec = store.create(id=job_id, name=spec.name, provider=first.name, spec_json=spec.model_dump_json(),
                       spec_hash=spec.spec_hash(), data_hash=prepared.content_hash, data_dir=str(prepared.directory),
                       state=UPLOADING, profile=profile or "", choice_json=json.dumps(plan.record()),
                       estimate_json=first.estimate.to_json() if first.estimate else None, submitter=_me(),
                       **({"sweep_id": trial[0], "trial_json": json.dumps(trial[1])} if trial else {}))
    crashpoint("submit:recorded")

    try:
        chosen, handle = dispatch.run_with_fallback(plan, lambda cand: _launch(spec, cand, prepared, job_id, store))
    except AnytuneError as exc:
        store.update(job_id, state=JobState.FAILED.value, error=str(exc), choice_json=json.dumps(plan.record()))
        raise
    rec = store.update(job_id, provider=chosen.name, handle_json=handle.to_json(), state=JobState.QUEUED.value,
                       launched_at=_now(), choice_json=json.dumps(plan.record()), submitter="")
    return Submission(rec, plan, prepared)


def _launch(spec: JobSpec, cand: dispatch.Candidate, prepared: PreparedData, job_id: str, store: JobStore):
    """Upload and launch on one candidate. The plan it launches with (the hardware the user was shown) is the
    estimate recorded on the job first, so the record says what runs."""
    rec = store.update(job_id, provider=cand.name, state=UPLOADING,
                       estimate_json=cand.estimate.to_json() if cand.estimate else None)
    ref = cand.provider.upload(spec, prepared)
    crashpoint("submit:uploaded")
    store.update(job_id, state=LAUNCHING)
    handle = cand.provider.launch(spec, ref, job_id, plan=rec.estimate)
    crashpoint("submit:launched")
    return handle


def _fall_back(rec: JobRecord, status: JobStatus, store: JobStore) -> JobRecord | str:
    """The job failed before training for a reason the next candidates may not have (``status.fallback``):
    check, estimate and launch it on the first of them that is still viable, as ``submit`` would have.
    Returns the moved job's record, else why it did not move ("" when no candidate was left)."""
    from .data import load_prepared

    why = f"failed after launch: {status.message or status.raw_state}"
    choice = [{**c, "skipped": why} if c["provider"] == rec.provider and not c["skipped"] else c for c in rec.choice]
    tried = [c["provider"] for c in rec.choice if not c["skipped"]]
    later = tried[tried.index(rec.provider) + 1:] if rec.provider in tried else []
    if not later:
        store.update(rec.id, choice_json=json.dumps(choice))
        return ""
    spec = rec.spec.with_provider(later[0] if len(later) == 1 else later)
    try:
        prepared = load_prepared(Path(rec.data_dir))
        plan = dispatch.plan(spec, prepared.stats, load_profile(rec.profile or None))
        chosen, handle = dispatch.run_with_fallback(plan, lambda cand: _launch(spec, cand, prepared, rec.id, store))
    except AnytuneError as exc:
        store.update(rec.id, choice_json=json.dumps(choice))
        return f"no fallback: {exc}"
    choice = [c for c in choice if c["provider"] not in later] + plan.record()
    return store.update(rec.id, provider=chosen.name, handle_json=handle.to_json(), state=JobState.QUEUED.value,
                        launched_at=_now(), log_cursor="", choice_json=json.dumps(choice),
                        message=f"{rec.provider} {why}; moved to {chosen.name}")


def _dry_ref(provider: Provider, prepared: PreparedData):
    from .types import DataRef

    return DataRef(provider=provider.name, content_hash=prepared.content_hash,
                   uris={k: f"<{provider.name} storage>/datasets/{prepared.content_hash}/{k}.jsonl"
                         for k in prepared.files})


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --- reconciliation: a submit that died ----------------------------------------------------------

def _started(pid: int) -> str:
    """When process ``pid`` started (Linux: clock ticks since boot), so a reused pid is not taken for it."""
    try:
        return open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""


def _me() -> str:
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": _started(os.getpid())})


def submitter_alive(rec: JobRecord) -> bool | None:
    """Whether the process submitting ``rec`` still runs: True, False, or None when it is on another host
    (it may be alive; only that host can tell). A record without a submitter predates the lease: gone."""
    return process_alive(rec.submitter)


def process_alive(who_json: str) -> bool | None:
    """Whether the process that ``_me()`` described as ``who_json`` still runs (None: on another host)."""
    try:
        who = json.loads(who_json) if who_json else {}
    except ValueError:
        who = {}
    if not who:
        return False
    if who.get("host") != socket.gethostname():
        return None
    pid = who.get("pid")
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, TypeError, ValueError):
        return False
    except PermissionError:
        pass
    return not who.get("since") or who["since"] == _started(int(pid))


def reconcile(rec: JobRecord, store: JobStore) -> JobRecord:
    """Complete or close a record that its submitter left before launch (killed, crashed, machine lost).
    A job the provider did start is found from the job id (``Provider.find``) and followed from there;
    otherwise the record says the submit was interrupted and nothing runs. A live submit is left alone."""
    if rec.handle_json or rec.state not in BEFORE_LAUNCH or submitter_alive(rec) is not False:
        return rec
    who = json.loads(rec.submitter) if rec.submitter else {}
    by = f"the submitting process (pid {who['pid']})" if who.get("pid") else "the submitting process"
    handle = None
    if rec.state == LAUNCHING:
        try:
            handle = provider_for(rec, launched=False).find(rec.spec, rec.id)
        except AnytuneError as exc:  # cannot ask now: say so, try again at the next look
            return store.update(rec.id, message=f"{by} ended while launching; cannot ask {rec.provider} "
                                                f"whether the job started: {exc}")
    if handle is not None:
        return store.update(rec.id, handle_json=handle.to_json(), state=JobState.QUEUED.value, launched_at=_now(),
                            submitter="", message=f"recovered: {by} ended after {rec.provider} started the job")
    why = f"interrupted: {by} ended while {rec.state}; nothing was started on {rec.provider}, nothing is charged"
    return store.update(rec.id, state=INTERRUPTED, submitter="", message=why,
                        error=why + "; submit the spec again")


def provider_for(rec: JobRecord, launched: bool = True) -> Provider:
    if launched and not rec.handle_json:
        raise JobNotReady(f"job {rec.id} never reached a provider ({rec.state}: {rec.error or rec.message})")
    return dispatch.make_provider(rec.spec, rec.provider, load_profile(rec.profile or None))


def refresh(job_id: str, store: JobStore | None = None, provider: Provider | None = None
            ) -> tuple[JobRecord, JobStatus | None]:
    """Ask the provider for the job's state, record it, and stop the job if it has run past its budget.
    ``provider``: the job's provider, already made (``follow`` keeps one for all its polls)."""
    store = store or JobStore()
    rec = reconcile(store.get(job_id), store)
    if rec.terminal or not rec.handle_json:
        return rec, None
    provider = provider if provider is not None and provider.name == rec.provider else provider_for(rec)
    status = provider.status(rec.handle)
    values: dict[str, Any] = {"state": status.state.value, "message": status.message}
    if status.state is JobState.FAILED and status.fallback:
        moved = _fall_back(rec, status, store)
        if isinstance(moved, JobRecord):
            return moved, None
        values["message"] = "; ".join(m for m in (status.message, moved) if m)
    over = _over_budget(rec, status)
    if over and not status.state.terminal:
        provider.cancel(rec.handle)
        values["message"] = over
        values["error"] = over
    if status.state.terminal:
        values["actual_json"] = json.dumps(_actual(rec, status))
    return store.update(rec.id, **values), status


def _hours_since(iso: str) -> float:
    if not iso:
        return 0.0
    return (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(iso)).total_seconds() / 3600


def _hourly(rec: JobRecord) -> Decimal | None:
    est = rec.estimate
    if est is None or est.hours <= 0:
        return None
    total = est.planned_total(rec.spec.compute.spot).amount
    return total / Decimal(str(est.hours))


def _over_budget(rec: JobRecord, status: JobStatus) -> str:
    budget = rec.spec.budget.max_usd
    hourly = _hourly(rec)
    if budget is None or hourly is None or hourly == 0:
        return ""
    spent = hourly * Decimal(str(_hours_since(rec.launched_at)))
    if spent > Decimal(str(budget)):
        return f"stopped by anytune: running cost ${spent:.2f} passed the budget of ${budget}"
    return ""


def resume(job_id: str, store: JobStore | None = None) -> JobRecord:
    """Start an ended job again as the same job: one whose submit was interrupted is launched on its
    provider; a failed or cancelled one continues from its last checkpoint (``Provider.resume``). What the
    earlier attempts ran and cost stays on the record (``actual.attempts``)."""
    from .data import load_prepared

    store = store or JobStore()
    rec, _ = refresh(job_id, store)
    if rec.state == JobState.SUCCEEDED.value:
        raise ConfigError(f"job {rec.id} succeeded: nothing to resume (`anytune retrieve {rec.id}`)")
    if not rec.terminal:
        raise ConfigError(f"job {rec.id} is {rec.state}: wait for it to end, or `anytune cancel {rec.id}` first")
    prepared = load_prepared(Path(rec.data_dir))
    attempts = rec.actual.get("attempts", []) + ([{k: v for k, v in rec.actual.items() if k != "attempts"}]
                                                 if rec.actual.get("seconds") is not None else [])
    values: dict[str, Any] = {"actual_json": json.dumps({"attempts": attempts}) if attempts else None,
                              "error": "", "artifact_json": None, "log_cursor": "", "submitter": _me()}
    store.update(rec.id, **values)
    if not rec.handle_json:  # never launched: do what the interrupted submit did not
        spec = rec.spec.with_provider(rec.provider)
        plan = dispatch.plan(spec, prepared.stats, load_profile(rec.profile or None))
        chosen, handle = dispatch.run_with_fallback(plan, lambda cand: _launch(spec, cand, prepared, rec.id, store))
        how = f"launched on {chosen.name} (the first submit was interrupted)"
    else:
        provider = provider_for(rec)
        store.update(rec.id, state=UPLOADING)
        ref = provider.upload(rec.spec, prepared)
        store.update(rec.id, state=LAUNCHING)
        handle = provider.resume(rec.spec, ref, rec.handle, plan=rec.estimate)
        how = f"resumed on {rec.provider} from its last checkpoint (attempt {len(attempts) + 1})"
    return store.update(rec.id, handle_json=handle.to_json(), state=JobState.QUEUED.value, launched_at=_now(),
                        submitter="", message=how)


def _actual(rec: JobRecord, status: JobStatus) -> dict[str, Any]:
    """Seconds and cost of the run that just ended, plus the earlier attempts of a resumed job."""
    out = _this_attempt(rec, status)
    earlier = rec.actual.get("attempts", [])
    if earlier:
        runs = [*earlier, dict(out)]
        out.update(attempts=runs, seconds=round(sum(a["seconds"] for a in runs), 1))
        if all("cost_usd" in a for a in runs):
            cost = sum(Decimal(a["cost_usd"]) for a in runs)
            out["cost_usd"] = f"{cost:.4f}"
            est = rec.estimate
            planned = est.planned_total(rec.spec.compute.spot).amount if est else Decimal(0)
            if planned > 0 and "error_pct" in out:
                out["error_pct"] = round(float((cost - planned) / planned * 100), 1)
    return out


def _this_attempt(rec: JobRecord, status: JobStatus) -> dict[str, Any]:
    if status.billable_seconds is not None:
        seconds, basis = status.billable_seconds, "billable seconds reported by the provider"
    elif status.started_at and status.ended_at:
        seconds, basis = (status.ended_at - status.started_at).total_seconds(), "provider start/end times"
    else:
        seconds, basis = _hours_since(rec.launched_at) * 3600, "wall time since launch"
    hourly = _hourly(rec)
    out: dict[str, Any] = {"seconds": round(seconds, 1), "basis": basis}
    est = rec.estimate
    if hourly is not None:
        cost = hourly * Decimal(str(seconds)) / 3600
        out["cost_usd"] = f"{cost:.4f}"
        planned = est.planned_total(rec.spec.compute.spot).amount
        if planned > 0:
            out["error_pct"] = round(float((cost - planned) / planned * 100), 1)
    elif est is not None:
        out["cost_usd"] = f"{est.planned_total(rec.spec.compute.spot).amount:.4f}"
        out["basis"] += "; cost as estimated (priced per token, not per hour)"
    return out


def follow(job_id: str, *, store: JobStore | None = None, interval: float | None = None,
           on_log: Callable[[str], None] | None = None,
           on_status: Callable[[JobRecord, JobStatus | None], None] | None = None) -> JobRecord:
    """Poll until the job ends, streaming new log lines to ``on_log``. One provider (one SDK session) serves
    every poll; a job moved to another candidate gets that candidate's."""
    store = store or JobStore()
    rec = store.get(job_id)
    provider = provider_for(rec)
    wait = interval if interval is not None else provider.poll_interval
    cursor = rec.log_cursor
    while True:
        before = rec.provider
        rec, status = refresh(rec.id, store, provider)
        if rec.provider != before:  # moved to the next candidate (see _fall_back)
            provider, cursor = provider_for(rec), ""
            if on_log is not None:
                on_log(f"anytune: {rec.message}")
        if on_log is not None:
            chunk = provider.logs(rec.handle, cursor)
            for line in chunk.lines:
                on_log(line)
            if chunk.cursor != cursor:
                cursor = chunk.cursor
                store.update(rec.id, log_cursor=cursor)
        if on_status is not None:
            on_status(rec, status)
        if rec.terminal:
            return rec
        time.sleep(wait)


def cancel(job_id: str, store: JobStore | None = None) -> JobRecord:
    store = store or JobStore()
    rec = store.get(job_id)
    if rec.terminal:
        return rec
    provider_for(rec).cancel(rec.handle)
    return store.update(rec.id, state=JobState.STOPPING.value, message="cancel requested")


def retrieve(job_id: str, dest: Path | None = None, store: JobStore | None = None) -> ModelArtifact:
    store = store or JobStore()
    rec, _ = refresh(job_id, store)
    if rec.state != JobState.SUCCEEDED.value:
        if rec.terminal:
            raise JobFailed(f"job {rec.id} ended {rec.state}: {rec.error or rec.message or 'see anytune logs'}")
        raise JobNotReady(f"job {rec.id} is {rec.state}; wait for it (`anytune logs -f {rec.id}`)")
    dest = Path(dest) if dest else rec.spec.output_path(rec.id)
    if dest.exists() and any(dest.iterdir()) and rec.artifact is None:
        raise ConfigError(f"output dir {dest} exists and is not empty; choose another with --output")
    provider = provider_for(rec)
    # Into a hidden sibling, renamed to dest when every file is in and verified: a retrieve cut short leaves
    # no half model at dest, and is simply run again.
    with atomic.directory(dest) as partial:
        artifact = provider.retrieve(rec.handle, partial)
    if artifact.path is not None:
        artifact = artifact.model_copy(update={"path": str(dest)})
    store.update(rec.id, artifact_json=artifact.to_json())
    return artifact


def metrics_of(artifact: ModelArtifact) -> dict[str, Any]:
    if artifact.path and (Path(artifact.path) / "metrics.json").exists():
        return json.loads((Path(artifact.path) / "metrics.json").read_text())
    return {}
