"""The training queue: one job at a time per slot (one slot per GPU), each run through anytune's own
core (``anytune.jobs.submit`` with the configured provider, ``local`` by default), so a job trained by
the server is an ordinary anytune job too (``anytune jobs`` lists it).

A restarted server resumes: queued jobs stay queued; a job that was training is followed again (the
local trainer runs detached, so it kept going); a job whose submit was cut short is reconciled as any
anytune process would (the training it started is found and followed; a submit that started nothing is
completed on the same anytune job); a job claimed but not yet submitted goes back to the queue.

OpenAI's "auto" hyperparameters, resolved the way OpenAI documents them:
n_epochs by OpenAI's rule (3, raised/lowered to keep 100..25,000 example passes); batch_size ~0.2% of
the training examples (1..256); learning_rate_multiplier 1.0 × ``--learning-rate``; dpo's beta 0.1.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import re
import shutil
import threading
from pathlib import Path
from typing import Any

from .. import jobs as core
from .. import openai_format
from ..errors import AnytuneError, DataError
from ..spec import DataSpec, Hyperparameters, JobSpec
from ..store import INTERRUPTED, JobStore
from ..types import JobState
from .config import ServeConfig
from .db import ServeDB, new_id, now

log = logging.getLogger("anytune.serve")


def resolve_hyperparameters(hp: dict[str, Any], examples: int, config: ServeConfig) -> dict[str, Any]:
    from ..estimation import openai_default_epochs

    epochs = hp.get("n_epochs", "auto")
    batch = hp.get("batch_size", "auto")
    mult = hp.get("learning_rate_multiplier", "auto")
    out = {"n_epochs": openai_default_epochs(examples) if epochs == "auto" else int(epochs),
           "batch_size": max(1, min(256, math.ceil(examples * 0.002))) if batch == "auto" else int(batch),
           "learning_rate_multiplier": 1.0 if mult == "auto" else float(mult)}
    if "beta" in hp:  # dpo
        out["beta"] = 0.1 if hp["beta"] == "auto" else float(hp["beta"])
    return out


def micro_batch(batch: int, limit: int) -> tuple[int, int]:
    """(per-step batch, gradient accumulation) whose product is exactly ``batch``."""
    micro = max(d for d in range(1, min(batch, limit) + 1) if batch % d == 0)
    return micro, batch // micro


def build_spec(job: dict[str, Any], db: ServeDB, config: ServeConfig, slot: int) -> tuple[JobSpec, dict]:
    """The anytune job spec for a server job: its files converted to canonical records in its work dir."""
    work = config.work_dir / job["id"]
    data: dict[str, str] = {}
    examples = 0
    for split, file_id in (("train", job["training_file"]), ("validation", job["validation_file"])):
        if not file_id:
            continue
        row = db.file(file_id)
        if row is None:
            raise AnytuneError(f"{split} file {file_id} was deleted before the job started")
        n = openai_format.write_jsonl((openai_format.from_openai(r, job["kind"]) for r in openai_format.read_jsonl(Path(row["path"]))),
                                  work / f"{split}.jsonl")
        examples = examples or n
        data[split] = str(work / f"{split}.jsonl")
    hp = resolve_hyperparameters(job["hyperparameters"], examples, config)
    micro, accumulation = micro_batch(hp["batch_size"], config.micro_batch)
    options = dict(config.provider_options)
    if config.devices:
        options["visible_devices"] = config.devices[slot]
    dpo = job["method"] == "dpo"
    if dpo:
        hp.setdefault("beta", 0.1)  # TRL's and OpenAI's default
    spec = JobSpec(
        name=job["id"], base_model=job["base_path"], init_adapter=job.get("init_adapter"), method=config.method,
        objective="dpo" if dpo else "sft", provider=config.provider,
        data=DataSpec(train=data["train"], validation=data.get("validation", "auto"), test="none",
                      split=(1.0, 0.0, 0.0),  # as at OpenAI: no validation file, no validation
                      format=job["kind"], pii="off", too_long="truncate"),
        hyperparameters=Hyperparameters(epochs=hp["n_epochs"], batch_size=micro, gradient_accumulation=accumulation,
                                        learning_rate=config.learning_rate * hp["learning_rate_multiplier"],
                                        max_seq_length=config.max_seq_length, seed=job["seed"],
                                        **({"beta": hp["beta"]} if dpo else {})),
        provider_options={config.provider: options} if options else {},
        output_dir=str(work / "output"))
    return spec, hp


class Runner:
    def __init__(self, config: ServeConfig, db: ServeDB):
        self.config, self.db = config, db
        self.store = JobStore(config.jobs_db) if config.jobs_db else JobStore()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._resume: list[dict[str, Any]] = []

    def start(self) -> None:
        if not self.config.run_jobs:
            return
        for job in self.db.running():
            if not job["anytune_job_id"]:
                job = self._adopt(job)
            if job["status"] == "failed":
                continue
            if job["anytune_job_id"]:
                self._resume.append(job)
            else:
                self.db.set_status(job["id"], "queued", "Server restarted before training began; job queued again",
                                   slot=None)
        for slot in range(self.config.slots):
            t = threading.Thread(target=self._loop, args=(slot,), name=f"anytune-serve-slot-{slot}", daemon=True)
            t.start()
            self._threads.append(t)

    def _adopt(self, job: dict[str, Any]) -> dict[str, Any]:
        """A job the server was submitting when it stopped (or was killed): its anytune job (named after
        it) is reconciled as any later process would (``core.reconcile``): training the provider had
        started is followed rather than started twice; a submit cut short before anything was started is
        completed on the same anytune job (``core.resume``)."""
        for rec in self.store.list(limit=1000):
            if rec.name != job["id"]:
                continue
            rec = core.reconcile(rec, self.store)
            if rec.handle_json:
                self.db.add_event(job["id"], "Server restarted; following the training it had started")
                return self.db.update_job(job["id"], anytune_job_id=rec.id)
            if rec.state == INTERRUPTED:
                try:
                    rec = core.resume(rec.id, self.store)
                except AnytuneError as exc:
                    self._fail(job["id"], f"the server restarted and could not launch the interrupted job: {exc}")
                    return self.db.job(job["id"])
                self.db.add_event(job["id"], "Server restarted; launched the training its interrupted submit "
                                             "had not started")
                return self.db.update_job(job["id"], anytune_job_id=rec.id)
        return job

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self.wake()
        for t in self._threads:
            t.join(timeout)

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _next(self, slot: int) -> dict[str, Any] | None:
        with self._wake:
            if self._resume:
                return self._resume.pop(0)
        return self.db.claim(slot)

    def _loop(self, slot: int) -> None:
        while not self._stop.is_set():
            job = self._next(slot)
            if job is None:
                with self._wake:
                    self._wake.wait(timeout=self.config.poll_interval)
                continue
            try:
                self._run(job, slot)
            except DataError as exc:  # what OpenAI reports for a file it cannot train on; named by file id
                message = str(exc)
                for split, file_id in (("train", job["training_file"]), ("validation", job["validation_file"])):
                    message = message.replace(str(self.config.work_dir / job["id"] / f"{split}.jsonl"), str(file_id))
                self._fail(job["id"], message, code="invalid_training_file", param="training_file")
            except AnytuneError as exc:
                self._fail(job["id"], str(exc))
            except Exception:
                log.exception("job %s failed inside the server", job["id"])
                self._fail(job["id"], "the server failed while running this job; its log has the details",
                           code="server_error")

    def _fail(self, job_id: str, message: str, code: str = "training_failed", param: str | None = None) -> None:
        self.db.set_status(job_id, "failed", f"Fine-tuning job failed: {message}", level="error", finished_at=now(),
                           error={"code": code, "message": message, "param": param})

    def _run(self, job: dict[str, Any], slot: int) -> None:
        if not job["anytune_job_id"]:
            spec, hp = build_spec(job, self.db, self.config, slot)
            self.db.update_job(job["id"], hyperparameters={**job["hyperparameters"], **hp})
            self.db.add_event(job["id"], f"Fine-tuning job started: {self.config.method} {job['method']} on {job['model']}, "
                                         f"{hp['n_epochs']} epochs, batch size {hp['batch_size']}")
            sub = core.submit(spec, store=self.store)
            tokens = sub.prepared.stats.train.tokens * hp["n_epochs"]
            job = self.db.update_job(job["id"], anytune_job_id=sub.record.id, trained_tokens=tokens)
        self._follow(job)

    def _follow(self, job: dict[str, Any]) -> None:
        jid, aid = job["id"], job["anytune_job_id"]
        provider = core.provider_for(self.store.get(aid))
        cursor, step, cancel_sent = job["log_cursor"], -1, False
        while not self._stop.is_set():
            rec, status = core.refresh(aid, self.store)
            chunk = provider.logs(rec.handle, cursor)
            for line in chunk.lines:
                if line.strip():
                    level = "error" if line.startswith(("error", "Traceback")) else "warn" if "warn" in line.lower() else "info"
                    self.db.add_event(jid, line, level=level)
            if chunk.cursor != cursor:
                cursor = chunk.cursor
                self.db.update_job(jid, log_cursor=cursor)
            if status is not None and status.metrics.get("step", -1) > step and "loss" in status.metrics:
                step = int(status.metrics["step"])
                data = {"step": step, "train_loss": status.metrics["loss"],
                        "total_steps": int(status.metrics.get("total_steps", 0))}
                self.db.add_event(jid, f"Step {step}/{data['total_steps']}: training loss={data['train_loss']:.4f}",
                                  type="metrics", data=data)
            row = self.db.job(jid)
            if row["cancel_requested"] and not cancel_sent and not rec.terminal:
                core.cancel(aid, self.store)
                cancel_sent = True
            if rec.terminal:
                return self._finish(row, rec)
            self._stop.wait(self.config.poll_interval)

    def _finish(self, job: dict[str, Any], rec) -> None:
        jid = job["id"]
        if rec.state == JobState.CANCELLED.value or job["cancel_requested"]:
            self.db.set_status(jid, "cancelled", "Fine-tuning job cancelled", finished_at=now())
            return
        if rec.state != JobState.SUCCEEDED.value:
            return self._fail(jid, rec.error or rec.message or f"training ended {rec.state}")
        dest = self.config.models_dir / jid
        if dest.exists() and rec.artifact is None:  # a copy cut short by a restart: start it again
            shutil.rmtree(dest)
        artifact = core.retrieve(rec.id, dest, self.store)
        model = job["model"]
        base = re.sub(r"[^A-Za-z0-9._-]", "-", model if model in self.config.models
                      else model.split(":")[1] if model.startswith("ft:")  # continued: named for the first base
                      else Path(job["base_path"]).name)
        name = f"ft:{base}:{self.config.organization}:{job['suffix'] or ''}:{jid.removeprefix('ftjob-')[:8]}"
        metrics = core.metrics_of(artifact)
        result = self._results_file(jid, metrics)
        self.db.add_model(name, str(dest), jid)
        steps = int(metrics.get("steps") or 0)
        last = (metrics.get("train") or [{}])[-1]
        evals = metrics.get("eval") or []
        self.db.add_checkpoint(job_id=jid, step=steps, model=f"{name}:ckpt-step-{steps}", path=str(dest),
                               metrics={"step": steps, "train_loss": last.get("loss"),
                                        "valid_loss": evals[-1].get("eval_loss") if evals else None,
                                        "full_valid_loss": metrics.get("eval_loss_after")})
        self.db.set_status(jid, "succeeded", f"New fine-tuned model created: {name}",
                           "The job has successfully completed", finished_at=now(), fine_tuned_model=name,
                           result_files=[result])

    def _results_file(self, jid: str, metrics: dict[str, Any]) -> str:
        """OpenAI's results file: one CSV row per logged step (step, train_loss, valid_loss, ...)."""
        evals = {e["step"]: e.get("eval_loss") for e in metrics.get("eval") or [] if "step" in e}
        path = self.config.files_dir / f"{jid}-step_metrics.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "epoch", "train_loss", "valid_loss", "learning_rate"])
            for e in metrics.get("train") or []:
                w.writerow([e.get("step"), e.get("epoch"), e.get("loss"), evals.get(e.get("step"), ""),
                            e.get("learning_rate")])
        file_id = new_id("file")
        self.db.add_file(id=file_id, bytes=path.stat().st_size, filename="step_metrics.csv", purpose="fine-tune-results",
                         path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), kind=None, examples=0)
        return file_id
