"""Settings of one ``anytune serve`` process, and where its API keys come from.

API keys (any of them is accepted; compared in constant time):
- ``$ANYTUNE_SERVE_API_KEYS``: keys separated by commas or whitespace;
- the keys file, one key per line (``#`` comments): ``--keys-file``, default
  ``<config dir>/serve-api-keys`` (``anytune serve --new-key`` creates one, readable by you only).

A key may be restricted, like OpenAI's restricted keys: ``scopes=`` after it on its line lists what it may
call, from ``files``, ``fine_tuning``, ``models`` and ``inference`` (chat and text completions), e.g.
``sk-anytune-... scopes=models,inference`` for an application that only asks the tuned model. Other
calls get 403. A key without ``scopes=`` may call everything.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paths
from ..defaults import DEFAULT_PROVIDER
from ..errors import ConfigError

KEYS_ENV = "ANYTUNE_SERVE_API_KEYS"
MIB = 1 << 20


@dataclass(frozen=True)
class ServeConfig:
    home: Path  # files, trained models and the server's database live here
    api_keys: tuple[str, ...] = field(repr=False)
    key_scopes: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)  # restricted key -> scopes
    models: dict[str, Path] = field(default_factory=dict)  # alias -> local model folder or LoRA adapter folder
    max_upload_bytes: int = 512 * MIB
    slots: int = 1  # trainings at once: one per GPU
    devices: tuple[str, ...] = ()  # the GPU of each slot ("0", "1", ...); empty: the provider decides
    provider: str = DEFAULT_PROVIDER  # the anytune provider that trains
    provider_options: dict[str, Any] = field(default_factory=dict)
    method: str = "lora"  # full | lora | qlora
    engine: str = "transformers"  # what answers /v1/chat/completions: transformers | vllm (anytune.inference.serving)
    learning_rate: float = 2e-4  # what learning_rate_multiplier 1.0 means
    max_seq_length: int = 1024
    micro_batch: int = 8  # largest per-step batch; bigger batch_size values use gradient accumulation
    organization: str = "anytune"  # shown as owner in model ids: ft:<base>:<organization>:<suffix>:<id>
    poll_interval: float = 2.0
    run_jobs: bool = True  # False: accept and queue jobs, train none (API tests)
    jobs_db: Path | None = None  # anytune's job store; default: the one under ANYTUNE_HOME

    def __post_init__(self):
        if not self.api_keys:
            raise ConfigError("anytune serve needs at least one API key",
                              [f"set ${KEYS_ENV}, or run `anytune serve --new-key` to create {default_keys_file()}"])
        if self.slots < 1:
            raise ConfigError("--gpus must be at least 1")

    @property
    def db_path(self) -> Path:
        return self.home / "serve.sqlite"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


def default_home() -> Path:
    return paths.home() / "serve"


def default_keys_file() -> Path:
    return paths.config_dir() / "serve-api-keys"


SCOPES = ("files", "fine_tuning", "models", "inference")


def parse_keys(text: str) -> list[str]:
    return list(parse_scoped_keys(text))


def parse_scoped_keys(text: str) -> dict[str, frozenset[str] | None]:
    """Each key of ``text`` -> the scopes its line gives it (None: every scope)."""
    keys: dict[str, frozenset[str] | None] = {}
    for n, line in enumerate(text.splitlines(), 1):
        tokens = [t for t in re.split(r"\s+", line.split("#", 1)[0]) if t]
        scopes = None
        for t in [t for t in tokens if t.startswith("scopes=")]:
            scopes = frozenset(x for x in t.removeprefix("scopes=").split(",") if x)
            unknown = sorted(scopes - set(SCOPES))
            if unknown or not scopes:
                raise ConfigError(f"keys line {n}: unknown scope(s) {', '.join(unknown) or '(none given)'}",
                                  [f"use scopes=a,b with a, b from {', '.join(SCOPES)}"])
        for t in tokens:
            if not t.startswith("scopes="):
                keys.update({k: scopes for k in t.split(",") if k})
    return keys


def load_keys(keys_file: Path | None = None) -> tuple[str, ...]:
    return tuple(load_scoped_keys(keys_file))


def load_scoped_keys(keys_file: Path | None = None) -> dict[str, frozenset[str] | None]:
    """Every key (``$ANYTUNE_SERVE_API_KEYS``, then the keys file) -> its scopes (None: all)."""
    keys = parse_scoped_keys(os.environ.get(KEYS_ENV, ""))
    path = keys_file or default_keys_file()
    if path.is_file():
        keys.update(parse_scoped_keys(path.read_text(encoding="utf-8")))
    elif keys_file is not None:
        raise ConfigError(f"keys file not found: {keys_file}")
    short = [k for k in keys if len(k) < 16]
    if short:
        raise ConfigError(f"{len(short)} API key(s) shorter than 16 characters: use long random keys "
                          "(`anytune serve --new-key` makes one)")
    return keys


def new_key(keys_file: Path | None = None) -> Path:
    """Add a fresh random key to the keys file (created readable by its owner only); returns the file."""
    path = keys_file or default_keys_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(f"sk-anytune-{secrets.token_urlsafe(32)}\n")
    return path


def parse_model_aliases(values: list[str]) -> dict[str, Path]:
    """``alias=path`` pairs (``--model``) -> {alias: folder}; each folder must hold a model."""
    out: dict[str, Path] = {}
    problems = []
    for v in values:
        alias, sep, folder = v.partition("=")
        if not sep or not alias.strip() or not folder.strip():
            problems.append(f"--model {v!r}: write alias=path, e.g. --model llama-1b=/models/llama-3.2-1b")
            continue
        path = Path(folder.strip()).expanduser().resolve()
        if not ((path / "config.json").is_file() or (path / "adapter_config.json").is_file()):
            problems.append(f"--model {v!r}: {path} is not a model folder (no config.json) or LoRA adapter "
                            "(no adapter_config.json)")
            continue
        out[alias.strip()] = path
    if problems:
        raise ConfigError("invalid --model", problems)
    return out
