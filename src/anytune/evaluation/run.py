"""Run an evaluation and write its files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import atomic
from ..data.template import eval_prompt
from ..errors import DataError
from ..inference.engine import Engine, GenerationParams, Prompt
from .metrics import paired_bootstrap, score

if TYPE_CHECKING:
    from ..spec import EvaluationSpec
    from .judge import Judge

EVAL_FILE = "eval.json"
SAMPLES_FILE = "samples.jsonl"
Progress = Callable[[str, int, int], None]  # (model label, done, total)


@dataclass(frozen=True)
class Example:
    prompt: Prompt
    reference: str


def examples_from(records: list[dict[str, Any]], *, limit: int | None = None, source: str = "") -> list[Example]:
    """Canonical records -> examples; a record without a reference is a DataError naming its line."""
    out = []
    for n, rec in enumerate(records[:limit] if limit else records, 1):
        try:
            messages, raw, reference = eval_prompt(rec)
        except DataError as exc:
            raise DataError(str(exc), file=source or None, line=n) from None
        out.append(Example(Prompt(tuple(messages), raw), reference))
    if not out:
        raise DataError("no examples to evaluate", file=source or None)
    return out


def load_examples(path: Path, *, limit: int | None = None) -> list[Example]:
    """Examples from a canonical JSONL split (what the data pipeline writes)."""
    from ..trainer.dataset import read_jsonl

    return examples_from(read_jsonl(Path(path)), limit=limit, source=str(path))


def params_for(config: EvaluationSpec, seed: int | None = None) -> GenerationParams:
    sample = config.decoding == "sample"
    return GenerationParams(max_new_tokens=config.max_new_tokens, temperature=config.temperature if sample else 0.0,
                            top_p=config.top_p if sample else 1.0, seed=seed)


def _generate(engine: Engine, examples: list[Example], params: GenerationParams,
              progress: Progress | None) -> tuple[list, dict[str, Any]]:
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(engine.label, done, len(examples))

    started = time.perf_counter()
    outs = engine.generate([e.prompt for e in examples], params, on_progress=tick)
    seconds = time.perf_counter() - started
    tokens = sum(g.completion_tokens for g in outs)
    return outs, {"model": engine.label, "seconds": round(seconds, 3), "completion_tokens": tokens,
                  "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
                  "cut_at_max_new_tokens": sum(g.finish_reason == "length" for g in outs)}


def _summary(scores: dict[str, list[dict[str, float]]], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        tuned = [s[name] for s in scores["tuned"] if s.get(name) is not None]
        row: dict[str, Any] = {"tuned": round(sum(tuned) / len(tuned), 4) if tuned else None}
        if "base" in scores:
            pairs = [(t[name], b[name]) for t, b in zip(scores["tuned"], scores["base"], strict=True)
                     if t.get(name) is not None and b.get(name) is not None]
            if pairs:
                t_vals, b_vals = zip(*pairs, strict=True)
                lo, hi = paired_bootstrap(t_vals, b_vals)
                row.update(base=round(sum(b_vals) / len(b_vals), 4),
                           difference=round((sum(t_vals) - sum(b_vals)) / len(pairs), 4),
                           ci95=[round(lo, 4), round(hi, 4)], significant=bool(lo > 0 or hi < 0), pairs=len(pairs))
        out[name] = row
    return out


def evaluate(examples: list[Example], tuned: Engine, base: Engine | None, config: EvaluationSpec, *,
             seed: int | None = None, judge: Judge | None = None, split: str = "",
             progress: Progress | None = None) -> dict[str, Any]:
    """Generate with ``tuned`` (and ``base``), score every answer, and return eval.json's content with
    the per-example samples under ``"samples"`` (``write`` puts them in samples.jsonl)."""
    params = params_for(config, seed)
    names = list(config.metrics)
    engines = {"tuned": tuned, **({"base": base} if base is not None else {})}
    outputs, generation = {}, {}
    for role, engine in engines.items():
        outputs[role], generation[role] = _generate(engine, examples, params, progress)
    scores = {role: [score(names, g.text, e.reference) for g, e in zip(outs, examples, strict=True)]
              for role, outs in outputs.items()}
    if judge is not None:
        for role, outs in outputs.items():
            for s, value in zip(scores[role], judge.score(examples, [g.text for g in outs], progress), strict=True):
                s["judge"] = value
        names.append("judge")
    samples = []
    for i, ex in enumerate(examples):
        row: dict[str, Any] = {"index": i, "messages": list(ex.prompt.messages), "reference": ex.reference}
        for role in outputs:
            row[role] = outputs[role][i].text
        row["scores"] = {role: scores[role][i] for role in outputs}
        samples.append(row)
    result: dict[str, Any] = {
        "version": 1, "split": split, "examples": len(examples), "metrics": _summary(scores, names),
        "models": {role: e.label for role, e in engines.items()}, "generation": generation,
        "decoding": {"strategy": config.decoding, "max_new_tokens": config.max_new_tokens,
                     "temperature": params.temperature, "top_p": params.top_p, "seed": seed},
        "ci": "95% paired bootstrap of mean(tuned - base), 2000 resamples",
        "samples": samples,
    }
    if judge is not None:
        result["judge"] = judge.describe()
    return result


def write(result: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """eval.json (without the samples) and samples.jsonl into ``folder``, each atomically."""
    folder = Path(folder)
    summary = {k: v for k, v in result.items() if k != "samples"}
    samples = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in result["samples"])
    return (atomic.write_text(folder / EVAL_FILE, json.dumps(summary, indent=1) + "\n"),
            atomic.write_text(folder / SAMPLES_FILE, samples))


def read(folder: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """eval.json and samples.jsonl of a model folder, if it has them."""
    folder = Path(folder)
    summary = json.loads((folder / EVAL_FILE).read_text()) if (folder / EVAL_FILE).is_file() else None
    samples = []
    if (folder / SAMPLES_FILE).is_file():
        samples = [json.loads(line) for line in (folder / SAMPLES_FILE).read_text().splitlines() if line.strip()]
    return summary, samples
