"""Frozen value objects shared by core and providers. All round-trip through JSON."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes):
        return cls.model_validate_json(text)


class Money(_Frozen):
    """An amount of money. Decimal, never float; one currency."""

    amount: Decimal
    currency: str = "USD"

    @classmethod
    def of(cls, amount: Any, currency: str = "USD") -> Money:
        return cls(amount=Decimal(str(amount)), currency=currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __mul__(self, factor: Any) -> Money:
        return Money(amount=self.amount * Decimal(str(factor)), currency=self.currency)

    def rounded(self, places: int = 2) -> Money:
        q = Decimal(1).scaleb(-places)
        return Money(amount=self.amount.quantize(q, rounding=ROUND_HALF_UP), currency=self.currency)

    def __str__(self) -> str:
        sym = "$" if self.currency == "USD" else f"{self.currency} "
        return f"{sym}{self.rounded().amount:,.2f}"


class JobState(enum.StrEnum):
    """The one set of states every provider's raw states map onto (through a table in each provider)."""

    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class Readiness(_Frozen):
    """What ``Provider.check`` found: ready or not, and why, in words a user can act on."""

    ready: bool
    reason: str = ""
    details: dict[str, str] = Field(default_factory=dict)


class CostLine(_Frozen):
    """One priced item of an estimate, with where its price came from and when."""

    item: str
    quantity: Decimal
    unit: str
    unit_price: Money
    source: str = ""
    as_of: dt.date | None = None

    @property
    def total(self) -> Money:
        return self.unit_price * self.quantity


class CostEstimate(_Frozen):
    """A provider's plan for a spec: hardware, time and money. ``lines`` sum to ``total``."""

    provider: str
    instance: str = ""
    gpu: str = ""
    gpu_count: int = 0  # per machine
    nodes: int = 1  # machines, each with gpu_count GPUs
    fits: bool = True
    hours: float = 0.0
    lines: tuple[CostLine, ...] = ()
    spot_total: Money | None = None
    as_of: dt.date | None = None
    notes: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()  # instances considered and why they do not fit
    substitute: str = ""  # the model trained instead of the spec's base_model (a different job), if any
    warnings: tuple[str, ...] = ()  # where the job would differ from the spec; shown before every launch

    @property
    def total(self) -> Money:
        total = Money.of(0, self.lines[0].unit_price.currency if self.lines else "USD")
        for line in self.lines:
            total = total + line.total
        return total

    @property
    def hardware(self) -> str:
        """``ml.p5.48xlarge (8× H100)``; several machines: ``2 × ml.p5.48xlarge (16× H100)``."""
        if not self.gpu_count:
            return self.instance
        machines = f"{self.nodes} × {self.instance}" if self.nodes > 1 else self.instance
        return f"{machines} ({self.gpu_count * self.nodes}× {self.gpu})"

    def planned_total(self, spot: bool) -> Money:
        return self.spot_total if spot and self.spot_total is not None else self.total


class DataRef(_Frozen):
    """Where a provider has the prepared data: a URI per split, and the content hash it was keyed by."""

    provider: str
    content_hash: str
    uris: dict[str, str]
    bytes_sent: int = 0


class JobHandle(_Frozen):
    """A reference to a job at a provider; any later process can follow the job from it."""

    provider: str
    job_id: str
    remote_id: str
    extra: dict[str, str] = Field(default_factory=dict)


class JobStatus(_Frozen):
    state: JobState
    raw_state: str = ""
    message: str = ""
    progress: float | None = None  # 0..1 where the provider knows it
    metrics: dict[str, float] = Field(default_factory=dict)
    billable_seconds: float | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    # FAILED before training for a reason another provider may not have (no capacity, a quota): the job
    # moves to the next candidate of its plan, as a launch-time CapacityUnavailable/QuotaExceeded would.
    fallback: bool = False


class LogChunk(_Frozen):
    """New log lines since ``cursor``; pass the returned cursor to get the next chunk."""

    lines: tuple[str, ...] = ()
    cursor: str = ""


class ArtifactFile(_Frozen):
    path: str
    sha256: str
    size: int


class ModelArtifact(_Frozen):
    """What ``retrieve`` produced: files on disk (checksummed) and/or a model id at the provider."""

    kind: str  # "full" | "adapter" | "remote"
    path: str | None = None
    remote_model_id: str | None = None
    files: tuple[ArtifactFile, ...] = ()
    notes: tuple[str, ...] = ()


class SplitStats(_Frozen):
    examples: int
    tokens: int  # total tokens of the split as trained (after truncation)
    min_tokens: int = 0
    median_tokens: float = 0
    p95_tokens: float = 0
    max_tokens: int = 0


class DataStats(_Frozen):
    """What estimating needs to know about prepared data."""

    splits: dict[str, SplitStats]
    tokenizer: str = ""  # what counted the tokens
    approximate: bool = False  # True when tokens were estimated, not counted

    @property
    def train(self) -> SplitStats:
        return self.splits["train"]
