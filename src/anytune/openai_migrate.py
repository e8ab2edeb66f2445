"""``anytune openai migrate``: a team's OpenAI fine-tuning jobs as anytune job specs.

For each job (succeeded ones by default): its training and validation files are downloaded through the API
and converted to anytune's canonical records, and ``<out>/<name>/job.yaml`` is written with the open base
model the user names. With ``evaluate``, the job's ``ft:`` model answers the validation prompts and those
answers become the spec's test split (``references.jsonl``), so the new model's end-of-training evaluation
scores it against the model it replaces.

What carries over: the data, supervised or dpo (with beta), n_epochs, batch size, seed, the suffix as the
name, the learning-rate multiplier as a multiple of ``--learning-rate`` when given (OpenAI's own base rate is
unpublished; without it anytune's default rate is used). What does not: the base model (OpenAI's weights are not downloadable), reinforcement jobs, integrations.

Everything talks through the official ``openai`` client (any OpenAI-compatible base URL, ``anytune serve``
included); the key comes from the environment and is never written anywhere.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import atomic, openai_format
from .errors import AnytuneError, DataError
from .openai_errors import translate

WHERE = "openai"
MICRO_BATCH = 8  # per-step batch of the written specs; larger OpenAI batch sizes become gradient accumulation


@dataclass
class Migrated:
    """What became of one OpenAI job."""

    job_id: str
    fine_tuned_model: str | None
    name: str = ""
    spec: Path | None = None
    examples: dict[str, int] = field(default_factory=dict)  # split -> records written
    references: int = 0
    notes: list[str] = field(default_factory=list)
    problem: str = ""  # why no spec was written


def _name(job) -> str:
    """``<suffix>-<8 characters of the job id>`` (the suffix is the 4th part of ``ft:base:org:suffix:id``)."""
    parts = (job.fine_tuned_model or "").split(":")
    suffix = re.sub(r"[^A-Za-z0-9._-]+", "-", parts[3]).strip("-.") if len(parts) == 5 else ""
    return f"{suffix[:40] or 'openai'}-{job.id.removeprefix('ftjob-')[:8]}"


def _method(job) -> tuple[str, Any]:
    """("supervised" | "dpo" | other, that method's hyperparameters object)."""
    method = getattr(job, "method", None)
    kind = getattr(method, "type", None) or "supervised"
    config = getattr(method, kind, None) if method else None
    return kind, (getattr(config, "hyperparameters", None) or job.hyperparameters)


def download(api, file_id: str, dest: Path, source: str) -> tuple[str, int]:
    """Fetch an OpenAI fine-tuning file and write it to ``dest`` as canonical anytune records, whole or not at
    all; (kind, records). A bad line is a DataError naming the file id and line."""
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download.") as tmp:
        raw = Path(tmp) / "raw.jsonl"
        with translate(f"download {source} file {file_id}", WHERE):
            api.files.content(file_id).write_to_file(raw)
        check = openai_format.check_file(raw, source=file_id)
        if check.kind is None:
            raise DataError("the file holds no examples", file=file_id)
        part = Path(tmp) / dest.name
        n = openai_format.write_jsonl((openai_format.from_openai(r, check.kind) for r in openai_format.read_jsonl(raw)), part)
        part.replace(dest)
    return check.kind, n


def record_references(api, model: str, records: Path, dest: Path, *, max_examples: int, max_tokens: int,
                      on_progress=None) -> int:
    """The old fine-tuned model's answers to the prompts of ``records``, written to ``dest`` as chat records
    (the prompt's conversation, then its answer): what the new model's evaluation compares against."""
    from .data.template import eval_prompt
    from .inference.engine import GenerationParams, Prompt
    from .inference.remote import ChatAPIEngine

    conversations = [eval_prompt(r)[0] for r in list(openai_format.read_jsonl(records))[:max_examples]]
    engine = ChatAPIEngine(model, api, where=WHERE)
    answers = engine.generate([Prompt.chat(c) for c in conversations],
                              GenerationParams(max_new_tokens=max_tokens, temperature=0.0, seed=0), on_progress)
    rows = [{"messages": c + [{"role": "assistant", "content": a.text}]}
            for c, a in zip(conversations, answers, strict=True) if a.text.strip()]
    atomic.write_text(dest, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


def spec_for(job, m: Migrated, base_model: str, method: str, provider: str, folder: Path,
             learning_rate: float | None = None) -> dict:
    """The anytune job spec (as a dict) for one OpenAI job whose files are in ``folder``."""
    from .serve.runner import micro_batch

    method_type, hp = _method(job)
    dpo = method_type == "dpo"
    hyper: dict[str, Any] = {}
    epochs, batch = getattr(hp, "n_epochs", "auto"), getattr(hp, "batch_size", "auto")
    if isinstance(epochs, int):
        hyper["epochs"] = epochs
    else:
        m.notes.append("n_epochs was auto and OpenAI reported no resolved value: anytune's default is used")
    if isinstance(batch, int):
        hyper["batch_size"], hyper["gradient_accumulation"] = micro_batch(batch, MICRO_BATCH)
    if getattr(job, "seed", None) is not None:
        hyper["seed"] = job.seed
    if dpo:
        beta = getattr(hp, "beta", "auto")
        hyper["beta"] = beta if isinstance(beta, int | float) else 0.1
    mult = getattr(hp, "learning_rate_multiplier", "auto")
    mult = float(mult) if isinstance(mult, int | float) else 1.0
    if learning_rate is not None:  # as anytune serve reads OpenAI's multiplier: a multiple of a rate you choose
        hyper["learning_rate"] = learning_rate * mult
    elif mult != 1.0:
        m.notes.append(f"learning_rate_multiplier {mult:g} is not carried over (a multiple of OpenAI's unpublished "
                       "default); anytune's default learning rate is used (--learning-rate sets the rate it "
                       "multiplies)")
    data: dict[str, Any] = {"train": "train.jsonl", "format": "preference" if dpo else "auto"}
    references = (folder / "references.jsonl").is_file() and not dpo  # (a dpo job's: `anytune eval --data`)
    if (folder / "validation.jsonl").is_file():
        data.update(validation="validation.jsonl", split=[1.0, 0.0, 0.0], test="none")
    elif references:
        data["split"] = [0.9, 0.1, 0.0]
    if references:
        data["test"] = "references.jsonl"
    spec: dict[str, Any] = {"name": m.name, "base_model": base_model, "method": method, "data": data,
                            "hyperparameters": hyper, "provider": provider}
    if dpo:
        spec["objective"] = "dpo"
    if references:
        m.notes.append("test split: the old fine-tuned model's answers (references.jsonl), so the new model's "
                       "evaluation says how closely it answers like the model it replaces")
    elif (folder / "references.jsonl").is_file():
        m.notes.append("references.jsonl holds the old model's answers: after training, score the new model "
                       "with `anytune eval JOB --data references.jsonl`")
    return spec


def _yaml(spec: dict, job, m: Migrated) -> str:
    import yaml

    head = [f"# Migrated from OpenAI fine-tuning job {job.id} by `anytune openai migrate`.",
            f"# OpenAI base model: {job.model}; fine-tuned model: {job.fine_tuned_model or '(none)'}."]
    head += [f"# Note: {n}" for n in m.notes]
    head.append("# Run it with: anytune run job.yaml")
    return "\n".join(head) + "\n" + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def migrate_job(api, job, out: Path, *, base_model: str, method: str, provider: str, evaluate: bool,
                learning_rate: float | None = None, max_examples: int = 200, max_tokens: int = 256,
                on_progress=None) -> Migrated:
    """One job: files downloaded, references recorded (``evaluate``), spec written; all in a temporary
    folder that becomes ``out/<name>`` only when everything worked."""
    from .spec import JobSpec

    m = Migrated(job_id=job.id, fine_tuned_model=job.fine_tuned_model)
    m.name = _name(job)
    method_type, _ = _method(job)
    if method_type not in ("supervised", "dpo"):
        m.problem = f"{method_type} fine-tuning has no anytune equivalent (anytune trains supervised and dpo)"
        return m
    try:
        with atomic.directory(out / m.name) as tmp:
            _, m.examples["train"] = download(api, job.training_file, tmp / "train.jsonl", "training")
            if job.validation_file:
                try:
                    _, m.examples["validation"] = download(api, job.validation_file, tmp / "validation.jsonl",
                                                           "validation")
                except AnytuneError as exc:
                    m.notes.append(f"validation file {job.validation_file} could not be read ({exc}); "
                                   "the spec splits the training data instead")
            if evaluate:
                held_out = tmp / ("validation.jsonl" if "validation" in m.examples else "train.jsonl")
                if not job.fine_tuned_model:
                    m.notes.append("no fine-tuned model to record reference answers from")
                else:
                    m.references = record_references(api, job.fine_tuned_model, held_out, tmp / "references.jsonl",
                                                     max_examples=max_examples, max_tokens=max_tokens,
                                                     on_progress=on_progress)
                    if held_out.name == "train.jsonl":
                        m.notes.append("no validation file: the references answer training prompts")
            spec = spec_for(job, m, base_model, method, provider, tmp, learning_rate)
            JobSpec.model_validate(spec)  # what is written loads
            atomic.write_text(tmp / "job.yaml", _yaml(spec, job, m))
    except AnytuneError as exc:
        m.problem = str(exc)
        return m
    m.spec = out / m.name / "job.yaml"
    return m


def list_jobs(api, job_ids: list[str] | None = None, *, states: tuple[str, ...] = ("succeeded",)) -> list:
    """The jobs to migrate: the named ones (any state), else every job in ``states``, oldest first."""
    with translate("list fine-tuning jobs", WHERE):
        if job_ids:
            return [api.fine_tuning.jobs.retrieve(j) for j in job_ids]
        jobs = [j for j in api.fine_tuning.jobs.list(limit=100) if j.status in states]  # the SDK pages through
    return sorted(jobs, key=lambda j: j.created_at)
