"""What the pipeline needs from a job spec, as one small value (also built directly by ``anytune data``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..spec import JobSpec

DEFAULT_MIN_TRAIN = 1


@dataclass(frozen=True)
class DataOptions:
    train: str
    validation: str = "auto"  # a file/folder, or "auto"
    test: str = "auto"  # a file/folder, "auto" or "none"
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    format: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)
    system_prompt: str | None = None
    label_column: str | None = None
    pii: str = "redact"
    pii_patterns: dict[str, str] = field(default_factory=dict)
    pii_engine: str = "patterns"  # or "presidio" (names and places; anytune.data.pii_ner)
    pii_model: str | None = None  # spaCy pipeline for presidio
    too_long: str = "truncate"
    max_seq_length: int | None = 1024
    base_model: str | None = None  # where the tokenizer comes from; None: approximate counts
    seed: int = 42
    min_examples: int = DEFAULT_MIN_TRAIN  # the strictest minimum of the providers the job may run on
    count_tokens: bool = True
    workers: int | None = None  # None: one per CPU for large inputs, in-process for small ones
    origin: str = "spec"  # "spec" or "cli": where the options came from, so hints use that place's syntax

    def __post_init__(self):
        problems = []
        for name, pattern in self.pii_patterns.items():
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
                problems.append(f"data.pii_patterns.{name}: a placeholder name is letters, digits and _")
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"data.pii_patterns.{name}: not a valid regular expression: {exc}")
        if problems:
            raise ConfigError("invalid PII patterns", problems)

    @classmethod
    def from_spec(cls, spec: JobSpec, **overrides) -> DataOptions:
        d = spec.data
        values = dict(
            train=d.train, validation=d.validation, test=d.test, split=tuple(d.split), format=d.format,
            columns=dict(d.columns), system_prompt=d.system_prompt, label_column=d.label_column, pii=d.pii,
            pii_patterns=dict(d.pii_patterns), pii_engine=d.pii_engine, pii_model=d.pii_model, too_long=d.too_long,
            max_seq_length=spec.hyperparameters.max_seq_length, base_model=spec.base_model,
            seed=spec.hyperparameters.seed, min_examples=provider_minimum(spec.candidates),
        )
        values.update(overrides)
        return cls(**values)

    def effective_workers(self) -> int:
        if self.workers:
            return self.workers
        env = os.environ.get("ANYTUNE_DATA_WORKERS")
        if env and env.isdigit() and int(env) > 0:
            return int(env)
        return max(1, min(os.cpu_count() or 1, 8))


def provider_minimum(names: list[str]) -> int:
    """The largest ``min_examples`` among the named providers' classes (1 when none declares one).

    Providers declare it as a class attribute, e.g. OpenAI's ``min_examples = 10``. A provider that cannot be
    loaded does not count here: choosing it fails later with its own clear message."""
    from .. import registry

    best = DEFAULT_MIN_TRAIN
    for name in names:
        try:
            cls = registry.get_registry().get_class(name)
        except Exception:  # unknown/broken plugins are reported by the dispatcher, not here
            continue
        best = max(best, int(getattr(cls, "min_examples", DEFAULT_MIN_TRAIN) or DEFAULT_MIN_TRAIN))
    return best
