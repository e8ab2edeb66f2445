"""strategy: optuna: Optuna's TPE sampler picks each next trial from the scores so far, and its median pruner
stops a trial whose held-out loss at an evaluation step is worse than the median of earlier trials there.

The study lives in memory and is rebuilt from the job store when a sweep resumes: ended trials are added
with their scores, a trial still running is asked again with its own parameters (``enqueue_trial``), so the
sampler continues where it was. Intermediate losses of trials that ended before a resume are not kept, so
the pruner compares a resumed sweep's trials with those that ran since.
"""

from __future__ import annotations

from typing import Any

from .space import SweepSpec, distributions


class Tuner:
    def __init__(self, sweep: SweepSpec):
        from ..optional import require

        require("optuna")
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.dists = distributions(sweep)
        self.study = optuna.create_study(
            direction="minimize" if sweep.minimize else "maximize",
            sampler=optuna.samplers.TPESampler(seed=sweep.seed, n_startup_trials=min(10, max(2, sweep.count // 3))),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
        # Intermediate values are eval losses: only a loss-minimising sweep can compare them with its metric.
        self.prunes = sweep.metric == "eval_loss"
        self.live: dict[int, Any] = {}  # trial index -> optuna trial still running
        self.done: set[int] = set()

    def ask(self, index: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The next trial's parameters (or ``params`` again, for a trial that runs since before a resume)."""
        if params is not None:
            self.study.enqueue_trial(params)
        trial = self.study.ask(self.dists)
        self.live[index] = trial
        return dict(trial.params)

    def report(self, rec, metrics: dict[str, float]) -> str:
        """Tell the study the trial's latest eval loss; the reason to prune it, or ""."""
        index = rec.trial["index"]
        if index not in self.live:
            self.ask(index, rec.trial["params"])
        loss, step = metrics.get("eval_loss"), metrics.get("eval_step")
        if not self.prunes or loss is None or step is None:
            return ""
        trial = self.live[index]
        trial.report(float(loss), int(step))
        if int(step) > 0 and trial.should_prune():
            return (f"eval loss {loss:.4f} at step {int(step)} is worse than the median of the earlier trials "
                    "there (optuna MedianPruner)")
        return ""

    def finished(self, rec, score: float | None) -> None:
        index = rec.trial["index"]
        if index in self.done:
            return
        self.done.add(index)
        states = self.optuna.trial.TrialState
        state = (states.PRUNED if rec.trial.get("pruned") else states.COMPLETE if score is not None
                 else states.FAIL)
        value = score if state is states.COMPLETE else None
        trial = self.live.pop(index, None)
        if trial is not None:
            self.study.tell(trial, value, state=state)
        else:
            self.study.add_trial(self.optuna.trial.create_trial(
                params=rec.trial["params"], distributions=self.dists, value=value, state=state))

    def failed(self, index: int) -> None:
        trial = self.live.pop(index, None)
        self.done.add(index)
        if trial is not None:
            self.study.tell(trial, None, state=self.optuna.trial.TrialState.FAIL)
