"""Per-token fine-tuning (OpenAI): billed tokens exactly as OpenAI counts them, and the plan.

OpenAI bills Σ min(tokens_i, context) × n_epochs training tokens. tokens_i follows OpenAI's cookbook
("How to count tokens with tiktoken" / "Data preparation and analysis for chat model fine-tuning"):
3 tokens per message, plus the encoded length of every string field of the message (role, content,
name), plus 1 more per name, plus 3 priming the reply. Default epochs: 3, raised or lowered so that
examples × epochs stays within 100..25,000 passes, and within 1..25 epochs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import ConfigError, DataError
from ..types import CostEstimate, CostLine, DataStats, Money
from . import pricing
from .pricing import Catalog, staleness_note, sunset_note

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
TARGET_EPOCHS, MIN_EPOCHS, MAX_EPOCHS = 3, 1, 25
MIN_PASSES, MAX_PASSES = 100, 25_000


def openai_default_epochs(n_examples: int) -> int:
    """The n_epochs OpenAI picks when none is given (cookbook rule)."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_PASSES:
        return min(MAX_EPOCHS, MIN_PASSES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_PASSES:
        return max(MIN_EPOCHS, MAX_PASSES // n_examples)
    return TARGET_EPOCHS


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: count their text
        return "".join(p.get("text", "") for p in value if isinstance(p, dict))
    if isinstance(value, dict):  # e.g. a function_call: its JSON as sent
        return json.dumps(value)
    return None  # numbers (weight), None


def example_tokens(messages: list[dict], encoder) -> int:
    """Tokens of one chat example as OpenAI counts them."""
    n = 0
    for message in messages:
        n += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "weight":
                continue
            text = _text(value)
            if text is not None:
                n += len(encoder.encode(text))
            if key == "name":
                n += TOKENS_PER_NAME
    return n + REPLY_PRIMING


@dataclass(frozen=True)
class BilledTokens:
    per_example: tuple[int, ...]  # before truncation
    context: int
    epochs: int
    truncated: int  # examples longer than the context

    @property
    def per_epoch(self) -> int:
        return sum(min(t, self.context) for t in self.per_example)

    @property
    def billed(self) -> int:
        return self.per_epoch * self.epochs


def _encoder(name: str):
    from bpe_openai import get_encoding  # ships the encodings in its wheel; no network

    return get_encoding(name)


def openai_billed_tokens(records: Iterable[dict], model: str, epochs: int | None = None, *,
                         catalog: Catalog, source: str = "training records") -> BilledTokens:
    """Billed training tokens for chat ``records`` ({"messages": [...]}) on ``model``; ``epochs`` None =
    OpenAI's default rule. The model's context and encoding come from the OpenAI price catalog;
    ``source`` names the file in errors."""
    entry = catalog.model(model)
    if entry is None:
        raise ConfigError(f"{model!r} is not a fine-tunable model in the {catalog.provider} catalog",
                          [f"fine-tunable: {', '.join(m.name for m in catalog.data.models)}"])
    enc = _encoder(entry.encoding)
    counts = []
    for i, rec in enumerate(records, 1):
        messages = rec.get("messages") if isinstance(rec, dict) else None
        if not isinstance(messages, list):
            raise DataError("not a chat record (no 'messages' list)", file=source, line=i, field="messages",
                            hint="OpenAI fine-tuning takes chat records")
        counts.append(example_tokens(messages, enc))
    n_epochs = openai_default_epochs(len(counts)) if epochs is None else int(epochs)
    return BilledTokens(tuple(counts), entry.context, n_epochs, sum(t > entry.context for t in counts))


def plan_tokens(spec, stats: DataStats, catalog: Catalog, *, provider: str | None = None,
                notes: Iterable[str] = ()) -> CostEstimate:
    """Cost of a per-token fine-tune from data statistics. Exact when the statistics were counted the
    way OpenAI counts (see :func:`openai_billed_tokens`); otherwise labelled approximate."""
    name = provider or catalog.provider
    notes = list(notes)
    entry = catalog.model(spec.base_model)
    if entry is None:
        fine_tunable = ", ".join(m.name for m in catalog.data.models)
        return CostEstimate(provider=name, fits=False, notes=tuple(notes),
                            rejected=(f"{spec.base_model}: not fine-tunable here (fine-tunable: {fine_tunable})",))
    found = catalog._price(entry.prices)
    if found is None:
        return CostEstimate(provider=name, fits=False, notes=tuple(notes),
                            rejected=(f"{entry.name}: no price in {catalog.region}",))
    price, _rule = found
    train = stats.train
    explicit = "epochs" in spec.hyperparameters.model_fields_set
    epochs = math.ceil(spec.hyperparameters.epochs) if explicit else openai_default_epochs(train.examples)
    tokens = train.tokens
    assumptions = [f"billed tokens = training-file tokens × {epochs} epochs "
                   f"({'compute.epochs, rounded up' if explicit else 'OpenAI default epochs for ' + str(train.examples) + ' examples'})",
                   "OpenAI runs the job on its own hardware; no duration is estimated"]
    if train.max_tokens > entry.context:
        assumptions.append(f"some examples exceed {entry.context:,} tokens and are truncated by OpenAI; "
                           "the count is an upper bound")
    if stats.approximate or entry.encoding not in (stats.tokenizer or ""):
        assumptions.append(f"token counts from {stats.tokenizer or 'an approximate count'}, not OpenAI's "
                           f"{entry.encoding} counting: approximate")
    billed = Decimal(tokens * epochs)
    line = CostLine(item=f"{entry.name} training tokens", quantity=billed / Decimal(1_000_000), unit="1M tokens",
                    unit_price=Money(amount=price.on_demand, currency=catalog.data.currency), source=price.source,
                    as_of=price.as_of)
    sunsets = catalog.sunsets_for(entry.name)
    notes += [sunset_note(s) for s in sunsets]
    closed = [s for s in sunsets if s.blocks_all_new_jobs and s.date <= pricing.today()]
    if closed:
        return CostEstimate(provider=name, fits=False, notes=tuple(notes),
                            rejected=(f"{entry.name}: {closed[0].what} since {closed[0].date.isoformat()}",))
    stale = staleness_note(name, price.as_of)
    if stale:
        notes.append(stale)
    return CostEstimate(provider=name, instance=entry.name, fits=True, hours=0.0, lines=(line,), as_of=price.as_of,
                        notes=tuple(notes), assumptions=tuple(assumptions))
