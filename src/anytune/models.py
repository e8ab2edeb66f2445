"""What ``anytune eval/chat/export/report`` accept as a model, resolved to something an engine can load.

A target is, in this order: a local folder (a full model or a LoRA adapter); a job id or unique prefix
(its retrieved model, retrieved now if need be, or its provider-hosted model id such as OpenAI's ``ft:``);
with ``base_url``, a model id on that OpenAI-compatible endpoint. Anything else is bad input, named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .inference import Engine
    from .store import JobRecord


@dataclass(frozen=True)
class Target:
    label: str
    path: Path | None = None  # a model or adapter folder
    remote: str | None = None  # a model id behind an API
    base_model: str | None = None  # what it was tuned from, when known
    record: JobRecord | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    base_override: str | None = None  # --base: an adapter's base model


def _job(target: str) -> JobRecord | None:
    from .store import JobStore

    try:
        return JobStore().get(target)
    except ConfigError as exc:
        if "ambiguous" in str(exc):
            raise
        return None


def _from_folder(path: Path, label: str, rec: JobRecord | None = None, base: str | None = None) -> Target:
    from .inference.hf import adapter_base, model_kind

    kind = model_kind(path)
    known = None
    if (path / "metrics.json").is_file():
        known = json.loads((path / "metrics.json").read_text()).get("base_model")
    if rec is not None:
        known = rec.spec.base_model
    if kind == "adapter":
        known = base or known or adapter_base(path)
    return Target(label=label, path=path, base_model=known, record=rec, base_override=base)


def resolve(target: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
            base: str | None = None, retrieve: bool = True) -> Target:
    """A target for ``target`` (see the module doc)."""
    from . import jobs

    path = Path(target).expanduser()
    if path.exists():
        if path.is_dir() and (path / "model.json").is_file() and not (path / "config.json").is_file():
            info = json.loads((path / "model.json").read_text())
            raise ConfigError(f"{path} holds no weights: it describes the hosted model {info.get('fine_tuned_model')}",
                              ["pass the job id instead, so anytune can reach the model through its provider"])
        return _from_folder(path.absolute(), path.name, base=base)
    if base_url:
        return Target(label=target, remote=target, base_url=base_url, api_key_env=api_key_env)
    rec = _job(target)
    if rec is None:
        raise ConfigError(f"{target!r} is neither a model folder nor a job id",
                          ["pass a folder holding config.json or adapter_config.json, a job id from `anytune "
                           "jobs`, or a model id with --base-url URL for an OpenAI-compatible endpoint"])
    artifact = rec.artifact
    if artifact is None and retrieve:
        artifact = jobs.retrieve(rec.id)
    if artifact is None:
        raise ConfigError(f"job {rec.id} has no retrieved model yet", [f"run `anytune retrieve {rec.id}`"])
    if artifact.kind == "remote":
        info = {}
        if artifact.path and (Path(artifact.path) / "model.json").is_file():
            info = json.loads((Path(artifact.path) / "model.json").read_text())
        return Target(label=artifact.remote_model_id or rec.id, remote=artifact.remote_model_id,
                      base_model=info.get("base_model"), record=rec)
    return _from_folder(Path(artifact.path), rec.id, rec, base)


def engine(t: Target, *, batch_size: int = 16, label: str | None = None) -> Engine:
    """An engine for the target itself."""
    label = label or t.label
    if t.path is not None:
        from .inference.hf import load

        e = load(t.path, base=t.base_override or (t.base_model if t.record is not None else None), label=label)
        e.batch_size = batch_size
        return e
    if t.record is not None:
        from .jobs import provider_for

        return provider_for(t.record).chat_engine(t.remote, label=label)
    from .inference.remote import ChatAPIEngine, client

    return ChatAPIEngine(t.remote, client(t.base_url, t.api_key_env), label=label, where=t.base_url or "endpoint")


def base_engine(t: Target, tuned: Engine) -> Engine:
    """The model ``t`` was tuned from, as an engine: an adapter's base shares the loaded weights."""
    share = getattr(tuned, "base", None)
    shared = share(label=f"base ({t.base_model})" if t.base_model else "base") if share else None
    if shared is not None:
        return shared
    if not t.base_model:
        raise ConfigError(f"the base model of {t.label} is not known", ["pass --against MODEL_OR_JOB"])
    if t.path is not None:
        base = resolve(t.base_model)
        return engine(base, batch_size=getattr(tuned, "batch_size", 16), label=f"base ({Path(t.base_model).name})")
    if t.record is not None:
        from .jobs import provider_for

        return provider_for(t.record).chat_engine(t.base_model, label=f"base ({t.base_model})")
    raise ConfigError(f"the base model of {t.label} is not known", ["pass --against MODEL_OR_JOB"])
