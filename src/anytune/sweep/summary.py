"""A sweep as rows, one per trial: what `anytune sweep status`, `--json` and the report show."""

from __future__ import annotations

from typing import Any

from .. import jobs
from ..store import JobStore, SweepRecord
from .runner import cost_so_far, score_of
from .space import label


def rows(rec: SweepRecord, store: JobStore) -> list[dict[str, Any]]:
    """Every trial, planned and launched, in index order. A score is read from a trial's retrieved model
    (the sweep retrieves each trial that succeeds); nothing is downloaded here."""
    sweep = rec.spec.sweep
    by_index: dict[int, dict[str, Any]] = {}
    for row in rec.plan:
        by_index[row["index"]] = {"trial": row["index"], "params": row["params"], "label": label(row["params"]),
                                  "job": "", "provider": row.get("provider", ""),
                                  "state": "could not launch" if row.get("error") else "planned",
                                  "score": None, "cost_usd": None, "planned_usd": float(row.get("cost_usd") or 0),
                                  "seconds": None, "message": row.get("error", ""), "best": False, "metrics": {}}
    for t in store.trials(rec.id):
        t = jobs.reconcile(t, store)
        index = t.trial["index"]
        m = jobs.metrics_of(t.artifact) if t.artifact is not None and t.artifact.path else {}
        planned = by_index.get(index, {}).get("planned_usd")
        est = t.estimate
        by_index[index] = {
            "trial": index, "params": t.trial["params"], "label": label(t.trial["params"]), "job": t.id,
            "provider": t.provider, "state": "pruned" if t.trial.get("pruned") else t.state,
            "score": None if t.trial.get("pruned") else score_of(m, sweep.metric),
            "cost_usd": float(cost_so_far(t)),
            "planned_usd": float(est.planned_total(t.spec.compute.spot).amount) if est else planned,
            "seconds": t.actual.get("seconds"), "message": t.trial.get("pruned") or t.error or t.message,
            "best": t.id == rec.best_job, "metrics": m}
    return [by_index[i] for i in sorted(by_index)]


def summary(rec: SweepRecord, store: JobStore) -> dict[str, Any]:
    sweep = rec.spec.sweep
    trials = rows(rec, store)
    return {"id": rec.id, "name": rec.name, "state": rec.state, "message": rec.message,
            "driven": jobs.process_alive(rec.runner) is not False,
            "created": rec.created_at, "strategy": sweep.strategy, "metric": sweep.metric,
            "direction": "minimize" if sweep.minimize else "maximize", "parallel": sweep.parallel,
            "budget_usd": rec.spec.budget.max_usd, "best_job": rec.best_job or None,
            "best_model": str(rec.spec.output_path(rec.id) / "best") if rec.best_job else None,
            "planned_usd": round(sum(r["planned_usd"] or 0 for r in trials), 4),
            "spent_usd": round(sum(r["cost_usd"] or 0 for r in trials), 4),
            "trials": [{k: v for k, v in r.items() if k != "metrics"} for r in trials]}
