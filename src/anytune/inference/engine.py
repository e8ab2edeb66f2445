"""What every engine takes and returns."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Prompt:
    """A conversation to answer. ``raw`` is the text a prompt/completion model was trained on when its
    tokenizer has no chat template (see :func:`anytune.data.template.eval_prompt`)."""

    messages: tuple[dict[str, str], ...]
    raw: str | None = None
    plain: bool = False  # ``raw`` is the whole prompt, as is, even when there is a chat template (completions)

    @classmethod
    def chat(cls, messages: list[dict[str, str]]) -> Prompt:
        return cls(tuple(dict(m) for m in messages))

    @classmethod
    def text(cls, text: str) -> Prompt:
        return cls((), raw=text, plain=True)


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"  # "stop" | "length"


class Engine(Protocol):
    label: str  # what to call the model in tables

    def generate(self, prompts: list[Prompt], params: GenerationParams,
                 on_progress: Callable[[int], None] | None = None) -> list[Generation]:
        """One generation per prompt, in order; ``on_progress(n)`` after each n finished."""

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[str]:
        """The answer to one prompt, piece by piece as it is generated."""
