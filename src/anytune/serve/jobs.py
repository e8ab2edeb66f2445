"""``/v1/fine_tuning/jobs`` (create, list, retrieve, cancel, events, checkpoints) and ``/v1/models``."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import openai_format
from ..errors import ConfigError
from ..inference.hf import adapter_base
from .db import UNFINISHED, new_id, now
from .errors import APIError, not_found
from .objects import checkpoint_object, event_object, job_object, model_object, page

router = APIRouter()
Auto = Literal["auto"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hyperparameters(_Body):
    n_epochs: Auto | Annotated[int, Field(ge=1, le=50)] = "auto"
    batch_size: Auto | Annotated[int, Field(ge=1, le=256)] = "auto"
    learning_rate_multiplier: Auto | Annotated[float, Field(gt=0, le=10)] = "auto"
    beta: Auto | Annotated[float, Field(gt=0, le=2)] | None = None


class MethodConfig(_Body):
    hyperparameters: Hyperparameters | None = None


class Method(_Body):
    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: MethodConfig | None = None
    dpo: MethodConfig | None = None
    reinforcement: dict[str, Any] | None = None


class JobCreate(_Body):
    """The body of ``POST /v1/fine_tuning/jobs`` (OpenAI's JobCreateParams)."""

    model: str = Field(min_length=1, max_length=1024)
    training_file: str = Field(min_length=1, max_length=128)
    validation_file: str | None = Field(None, max_length=128)
    hyperparameters: Hyperparameters | None = None  # deprecated by OpenAI in favour of method
    method: Method | None = None
    suffix: str | None = Field(None, max_length=64)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = None
    integrations: list[dict[str, Any]] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v):
        if v is not None and (len(v) > 16 or any(len(k) > 64 for k in v)):
            raise ValueError("at most 16 keys of up to 64 characters")
        return v


def _resolve_model(request: Request, name: str) -> tuple[Path, str | None]:
    """(base model folder, adapter to continue from or None) for the ``model`` of a new job."""
    config, db = request.app.state.config, request.app.state.db
    row = db.model(name) if name.startswith("ft:") and name not in config.models else None
    if name in config.models or row is not None:  # a served model; a LoRA one continues as its adapter
        folder = Path(config.models[name]) if row is None else Path(row["path"])
        if (folder / "adapter_config.json").is_file():
            parent = db.job(row["job_id"]) if row else None
            try:
                base = parent["base_path"] if parent else adapter_base(folder)
            except ConfigError:
                base = ""
            if not (Path(base) / "config.json").is_file():
                raise APIError(400, f"The base model of {name} is no longer on this server.", param="model",
                               code="model_not_available")
            return Path(base), str(folder)
        return folder, None  # a base model, or a full fine-tune: its weights are the new base
    if name.startswith("ft:"):
        raise APIError(400, f"Model {name} does not exist on this server (or was deleted).", param="model",
                       code="model_not_available")
    path = Path(name).expanduser()
    if path.is_absolute() and (path / "config.json").is_file():
        return path.resolve(), None
    known = ", ".join(sorted(config.models)) or "none configured (start the server with --model alias=path)"
    raise APIError(400, f"Model {name} is not available on this server: give an alias ({known}), a fine-tuned "
                   "model of this server (ft:...) or the absolute path of a local model folder.", param="model",
                   code="model_not_available")


def _training_file(request: Request, file_id: str | None, param: str) -> dict | None:
    if file_id is None:
        return None
    row = request.app.state.db.file(file_id)
    if row is None or row["purpose"] != "fine-tune":
        raise APIError(400, f"invalid {param}: {file_id} (no such file uploaded with purpose 'fine-tune')",
                       param=param, code=f"invalid_{param}")
    return row


@router.post("/fine_tuning/jobs")
def create_job(request: Request, body: JobCreate):
    config, db = request.app.state.config, request.app.state.db
    if body.integrations:
        raise APIError(400, "Integrations (e.g. wandb) are not supported by anytune serve.", param="integrations")
    base, init_adapter = _resolve_model(request, body.model)
    train = _training_file(request, body.training_file, "training_file")
    valid = _training_file(request, body.validation_file, "validation_file")
    kind = train["kind"]
    method = body.method.type if body.method else openai_format.METHOD_OF[kind]
    if method == "reinforcement":
        raise APIError(400, "The reinforcement method is not supported by anytune serve (anytune trains supervised "
                       "and dpo).", param="method.type", code="unsupported_method")
    if method != openai_format.METHOD_OF[kind]:
        raise APIError(400, f"method {method} needs {'preference' if method == 'dpo' else 'chat'} data, but "
                       f"{train['id']} holds {kind} examples", param="method.type")
    if valid is not None and valid["kind"] != kind:
        raise APIError(400, f"validation_file holds {valid['kind']} examples but training_file holds {kind}",
                       param="validation_file", code="invalid_validation_file")
    if train["examples"] < openai_format.MIN_EXAMPLES:
        raise APIError(400, f"Training file {train['id']} has {train['examples']} example(s); at least "
                       f"{openai_format.MIN_EXAMPLES} are required.", param="training_file", code="invalid_training_file")
    hp = body.hyperparameters or Hyperparameters()
    if body.method and getattr(body.method, method) and getattr(body.method, method).hyperparameters:
        hp = getattr(body.method, method).hyperparameters
    job_id = new_id("ftjob")
    db.add_job(id=job_id, status="validating_files", model=body.model, base_path=str(base),
               init_adapter=init_adapter, kind=kind,
               training_file=train["id"], validation_file=valid["id"] if valid else None, method=method,
               hyperparameters=hp.model_dump(exclude_none=True), suffix=body.suffix,
               seed=body.seed if body.seed is not None else secrets.randbelow(2**31 - 1),
               metadata=body.metadata)
    db.set_status(job_id, "queued", f"Validating training file: {train['id']}"
                  + (f" and validation file: {valid['id']}" if valid else ""),
                  "Files validated, moving job to queued state")
    row = db.job(job_id)
    request.app.state.runner.wake()
    return job_object(row, config.organization)


def _job(request: Request, job_id: str) -> dict:
    row = request.app.state.db.job(job_id)
    if row is None:
        raise not_found("fine-tuning job", job_id, param="fine_tuning_job_id")
    return row


@router.get("/fine_tuning/jobs")
def list_jobs(request: Request, after: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20):
    metadata = {}
    for key, value in request.query_params.multi_items():
        m = re.fullmatch(r"metadata\[(.+)\]", key)
        if m:
            metadata[m.group(1)] = value
    rows, more = request.app.state.db.jobs(after, limit, metadata)
    org = request.app.state.config.organization
    return page([job_object(r, org) for r in rows], more)


@router.get("/fine_tuning/jobs/{job_id}")
def retrieve_job(request: Request, job_id: str):
    return job_object(_job(request, job_id), request.app.state.config.organization)


@router.post("/fine_tuning/jobs/{job_id}/cancel")
def cancel_job(request: Request, job_id: str):
    db = request.app.state.db
    row = _job(request, job_id)
    if row["status"] not in UNFINISHED:
        raise APIError(400, f"Job {job_id} has already {'been cancelled' if row['status'] == 'cancelled' else row['status']}.",
                       param="fine_tuning_job_id", code="job_already_finished")
    if not db.set_status(job_id, "cancelled", "Fine-tuning job cancelled", finished_at=now(),
                         only_from=("validating_files", "queued")):  # training: the runner stops it, then marks the job cancelled
        db.update_job(job_id, cancel_requested=1)
        db.add_event(job_id, "Cancellation requested")
    return job_object(db.job(job_id), request.app.state.config.organization)


@router.post("/fine_tuning/jobs/{job_id}/pause")
@router.post("/fine_tuning/jobs/{job_id}/resume")
def pause_resume(request: Request, job_id: str):
    _job(request, job_id)
    raise APIError(400, "Pausing and resuming are not supported by anytune serve; cancel the job and start a new one.",
                   code="unsupported_operation")


@router.get("/fine_tuning/jobs/{job_id}/events")
def list_events(request: Request, job_id: str, after: str | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 20):
    _job(request, job_id)
    rows, more = request.app.state.db.events(job_id, after, limit)
    return page([event_object(r) for r in rows], more)


@router.get("/fine_tuning/jobs/{job_id}/checkpoints")
def list_checkpoints(request: Request, job_id: str, after: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=100)] = 10):
    _job(request, job_id)
    rows, more = request.app.state.db.checkpoints(job_id, after, limit)
    return page([checkpoint_object(r) for r in rows], more)


@router.get("/models")
def list_models(request: Request):
    config, db = request.app.state.config, request.app.state.db
    started = request.app.state.started
    items = [model_object(alias, started, "anytune") for alias in sorted(config.models)]
    items += [model_object(m["id"], m["created_at"], config.organization) for m in db.models()]
    return {"object": "list", "data": items}


@router.get("/models/{model_id:path}")
def retrieve_model(request: Request, model_id: str):
    config, db = request.app.state.config, request.app.state.db
    if model_id in config.models:
        return model_object(model_id, request.app.state.started, "anytune")
    row = db.model(model_id)
    if row is None:
        raise APIError(404, f"The model '{model_id}' does not exist", param="model", code="model_not_found")
    return model_object(row["id"], row["created_at"], config.organization)
