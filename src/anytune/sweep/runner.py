"""Run a sweep: estimate every trial, refuse a total over the budget, launch trials as ordinary jobs (the
normal provider choice and fallback), follow them, hold the budget while they run, pick the best.

The sweep and its trials live in the job store, each trial a job carrying its sweep id and trial index from
the moment it is recorded. Whatever process drives the sweep can die: the next ``drive`` (``anytune sweep``
with the same spec, or ``anytune sweep resume``) reads the store, follows the trials that run, relaunches
only a trial whose submit was cut short before launch, and launches the rest. No trial runs twice.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from .. import atomic, dispatch, jobs
from ..crashpoints import crashpoint
from ..errors import AnytuneError, BudgetExceeded, ConfigError, SweepOverBudget
from ..optional import require
from ..profiles import load_profile
from ..spec import JobSpec
from ..store import INTERRUPTED, JobRecord, JobStore, SweepRecord
from .space import label, planned, trial_spec

RUNNING, SUCCEEDED, FAILED, CANCELLED, STOPPED = "running", "succeeded", "failed", "cancelled", "stopped"
Event = Callable[[str], None]


@dataclass
class Trial:
    """One planned trial: its parameters, its spec and the provider choice the normal plan makes for it."""

    index: int
    params: dict[str, Any]
    spec: JobSpec
    plan: dispatch.Plan

    @property
    def cost(self) -> Decimal:
        c = self.plan.viable[0].cost
        return c.amount if c is not None else Decimal(0)

    def row(self) -> dict[str, Any]:
        est = self.plan.viable[0].estimate
        return {"index": self.index, "params": self.params, "provider": self.plan.viable[0].name,
                "instance": est.instance if est else "", "hours": round(est.hours, 4) if est else None,
                "cost_usd": f"{self.cost:.4f}"}


def new_id(spec: JobSpec) -> str:
    return JobStore.new_id(spec.name if "sweep" in spec.name.lower() else f"{spec.name}-sweep")


def plan(spec: JobSpec, *, provider: str | None = None, profile: str | None = None) -> list[Trial]:
    """Every trial estimated with the normal plan (its provider choice, fit and price). The data is
    prepared once per distinct data setting (the pipeline caches by content)."""
    if spec.sweep is None:
        raise ConfigError("the spec has no sweep: block", ["add one (see `anytune schema`), or use `anytune run`"])
    if spec.sweep.strategy == "optuna":
        require("optuna")  # before anything is estimated or recorded
    prof = load_profile(profile)
    out = []
    for index, params in enumerate(planned(spec.sweep)):
        t = dispatch.provider_choice(trial_spec(spec, params, output_dir=spec.output_dir), provider)
        try:
            out.append(Trial(index, params, t, dispatch.plan(t, jobs.prepare_data(t).stats, prof)))
        except AnytuneError as exc:
            raise type(exc)(f"trial {index} ({label(params)}): {exc}") from None
    return out


def total(trials: list[Trial]) -> Decimal:
    return sum((t.cost for t in trials), Decimal(0))


def check_budget(spec: JobSpec, trials: list[Trial]) -> None:
    budget = spec.budget.max_usd
    if budget is not None and total(trials) > Decimal(str(budget)):
        raise SweepOverBudget(
            f"the sweep's {len(trials)} trials are estimated at ${total(trials):.2f}, over budget.max_usd "
            f"${budget}; nothing was launched. `anytune sweep --dry-run` shows each trial's cost; lower "
            "sweep.trials, narrow the parameters, or raise budget.max_usd")


def start(spec: JobSpec, *, provider: str | None = None, profile: str | None = None,
          store: JobStore | None = None, on_event: Event | None = None,
          on_plan: Callable[[list[Trial]], None] | None = None) -> tuple[SweepRecord, bool]:
    """The sweep for ``spec``: the unfinished one of the same spec (to resume; True), else a new one, planned
    and held to the budget before anything is written (False). ``on_plan`` sees the trials then (and may
    raise to stop, e.g. a declined confirmation)."""
    store = store or JobStore()
    for old in store.sweeps(spec_hash=spec.spec_hash()):
        if old.state == RUNNING:
            return old, True
    trials = plan(spec, provider=provider, profile=profile)
    check_budget(spec, trials)
    if on_plan:
        on_plan(trials)
    rec = store.create_sweep(id=new_id(spec), name=spec.name, state=RUNNING, spec_json=spec.model_dump_json(),
                             spec_hash=spec.spec_hash(), profile=profile or "", provider=provider or "",
                             plan_json=json.dumps([t.row() for t in trials]))
    crashpoint("sweep:recorded")
    if on_event:
        on_event(f"sweep {rec.id}: {len(trials)} trials, estimated ${total(trials):.2f}")
    return rec, False


# --- following ------------------------------------------------------------------------------------

def cost_so_far(rec: JobRecord) -> Decimal:
    """What a trial has cost: its recorded actual cost when it ended, else its hourly rate × time running."""
    if "cost_usd" in rec.actual:
        return Decimal(rec.actual["cost_usd"])
    hourly = jobs._hourly(rec)
    if rec.terminal or hourly is None or not rec.launched_at:
        return Decimal(0)
    return hourly * Decimal(str(jobs._hours_since(rec.launched_at)))


def planned_cost(rec: JobRecord) -> Decimal:
    est = rec.estimate
    return est.planned_total(rec.spec.compute.spot).amount if est else Decimal(0)


def metrics(rec: JobRecord, store: JobStore) -> dict[str, Any]:
    """metrics.json of a succeeded trial, retrieving its model first if that has not happened."""
    artifact = rec.artifact
    if artifact is None:
        artifact = jobs.retrieve(rec.id, store=store)
    return jobs.metrics_of(artifact)


def score_of(m: dict[str, Any], metric: str) -> float | None:
    if metric == "eval_loss":
        return m.get("eval_loss_after")
    if metric == "test_loss":
        return m.get("test_loss")
    return (m.get("evaluation", {}).get("metrics", {}).get(metric) or {}).get("tuned")


class Driver:
    """Follows one sweep to its end from whatever the store holds. ``interval``: seconds between polls."""

    def __init__(self, sweep_id: str, *, store: JobStore | None = None, interval: float = 2.0,
                 on_event: Event | None = None):
        self.store = store or JobStore()
        self.rec = self.store.get_sweep(sweep_id)
        self.spec, self.sweep = self.rec.spec, self.rec.spec.sweep
        self.interval, self.say = interval, on_event or (lambda _msg: None)
        self.scores: dict[str, float | None] = {}
        self.budget = Decimal(str(self.spec.budget.max_usd)) if self.spec.budget.max_usd is not None else None
        self.out = self.spec.output_path(self.rec.id)
        self.tuner = None
        if self.sweep.strategy == "optuna":
            from .tuner import Tuner

            self.tuner = Tuner(self.sweep)

    def run(self) -> SweepRecord:
        alive = jobs.process_alive(self.rec.runner)
        if self.rec.runner and alive is not False:
            raise ConfigError(f"sweep {self.rec.id} is being run by another process ({self.rec.runner})",
                              [f"follow it with `anytune sweep status {self.rec.id}`"])
        self.rec = self.store.update_sweep(self.rec.id, runner=jobs._me())
        try:
            return self._loop()
        finally:
            self.store.update_sweep(self.rec.id, runner="")

    def _loop(self) -> SweepRecord:
        stop = ""
        while True:
            self.rec = self.store.get_sweep(self.rec.id)
            if self.rec.state == CANCELLED:  # `anytune sweep cancel` from another process
                return self.rec
            trials = self._follow(self.store.trials(self.rec.id))
            spent = sum((cost_so_far(t) for t in trials), Decimal(0))
            if self.budget is not None and spent > self.budget and not stop:
                stop = f"stopped: the trials' cost ${spent:.2f} passed budget.max_usd ${self.budget}"
                for t in trials:
                    if not t.terminal:
                        jobs.cancel(t.id, self.store)
                self.say(stop)
            running = [t for t in trials if not t.terminal]
            while not stop and len(running) < self.sweep.parallel and self._next_index(trials) < self.sweep.count:
                launched = self._launch(self._next_index(trials), trials, spent)
                if isinstance(launched, str):
                    stop = launched
                    self.say(stop)
                elif launched is not None:
                    trials.append(launched)
                    running.append(launched)
                else:
                    trials = self.store.trials(self.rec.id)
            if not running and (stop or self._next_index(trials) >= self.sweep.count):
                return self._finish(self.store.trials(self.rec.id), stop)
            time.sleep(self.interval)

    def _next_index(self, trials: list[JobRecord]) -> int:
        """The first trial not launched yet (a trial that could not launch counts as done)."""
        taken = {t.trial["index"] for t in trials} | {r["index"] for r in self.rec.plan if r.get("error")}
        return next(i for i in range(len(taken) + 1) if i not in taken)

    def _follow(self, trials: list[JobRecord]) -> list[JobRecord]:
        out = []
        for t in trials:
            t = jobs.reconcile(t, self.store)
            if t.state == INTERRUPTED and not t.handle_json:  # its submit died before launch: nothing ran
                t = jobs.resume(t.id, self.store)
                self.say(f"trial {t.trial['index']}: {t.message}")
            if not t.terminal:
                before = t.state
                t, status = jobs.refresh(t.id, self.store)
                if self.tuner is not None and status is not None and not t.terminal:
                    why = self.tuner.report(t, status.metrics)
                    if why:
                        jobs.cancel(t.id, self.store)
                        t = self.store.update(t.id, trial_json=json.dumps({**t.trial, "pruned": why}),
                                              message=f"pruned: {why}")
                        self.say(f"trial {t.trial['index']} pruned: {why}")
                if t.terminal and t.state != before:
                    self.say(f"trial {t.trial['index']} ({label(t.trial['params'])}) {t.state}"
                             + (f": {self.sweep.metric} {self.score(t):.4f}" if self.score(t) is not None else ""))
            if self.tuner is not None and t.terminal:
                self.tuner.finished(t, self.score(t))
            out.append(t)
        return out

    def score(self, t: JobRecord) -> float | None:
        if t.id not in self.scores:
            if t.state != "succeeded" or t.trial.get("pruned"):
                return None
            try:
                self.scores[t.id] = score_of(metrics(t, self.store), self.sweep.metric)
            except AnytuneError as exc:
                self.say(f"trial {t.trial['index']}: no score ({exc})")
                self.scores[t.id] = None
        return self.scores[t.id]

    def _launch(self, index: int, trials: list[JobRecord], spent: Decimal) -> JobRecord | str | None:
        """Submit trial ``index``: its job, or a string saying why the sweep launches no more, or None when
        this trial could not launch (recorded; the sweep goes on with the next)."""
        params = self.tuner.ask(index) if self.tuner is not None else self.rec.plan[index]["params"]
        committed = sum((max(planned_cost(t) - cost_so_far(t), Decimal(0)) for t in trials if not t.terminal),
                        Decimal(0))
        left = None if self.budget is None else self.budget - spent - committed
        if left is not None and left <= 0:
            return f"trial {index} not launched: nothing is left of budget.max_usd ${self.budget}"
        spec = trial_spec(self.spec, params, output_dir=str(self.out / "{job_id}"),
                          budget=None if left is None else float(left))
        spec = dispatch.provider_choice(spec, self.rec.provider or None)
        try:
            sub = jobs.submit(spec, profile=self.rec.profile or None, store=self.store,
                              trial=(self.rec.id, {"index": index, "params": params}))
        except AnytuneError as exc:
            if isinstance(exc, BudgetExceeded):
                return f"trial {index} ({label(params)}) not launched: {exc}"
            self.say(f"trial {index} ({label(params)}) could not launch: {exc}")
            if not any(t.trial["index"] == index for t in self.store.trials(self.rec.id)):  # no job recorded
                rows = self.rec.plan + [{}] * (index + 1 - len(self.rec.plan))
                rows[index] = {**rows[index], "index": index, "params": params, "error": str(exc)}
                self.rec = self.store.update_sweep(self.rec.id, plan_json=json.dumps(rows))
            if self.tuner is not None:
                self.tuner.failed(index)
            return None
        self.say(f"trial {index} ({label(params)}): job {sub.record.id} on {sub.record.provider}")
        crashpoint("sweep:launched")
        return sub.record

    def _finish(self, trials: list[JobRecord], stop: str) -> SweepRecord:
        scored = [(self.score(t), t) for t in trials]
        scored = [(s, t) for s, t in scored if s is not None]
        if not scored:
            return self.store.update_sweep(self.rec.id, state=STOPPED if stop else FAILED,
                                           message=stop or "no trial produced a score")
        best_score, best = scored[0]
        for s, t in scored[1:]:
            if self.sweep.better(s, best_score):
                best_score, best = s, t
        dest = self.out / "best"
        with atomic.directory(dest) as partial:
            shutil.copytree(Path(best.artifact.path), partial, dirs_exist_ok=True)
        msg = (f"best: trial {best.trial['index']} ({label(best.trial['params'])}), {self.sweep.metric} "
               f"{best_score:.4f}; its model is in {dest}")
        self.say(msg)
        return self.store.update_sweep(self.rec.id, state=STOPPED if stop else SUCCEEDED, best_job=best.id,
                                       message=f"{stop}; {msg}" if stop else msg)


def cancel(sweep_id: str, store: JobStore | None = None) -> SweepRecord:
    """Stop a sweep: no more trials launch, the running ones are cancelled."""
    store = store or JobStore()
    rec = store.get_sweep(sweep_id)
    for t in store.trials(rec.id):
        if not t.terminal:
            jobs.cancel(t.id, store)
    return store.update_sweep(rec.id, state=CANCELLED, message="cancelled by the user")
