"""The spec's ``tracking:`` block in the trainer: an MLflow run and/or a Weights & Biases run per job.

anytune opens each run itself (named by the job id, with the job's settings as parameters) and hands it to
transformers' own ``MLflowCallback`` / ``WandbCallback`` (``report_to``), which log the training arguments,
the model config and every loss as it is logged; both reuse the active run. At the end anytune adds what
only it knows, the held-out losses before/after and the generation evaluation, and closes the run (FAILED
when training failed). Credentials come from the environment only (MLFLOW_TRACKING_TOKEN,
MLFLOW_TRACKING_USERNAME/PASSWORD, WANDB_API_KEY); nothing of them is written to the spec or the logs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..optional import require


def params(spec, job_id: str) -> dict[str, Any]:
    hp = spec.hyperparameters
    out = {"anytune.job_id": job_id, "base_model": spec.base_model, "method": spec.method,
           "objective": spec.objective, "epochs": hp.epochs, "learning_rate": hp.learning_rate,
           "batch_size": hp.batch_size, "gradient_accumulation": hp.gradient_accumulation,
           "max_seq_length": hp.max_seq_length, "seed": hp.seed}
    if spec.method != "full":
        out.update({"lora.r": hp.lora.r, "lora.alpha": hp.lora.alpha, "lora.dropout": hp.lora.dropout})
    return out


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers a run ends with: held-out losses and each evaluation metric (tuned, base)."""
    out = {k: float(metrics[k]) for k in ("eval_loss_before", "eval_loss_after", "test_loss", "tokens_per_second")
           if isinstance(metrics.get(k), (int, float))}
    for name, row in metrics.get("evaluation", {}).get("metrics", {}).items():
        for role in ("tuned", "base"):
            if isinstance(row.get(role), (int, float)):
                out[f"evaluation/{name}/{role}"] = float(row[role])
    return out


class Trackers:
    """The runs of one training job. ``report_to`` goes into TrainingArguments."""

    def __init__(self, spec, job_id: str, logs: Path):
        self.spec, self.job_id, self.logs = spec, job_id, Path(logs)
        self.report_to: list[str] = []
        self.ids: dict[str, str] = {}
        self._mlflow = self._wandb = None

    def start(self, log) -> dict[str, str]:
        """Open the runs; returns their ids (``metrics.json`` keeps them: where to look for this job). A
        missing package stops the job here, before training; a tracker that cannot be reached (or refuses the
        credentials) is logged and left out, so the training itself is never lost to it."""
        t = self.spec.tracking
        for name, settings, open_run in (("mlflow", t.mlflow, self._start_mlflow), ("wandb", t.wandb, self._start_wandb)):
            if settings is None:
                continue
            require(name)
            try:
                open_run(settings)
            except Exception as exc:  # noqa: BLE001 - any failure of the tracker's client, reported and skipped
                log(f"tracking: {name} unavailable, training goes on without it: {type(exc).__name__}: {exc}")
                continue
            self.report_to.append(name)
        return dict(self.ids)

    def _start_mlflow(self, t) -> None:
        import mlflow

        mlflow.set_tracking_uri(t.tracking_uri)
        mlflow.set_experiment(t.experiment or self.spec.name)
        run = mlflow.start_run(run_name=self.job_id, tags={"anytune.job_id": self.job_id})
        mlflow.log_params({k: str(v) for k, v in params(self.spec, self.job_id).items()})
        self._mlflow, self.ids["mlflow_run_id"] = mlflow, run.info.run_id

    def _start_wandb(self, t) -> None:
        import wandb

        self.logs.mkdir(parents=True, exist_ok=True)  # wandb writes <logs>/wandb/<offline-run-...>
        os.environ.setdefault("WANDB_SILENT", "true")
        run = wandb.init(project=t.project, entity=t.entity, mode=t.mode, name=self.job_id, dir=str(self.logs),
                         config=params(self.spec, self.job_id), reinit="finish_previous")
        self._wandb, self.ids["wandb_run_id"] = wandb, run.id
        self.ids["wandb_dir"] = str(Path(run.dir).parent)

    def finish(self, metrics: dict[str, Any]) -> None:
        final = final_metrics(metrics)
        if self._mlflow is not None:
            self._mlflow.log_metrics(final)
            self._mlflow.end_run()
        if self._wandb is not None:
            self._wandb.run.summary.update(final)
            self._wandb.finish()

    def fail(self) -> None:
        if self._mlflow is not None and self._mlflow.active_run() is not None:
            self._mlflow.end_run(status="FAILED")
        if self._wandb is not None and self._wandb.run is not None:
            self._wandb.finish(exit_code=1)
