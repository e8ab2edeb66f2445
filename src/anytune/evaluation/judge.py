"""LLM-as-judge: a chat model behind any OpenAI-compatible endpoint grades each answer against the
reference on a 1-10 rubric; the grade becomes the ``judge`` metric, (grade - 1) / 9 in [0, 1]. A reply
without a grade counts as missing (the pair is left out of the mean and the CI, and counted)."""

from __future__ import annotations

import re
from typing import Any

from ..inference.engine import Engine, GenerationParams, Prompt

RUBRIC = (
    "You grade an assistant's answer to a conversation against a reference answer written by an expert. "
    "Judge correctness first, then completeness and clarity; wording may differ from the reference. "
    'Reply with JSON only: {"score": N}, N an integer from 1 (wrong, off-topic or empty) to 10 '
    "(as correct and complete as the reference).")
_SCORE = re.compile(r'"score"\s*:\s*"?(\d+)')


def parse_grade(text: str) -> int | None:
    m = _SCORE.search(text) or re.search(r"\b(\d+)\b", text)
    if not m:
        return None
    n = int(m.group(1))
    return n if 1 <= n <= 10 else None


class Judge:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.missing = 0

    def _prompt(self, messages, reference: str, answer: str) -> Prompt:
        transcript = "\n".join(f"{m['role']}: {m['content']}" for m in messages)
        user = (f"Conversation:\n{transcript}\n\nReference answer:\n{reference}\n\n"
                f"Answer to grade:\n{answer}\n\nReply with JSON only.")
        return Prompt.chat([{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}])

    def score(self, examples, answers: list[str], progress=None) -> list[float | None]:
        prompts = [self._prompt(e.prompt.messages, e.reference, a) for e, a in zip(examples, answers, strict=True)]
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(f"judge {self.engine.label}", done, len(prompts))

        replies = self.engine.generate(prompts, GenerationParams(max_new_tokens=16, temperature=0.0, seed=0), tick)
        grades = [parse_grade(r.text) for r in replies]
        self.missing += sum(g is None for g in grades)
        return [None if g is None else round((g - 1) / 9, 6) for g in grades]

    def describe(self) -> dict[str, Any]:
        return {"model": self.engine.label, "rubric": RUBRIC, "scale": "1-10, reported as (grade-1)/9",
                "replies_without_grade": self.missing}
